//! The storage seam between OmniPaxos and the disk.
//!
//! OmniPaxos owns its `Storage` and treats every `Ok` as durable, but it has no flush hook.
//! So storages buffer their writes, and the replica loop calls [`StorageControl::sync`] once
//! per pass, before any message or client reply of that pass leaves the replica: "sync
//! before send, sync before reply". The control handle is separate from the storage because
//! the storage is moved into OmniPaxos.

use omnipaxos_storage::memory_storage::MemoryStorage;

use crate::entry::LogEntry;
use crate::error::Result;

/// What the replica loop needs from its storage besides the OmniPaxos `Storage` trait.
pub trait StorageControl: Send {
    /// Makes every write so far durable (one fsync for the whole pass).
    ///
    /// # Errors
    /// Any failure stops the replica: it must not acknowledge what it could not keep.
    fn sync(&mut self) -> Result<()>;

    /// Bytes the log occupies on disk.
    fn disk_bytes(&self) -> u64;
}

/// Control of an in-memory log: nothing to sync, nothing on disk. Data is lost with the
/// process; use it for tests and the playground's throwaway clusters.
#[derive(Debug, Default)]
pub struct MemoryControl;

impl StorageControl for MemoryControl {
    fn sync(&mut self) -> Result<()> {
        Ok(())
    }

    fn disk_bytes(&self) -> u64 {
        0
    }
}

/// An in-memory log and its control handle.
pub fn memory() -> (MemoryStorage<LogEntry>, Box<dyn StorageControl>) {
    (MemoryStorage::default(), Box::new(MemoryControl))
}
