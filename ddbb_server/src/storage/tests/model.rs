//! Property test: random sequences of storage calls, syncs, checkpoints, crashes and clean
//! restarts give the same `get_*` answers from the WAL as from a simple reference model.

use super::open;
use crate::storage::{
    suite::{ballot, dump, put, stopsign, KvSnapshot, TestEntry},
    Wal, WalOptions,
};
use omnipaxos::{
    ballot_leader_election::Ballot,
    storage::{Snapshot, StopSign, Storage, StorageOp},
};
use proptest::prelude::*;

/// The reference: a plain vector indexed by absolute log index, `None` below the trimmed prefix.
#[derive(Clone, Debug, Default, PartialEq)]
struct Model {
    log: Vec<Option<TestEntry>>,
    trimmed: usize,
    promise: Option<Ballot>,
    accepted_round: Option<Ballot>,
    decided_idx: usize,
    compacted_idx: usize,
    stopsign: Option<StopSign>,
    snapshot: Option<KvSnapshot>,
}

impl Model {
    fn apply(&mut self, op: &StorageOp<TestEntry>) {
        match op {
            StorageOp::AppendEntry(e) => self.log.push(Some(e.clone())),
            StorageOp::AppendEntries(es) => self.log.extend(es.iter().cloned().map(Some)),
            StorageOp::AppendOnPrefix(from, es) => {
                if *from <= self.log.len() {
                    self.log.truncate(*from);
                    self.log.extend(es.iter().cloned().map(Some));
                    let trimmed = self.trimmed;
                    self.trim_below(trimmed);
                }
            }
            StorageOp::SetPromise(b) => self.promise = Some(*b),
            StorageOp::SetDecidedIndex(i) => self.decided_idx = *i,
            StorageOp::SetAcceptedRound(b) => self.accepted_round = Some(*b),
            StorageOp::SetCompactedIdx(i) => self.compacted_idx = *i,
            StorageOp::Trim(i) => {
                if *i > self.trimmed {
                    self.trimmed = *i;
                }
                let trimmed = self.trimmed;
                self.trim_below(trimmed);
            }
            StorageOp::SetStopsign(s) => self.stopsign = s.clone(),
            StorageOp::SetSnapshot(s) => self.snapshot = s.clone(),
        }
    }

    fn trim_below(&mut self, idx: usize) {
        if self.log.len() < idx {
            self.log.resize(idx, None);
        }
        for slot in &mut self.log[..idx] {
            *slot = None;
        }
    }

    fn entries(&self, from: usize, to: usize) -> Vec<TestEntry> {
        if from > to || to > self.log.len() {
            return vec![];
        }
        self.log[from..to]
            .iter()
            .cloned()
            .collect::<Option<Vec<_>>>()
            .unwrap_or_default()
    }

    fn assert_matches(&self, wal: &Wal<TestEntry>) {
        assert_eq!(wal.get_promise().unwrap(), self.promise);
        assert_eq!(wal.get_accepted_round().unwrap(), self.accepted_round);
        assert_eq!(wal.get_decided_idx().unwrap(), self.decided_idx);
        assert_eq!(wal.get_compacted_idx().unwrap(), self.compacted_idx);
        assert_eq!(wal.get_stopsign().unwrap(), self.stopsign);
        assert_eq!(wal.get_snapshot().unwrap(), self.snapshot);
        assert_eq!(
            wal.get_log_len().unwrap(),
            self.log.len() - self.trimmed.min(self.log.len())
        );
        let n = self.log.len() + 2;
        for i in 0..=n {
            assert_eq!(
                wal.get_entries(i, i + 1).unwrap(),
                self.entries(i, i + 1),
                "entry {i}"
            );
            assert_eq!(
                wal.get_suffix(i).unwrap(),
                if i < n {
                    self.entries(i, self.log.len())
                } else {
                    vec![]
                }
            );
            assert_eq!(
                wal.get_entries(i, self.log.len()).unwrap(),
                self.entries(i, self.log.len())
            );
        }
    }
}

/// A storage call with positions relative to the current log, resolved when applied.
#[derive(Clone, Debug)]
enum Call {
    Append(u8),
    AppendOne,
    Prefix { pos: u8, n: u8 },
    Promise(u8),
    Accepted(u8),
    Decided(u8),
    Compacted(u8),
    Trim(u8),
    Stopsign(bool),
    Snapshot(bool),
}

#[derive(Clone, Debug)]
enum Action {
    Call(Call),
    Atomic(Vec<Call>),
    Sync,
    Checkpoint,
    /// Drop without sync, reopen: only synced state survives.
    Crash,
    /// Sync, drop, reopen.
    Restart,
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        4 => (0u8..4).prop_map(Call::Append),
        3 => Just(Call::AppendOne),
        3 => (any::<u8>(), 0u8..4).prop_map(|(pos, n)| Call::Prefix { pos, n }),
        1 => any::<u8>().prop_map(Call::Promise),
        1 => any::<u8>().prop_map(Call::Accepted),
        2 => any::<u8>().prop_map(Call::Decided),
        1 => any::<u8>().prop_map(Call::Compacted),
        2 => any::<u8>().prop_map(Call::Trim),
        1 => any::<bool>().prop_map(Call::Stopsign),
        1 => any::<bool>().prop_map(Call::Snapshot),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        10 => call().prop_map(Action::Call),
        3 => prop::collection::vec(call(), 1..5).prop_map(Action::Atomic),
        4 => Just(Action::Sync),
        1 => Just(Action::Checkpoint),
        1 => Just(Action::Crash),
        1 => Just(Action::Restart),
    ]
}

/// Turns a relative call into a concrete op, given the log end the op will see.
fn resolve(c: &Call, end: &mut usize, counter: &mut u64) -> StorageOp<TestEntry> {
    let mut fresh = |n: u8| -> Vec<TestEntry> {
        (0..n)
            .map(|_| {
                *counter += 1;
                put(*counter)
            })
            .collect()
    };
    let op = match c {
        Call::Append(n) => StorageOp::AppendEntries(fresh(*n)),
        Call::AppendOne => StorageOp::AppendEntry(fresh(1).remove(0)),
        Call::Prefix { pos, n } => {
            // Anywhere in 0..=end, or one past the end with no entries (the StopSign case).
            let from = *pos as usize % (*end + 2);
            if from > *end {
                StorageOp::AppendOnPrefix(from, vec![])
            } else {
                StorageOp::AppendOnPrefix(from, fresh(*n))
            }
        }
        Call::Promise(n) => StorageOp::SetPromise(ballot(*n as u32, 1)),
        Call::Accepted(n) => StorageOp::SetAcceptedRound(ballot(*n as u32, 2)),
        Call::Decided(i) => StorageOp::SetDecidedIndex(*i as usize % (*end + 1)),
        Call::Compacted(i) => StorageOp::SetCompactedIdx(*i as usize % (*end + 1)),
        Call::Trim(i) => StorageOp::Trim(*i as usize % (*end + 3)),
        Call::Stopsign(b) => StorageOp::SetStopsign(b.then(stopsign)),
        Call::Snapshot(b) => {
            StorageOp::SetSnapshot(b.then(|| KvSnapshot::create(&[put(*counter)])))
        }
    };
    // Track the end as the model would see it (for resolving later ops of a batch).
    match &op {
        StorageOp::AppendEntry(_) => *end += 1,
        StorageOp::AppendEntries(es) => *end += es.len(),
        StorageOp::AppendOnPrefix(from, es) if *from <= *end => *end = from + es.len(),
        StorageOp::Trim(i) => *end = (*end).max(*i),
        _ => {}
    }
    op
}

fn call_single(wal: &mut Wal<TestEntry>, op: StorageOp<TestEntry>) {
    match op {
        StorageOp::AppendEntry(e) => wal.append_entry(e),
        StorageOp::AppendEntries(es) => wal.append_entries(es),
        StorageOp::AppendOnPrefix(from, es) => wal.append_on_prefix(from, es),
        StorageOp::SetPromise(b) => wal.set_promise(b),
        StorageOp::SetDecidedIndex(i) => wal.set_decided_idx(i),
        StorageOp::SetAcceptedRound(b) => wal.set_accepted_round(b),
        StorageOp::SetCompactedIdx(i) => wal.set_compacted_idx(i),
        StorageOp::Trim(i) => wal.trim(i),
        StorageOp::SetStopsign(s) => wal.set_stopsign(s),
        StorageOp::SetSnapshot(s) => wal.set_snapshot(s),
    }
    .unwrap()
}

fn options() -> WalOptions {
    WalOptions {
        segment_bytes: 200,
        ..WalOptions::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn wal_matches_reference_model_across_restarts(actions in prop::collection::vec(action(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let mut wal = open(dir.path(), options());
        let mut model = Model::default();
        let mut synced = Model::default();
        let mut counter = 0u64;
        for action in &actions {
            match action {
                Action::Call(c) => {
                    let mut end = model.log.len();
                    let op = resolve(c, &mut end, &mut counter);
                    model.apply(&op);
                    call_single(&mut wal, op);
                }
                Action::Atomic(calls) => {
                    let mut end = model.log.len();
                    let ops: Vec<_> = calls.iter().map(|c| resolve(c, &mut end, &mut counter)).collect();
                    for op in &ops {
                        model.apply(op);
                    }
                    wal.write_atomically(ops).unwrap();
                }
                Action::Sync => {
                    wal.sync().unwrap();
                    synced = model.clone();
                }
                Action::Checkpoint => {
                    wal.checkpoint().unwrap();
                    synced = model.clone();
                }
                Action::Crash => {
                    drop(wal);
                    wal = open(dir.path(), options());
                    model = synced.clone();
                }
                Action::Restart => {
                    wal.sync().unwrap();
                    drop(wal);
                    wal = open(dir.path(), options());
                    synced = model.clone();
                }
            }
            model.assert_matches(&wal);
        }
        // Finally: a clean restart reproduces every answer.
        wal.sync().unwrap();
        let n = model.log.len() + 2;
        let before = dump(&wal, n);
        drop(wal);
        let wal = open(dir.path(), options());
        prop_assert_eq!(dump(&wal, n), before);
        model.assert_matches(&wal);
    }
}
