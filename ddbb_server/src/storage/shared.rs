//! [`SharedWal`]: a cloneable handle to one [`Wal`], so that OmniPaxos can own one clone as its
//! storage while the replica loop keeps another to call `sync`, `checkpoint` and `stats`.

use super::{
    error::WalError,
    replay::RecoveryInfo,
    wal::{CheckpointStats, SyncStats, Wal, WalEntry, WalOptions, WalStats},
};
use omnipaxos::{
    ballot_leader_election::Ballot,
    storage::{StopSign, Storage, StorageOp, StorageResult},
};
use std::{
    path::Path,
    sync::{Arc, Mutex, MutexGuard},
};

/// A [`Wal`] behind `Arc<Mutex<_>>` that implements `Storage` by delegating.
///
/// The lock is uncontended in the intended use (one task drives OmniPaxos and calls `sync`), so
/// its cost is a few atomic operations per storage call.
pub struct SharedWal<T: WalEntry> {
    inner: Arc<Mutex<Wal<T>>>,
}

impl<T: WalEntry> Clone for SharedWal<T> {
    fn clone(&self) -> Self {
        SharedWal {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<T: WalEntry> From<Wal<T>> for SharedWal<T> {
    fn from(wal: Wal<T>) -> Self {
        SharedWal {
            inner: Arc::new(Mutex::new(wal)),
        }
    }
}

impl<T: WalEntry> SharedWal<T> {
    /// Opens the WAL in `dir` (see [`Wal::open`]) and wraps it.
    ///
    /// # Errors
    /// As [`Wal::open`].
    pub fn open(dir: impl AsRef<Path>, options: WalOptions) -> Result<Self, WalError> {
        Wal::open(dir, options).map(Self::from)
    }

    /// Locks the WAL. A panic in another holder does not make the data unusable, so a poisoned
    /// mutex is entered anyway.
    fn lock(&self) -> MutexGuard<'_, Wal<T>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// See [`Wal::sync`].
    ///
    /// # Errors
    /// As [`Wal::sync`].
    pub fn sync(&self) -> Result<SyncStats, WalError> {
        self.lock().sync()
    }

    /// See [`Wal::sync_and_compact`].
    ///
    /// # Errors
    /// As [`Wal::sync`].
    pub fn sync_and_compact(&self) -> Result<SyncStats, WalError> {
        self.lock().sync_and_compact()
    }

    /// See [`Wal::checkpoint`].
    ///
    /// # Errors
    /// As [`Wal::checkpoint`].
    pub fn checkpoint(&self) -> Result<CheckpointStats, WalError> {
        self.lock().checkpoint()
    }

    /// See [`Wal::stats`].
    pub fn stats(&self) -> WalStats {
        self.lock().stats()
    }

    /// See [`Wal::recovery`].
    pub fn recovery(&self) -> RecoveryInfo {
        self.lock().recovery().clone()
    }

    /// See [`Wal::poison`].
    pub fn poison(&self) -> Option<WalError> {
        self.lock().poison().cloned()
    }

    /// Runs `f` with the locked WAL (for anything not forwarded above).
    pub fn with<R>(&self, f: impl FnOnce(&mut Wal<T>) -> R) -> R {
        f(&mut self.lock())
    }
}

impl<T: WalEntry> Storage<T> for SharedWal<T> {
    fn write_atomically(&mut self, ops: Vec<StorageOp<T>>) -> StorageResult<()> {
        self.lock().write_atomically(ops)
    }

    fn append_entry(&mut self, entry: T) -> StorageResult<()> {
        self.lock().append_entry(entry)
    }

    fn append_entries(&mut self, entries: Vec<T>) -> StorageResult<()> {
        self.lock().append_entries(entries)
    }

    fn append_on_prefix(&mut self, from_idx: usize, entries: Vec<T>) -> StorageResult<()> {
        self.lock().append_on_prefix(from_idx, entries)
    }

    fn set_promise(&mut self, n_prom: Ballot) -> StorageResult<()> {
        self.lock().set_promise(n_prom)
    }

    fn set_decided_idx(&mut self, ld: usize) -> StorageResult<()> {
        self.lock().set_decided_idx(ld)
    }

    fn get_decided_idx(&self) -> StorageResult<usize> {
        self.lock().get_decided_idx()
    }

    fn set_accepted_round(&mut self, na: Ballot) -> StorageResult<()> {
        self.lock().set_accepted_round(na)
    }

    fn get_accepted_round(&self) -> StorageResult<Option<Ballot>> {
        self.lock().get_accepted_round()
    }

    fn get_entries(&self, from: usize, to: usize) -> StorageResult<Vec<T>> {
        self.lock().get_entries(from, to)
    }

    fn get_log_len(&self) -> StorageResult<usize> {
        self.lock().get_log_len()
    }

    fn get_suffix(&self, from: usize) -> StorageResult<Vec<T>> {
        self.lock().get_suffix(from)
    }

    fn get_promise(&self) -> StorageResult<Option<Ballot>> {
        self.lock().get_promise()
    }

    fn set_stopsign(&mut self, s: Option<StopSign>) -> StorageResult<()> {
        self.lock().set_stopsign(s)
    }

    fn get_stopsign(&self) -> StorageResult<Option<StopSign>> {
        self.lock().get_stopsign()
    }

    fn trim(&mut self, idx: usize) -> StorageResult<()> {
        self.lock().trim(idx)
    }

    fn set_compacted_idx(&mut self, idx: usize) -> StorageResult<()> {
        self.lock().set_compacted_idx(idx)
    }

    fn get_compacted_idx(&self) -> StorageResult<usize> {
        self.lock().get_compacted_idx()
    }

    fn set_snapshot(&mut self, snapshot: Option<T::Snapshot>) -> StorageResult<()> {
        self.lock().set_snapshot(snapshot)
    }

    fn get_snapshot(&self) -> StorageResult<Option<T::Snapshot>> {
        self.lock().get_snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::suite::TestEntry;

    #[test]
    fn handle_can_move_to_another_thread() {
        fn assert_send_sync<X: Send + Sync + 'static>() {}
        assert_send_sync::<SharedWal<TestEntry>>();
        let dir = tempfile::tempdir().unwrap();
        let wal = SharedWal::<TestEntry>::open(dir.path(), WalOptions::default()).unwrap();
        let mut storage = wal.clone();
        std::thread::spawn(move || storage.append_entry(crate::storage::suite::put(1)).unwrap())
            .join()
            .unwrap();
        assert_eq!(wal.stats().log_len, 1);
        assert_eq!(wal.sync().unwrap().records, 1);
        assert!(wal.poison().is_none());
    }
}
