use bytes::Bytes;
use ddbb_libs::kv::{
    CompactionRequest, DeleteRangeRequest, Event, EventKind, PutRequest, RequestOp, TxnRequest,
    WatchCreateRequest, WatchResponse, NO_WATCH_ID,
};

use super::set::{DUPLICATE_ID, EMPTY_RANGE};
use super::{WatchLimits, WatchSet};
use crate::state::mvcc::MvccStore;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn put(store: &mut MvccStore, k: &str, v: &str) {
    store.put(&PutRequest::new(b(k), b(v))).unwrap();
}

fn delete(store: &mut MvccStore, k: &str) {
    store
        .delete_range(&DeleteRangeRequest {
            key: b(k),
            ..Default::default()
        })
        .unwrap();
}

fn watch(key: &str, end: &str) -> WatchCreateRequest {
    WatchCreateRequest {
        key: b(key),
        range_end: b(end),
        ..Default::default()
    }
}

fn poll(set: &mut WatchSet, store: &MvccStore) -> Vec<WatchResponse> {
    let mut out = Vec::new();
    set.poll(store, &mut out);
    out
}

fn keys(events: &[Event]) -> Vec<(EventKind, Bytes, i64)> {
    events
        .iter()
        .map(|e| (e.kind, e.kv.key.clone(), e.kv.mod_revision))
        .collect()
}

#[test]
fn a_txn_is_one_revision_and_one_response_with_several_events() {
    let mut store = MvccStore::new();
    put(&mut store, "a", "0");
    let mut set = WatchSet::new(WatchLimits::default());
    let created = set.create(&watch("a", "z"), store.revision());
    assert!(created.created && !created.canceled);
    assert_eq!((created.watch_id, created.revision), (0, 2));
    assert!(poll(&mut set, &store).is_empty(), "start 0 means after now");
    store
        .txn(
            &TxnRequest {
                compare: vec![],
                success: vec![
                    RequestOp::Put(PutRequest::new(b("b"), b("1"))),
                    RequestOp::Put(PutRequest::new(b("c"), b("1"))),
                    RequestOp::DeleteRange(DeleteRangeRequest {
                        key: b("a"),
                        ..Default::default()
                    }),
                ],
                failure: vec![],
            },
            128,
        )
        .unwrap();
    let out = poll(&mut set, &store);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].revision, 3);
    assert_eq!(
        keys(&out[0].events),
        [
            (EventKind::Put, b("b"), 3),
            (EventKind::Put, b("c"), 3),
            (EventKind::Delete, b("a"), 3)
        ]
    );
    assert!(
        out[0].events.iter().all(|e| e.prev_kv.is_none()),
        "not asked"
    );
    assert!(poll(&mut set, &store).is_empty(), "exactly once");
}

#[test]
fn history_replay_filters_and_prev_kv() {
    let mut store = MvccStore::new();
    put(&mut store, "k", "1"); // 2
    put(&mut store, "other", "x"); // 3
    put(&mut store, "k", "2"); // 4
    delete(&mut store, "k"); // 5
    let mut set = WatchSet::new(WatchLimits::default());
    let all = set.create(
        &WatchCreateRequest {
            start_revision: 2,
            prev_kv: true,
            ..watch("k", "")
        },
        store.revision(),
    );
    let no_put = set.create(
        &WatchCreateRequest {
            start_revision: 1,
            no_put: true,
            ..watch("k", "")
        },
        store.revision(),
    );
    let no_delete = set.create(
        &WatchCreateRequest {
            start_revision: 3,
            no_delete: true,
            ..watch("k", "")
        },
        store.revision(),
    );
    let out = poll(&mut set, &store);
    let by_id = |id: i64| out.iter().find(|r| r.watch_id == id).unwrap();
    let e = &by_id(all.watch_id).events;
    assert_eq!(
        keys(e),
        [
            (EventKind::Put, b("k"), 2),
            (EventKind::Put, b("k"), 4),
            (EventKind::Delete, b("k"), 5)
        ]
    );
    assert_eq!(e[0].prev_kv, None);
    assert_eq!(
        e[1].prev_kv.as_ref().map(|kv| kv.value.clone()),
        Some(b("1"))
    );
    assert_eq!(e[2].prev_kv.as_ref().map(|kv| kv.mod_revision), Some(4));
    assert_eq!(
        keys(&by_id(no_put.watch_id).events),
        [(EventKind::Delete, b("k"), 5)]
    );
    assert_eq!(
        keys(&by_id(no_delete.watch_id).events),
        [(EventKind::Put, b("k"), 4)]
    );
}

#[test]
fn a_compacted_start_cancels_with_the_compact_revision() {
    let mut store = MvccStore::new();
    for i in 0..5 {
        put(&mut store, "k", &i.to_string()); // 2..=6
    }
    store
        .compact(&CompactionRequest {
            revision: 4,
            physical: false,
        })
        .unwrap();
    let mut set = WatchSet::new(WatchLimits::default());
    let old = set.create(
        &WatchCreateRequest {
            start_revision: 3,
            ..watch("k", "")
        },
        store.revision(),
    );
    let at = set.create(
        &WatchCreateRequest {
            start_revision: 4,
            ..watch("k", "")
        },
        store.revision(),
    );
    let out = poll(&mut set, &store);
    let cancel = out.iter().find(|r| r.watch_id == old.watch_id).unwrap();
    assert!(cancel.canceled);
    assert_eq!(
        (cancel.compact_revision, cancel.revision),
        (4, 0),
        "as etcd: no revision"
    );
    let revs: Vec<i64> = out
        .iter()
        .find(|r| r.watch_id == at.watch_id)
        .unwrap()
        .events
        .iter()
        .map(|e| e.kv.mod_revision)
        .collect();
    assert_eq!(
        revs,
        [4, 5, 6],
        "the compacted revision itself is still served"
    );
    assert_eq!(set.len(), 1);
}

#[test]
fn a_slow_reader_catches_up_in_bounded_polls_without_gap_or_duplicate() {
    let mut store = MvccStore::new();
    for i in 0..500 {
        put(&mut store, &format!("k{}", i % 7), &"v".repeat(100));
    }
    let limits = WatchLimits {
        budget_bytes: 2_000,
        batch_revisions: 50,
        ..WatchLimits::default()
    };
    let mut set = WatchSet::new(limits);
    set.create(
        &WatchCreateRequest {
            start_revision: 1,
            ..watch("k", "l")
        },
        store.revision(),
    );
    let mut seen = Vec::new();
    let mut polls = 0;
    while set.behind(store.revision()) {
        let out = poll(&mut set, &store);
        let bytes: usize = out
            .iter()
            .flat_map(|r| &r.events)
            .map(|e| e.kv.value.len())
            .sum();
        assert!(
            bytes <= 2_000 + 200,
            "one poll stays within its budget: {bytes}"
        );
        seen.extend(
            out.into_iter()
                .flat_map(|r| r.events)
                .map(|e| e.kv.mod_revision),
        );
        polls += 1;
        assert!(polls < 1_000);
    }
    assert_eq!(seen, (2..=501).collect::<Vec<_>>());
}

#[test]
fn refusals_and_cancel() {
    let store = MvccStore::new();
    let mut set = WatchSet::new(WatchLimits::default());
    let empty = set.create(&watch("b", "a"), 1);
    assert!(empty.created && empty.canceled);
    assert_eq!(
        (empty.watch_id, empty.cancel_reason.as_str()),
        (NO_WATCH_ID, EMPTY_RANGE)
    );
    let mine = set.create(
        &WatchCreateRequest {
            watch_id: 7,
            ..watch("a", "")
        },
        1,
    );
    assert_eq!(mine.watch_id, 7);
    let dup = set.create(
        &WatchCreateRequest {
            watch_id: 7,
            ..watch("a", "")
        },
        1,
    );
    assert_eq!(dup.cancel_reason, DUPLICATE_ID);
    assert_eq!(
        set.create(&watch("", ""), 1).watch_id,
        0,
        "empty key is \\0"
    );
    assert!(set.cancel(7, 1).is_some_and(|r| r.canceled));
    assert!(set.cancel(7, 1).is_none());
    assert!(poll(&mut set, &store).is_empty());
}

#[test]
fn progress_waits_until_every_watch_caught_up() {
    let mut store = MvccStore::new();
    for i in 0..30 {
        put(&mut store, "k", &i.to_string());
    }
    let limits = WatchLimits {
        batch_revisions: 10,
        ..WatchLimits::default()
    };
    let mut set = WatchSet::new(limits);
    set.create(
        &WatchCreateRequest {
            start_revision: 1,
            progress_notify: true,
            ..watch("k", "")
        },
        store.revision(),
    );
    set.request_progress();
    let first = poll(&mut set, &store);
    assert!(
        first.iter().all(|r| r.watch_id == 0),
        "not caught up: no progress yet"
    );
    let mut rest = Vec::new();
    while set.behind(store.revision()) {
        rest.extend(poll(&mut set, &store));
    }
    rest.extend(poll(&mut set, &store));
    let progress = rest.last().unwrap();
    assert_eq!((progress.watch_id, progress.revision), (NO_WATCH_ID, 31));
    assert!(progress.is_progress());
    // Periodic: elided after events, sent when idle.
    let mut out = Vec::new();
    set.progress_tick(&mut out);
    assert!(out.is_empty(), "events were sent since the last tick");
    set.progress_tick(&mut out);
    assert_eq!(out, [WatchResponse::new(0, 31)]);
}

#[test]
fn huge_responses_are_fragmented_only_when_asked() {
    let mut store = MvccStore::new();
    let limits = WatchLimits {
        fragment_bytes: 1_000,
        ..WatchLimits::default()
    };
    let mut set = WatchSet::new(limits);
    let whole = set.create(&watch("k", "l"), 1);
    let split = set.create(
        &WatchCreateRequest {
            fragment: true,
            ..watch("k", "l")
        },
        1,
    );
    let success = (0..10)
        .map(|i| RequestOp::Put(PutRequest::new(b(&format!("k{i}")), b(&"x".repeat(300)))))
        .collect();
    store
        .txn(
            &TxnRequest {
                compare: vec![],
                success,
                failure: vec![],
            },
            128,
        )
        .unwrap();
    // 350 bytes per event against the 1,000-byte limit: two per piece.
    let out = poll(&mut set, &store);
    let of = |id| out.iter().filter(|r| r.watch_id == id).collect::<Vec<_>>();
    assert_eq!(of(whole.watch_id).len(), 1);
    let pieces = of(split.watch_id);
    assert_eq!(
        pieces.iter().map(|r| r.events.len()).collect::<Vec<_>>(),
        [2, 2, 2, 2, 2]
    );
    let flags: Vec<bool> = pieces.iter().map(|r| r.fragment).collect();
    assert_eq!(flags, [true, true, true, true, false]);
    assert!(pieces.iter().all(|r| r.revision == 2));
}
