//! Fault injection for the WAL's file I/O, for tests and disk-failure drills.
//!
//! Every write and every fsync the WAL issues (segment appends, fdatasync, checkpoint files,
//! directory fsyncs) goes through a [`FaultDisk`] that first asks the injector. After the configured number of operations each
//! further operation fails like a full disk; a failing write first writes half of its bytes, so
//! the file ends in a torn record, as it would after ENOSPC in the middle of a `write(2)`.

use super::disk::{DirEntry, Disk, DiskFile, DiskRef, OpenMode};
use std::{
    io,
    path::Path,
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

/// A [`Disk`] whose appends, fdatasyncs and directory fsyncs first ask a [`FaultInjector`].
#[derive(Debug)]
pub(crate) struct FaultDisk {
    pub inner: DiskRef,
    pub fault: FaultInjector,
}

#[derive(Debug)]
struct FaultFile {
    inner: Box<dyn DiskFile>,
    fault: FaultInjector,
}

impl Disk for FaultDisk {
    fn create_dir(&self, path: &Path) -> io::Result<()> {
        self.inner.create_dir(path)
    }

    fn exists(&self, path: &Path) -> bool {
        self.inner.exists(path)
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn DiskFile>> {
        Ok(Box::new(FaultFile {
            inner: self.inner.open(path, mode)?,
            fault: self.fault.clone(),
        }))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.inner.read(path)
    }

    fn read_head(&self, path: &Path, n: usize) -> io::Result<Vec<u8>> {
        self.inner.read_head(path, n)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<DirEntry>> {
        self.inner.list(dir)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(path)
    }

    fn sync_dir(&self, dir: &Path, site: &'static str) -> io::Result<()> {
        self.fault.take("fsync")?;
        self.inner.sync_dir(dir, site)
    }
}

impl DiskFile for FaultFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        if let Err(e) = self.fault.take("write") {
            // Like ENOSPC in the middle of a write: part of the bytes reach the file.
            let _ = self.inner.append(&bytes[..bytes.len() / 2]);
            return Err(e);
        }
        self.inner.append(bytes)
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.fault.take("fsync")?;
        self.inner.sync_data()
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }

    fn size(&self) -> io::Result<u64> {
        self.inner.size()
    }
}
