//! The seam between the replica loop and its storage: sync once per pass, report disk use.
//!
//! OmniPaxos owns its `Storage` and treats every `Ok` as durable, but has no flush hook. So
//! storages buffer their writes, and the replica loop calls [`StorageControl::sync`] once per
//! pass, before any message or client reply of that pass leaves the replica: "sync before
//! send, sync before reply". The control handle is separate from the storage because the
//! storage is moved into OmniPaxos.

use omnipaxos_storage::memory_storage::MemoryStorage;

use super::SharedWal;
use crate::entry::LogEntry;
use crate::error::{Error, Result};

/// What the replica loop needs from its storage besides the OmniPaxos `Storage` trait.
pub trait StorageControl: Send {
    /// Makes every write so far durable (one fsync for the whole pass).
    ///
    /// # Errors
    /// Any failure stops the replica: it must not acknowledge what it could not keep.
    fn sync(&mut self) -> Result<()>;

    /// Disk use and fsync count, for `STATUS`.
    fn stats(&self) -> StorageStats;
}

/// What `STATUS` reports about storage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StorageStats {
    /// Bytes the log occupies on disk (0 in memory).
    pub disk_bytes: u64,
    /// fdatasync calls since the replica started.
    pub fsyncs: u64,
}

/// Control of an in-memory log: nothing to sync, nothing on disk. Data is lost with the
/// process; use it for tests and the playground's throwaway clusters.
#[derive(Debug, Default)]
pub struct MemoryControl;

impl StorageControl for MemoryControl {
    fn sync(&mut self) -> Result<()> {
        Ok(())
    }

    fn stats(&self) -> StorageStats {
        StorageStats::default()
    }
}

/// An in-memory log and its control handle.
pub fn memory() -> (MemoryStorage<LogEntry>, Box<dyn StorageControl>) {
    (MemoryStorage::default(), Box::new(MemoryControl))
}

/// The WAL's control: one fdatasync per pass; when OmniPaxos compacted the log without a
/// checkpoint being started for it, one is started (off the loop on the replica) so the old
/// segments can go.
impl StorageControl for SharedWal<LogEntry> {
    fn sync(&mut self) -> Result<()> {
        SharedWal::sync_and_compact(self)
            .map(|_| ())
            .map_err(|e| Error::Storage(e.to_string()))
    }

    fn stats(&self) -> StorageStats {
        let stats = SharedWal::stats(self);
        StorageStats {
            disk_bytes: stats.disk_bytes,
            fsyncs: stats.fsyncs,
        }
    }
}
