//! A workaround for an OmniPaxos 0.2.4 bug in snapshot catch-up.
//!
//! When a leader catches a follower up with a *delta* snapshot (the entries from the
//! follower's decided index to the leader's), the follower's `sync_log` first raises its
//! cached decided index to the leader's and only then builds the snapshot of "its decided log"
//! to merge the delta into: `get_entries(compacted, leader_decided)`. The follower lacks those
//! entries, storage answers with an empty vector (as the trait asks), and the merged snapshot
//! silently loses everything before the delta. (Found by DDBB's pipelining test: a follower's
//! state jumped to the 8 entries of a delta.)
//!
//! If the follower instead holds accepted but undecided entries that far, the snapshot takes
//! them in, and the delta applies the same positions again.
//!
//! At that moment storage still holds the follower's *old* decided index, which is exactly
//! where the delta starts. So this wrapper answers every request for entries past the stored
//! decided index with the decided entries only. Nothing else in OmniPaxos asks for such a
//! range: its own snapshots and deltas stop at the decided index, and reads of undecided
//! entries come only from the public `read` API, which DDBB does not use past the decided
//! index (`read_decided_suffix`).

use omnipaxos::ballot_leader_election::Ballot;
use omnipaxos::storage::{Entry, StopSign, Storage, StorageOp, StorageResult};

/// Wraps a storage so that snapshot catch-up keeps the follower's decided prefix.
#[derive(Clone, Debug, Default)]
pub struct DecidedPrefix<S>(pub S);

impl<T: Entry, S: Storage<T>> Storage<T> for DecidedPrefix<S> {
    fn get_entries(&self, from: usize, to: usize) -> StorageResult<Vec<T>> {
        let decided = self.0.get_decided_idx()?;
        if to > decided && from <= decided {
            return self.0.get_entries(from, decided);
        }
        self.0.get_entries(from, to)
    }

    fn write_atomically(&mut self, ops: Vec<StorageOp<T>>) -> StorageResult<()> {
        self.0.write_atomically(ops)
    }
    fn append_entry(&mut self, entry: T) -> StorageResult<()> {
        self.0.append_entry(entry)
    }
    fn append_entries(&mut self, entries: Vec<T>) -> StorageResult<()> {
        self.0.append_entries(entries)
    }
    fn append_on_prefix(&mut self, from_idx: usize, entries: Vec<T>) -> StorageResult<()> {
        self.0.append_on_prefix(from_idx, entries)
    }
    fn set_promise(&mut self, n_prom: Ballot) -> StorageResult<()> {
        self.0.set_promise(n_prom)
    }
    fn set_decided_idx(&mut self, ld: usize) -> StorageResult<()> {
        self.0.set_decided_idx(ld)
    }
    fn get_decided_idx(&self) -> StorageResult<usize> {
        self.0.get_decided_idx()
    }
    fn set_accepted_round(&mut self, na: Ballot) -> StorageResult<()> {
        self.0.set_accepted_round(na)
    }
    fn get_accepted_round(&self) -> StorageResult<Option<Ballot>> {
        self.0.get_accepted_round()
    }
    fn get_log_len(&self) -> StorageResult<usize> {
        self.0.get_log_len()
    }
    fn get_suffix(&self, from: usize) -> StorageResult<Vec<T>> {
        self.0.get_suffix(from)
    }
    fn get_promise(&self) -> StorageResult<Option<Ballot>> {
        self.0.get_promise()
    }
    fn set_stopsign(&mut self, s: Option<StopSign>) -> StorageResult<()> {
        self.0.set_stopsign(s)
    }
    fn get_stopsign(&self) -> StorageResult<Option<StopSign>> {
        self.0.get_stopsign()
    }
    fn trim(&mut self, idx: usize) -> StorageResult<()> {
        self.0.trim(idx)
    }
    fn set_compacted_idx(&mut self, idx: usize) -> StorageResult<()> {
        self.0.set_compacted_idx(idx)
    }
    fn get_compacted_idx(&self) -> StorageResult<usize> {
        self.0.get_compacted_idx()
    }
    fn set_snapshot(&mut self, snapshot: Option<T::Snapshot>) -> StorageResult<()> {
        self.0.set_snapshot(snapshot)
    }
    fn get_snapshot(&self) -> StorageResult<Option<T::Snapshot>> {
        self.0.get_snapshot()
    }
}
