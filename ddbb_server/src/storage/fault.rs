//! Fault injection for the WAL's file I/O, for tests and disk-failure drills.
//!
//! Every write and every fsync the WAL issues (segment appends, fdatasync, checkpoint files,
//! directory fsyncs) first asks the injector. After the configured number of operations each
//! further operation fails like a full disk; a failing write first writes half of its bytes, so
//! the file ends in a torn record, as it would after ENOSPC in the middle of a `write(2)`.

use std::{
    fs::File,
    io::{self, Write},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
};

/// Shared countdown of I/O operations after which the WAL's writes and fsyncs fail.
///
/// Cloning shares the countdown, so a test keeps a clone to re-arm it or to see whether it tripped.
#[derive(Clone, Debug)]
pub struct FaultInjector {
    state: Arc<State>,
}

#[derive(Debug)]
struct State {
    /// Operations still allowed to succeed; `u64::MAX` means "never fail".
    remaining: AtomicU64,
    /// Operations seen so far (successful or not).
    seen: AtomicU64,
    tripped: AtomicBool,
}

impl Default for FaultInjector {
    fn default() -> Self {
        Self::never()
    }
}

impl FaultInjector {
    /// An injector that lets `ops` writes/fsyncs succeed and fails every later one.
    pub fn fail_after(ops: u64) -> Self {
        FaultInjector {
            state: Arc::new(State {
                remaining: AtomicU64::new(ops),
                seen: AtomicU64::new(0),
                tripped: AtomicBool::new(false),
            }),
        }
    }

    /// An injector that never fails (until re-armed with [`arm`](Self::arm)).
    pub fn never() -> Self {
        Self::fail_after(u64::MAX)
    }

    /// Lets `ops` more operations succeed, then fails every later one.
    pub fn arm(&self, ops: u64) {
        self.state.remaining.store(ops, Ordering::SeqCst);
    }

    /// Whether an operation has been failed.
    pub fn tripped(&self) -> bool {
        self.state.tripped.load(Ordering::SeqCst)
    }

    /// Number of write/fsync operations seen so far.
    pub fn ops_seen(&self) -> u64 {
        self.state.seen.load(Ordering::SeqCst)
    }

    /// Counts one operation; `Err` if it must fail.
    fn take(&self, what: &str) -> io::Result<()> {
        self.state.seen.fetch_add(1, Ordering::SeqCst);
        let ok = self
            .state
            .remaining
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| match r {
                u64::MAX => Some(u64::MAX),
                0 => None,
                r => Some(r - 1),
            })
            .is_ok();
        if ok {
            Ok(())
        } else {
            self.state.tripped.store(true, Ordering::SeqCst);
            Err(io::Error::other(format!(
                "injected fault: no space left on device ({what})"
            )))
        }
    }
}

/// `write_all` through an optional injector.
pub(crate) fn write_all(
    fault: Option<&FaultInjector>,
    file: &mut File,
    bytes: &[u8],
) -> io::Result<()> {
    if let Some(f) = fault {
        if let Err(e) = f.take("write") {
            // Like ENOSPC in the middle of a write: part of the bytes reach the file.
            let _ = file.write_all(&bytes[..bytes.len() / 2]);
            return Err(e);
        }
    }
    file.write_all(bytes)
}

/// `fdatasync` (or, for directories, `fsync`) through an optional injector.
pub(crate) fn sync(fault: Option<&FaultInjector>, file: &File, data_only: bool) -> io::Result<()> {
    if let Some(f) = fault {
        f.take("fsync")?;
    }
    if data_only {
        file.sync_data()
    } else {
        file.sync_all()
    }
}
