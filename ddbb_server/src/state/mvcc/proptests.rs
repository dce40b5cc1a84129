//! Model-based property tests: random puts, deletes, txns and compactions against a model that
//! keeps every revision's full state; after each step every read at every revision agrees with
//! the model (or fails as compacted / future), a clone taken before the step is unchanged, and
//! the size accounting matches a recount.

use std::collections::BTreeMap;

use bytes::Bytes;
use proptest::prelude::*;

use super::*;

const KEYS: &[&str] = &["a", "b", "c", "d", "e", "f"];

type State = BTreeMap<Bytes, KeyValue>;

#[derive(Clone, Debug)]
enum Simple {
    Put(usize, u8, i64),
    /// Delete from the first key to the second (`None`: the single key; `Some(None)`: every
    /// key from it on).
    Delete(usize, Option<Option<usize>>),
    Get(usize),
}

#[derive(Clone, Debug)]
enum Op {
    Simple(Simple),
    Txn {
        compare: Option<(usize, CompareTarget, CompareResult, i64)>,
        success: Vec<Simple>,
        failure: Vec<Simple>,
    },
    Compact(i64),
}

fn key(i: usize) -> Bytes {
    Bytes::from_static(KEYS[i % KEYS.len()].as_bytes())
}

fn simple() -> impl Strategy<Value = Simple> {
    let k = 0..KEYS.len();
    prop_oneof![
        3 => (k.clone(), 0u8..4, 0i64..3).prop_map(|(k, v, l)| Simple::Put(k, v, l)),
        1 => (k.clone(), prop::option::of(prop::option::of(0..KEYS.len())))
            .prop_map(|(k, end)| Simple::Delete(k, end)),
        1 => k.prop_map(Simple::Get),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let target = prop_oneof![
        Just(CompareTarget::Version),
        Just(CompareTarget::Create),
        Just(CompareTarget::Mod),
        Just(CompareTarget::Value),
        Just(CompareTarget::Lease),
    ];
    let result = prop_oneof![
        Just(CompareResult::Equal),
        Just(CompareResult::NotEqual),
        Just(CompareResult::Greater),
        Just(CompareResult::Less),
    ];
    let compare = prop::option::of((0..KEYS.len(), target, result, 0i64..6));
    let branch = || prop::collection::vec(simple(), 0..4);
    prop_oneof![
        4 => simple().prop_map(Op::Simple),
        2 => (compare, branch(), branch()).prop_map(|(compare, success, failure)| {
            Op::Txn { compare, success, failure }
        }),
        1 => (0i64..40).prop_map(Op::Compact),
    ]
}

fn value(v: u8) -> Bytes {
    Bytes::from(vec![b'v', b'0' + v])
}

fn request(s: &Simple) -> RequestOp {
    match s {
        Simple::Put(k, v, lease) => RequestOp::Put(PutRequest {
            lease: *lease,
            ..PutRequest::new(key(*k), value(*v))
        }),
        Simple::Delete(k, end) => RequestOp::DeleteRange(DeleteRangeRequest {
            range_end: delete_end(end),
            ..DeleteRangeRequest::key(key(*k))
        }),
        Simple::Get(k) => RequestOp::Range(RangeRequest::key(key(*k))),
    }
}

fn delete_end(end: &Option<Option<usize>>) -> Bytes {
    match end {
        None => Bytes::new(),
        Some(None) => Bytes::from_static(&[0]),
        Some(Some(e)) => key(*e),
    }
}

fn deletes(k: usize, end: &Option<Option<usize>>, candidate: &[u8]) -> bool {
    let start = key(k);
    match end {
        None => candidate == &start[..],
        Some(None) => candidate >= &start[..],
        Some(Some(e)) => candidate >= &start[..] && candidate < &key(*e)[..],
    }
}

/// The model: every revision's full state, and the compacted revision.
struct Model {
    states: BTreeMap<i64, State>,
    compacted: i64,
}

impl Model {
    fn current(&self) -> i64 {
        self.states.keys().next_back().copied().unwrap_or(1)
    }

    fn latest(&self) -> State {
        self.states
            .values()
            .next_back()
            .cloned()
            .unwrap_or_default()
    }

    /// Applies one simple op to `state` at revision `rev`; returns the changes it made and
    /// what a read returned.
    fn apply(state: &mut State, rev: i64, op: &Simple) -> (usize, Option<KeyValue>) {
        match op {
            Simple::Put(k, v, lease) => {
                let prev = state.get(&key(*k)).cloned();
                let kv = KeyValue {
                    key: key(*k),
                    create_revision: prev.as_ref().map_or(rev, |p| p.create_revision),
                    mod_revision: rev,
                    version: prev.as_ref().map_or(1, |p| p.version + 1),
                    value: value(*v),
                    lease: *lease,
                };
                state.insert(key(*k), kv);
                (1, None)
            }
            Simple::Delete(k, end) => {
                let before = state.len();
                state.retain(|candidate, _| !deletes(*k, end, candidate));
                (before - state.len(), None)
            }
            Simple::Get(k) => (0, state.get(&key(*k)).cloned()),
        }
    }

    fn duplicate(branch: &[Simple]) -> bool {
        let puts: Vec<usize> = branch
            .iter()
            .filter_map(|s| match s {
                Simple::Put(k, ..) => Some(*k),
                _ => None,
            })
            .collect();
        let twice = puts.iter().enumerate().any(|(i, k)| puts[..i].contains(k));
        let deleted = branch.iter().any(|s| match s {
            Simple::Delete(k, end) => puts.iter().any(|p| deletes(*k, end, &key(*p))),
            _ => false,
        });
        twice || deleted
    }

    fn holds(
        state: &State,
        (k, target, result, n): &(usize, CompareTarget, CompareResult, i64),
    ) -> bool {
        let Some(kv) = state.get(&key(*k)) else {
            return *target != CompareTarget::Value && compare(0, *n, *result);
        };
        match target {
            CompareTarget::Version => compare(kv.version, *n, *result),
            CompareTarget::Create => compare(kv.create_revision, *n, *result),
            CompareTarget::Mod => compare(kv.mod_revision, *n, *result),
            CompareTarget::Lease => compare(kv.lease, *n, *result),
            CompareTarget::Value => compare(kv.value.clone(), value(*n as u8), *result),
        }
    }
}

fn compare<T: Ord>(a: T, b: T, result: CompareResult) -> bool {
    match result {
        CompareResult::Equal => a == b,
        CompareResult::NotEqual => a != b,
        CompareResult::Greater => a > b,
        CompareResult::Less => a < b,
    }
}

fn to_compare(&(k, target, result, n): &(usize, CompareTarget, CompareResult, i64)) -> Compare {
    match target {
        CompareTarget::Version => Compare::version(key(k), result, n),
        CompareTarget::Create => Compare::create(key(k), result, n),
        CompareTarget::Mod => Compare::modified(key(k), result, n),
        CompareTarget::Lease => Compare::lease(key(k), result, n),
        CompareTarget::Value => Compare::value(key(k), result, value(n as u8)),
    }
}

/// Runs one op on the store and the model; checks the responses and events.
fn step(
    store: &mut MvccStore,
    model: &mut Model,
    op: &Op,
    log: &mut Vec<Event>,
) -> Result<(), TestCaseError> {
    let rev = model.current() + 1;
    let mut state = model.latest();
    let changes = match op {
        Op::Compact(r) => return step_compact(store, model, *r),
        Op::Simple(s) => step_simple(store, &mut state, rev, s, log)?,
        Op::Txn {
            compare,
            success,
            failure,
        } => step_txn(store, &mut state, rev, (compare, success, failure), log)?,
    };
    if changes > 0 {
        model.states.insert(rev, state);
    }
    Ok(())
}

fn fail(e: KvError) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

fn step_compact(store: &mut MvccStore, model: &mut Model, rev: i64) -> Result<(), TestCaseError> {
    let got = store.compact(&CompactionRequest {
        revision: rev,
        physical: false,
    });
    let expected = if rev <= model.compacted {
        Err(KvError::Compacted)
    } else if rev > model.current() {
        Err(KvError::FutureRev)
    } else {
        model.compacted = rev;
        Ok(CompactionResponse {})
    };
    prop_assert_eq!(got, expected);
    Ok(())
}

/// A put, delete or read; returns the number of changes.
fn step_simple(
    store: &mut MvccStore,
    state: &mut State,
    rev: i64,
    s: &Simple,
    log: &mut Vec<Event>,
) -> Result<usize, TestCaseError> {
    let (changes, read) = Model::apply(state, rev, s);
    let events = match request(s) {
        RequestOp::Put(p) => store.put(&p).map_err(fail)?.events,
        RequestOp::DeleteRange(d) => store.delete_range(&d).map_err(fail)?.events,
        RequestOp::Range(r) => {
            let resp = store.range(&r).map_err(fail)?;
            prop_assert_eq!(resp.kvs.first().cloned(), read);
            Vec::new()
        }
        RequestOp::Txn(_) => Vec::new(),
    };
    prop_assert_eq!(events.len(), changes);
    prop_assert!(events.iter().all(|e| e.kv.mod_revision == rev));
    log.extend(events);
    Ok(changes)
}

/// A Txn's compare and its two branches.
type TxnParts<'a> = (
    &'a Option<(usize, CompareTarget, CompareResult, i64)>,
    &'a [Simple],
    &'a [Simple],
);

/// A Txn of simple ops; returns the number of changes.
fn step_txn(
    store: &mut MvccStore,
    state: &mut State,
    rev: i64,
    (compare, success, failure): TxnParts<'_>,
    log: &mut Vec<Event>,
) -> Result<usize, TestCaseError> {
    let req = TxnRequest {
        compare: compare.iter().map(to_compare).collect(),
        success: success.iter().map(request).collect(),
        failure: failure.iter().map(request).collect(),
    };
    let got = store.txn(&req, DEFAULT_MAX_TXN_OPS);
    if Model::duplicate(success) || Model::duplicate(failure) {
        prop_assert_eq!(got.err(), Some(KvError::DuplicateKey));
        return Ok(0);
    }
    let got = got.map_err(fail)?;
    let succeeded = compare.iter().all(|c| Model::holds(state, c));
    prop_assert_eq!(got.response.succeeded, succeeded);
    let branch = if succeeded { success } else { failure };
    prop_assert_eq!(got.response.responses.len(), branch.len());
    let mut changes = 0;
    for (s, resp) in branch.iter().zip(&got.response.responses) {
        let (n, read) = Model::apply(state, rev, s);
        changes += n;
        if let (Simple::Get(_), ResponseOp::Range(r)) = (s, resp) {
            prop_assert_eq!(r.kvs.first().cloned(), read);
        }
    }
    prop_assert_eq!(got.events.len(), changes);
    prop_assert!(got.events.iter().all(|e| e.kv.mod_revision == rev));
    log.extend(got.events);
    Ok(changes)
}

/// Every read at every revision agrees with the model or fails as it must.
fn check_reads(store: &MvccStore, model: &Model) -> Result<(), TestCaseError> {
    let current = model.current();
    prop_assert_eq!(store.revision(), current);
    prop_assert_eq!(store.compacted_revision(), model.compacted);
    let mut state = State::new();
    for rev in 1..=current + 1 {
        if let Some(s) = model.states.get(&rev) {
            state = s.clone();
        }
        let req = RangeRequest {
            revision: rev,
            ..RangeRequest::all()
        };
        let got = store.range(&req);
        if rev > current {
            prop_assert_eq!(got, Err(KvError::FutureRev));
        } else if rev < model.compacted {
            prop_assert_eq!(got, Err(KvError::Compacted));
        } else {
            let expected: Vec<KeyValue> = state.values().cloned().collect();
            let count = expected.len() as i64;
            prop_assert_eq!(
                got,
                Ok(RangeResponse {
                    kvs: expected,
                    more: false,
                    count
                })
            );
            for k in 0..KEYS.len() {
                let one = RangeRequest {
                    revision: rev,
                    ..RangeRequest::key(key(k))
                };
                let got = store.range(&one).map(|r| r.kvs.first().cloned());
                prop_assert_eq!(got, Ok(state.get(&key(k)).cloned()));
            }
        }
    }
    Ok(())
}

/// The history read back by revision is what the writes produced: every event above the
/// compacted revision, in order, with the same `prev_kv`.
fn check_events(store: &MvccStore, log: &[Event]) -> Result<(), TestCaseError> {
    let compacted = store.compacted_revision();
    let expected: Vec<&Event> = log
        .iter()
        .filter(|e| e.kv.mod_revision > compacted)
        .collect();
    let got = store.events_between(compacted + 1, store.revision());
    prop_assert_eq!(got.iter().collect::<Vec<_>>(), expected);
    prop_assert_eq!(store.by_revision.len() as u64, store.change_count());
    Ok(())
}

fn recount(store: &MvccStore) -> (u64, u64) {
    let mut size = 0;
    let mut changes = 0;
    for (key, history) in store.keys.iter() {
        for change in history.changes() {
            size += change.payload_bytes(key) + CHANGE_OVERHEAD_BYTES;
            changes += 1;
        }
    }
    (size, changes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn the_store_agrees_with_a_model_of_full_states(ops in prop::collection::vec(op(), 1..40)) {
        let mut store = MvccStore::new();
        for id in 1..3 {
            store.lease_grant(&ddbb_libs::kv::LeaseGrantRequest { id, ttl: 60 }).map_err(fail)?;
        }
        let mut model = Model { states: BTreeMap::from([(1, State::new())]), compacted: 0 };
        let mut log = Vec::new();
        for op in &ops {
            let before = store.clone();
            let before_bytes = bincode::serialize(&before).map_err(|e| TestCaseError::fail(e.to_string()))?;
            step(&mut store, &mut model, op, &mut log)?;
            check_reads(&store, &model)?;
            check_events(&store, &log)?;
            prop_assert_eq!(recount(&store), (store.size_bytes(), store.change_count()));
            prop_assert!(store.keys.values().all(|h| !h.is_empty()));
            let after_bytes = bincode::serialize(&before).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(before_bytes, after_bytes, "a clone changed under a write");
        }
        let bytes = bincode::serialize(&store).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let back: MvccStore = bincode::deserialize(&bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&back, &store);
        prop_assert_eq!(back.size_bytes(), store.size_bytes());
    }
}
