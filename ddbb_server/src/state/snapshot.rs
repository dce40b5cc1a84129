//! The state machine's snapshot, as OmniPaxos' `Entry::Snapshot` needs it.
//!
//! OmniPaxos builds snapshots from log entries alone (`create(entries)`) and combines them
//! (`merge`): a replica compacting its log merges the entries since its last snapshot into it,
//! and a leader catching a follower up sends either its whole snapshot or a *delta* made from
//! the entries the follower lacks, which the follower merges into a snapshot of its own decided
//! log. Applying a write needs the state before it (CAS, `IFREV`, revisions), so a delta cannot
//! be reduced to effects: a delta is simply the entries. Merging folds them into the base state
//! by applying them in order.
//!
//! OmniPaxos only ever merges into a complete snapshot (its stored one, or one it just built of
//! its whole decided log), so a snapshot without a base is one that starts at log index 0 and
//! folding it onto an empty state is right.

use omnipaxos::storage::Snapshot;
use serde::{Deserialize, Serialize};

use super::KvState;
use crate::entry::LogEntry;

thread_local! {
    /// A state lent by [`lend_state`] to the snapshot OmniPaxos builds on this thread.
    static LENT: std::cell::RefCell<Option<KvState>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f` (the replica's call to OmniPaxos' `snapshot`) with an O(1) clone of `state`
/// lent to it: when OmniPaxos merges the entries since the last snapshot into it and `state`
/// is the result (same applied index), the merge takes `state` instead of applying the
/// entries again, so taking a snapshot costs O(1) on the loop instead of O(entries).
pub fn lend_state<R>(state: &KvState, f: impl FnOnce() -> R) -> R {
    LENT.with(|l| *l.borrow_mut() = Some(state.clone()));
    let result = f();
    LENT.with(|l| l.borrow_mut().take());
    result
}

/// A state-machine snapshot: a base state plus entries not yet folded into it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvSnapshot {
    /// The state after applying every entry up to `base.applied_index()`; `None`: empty state
    /// at index 0.
    base: Option<KvState>,
    /// Entries that follow the base, not yet applied to it.
    tail: Vec<LogEntry>,
}

impl KvSnapshot {
    /// A snapshot of `state` as it is now.
    pub fn of(state: KvState) -> KvSnapshot {
        KvSnapshot {
            base: Some(state),
            tail: Vec::new(),
        }
    }

    /// The state this snapshot stands for (base with the tail applied).
    pub fn to_state(&self) -> KvState {
        let mut state = self.base.clone().unwrap_or_default();
        for entry in &self.tail {
            let index = state.applied_index();
            state.apply_silently(index, entry);
        }
        state
    }

    /// For a delta (entries only, no base state, as OmniPaxos' `create` makes them): how many
    /// entries it holds. `None` for a snapshot with a base.
    pub fn delta_len(&self) -> Option<usize> {
        self.base.is_none().then_some(self.tail.len())
    }

    /// The log index this snapshot reaches: its base's applied index plus its tail.
    fn end(&self) -> usize {
        self.base.as_ref().map_or(0, KvState::applied_index) + self.tail.len()
    }

    fn fold(&mut self) {
        // The state the replica lent for this snapshot is exactly what folding would build
        // (same entries, applied in the same order), so take it and skip the O(entries) work.
        let end = self.end();
        if let Some(lent) = LENT.with(|l| l.borrow_mut().take_if(|s| s.applied_index() == end)) {
            self.base = Some(lent);
            self.tail.clear();
            return;
        }
        let mut state = self.base.take().unwrap_or_default();
        for entry in self.tail.drain(..) {
            let index = state.applied_index();
            state.apply_silently(index, &entry);
        }
        self.base = Some(state);
    }
}

impl Snapshot<LogEntry> for KvSnapshot {
    fn create(entries: &[LogEntry]) -> Self {
        KvSnapshot {
            base: None,
            tail: entries.to_vec(),
        }
    }

    fn merge(&mut self, delta: Self) {
        match delta.base {
            // A delta with a base is a complete snapshot: it replaces this one.
            Some(_) => *self = delta,
            None => {
                self.tail.extend(delta.tail);
                self.fold();
            }
        }
    }

    fn use_snapshots() -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::WriteCommand;
    use ddbb_libs::kv::{
        Compare, CompareResult, DeleteRangeRequest, PutRequest, RequestOp, TxnRequest, WriteRequest,
    };
    use ddbb_libs::RequestId;

    fn entry(seq: u64, op: WriteRequest) -> LogEntry {
        LogEntry {
            origin: 1,
            commands: vec![WriteCommand {
                id: RequestId { client: 9, seq },
                op,
            }],
            ..Default::default()
        }
    }

    fn log() -> Vec<LogEntry> {
        let put = |k: &str, v: &str| PutRequest::new(k.to_string(), v.to_string());
        let cas = TxnRequest {
            compare: vec![Compare::value("a", CompareResult::Equal, "1")],
            success: vec![RequestOp::Put(put("a", "2"))],
            failure: Vec::new(),
        };
        vec![
            entry(1, WriteRequest::Put(put("a", "1"))),
            entry(2, WriteRequest::Put(put("b", "1"))),
            entry(3, WriteRequest::Txn(cas)),
            entry(4, WriteRequest::DeleteRange(DeleteRangeRequest::key("b"))),
            entry(5, WriteRequest::Put(put("c", "3"))),
        ]
    }

    fn applied(entries: &[LogEntry]) -> KvState {
        let mut s = KvState::new();
        for (i, e) in entries.iter().enumerate() {
            s.apply(i, e);
        }
        s
    }

    #[test]
    fn create_then_merge_deltas_equals_applying_the_log() {
        let log = log();
        for split in 0..=log.len() {
            // As OmniPaxos compacts: a first snapshot of [0, split), then a delta of the rest.
            let mut snap = KvSnapshot::create(&log[..split]);
            snap.merge(KvSnapshot::create(&log[split..]));
            assert_eq!(snap.to_state(), applied(&log), "split at {split}");
        }
    }

    #[test]
    fn a_lent_state_replaces_the_fold_only_when_it_is_the_result() {
        let log = log();
        let full = applied(&log);
        let mut snap = KvSnapshot::create(&log[..2]);
        lend_state(&full, || snap.merge(KvSnapshot::create(&log[2..])));
        assert_eq!(snap.to_state(), full);
        assert!(snap.tail.is_empty());
        // A state at another index is ignored: the entries are folded.
        let early = applied(&log[..1]);
        let mut snap = KvSnapshot::create(&log[..2]);
        lend_state(&early, || snap.merge(KvSnapshot::create(&log[2..])));
        assert_eq!(snap.to_state(), full);
    }

    #[test]
    fn a_complete_snapshot_replaces_on_merge() {
        let log = log();
        let mut snap = KvSnapshot::create(&log[..1]);
        snap.merge(KvSnapshot::of(applied(&log)));
        assert_eq!(snap.to_state(), applied(&log));
    }

    #[test]
    fn snapshots_survive_serialization() {
        let mut snap = KvSnapshot::create(&log()[..2]);
        snap.merge(KvSnapshot::create(&log()[2..]));
        let bytes = bincode::serialize(&snap).unwrap();
        let back: KvSnapshot = bincode::deserialize(&bytes).unwrap();
        assert_eq!(back.to_state(), applied(&log()));
    }
}
