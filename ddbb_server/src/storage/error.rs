//! The one error type of the storage module.

use std::{io, path::PathBuf, sync::Arc};

/// What went wrong in the WAL, named by what the caller should do next.
///
/// The type is `Clone` because a write error is remembered (the WAL is "poisoned") and handed out
/// again by every later [`Wal::sync`](super::Wal::sync).
#[derive(Debug, Clone, thiserror::Error)]
pub enum WalError {
    /// A read, write or fsync failed (ENOSPC, EIO, ...). Once this came from a write or fsync the
    /// WAL is poisoned: stop the replica and restart it once the disk is fixed; recovery then
    /// yields everything that a successful `sync` covered.
    #[error("WAL I/O error: {op} {}: {source}", path.display())]
    Io {
        /// The operation that failed, e.g. "write", "fdatasync".
        op: &'static str,
        /// The file or directory it was applied to.
        path: PathBuf,
        /// The error from the operating system.
        #[source]
        source: Arc<io::Error>,
    },
    /// Data on disk is damaged somewhere other than a torn tail. Refuse to start; an operator must
    /// look at the file (or wipe the replica and let it rejoin through a membership change).
    #[error("corrupt WAL record in {} at byte offset {offset}: {reason}", file.display())]
    Corrupt {
        /// The segment file holding the bad record.
        file: PathBuf,
        /// Byte offset of the start of the bad record in `file`.
        offset: u64,
        /// What check failed.
        reason: String,
    },
    /// A value could not be encoded (a `Serialize` impl failed, or a record exceeds 4 GiB). The call
    /// had no effect on the WAL or its in-memory image.
    #[error("cannot encode WAL record: {0}")]
    Encode(String),
    /// A storage call broke the `Storage` contract (for example it would leave a hole in the log).
    /// The call had no effect. This is a bug in the caller.
    #[error("invalid storage operation: {0}")]
    InvalidOp(String),
}

impl WalError {
    /// Wraps an I/O error with the operation and path it came from.
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        WalError::Io {
            op,
            path: path.into(),
            source: Arc::new(source),
        }
    }

    /// Builds a `Corrupt` error for `file` at `offset`.
    pub(crate) fn corrupt(
        file: impl Into<PathBuf>,
        offset: u64,
        reason: impl Into<String>,
    ) -> Self {
        WalError::Corrupt {
            file: file.into(),
            offset,
            reason: reason.into(),
        }
    }
}
