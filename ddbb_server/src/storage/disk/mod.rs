//! The seam between storage and the file system: every file and directory operation that
//! recovery depends on goes through a [`Disk`].
//!
//! * [`OsDisk`] is the real file system.
//! * [`CrashDisk`] is an in-memory file system that records every operation and, like a power
//!   cut, can produce the state that only what was synced would leave ([`CrashModel`]). The
//!   exhaustive crash tests and the simulator run storage on it.
//! * [`JournalDisk`] is the real file system plus a journal of every operation, so that a test
//!   can reduce real replicas' data dirs to what a power cut would have left
//!   ([`journal::replay`]).
//! * [`FaultDisk`](super::FaultInjector) makes writes and fsyncs fail (disk-full drills).
//!
//! [`durable`] holds the only way storage creates directories and files and renames them: each
//! helper fsyncs the parent directory, because a new or renamed directory entry is durable only
//! once its directory is synced (POSIX promises nothing more, whatever ext4 does).

mod crash;
pub mod durable;
pub mod journal;
mod model;
mod os;

pub use crash::CrashDisk;
pub use journal::JournalDisk;
pub use model::{CrashModel, IoOp, OpenMode, PowerCut};
pub use os::OsDisk;

use std::{fmt::Debug, io, path::Path, sync::Arc};

/// A shared handle to a [`Disk`].
pub type DiskRef = Arc<dyn Disk>;

/// The real file system, as a [`DiskRef`].
pub fn os() -> DiskRef {
    Arc::new(OsDisk)
}

/// One entry of a directory listing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// File name (not UTF-8 names are skipped by every implementation).
    pub name: String,
    /// Size in bytes (0 for a directory).
    pub len: u64,
    /// Whether the entry is a directory.
    pub is_dir: bool,
}

/// File-system operations used by storage. Paths are absolute or relative to the process'
/// working directory for [`OsDisk`]; the in-memory disks want absolute paths.
///
/// A directory sync names its `site` (a short fixed label of the code that asks for it), so a
/// crash test can drop one site's syncs and show that it matters.
pub trait Disk: Send + Sync + Debug {
    /// Creates one directory (its parent must exist). `AlreadyExists` if it does.
    fn create_dir(&self, path: &Path) -> io::Result<()>;
    /// Whether `path` exists (file or directory).
    fn exists(&self, path: &Path) -> bool;
    /// Opens a file for appending.
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn DiskFile>>;
    /// Reads a whole file.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// Reads at most `n` bytes from the start of a file.
    fn read_head(&self, path: &Path, n: usize) -> io::Result<Vec<u8>>;
    /// Lists a directory (any order).
    fn list(&self, dir: &Path) -> io::Result<Vec<DirEntry>>;
    /// Renames a file, replacing `to` if it exists.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Deletes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, deletions) durable.
    fn sync_dir(&self, dir: &Path, site: &'static str) -> io::Result<()>;
}

/// A file open for appending. Every write goes to the end of the file.
pub trait DiskFile: Send + Debug {
    /// Appends all of `bytes` (no fsync).
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// `fdatasync`: the file's data (and size) are durable; its directory entry is not.
    fn sync_data(&mut self) -> io::Result<()>;
    /// Truncates or extends the file to `len` bytes (no fsync).
    fn set_len(&mut self, len: u64) -> io::Result<()>;
    /// Current size in bytes.
    fn size(&self) -> io::Result<u64>;
}
