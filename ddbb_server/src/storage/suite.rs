//! The storage test suite: one set of checks of the `Storage` contract, run against
//! omnipaxos' `MemoryStorage`, [`Wal`] and [`SharedWal`].
//!
//! `storage_suite!` turns every check into its own `#[test]` for one storage. After each check
//! on a durable storage the fixture also syncs, reopens from disk and asserts that every `get_*`
//! answer is unchanged (a restart round-trip of every scenario).
//!
//! `MemoryStorage` has known quirks (see `OMNIPAXOS_NOTES.md`): its index arithmetic underflows
//! (panics) for indices below the trimmed prefix, and its `write_atomically` is not atomic and
//! never fails. [`Quirks::MEMORY_STORAGE`] skips exactly those checks for it.

use super::{SharedWal, Wal, WalOptions};
use omnipaxos::{
    ballot_leader_election::Ballot,
    storage::{Entry, Snapshot, StopSign, Storage, StorageOp},
    ClusterConfig,
};
use omnipaxos_storage::memory_storage::MemoryStorage;
use serde::{Deserialize, Serialize, Serializer};
use std::collections::BTreeMap;
use tempfile::TempDir;

/// A key-value write: the suite's log entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum TestEntry {
    Put {
        key: String,
        value: u64,
    },
    /// Its `Serialize` always fails: drives the encode-error paths of the WAL.
    Unencodable(#[serde(serialize_with = "refuse")] u64),
}

fn refuse<S: Serializer>(_: &u64, _: S) -> Result<S::Ok, S::Error> {
    Err(serde::ser::Error::custom(
        "this entry refuses to be encoded",
    ))
}

impl Entry for TestEntry {
    type Snapshot = KvSnapshot;
}

/// The key-value map after applying entries: a real snapshot for compaction tests.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct KvSnapshot {
    pub map: BTreeMap<String, u64>,
}

impl Snapshot<TestEntry> for KvSnapshot {
    fn create(entries: &[TestEntry]) -> Self {
        let mut s = KvSnapshot::default();
        for e in entries {
            if let TestEntry::Put { key, value } = e {
                s.map.insert(key.clone(), *value);
            }
        }
        s
    }

    fn merge(&mut self, delta: Self) {
        self.map.extend(delta.map);
    }

    fn use_snapshots() -> bool {
        true
    }
}

/// The entry written at position `i` in the suite's logs.
pub(crate) fn put(i: u64) -> TestEntry {
    TestEntry::Put {
        key: format!("k{}", i % 5),
        value: i,
    }
}

/// Entries `put(from)..put(to)`.
pub(crate) fn puts(from: u64, to: u64) -> Vec<TestEntry> {
    (from..to).map(put).collect()
}

pub(crate) fn ballot(n: u32, pid: u64) -> Ballot {
    Ballot::with(1, n, 0, pid)
}

pub(crate) fn stopsign() -> StopSign {
    StopSign::with(
        ClusterConfig {
            configuration_id: 2,
            nodes: vec![1, 2, 3, 4],
            flexible_quorum: None,
        },
        Some(vec![7, 7]),
    )
}

/// Every `get_*` answer of a storage, for comparing two storages or one across a restart.
#[derive(Debug, PartialEq)]
pub(crate) struct Dump {
    pub promise: Option<Ballot>,
    pub accepted_round: Option<Ballot>,
    pub decided_idx: usize,
    pub compacted_idx: usize,
    pub log_len: usize,
    pub stopsign: Option<StopSign>,
    pub snapshot: Option<KvSnapshot>,
    /// `get_entries(i, i + 1)`, `get_entries(i, max)` and `get_suffix(i)` for each `i <= max`.
    pub reads: Vec<(Vec<TestEntry>, Vec<TestEntry>, Vec<TestEntry>)>,
}

/// Reads everything through the `Storage` API. Only for storages with total index arithmetic.
pub(crate) fn dump<S: Storage<TestEntry>>(s: &S, max: usize) -> Dump {
    Dump {
        promise: s.get_promise().unwrap(),
        accepted_round: s.get_accepted_round().unwrap(),
        decided_idx: s.get_decided_idx().unwrap(),
        compacted_idx: s.get_compacted_idx().unwrap(),
        log_len: s.get_log_len().unwrap(),
        stopsign: s.get_stopsign().unwrap(),
        snapshot: s.get_snapshot().unwrap(),
        reads: (0..=max)
            .map(|i| {
                (
                    s.get_entries(i, i + 1).unwrap(),
                    s.get_entries(i, max).unwrap(),
                    s.get_suffix(i).unwrap(),
                )
            })
            .collect(),
    }
}

/// Which checks a storage supports.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Quirks {
    /// Indices below the trimmed prefix are handled (MemoryStorage underflows).
    pub total_indexing: bool,
    /// `write_atomically` and single calls fail without effect on an unencodable entry or an
    /// invalid batch (MemoryStorage never encodes and is not atomic).
    pub atomic_errors: bool,
}

impl Quirks {
    pub(crate) const MEMORY_STORAGE: Quirks = Quirks {
        total_indexing: false,
        atomic_errors: false,
    };
    pub(crate) const FULL: Quirks = Quirks {
        total_indexing: true,
        atomic_errors: true,
    };
}

/// A storage under test, the temp dir it lives in, and how to restart it.
pub(crate) struct Fixture<S> {
    pub storage: Option<S>,
    pub dir: Option<TempDir>,
    reopen: Option<fn(S, &TempDir) -> S>,
}

/// Small segments so that the suite crosses segment boundaries.
pub(crate) fn small_segments() -> WalOptions {
    WalOptions {
        segment_bytes: 256,
        ..WalOptions::default()
    }
}

impl Fixture<MemoryStorage<TestEntry>> {
    pub(crate) fn memory() -> Self {
        Fixture {
            storage: Some(MemoryStorage::default()),
            dir: None,
            reopen: None,
        }
    }
}

impl Fixture<Wal<TestEntry>> {
    pub(crate) fn wal() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Fixture {
            storage: Some(Wal::open(dir.path(), small_segments()).unwrap()),
            dir: Some(dir),
            reopen: Some(|mut wal, dir| {
                wal.sync().unwrap();
                drop(wal);
                Wal::open(dir.path(), small_segments()).unwrap()
            }),
        }
    }
}

/// The options the replica uses for its `SharedWal`: snapshots written as checkpoints.
pub(crate) fn checkpointing() -> WalOptions {
    WalOptions {
        checkpoint_on_snapshot: true,
        ..small_segments()
    }
}

impl Fixture<SharedWal<TestEntry>> {
    pub(crate) fn shared_wal() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Fixture {
            storage: Some(SharedWal::open(dir.path(), checkpointing()).unwrap()),
            dir: Some(dir),
            reopen: Some(|wal, dir| {
                wal.sync().unwrap();
                drop(wal);
                SharedWal::open(dir.path(), checkpointing()).unwrap()
            }),
        }
    }
}

impl<S: Storage<TestEntry>> Fixture<S> {
    pub(crate) fn get(&mut self) -> &mut S {
        self.storage.as_mut().expect("storage present")
    }

    /// Syncs, drops and reopens a durable storage, asserting that nothing changed.
    pub(crate) fn assert_restart_roundtrip(&mut self) {
        let (Some(reopen), Some(dir)) = (self.reopen, self.dir.as_ref()) else {
            return;
        };
        let s = self.storage.take().expect("storage present");
        let before = dump(&s, 40);
        let s = reopen(s, dir);
        assert_eq!(dump(&s, 40), before, "state changed across a restart");
        self.storage = Some(s);
    }
}

/// Generates one `#[test]` per check for one storage.
macro_rules! storage_suite {
    ($name:ident, $fixture:expr, $quirks:expr, [$($check:ident),* $(,)?]) => {
        mod $name {
            $(
                #[test]
                fn $check() {
                    let mut f = $fixture;
                    super::$check(f.get(), $quirks);
                    f.assert_restart_roundtrip();
                }
            )*
        }
    };
}

macro_rules! all_checks {
    ($name:ident, $fixture:expr, $quirks:expr) => {
        storage_suite!(
            $name,
            $fixture,
            $quirks,
            [
                fresh_storage_is_empty,
                promise_and_accepted_round_roundtrip,
                decided_and_compacted_idx_roundtrip,
                append_entry_and_entries_use_consecutive_indices,
                get_entries_is_empty_unless_all_present,
                get_suffix_edge_cases,
                append_on_prefix_truncates_then_appends,
                append_on_prefix_past_end_without_entries_is_noop,
                trim_keeps_absolute_indices,
                trim_past_log_end_then_append,
                trim_below_start_is_noop,
                reads_below_trimmed_prefix_are_empty,
                append_on_prefix_below_trimmed_prefix_keeps_absolute_indices,
                stopsign_roundtrip,
                snapshot_roundtrip,
                accepted_idx_invariant_holds,
                write_atomically_applies_in_order,
                write_atomically_like_sync_log_with_snapshot_past_log_end,
                write_atomically_like_try_trim_and_try_snapshot,
                write_atomically_is_all_or_nothing,
                failed_single_call_has_no_effect,
                interleaved_calls_many_records,
            ]
        );
    };
}

all_checks!(
    memory_storage,
    super::Fixture::memory(),
    super::Quirks::MEMORY_STORAGE
);
all_checks!(wal, super::Fixture::wal(), super::Quirks::FULL);
all_checks!(
    shared_wal,
    super::Fixture::shared_wal(),
    super::Quirks::FULL
);

// ---- the checks -------------------------------------------------------------------------

fn fresh_storage_is_empty<S: Storage<TestEntry>>(s: &mut S, _: Quirks) {
    assert_eq!(s.get_promise().unwrap(), None);
    assert_eq!(s.get_accepted_round().unwrap(), None);
    assert_eq!(s.get_decided_idx().unwrap(), 0);
    assert_eq!(s.get_compacted_idx().unwrap(), 0);
    assert_eq!(s.get_log_len().unwrap(), 0);
    assert_eq!(s.get_stopsign().unwrap(), None);
    assert_eq!(s.get_snapshot().unwrap(), None);
    assert!(s.get_entries(0, 0).unwrap().is_empty());
    assert!(s.get_entries(0, 1).unwrap().is_empty());
    assert!(s.get_suffix(0).unwrap().is_empty());
}

fn promise_and_accepted_round_roundtrip<S: Storage<TestEntry>>(s: &mut S, _: Quirks) {
    s.set_promise(ballot(3, 2)).unwrap();
    assert_eq!(s.get_promise().unwrap(), Some(ballot(3, 2)));
    s.set_promise(ballot(4, 1)).unwrap();
    assert_eq!(s.get_promise().unwrap(), Some(ballot(4, 1)));
    assert_eq!(s.get_accepted_round().unwrap(), None);
    s.set_accepted_round(ballot(4, 1)).unwrap();
    assert_eq!(s.get_accepted_round().unwrap(), Some(ballot(4, 1)));
    assert_eq!(s.get_promise().unwrap(), Some(ballot(4, 1)));
}

fn decided_and_compacted_idx_roundtrip<S: Storage<TestEntry>>(s: &mut S, _: Quirks) {
    s.append_entries(puts(0, 5)).unwrap();
    s.set_decided_idx(3).unwrap();
    assert_eq!(s.get_decided_idx().unwrap(), 3);
    s.set_decided_idx(5).unwrap();
    assert_eq!(s.get_decided_idx().unwrap(), 5);
    // The compacted index is plain metadata: setting it alone does not drop entries.
    s.set_compacted_idx(2).unwrap();
    assert_eq!(s.get_compacted_idx().unwrap(), 2);
    assert_eq!(s.get_log_len().unwrap(), 5);
}

fn append_entry_and_entries_use_consecutive_indices<S: Storage<TestEntry>>(s: &mut S, _: Quirks) {
    s.append_entry(put(0)).unwrap();
    s.append_entries(puts(1, 4)).unwrap();
    s.append_entries(vec![]).unwrap();
    s.append_entry(put(4)).unwrap();
    assert_eq!(s.get_log_len().unwrap(), 5);
    assert_eq!(s.get_entries(0, 5).unwrap(), puts(0, 5));
    for i in 0..5 {
        assert_eq!(s.get_entries(i, i + 1).unwrap(), vec![put(i as u64)]);
    }
}

fn get_entries_is_empty_unless_all_present<S: Storage<TestEntry>>(s: &mut S, _: Quirks) {
    s.append_entries(puts(0, 4)).unwrap();
    assert!(s.get_entries(2, 2).unwrap().is_empty());
    assert!(s.get_entries(4, 4).unwrap().is_empty());
    assert!(s.get_entries(0, 5).unwrap().is_empty(), "past the end");
    assert!(
        s.get_entries(3, 5).unwrap().is_empty(),
        "partly past the end"
    );
    assert!(
        s.get_entries(5, 9).unwrap().is_empty(),
        "wholly past the end"
    );
    assert!(s.get_entries(3, 1).unwrap().is_empty(), "from > to");
    assert_eq!(s.get_entries(0, 4).unwrap(), puts(0, 4));
    assert_eq!(s.get_entries(1, 3).unwrap(), puts(1, 3));
}

fn get_suffix_edge_cases<S: Storage<TestEntry>>(s: &mut S, _: Quirks) {
    s.append_entries(puts(0, 4)).unwrap();
    assert_eq!(s.get_suffix(0).unwrap(), puts(0, 4));
    assert_eq!(s.get_suffix(3).unwrap(), puts(3, 4));
    assert!(s.get_suffix(4).unwrap().is_empty());
    assert!(s.get_suffix(10).unwrap().is_empty());
}

fn append_on_prefix_truncates_then_appends<S: Storage<TestEntry>>(s: &mut S, _: Quirks) {
    s.append_entries(puts(0, 6)).unwrap();
    s.append_on_prefix(2, puts(100, 103)).unwrap();
    let mut expected = puts(0, 2);
    expected.extend(puts(100, 103));
    assert_eq!(s.get_log_len().unwrap(), 5);
    assert_eq!(s.get_suffix(0).unwrap(), expected);
    // At the end it is a plain append.
    s.append_on_prefix(5, puts(200, 201)).unwrap();
    expected.extend(puts(200, 201));
    assert_eq!(s.get_suffix(0).unwrap(), expected);
    // With no entries it only truncates.
    s.append_on_prefix(3, vec![]).unwrap();
    assert_eq!(s.get_suffix(0).unwrap(), expected[..3].to_vec());
    // From 0 it replaces everything.
    s.append_on_prefix(0, puts(300, 302)).unwrap();
    assert_eq!(s.get_suffix(0).unwrap(), puts(300, 302));
}

fn append_on_prefix_past_end_without_entries_is_noop<S: Storage<TestEntry>>(s: &mut S, _: Quirks) {
    // OmniPaxos syncs a follower holding a StopSign at index log_end with
    // AppendOnPrefix(log_end + 1, []) followed by SetStopsign.
    s.append_entries(puts(0, 3)).unwrap();
    s.set_stopsign(Some(stopsign())).unwrap();
    s.write_atomically(vec![
        StorageOp::AppendOnPrefix(4, vec![]),
        StorageOp::SetStopsign(Some(stopsign())),
    ])
    .unwrap();
    assert_eq!(s.get_suffix(0).unwrap(), puts(0, 3));
    assert_eq!(s.get_stopsign().unwrap(), Some(stopsign()));
}

fn trim_keeps_absolute_indices<S: Storage<TestEntry>>(s: &mut S, _: Quirks) {
    s.append_entries(puts(0, 10)).unwrap();
    s.trim(4).unwrap();
    assert_eq!(s.get_log_len().unwrap(), 6);
    assert_eq!(s.get_entries(4, 10).unwrap(), puts(4, 10));
    assert_eq!(s.get_entries(5, 6).unwrap(), vec![put(5)]);
    assert_eq!(s.get_suffix(7).unwrap(), puts(7, 10));
    s.append_entry(put(10)).unwrap();
    assert_eq!(s.get_entries(10, 11).unwrap(), vec![put(10)]);
    s.trim(4).unwrap(); // same index: no-op
    assert_eq!(s.get_log_len().unwrap(), 7);
    s.trim(8).unwrap();
    assert_eq!(s.get_suffix(8).unwrap(), puts(8, 11));
    s.append_on_prefix(9, puts(90, 92)).unwrap();
    assert_eq!(s.get_suffix(8).unwrap(), vec![put(8), put(90), put(91)]);
}

fn trim_past_log_end_then_append<S: Storage<TestEntry>>(s: &mut S, _: Quirks) {
    s.append_entries(puts(0, 3)).unwrap();
    s.trim(7).unwrap();
    assert_eq!(s.get_log_len().unwrap(), 0);
    assert!(s.get_suffix(7).unwrap().is_empty());
    s.append_entries(puts(7, 9)).unwrap();
    assert_eq!(s.get_log_len().unwrap(), 2);
    assert_eq!(s.get_entries(7, 9).unwrap(), puts(7, 9));
    assert_eq!(s.get_suffix(7).unwrap(), puts(7, 9));
}

fn trim_below_start_is_noop<S: Storage<TestEntry>>(s: &mut S, q: Quirks) {
    if !q.total_indexing {
        return; // MemoryStorage: `trimmed_idx - self.trimmed_idx` underflows.
    }
    s.append_entries(puts(0, 6)).unwrap();
    s.trim(4).unwrap();
    s.trim(2).unwrap();
    assert_eq!(s.get_log_len().unwrap(), 2);
    assert_eq!(s.get_entries(4, 6).unwrap(), puts(4, 6));
}

fn reads_below_trimmed_prefix_are_empty<S: Storage<TestEntry>>(s: &mut S, q: Quirks) {
    if !q.total_indexing {
        return; // MemoryStorage: `from - trimmed_idx` underflows.
    }
    s.append_entries(puts(0, 6)).unwrap();
    s.trim(3).unwrap();
    assert!(s.get_entries(2, 4).unwrap().is_empty());
    assert!(s.get_entries(0, 1).unwrap().is_empty());
    assert!(s.get_suffix(2).unwrap().is_empty());
    assert_eq!(s.get_entries(3, 6).unwrap(), puts(3, 6));
}

fn append_on_prefix_below_trimmed_prefix_keeps_absolute_indices<S: Storage<TestEntry>>(
    s: &mut S,
    q: Quirks,
) {
    if !q.total_indexing {
        return; // MemoryStorage: `from_idx - trimmed_idx` underflows.
    }
    s.append_entries(puts(0, 6)).unwrap();
    s.trim(4).unwrap();
    // Entries for indices 2 and 3 are compacted; 4 and 5 replace what was there.
    s.append_on_prefix(2, puts(102, 106)).unwrap();
    assert_eq!(s.get_log_len().unwrap(), 2);
    assert_eq!(s.get_entries(4, 6).unwrap(), puts(104, 106));
    // Wholly below the prefix: the log becomes empty, the prefix stays.
    s.append_on_prefix(1, puts(0, 2)).unwrap();
    assert_eq!(s.get_log_len().unwrap(), 0);
    s.append_entry(put(4)).unwrap();
    assert_eq!(s.get_entries(4, 5).unwrap(), vec![put(4)]);
}

fn stopsign_roundtrip<S: Storage<TestEntry>>(s: &mut S, _: Quirks) {
    s.set_stopsign(Some(stopsign())).unwrap();
    assert_eq!(s.get_stopsign().unwrap(), Some(stopsign()));
    s.set_stopsign(None).unwrap();
    assert_eq!(s.get_stopsign().unwrap(), None);
    s.set_stopsign(Some(stopsign())).unwrap();
}

fn snapshot_roundtrip<S: Storage<TestEntry>>(s: &mut S, _: Quirks) {
    let snap = KvSnapshot::create(&puts(0, 12));
    assert_eq!(snap.map.len(), 5);
    s.set_snapshot(Some(snap.clone())).unwrap();
    assert_eq!(s.get_snapshot().unwrap(), Some(snap.clone()));
    s.set_snapshot(None).unwrap();
    assert_eq!(s.get_snapshot().unwrap(), None);
    s.set_snapshot(Some(snap.clone())).unwrap();
    assert_eq!(s.get_snapshot().unwrap(), Some(snap));
}

fn accepted_idx_invariant_holds<S: Storage<TestEntry>>(s: &mut S, _: Quirks) {
    // OmniPaxos recomputes accepted_idx = log_len + compacted_idx (+1 with a stopsign) on start.
    let accepted = |s: &S| {
        s.get_log_len().unwrap()
            + s.get_compacted_idx().unwrap()
            + usize::from(s.get_stopsign().unwrap().is_some())
    };
    s.append_entries(puts(0, 8)).unwrap();
    assert_eq!(accepted(s), 8);
    s.set_decided_idx(6).unwrap();
    s.write_atomically(vec![StorageOp::Trim(5), StorageOp::SetCompactedIdx(5)])
        .unwrap();
    assert_eq!(accepted(s), 8);
    s.set_stopsign(Some(stopsign())).unwrap();
    assert_eq!(accepted(s), 9);
}

fn write_atomically_applies_in_order<S: Storage<TestEntry>>(s: &mut S, _: Quirks) {
    let snap = KvSnapshot::create(&puts(0, 2));
    s.write_atomically(vec![
        StorageOp::SetPromise(ballot(2, 1)),
        StorageOp::AppendEntries(puts(0, 4)),
        StorageOp::AppendEntry(put(4)),
        StorageOp::AppendOnPrefix(3, puts(30, 32)), // sees the appends before it
        StorageOp::SetDecidedIndex(3),
        StorageOp::SetAcceptedRound(ballot(2, 1)),
        StorageOp::Trim(2),
        StorageOp::SetCompactedIdx(2),
        StorageOp::SetSnapshot(Some(snap.clone())),
        StorageOp::SetStopsign(Some(stopsign())),
        StorageOp::SetPromise(ballot(3, 2)), // last one wins
    ])
    .unwrap();
    assert_eq!(s.get_promise().unwrap(), Some(ballot(3, 2)));
    assert_eq!(s.get_accepted_round().unwrap(), Some(ballot(2, 1)));
    assert_eq!(s.get_decided_idx().unwrap(), 3);
    assert_eq!(s.get_compacted_idx().unwrap(), 2);
    assert_eq!(s.get_log_len().unwrap(), 3);
    assert_eq!(s.get_entries(2, 5).unwrap(), vec![put(2), put(30), put(31)]);
    assert_eq!(s.get_snapshot().unwrap(), Some(snap));
    assert_eq!(s.get_stopsign().unwrap(), Some(stopsign()));
}

fn write_atomically_like_sync_log_with_snapshot_past_log_end<S: Storage<TestEntry>>(
    s: &mut S,
    _: Quirks,
) {
    // A follower with 3 entries receives AcceptSync with a Complete snapshot up to 8.
    s.append_entries(puts(0, 3)).unwrap();
    let snap = KvSnapshot::create(&puts(0, 8));
    s.write_atomically(vec![
        StorageOp::SetAcceptedRound(ballot(5, 2)),
        StorageOp::SetDecidedIndex(8),
        StorageOp::Trim(8),
        StorageOp::SetCompactedIdx(8),
        StorageOp::SetSnapshot(Some(snap.clone())),
        StorageOp::AppendOnPrefix(8, puts(8, 10)),
    ])
    .unwrap();
    assert_eq!(s.get_log_len().unwrap(), 2);
    assert_eq!(s.get_compacted_idx().unwrap(), 8);
    assert_eq!(s.get_entries(8, 10).unwrap(), puts(8, 10));
    assert_eq!(s.get_suffix(9).unwrap(), puts(9, 10));
    assert_eq!(s.get_snapshot().unwrap(), Some(snap));
    s.append_entry(put(10)).unwrap();
    assert_eq!(s.get_entries(10, 11).unwrap(), vec![put(10)]);
}

fn write_atomically_like_try_trim_and_try_snapshot<S: Storage<TestEntry>>(s: &mut S, _: Quirks) {
    s.append_entries(puts(0, 10)).unwrap();
    s.set_decided_idx(10).unwrap();
    s.write_atomically(vec![StorageOp::Trim(3), StorageOp::SetCompactedIdx(3)])
        .unwrap();
    assert_eq!(s.get_log_len().unwrap(), 7);
    let snap = KvSnapshot::create(&puts(0, 6));
    s.write_atomically(vec![
        StorageOp::Trim(6),
        StorageOp::SetCompactedIdx(6),
        StorageOp::SetSnapshot(Some(snap.clone())),
    ])
    .unwrap();
    assert_eq!(s.get_log_len().unwrap(), 4);
    assert_eq!(s.get_compacted_idx().unwrap(), 6);
    assert_eq!(s.get_suffix(6).unwrap(), puts(6, 10));
    assert_eq!(s.get_snapshot().unwrap(), Some(snap));
}

fn write_atomically_is_all_or_nothing<S: Storage<TestEntry>>(s: &mut S, q: Quirks) {
    if !q.atomic_errors {
        return; // MemoryStorage applies op by op and never fails.
    }
    s.append_entries(puts(0, 4)).unwrap();
    s.set_decided_idx(2).unwrap();
    let before = dump(s, 12);
    // An entry that cannot be encoded, after ops that would change everything.
    let err = s.write_atomically(vec![
        StorageOp::SetDecidedIndex(4),
        StorageOp::Trim(2),
        StorageOp::AppendEntries(puts(4, 6)),
        StorageOp::AppendEntry(TestEntry::Unencodable(1)),
    ]);
    assert!(err.is_err());
    assert_eq!(dump(s, 12), before);
    // A batch whose last op would leave a hole in the log.
    let err = s.write_atomically(vec![
        StorageOp::SetDecidedIndex(4),
        StorageOp::AppendEntries(puts(4, 6)),
        StorageOp::AppendOnPrefix(9, puts(9, 10)),
    ]);
    assert!(err.is_err());
    assert_eq!(dump(s, 12), before);
    // The storage is still usable.
    s.write_atomically(vec![StorageOp::AppendEntries(puts(4, 6))])
        .unwrap();
    assert_eq!(s.get_suffix(0).unwrap(), puts(0, 6));
}

fn failed_single_call_has_no_effect<S: Storage<TestEntry>>(s: &mut S, q: Quirks) {
    if !q.atomic_errors {
        return; // MemoryStorage never encodes, so nothing fails.
    }
    s.append_entries(puts(0, 3)).unwrap();
    let before = dump(s, 8);
    assert!(s.append_entry(TestEntry::Unencodable(0)).is_err());
    assert!(s
        .append_entries(vec![put(3), TestEntry::Unencodable(0)])
        .is_err());
    assert!(s
        .append_on_prefix(1, vec![TestEntry::Unencodable(0)])
        .is_err());
    assert!(s.append_on_prefix(5, puts(5, 6)).is_err(), "hole");
    assert_eq!(dump(s, 8), before);
    s.append_entry(put(3)).unwrap();
    assert_eq!(s.get_suffix(0).unwrap(), puts(0, 4));
}

fn interleaved_calls_many_records<S: Storage<TestEntry>>(s: &mut S, _: Quirks) {
    // Enough records to roll several small segments in the WAL fixtures.
    for i in 0..30u64 {
        s.set_promise(ballot(i as u32, 1)).unwrap();
        s.append_entry(put(i)).unwrap();
        s.set_accepted_round(ballot(i as u32, 1)).unwrap();
        s.set_decided_idx(i as usize).unwrap();
    }
    assert_eq!(s.get_log_len().unwrap(), 30);
    assert_eq!(s.get_suffix(0).unwrap(), puts(0, 30));
    assert_eq!(s.get_decided_idx().unwrap(), 29);
    assert_eq!(s.get_promise().unwrap(), Some(ballot(29, 1)));
}
