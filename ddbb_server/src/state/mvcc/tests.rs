//! Unit tests of the MVCC core.

use bytes::Bytes;

use super::*;

/// A store where the leases `ids` exist (a put may only name an existing lease).
fn leased(ids: &[i64]) -> MvccStore {
    let mut s = MvccStore::new();
    for &id in ids {
        s.lease_grant(&ddbb_libs::kv::LeaseGrantRequest { id, ttl: 60 })
            .expect("grant");
    }
    s
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn put(s: &mut MvccStore, k: &str, v: &str) -> Applied<PutResponse> {
    s.put(&PutRequest::new(b(k), b(v))).expect("put")
}

fn del(s: &mut MvccStore, k: &str) -> Applied<DeleteRangeResponse> {
    s.delete_range(&DeleteRangeRequest::key(b(k)))
        .expect("delete")
}

fn get_at(s: &MvccStore, k: &str, rev: i64) -> Option<KeyValue> {
    let req = RangeRequest {
        revision: rev,
        ..RangeRequest::key(b(k))
    };
    s.range(&req).expect("range").kvs.into_iter().next()
}

fn keys(resp: &RangeResponse) -> Vec<String> {
    let text = |kv: &KeyValue| String::from_utf8_lossy(&kv.key).into_owned();
    resp.kvs.iter().map(text).collect()
}

fn txn(s: &mut MvccStore, req: TxnRequest) -> Result<Applied<TxnResponse>, KvError> {
    s.txn(&req, DEFAULT_MAX_TXN_OPS)
}

fn put_op(k: &str, v: &str) -> RequestOp {
    RequestOp::Put(PutRequest::new(b(k), b(v)))
}

fn del_op(k: &str, end: &str) -> RequestOp {
    RequestOp::DeleteRange(DeleteRangeRequest::range(b(k), b(end)))
}

fn get_op(k: &str) -> RequestOp {
    RequestOp::Range(RangeRequest::key(b(k)))
}

fn when(compare: Vec<Compare>, success: Vec<RequestOp>, failure: Vec<RequestOp>) -> TxnRequest {
    TxnRequest {
        compare,
        success,
        failure,
    }
}

#[test]
fn revisions_start_at_one_and_the_first_write_gets_two() {
    let mut s = MvccStore::new();
    assert_eq!(s.revision(), 1);
    put(&mut s, "a", "1");
    let kv = s.get(b"a").expect("a");
    assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (2, 2, 1));
    put(&mut s, "a", "2");
    let kv = s.get(b"a").expect("a");
    assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (2, 3, 2));
    assert_eq!(s.revision(), 3);
}

#[test]
fn a_delete_ends_a_generation_and_a_put_starts_one() {
    let mut s = MvccStore::new();
    put(&mut s, "a", "1"); // 2
    put(&mut s, "a", "2"); // 3
    let d = del(&mut s, "a"); // 4
    assert_eq!(d.response.deleted, 1);
    put(&mut s, "a", "3"); // 5
    let kv = s.get(b"a").expect("a");
    assert_eq!((kv.create_revision, kv.mod_revision, kv.version), (5, 5, 1));
    assert_eq!(get_at(&s, "a", 3).map(|kv| kv.version), Some(2));
    assert_eq!(get_at(&s, "a", 4), None);
    assert_eq!(get_at(&s, "a", 1), None);
    assert_eq!(get_at(&s, "a", 2).map(|kv| kv.value), Some(b("1")));
}

#[test]
fn deleting_nothing_changes_nothing() {
    let mut s = MvccStore::new();
    put(&mut s, "a", "1");
    let d = del(&mut s, "zz");
    assert_eq!(
        (d.response.deleted, d.events.len(), s.revision()),
        (0, 0, 2)
    );
    del(&mut s, "a");
    let d = del(&mut s, "a");
    assert_eq!((d.response.deleted, s.revision()), (0, 3));
}

#[test]
fn delete_range_returns_prev_kvs_and_one_event_per_key() {
    let mut s = MvccStore::new();
    for k in ["a", "b", "c", "d"] {
        put(&mut s, k, k);
    }
    let req = DeleteRangeRequest {
        prev_kv: true,
        ..DeleteRangeRequest::range(b("b"), b("d"))
    };
    let d = s.delete_range(&req).expect("delete");
    assert_eq!(d.response.deleted, 2);
    assert_eq!(d.response.prev_kvs.len(), 2);
    assert_eq!(s.revision(), 6);
    let tombstone = KeyValue {
        key: b("b"),
        mod_revision: 6,
        ..Default::default()
    };
    assert_eq!(d.events[0].kind, EventKind::Delete);
    assert_eq!(d.events[0].kv, tombstone);
    assert_eq!(
        d.events[0].prev_kv.as_ref().map(|kv| kv.mod_revision),
        Some(3)
    );
    assert_eq!(d.events[1].kv.key, b("c"));
    let all = s.range(&RangeRequest::all()).expect("range");
    assert_eq!(keys(&all), ["a", "d"]);
}

#[test]
fn put_events_and_prev_kv() {
    let mut s = leased(&[9]);
    let first = put(&mut s, "a", "1");
    assert_eq!(first.events.len(), 1);
    assert_eq!(first.events[0].kind, EventKind::Put);
    assert_eq!(first.events[0].prev_kv, None);
    assert_eq!(first.response.prev_kv, None);
    let req = PutRequest {
        prev_kv: true,
        lease: 9,
        ..PutRequest::new(b("a"), b("2"))
    };
    let second = s.put(&req).expect("put");
    let prev = second.response.prev_kv.expect("prev");
    assert_eq!((prev.value, prev.mod_revision), (b("1"), 2));
    assert_eq!(second.events[0].kv.lease, 9);
    assert_eq!(
        second.events[0].prev_kv.as_ref().map(|kv| kv.version),
        Some(1)
    );
    // Without prev_kv, the response has none but the event still carries it.
    let third = put(&mut s, "a", "3");
    assert_eq!(third.response.prev_kv, None);
    assert!(third.events[0].prev_kv.is_some());
}

#[test]
fn ignore_value_and_ignore_lease() {
    let mut s = leased(&[5]);
    let keep_value = PutRequest {
        ignore_value: true,
        lease: 5,
        ..PutRequest::new(b("a"), Bytes::new())
    };
    assert_eq!(s.put(&keep_value), Err(KvError::KeyNotFound));
    assert_eq!(s.revision(), 1);
    put(&mut s, "a", "v");
    s.put(&keep_value).expect("ignore_value");
    let kv = s.get(b"a").expect("a");
    assert_eq!((kv.value, kv.lease, kv.version), (b("v"), 5, 2));
    let keep_lease = PutRequest {
        ignore_lease: true,
        ..PutRequest::new(b("a"), b("w"))
    };
    s.put(&keep_lease).expect("ignore_lease");
    let kv = s.get(b"a").expect("a");
    assert_eq!((kv.value, kv.lease), (b("w"), 5));
    let both = PutRequest {
        ignore_value: true,
        ..PutRequest::new(b("a"), b("x"))
    };
    assert_eq!(s.put(&both), Err(KvError::ValueProvided));
    let both = PutRequest {
        ignore_lease: true,
        lease: 3,
        ..PutRequest::new(b("a"), b("x"))
    };
    assert_eq!(s.put(&both), Err(KvError::LeaseProvided));
    assert_eq!(s.put(&PutRequest::default()), Err(KvError::EmptyKey));
    assert_eq!(
        KvError::KeyNotFound.to_string(),
        "etcdserver: key not found"
    );
}

#[test]
fn range_conventions_limit_more_count() {
    let mut s = MvccStore::new();
    for k in ["a", "ab", "abc", "b", "c"] {
        put(&mut s, k, k);
    }
    let prefix = s.range(&RangeRequest::range(b("a"), prefix_end(b"a")));
    assert_eq!(keys(&prefix.expect("prefix")), ["a", "ab", "abc"]);
    let from = s
        .range(&RangeRequest::range(b("b"), vec![0u8]))
        .expect("from");
    assert_eq!(keys(&from), ["b", "c"]);
    let all = s.range(&RangeRequest::all()).expect("all");
    assert_eq!((all.kvs.len(), all.count, all.more), (5, 5, false));
    let limited = RangeRequest {
        limit: 2,
        ..RangeRequest::all()
    };
    let limited = s.range(&limited).expect("limit");
    assert_eq!(
        (keys(&limited), limited.count, limited.more),
        (vec!["a".into(), "ab".into()], 5, true)
    );
    let exact = RangeRequest {
        limit: 5,
        ..RangeRequest::all()
    };
    assert!(!s.range(&exact).expect("limit 5").more);
    let reversed = s
        .range(&RangeRequest::range(b("c"), b("a")))
        .expect("empty");
    assert_eq!((reversed.kvs.len(), reversed.count), (0, 0));
    assert_eq!(s.range(&RangeRequest::default()), Err(KvError::EmptyKey));
}

#[test]
fn keys_only_and_count_only() {
    let mut s = MvccStore::new();
    put(&mut s, "a", "1");
    put(&mut s, "b", "2");
    let req = RangeRequest {
        keys_only: true,
        ..RangeRequest::all()
    };
    let resp = s.range(&req).expect("keys only");
    assert!(resp
        .kvs
        .iter()
        .all(|kv| kv.value.is_empty() && kv.version == 1));
    let req = RangeRequest {
        count_only: true,
        limit: 1,
        ..RangeRequest::all()
    };
    let resp = s.range(&req).expect("count only");
    assert_eq!((resp.kvs.len(), resp.count, resp.more), (0, 2, false));
}

#[test]
fn sorting_happens_before_the_limit() {
    let mut s = MvccStore::new();
    put(&mut s, "a", "3"); // 2
    put(&mut s, "b", "1"); // 3
    put(&mut s, "c", "2"); // 4
    put(&mut s, "a", "4"); // 5: a mod 5, version 2
    let sorted = |order, target, limit| {
        let req = RangeRequest {
            sort_order: order,
            sort_target: target,
            limit,
            ..RangeRequest::all()
        };
        keys(&s.range(&req).expect("sorted"))
    };
    assert_eq!(
        sorted(SortOrder::Descend, SortTarget::Key, 0),
        ["c", "b", "a"]
    );
    assert_eq!(sorted(SortOrder::Ascend, SortTarget::Key, 2), ["a", "b"]);
    assert_eq!(sorted(SortOrder::Descend, SortTarget::Mod, 2), ["a", "c"]);
    assert_eq!(
        sorted(SortOrder::Ascend, SortTarget::Value, 0),
        ["b", "c", "a"]
    );
    assert_eq!(sorted(SortOrder::Descend, SortTarget::Create, 1), ["c"]);
    assert_eq!(sorted(SortOrder::Descend, SortTarget::Version, 1), ["a"]);
    // Order NONE with a non-key target sorts ascending (etcd); ties stay in key order.
    assert_eq!(
        sorted(SortOrder::None, SortTarget::Version, 0),
        ["b", "c", "a"]
    );
    assert_eq!(sorted(SortOrder::None, SortTarget::Mod, 0), ["b", "c", "a"]);
    let req = RangeRequest {
        sort_order: SortOrder::Descend,
        limit: 1,
        ..RangeRequest::all()
    };
    let resp = s.range(&req).expect("more");
    assert_eq!((resp.more, resp.count), (true, 3));
}

#[test]
fn revision_filters() {
    let mut s = MvccStore::new();
    put(&mut s, "a", "1"); // 2
    put(&mut s, "b", "1"); // 3
    put(&mut s, "c", "1"); // 4
    put(&mut s, "a", "2"); // 5
    let filtered = |f: &dyn Fn(&mut RangeRequest)| {
        let mut req = RangeRequest::all();
        f(&mut req);
        let resp = s.range(&req).expect("filtered");
        (keys(&resp), resp.count)
    };
    let ks = |v: &[&str]| v.iter().map(|k| k.to_string()).collect::<Vec<_>>();
    assert_eq!(filtered(&|r| r.min_mod_revision = 4), (ks(&["a", "c"]), 3));
    assert_eq!(filtered(&|r| r.max_mod_revision = 4), (ks(&["b", "c"]), 3));
    assert_eq!(
        filtered(&|r| r.min_create_revision = 3),
        (ks(&["b", "c"]), 3)
    );
    assert_eq!(
        filtered(&|r| r.max_create_revision = 3),
        (ks(&["a", "b"]), 3)
    );
    let limited = |r: &mut RangeRequest| {
        r.min_mod_revision = 3;
        r.limit = 1;
    };
    assert_eq!(filtered(&limited), (ks(&["a"]), 3));
}

#[test]
fn reads_at_compacted_and_future_revisions() {
    let mut s = MvccStore::new();
    for v in ["1", "2", "3", "4"] {
        put(&mut s, "a", v); // 2..=5
    }
    let at = |s: &MvccStore, rev| {
        let req = RangeRequest {
            revision: rev,
            ..RangeRequest::key(b("a"))
        };
        s.range(&req)
            .map(|r| r.kvs.first().map(|kv| kv.value.clone()))
    };
    assert_eq!(at(&s, 6), Err(KvError::FutureRev));
    assert_eq!(at(&s, 1), Ok(None));
    s.compact(&CompactionRequest {
        revision: 4,
        physical: false,
    })
    .expect("compact");
    assert_eq!(at(&s, 3), Err(KvError::Compacted));
    assert_eq!(
        at(&s, 4),
        Ok(Some(b("3"))),
        "the compacted revision itself is readable"
    );
    assert_eq!(at(&s, 5), Ok(Some(b("4"))));
    assert_eq!(at(&s, 0), Ok(Some(b("4"))));
    assert_eq!(
        KvError::Compacted.to_string(),
        "etcdserver: mvcc: required revision has been compacted"
    );
    assert_eq!(
        KvError::FutureRev.to_string(),
        "etcdserver: mvcc: required revision is a future revision"
    );
}

#[test]
fn compaction_errors_and_released_history() {
    let mut s = MvccStore::new();
    let compact = |s: &mut MvccStore, revision| {
        s.compact(&CompactionRequest {
            revision,
            physical: true,
        })
    };
    put(&mut s, "a", "1"); // 2
    put(&mut s, "a", "22"); // 3
    put(&mut s, "b", "1"); // 4
    del(&mut s, "b"); // 5
    put(&mut s, "c", "1"); // 6
    assert_eq!(s.change_count(), 5);
    assert_eq!(compact(&mut s, 7), Err(KvError::FutureRev));
    compact(&mut s, 5).expect("compact 5");
    assert_eq!(compact(&mut s, 5), Err(KvError::Compacted));
    assert_eq!(compact(&mut s, 4), Err(KvError::Compacted));
    // a keeps its put at 3; b (deleted at 5) is gone with its tombstone; c is untouched.
    assert_eq!(s.change_count(), 2);
    assert_eq!(s.history_key_count(), 2);
    let expected = 2 * CHANGE_OVERHEAD_BYTES + (1 + 2) + (1 + 1);
    assert_eq!(s.size_bytes(), expected);
    assert_eq!(get_at(&s, "a", 5).map(|kv| kv.value), Some(b("22")));
    compact(&mut s, 6).expect("compact 6");
    assert_eq!(s.change_count(), 2);
}

#[test]
fn size_accounting_counts_every_retained_change() {
    let mut s = MvccStore::new();
    put(&mut s, "key", "value");
    assert_eq!(s.size_bytes(), 3 + 5 + CHANGE_OVERHEAD_BYTES);
    put(&mut s, "key", "v");
    del(&mut s, "key");
    assert_eq!(
        s.size_bytes(),
        (3 + 5) + (3 + 1) + 3 + 3 * CHANGE_OVERHEAD_BYTES
    );
    s.compact(&CompactionRequest {
        revision: 4,
        physical: false,
    })
    .expect("compact");
    assert_eq!((s.size_bytes(), s.history_key_count()), (0, 0));
}

#[test]
fn a_clone_does_not_see_later_writes() {
    let mut s = MvccStore::new();
    for i in 0..200 {
        put(&mut s, &format!("k{i:03}"), "v");
    }
    let snapshot = s.clone();
    put(&mut s, "k000", "changed");
    del(&mut s, "k100");
    s.compact(&CompactionRequest {
        revision: 150,
        physical: false,
    })
    .expect("compact");
    assert_eq!(snapshot.revision(), 201);
    assert_eq!(snapshot.compacted_revision(), 0);
    assert_eq!(snapshot.get(b"k000").map(|kv| kv.value), Some(b("v")));
    assert!(snapshot.get(b"k100").is_some());
    assert_eq!(get_at(&snapshot, "k050", 3), None);
    assert_eq!(snapshot.change_count(), 200);
    assert_ne!(snapshot, s);
    // Untouched keys share their history with the clone (structural sharing).
    let shared = |k: &str| match (snapshot.keys.get(k.as_bytes()), s.keys.get(k.as_bytes())) {
        (Some(a), Some(b)) => std::sync::Arc::ptr_eq(a, b),
        _ => false,
    };
    assert!(shared("k199"));
    assert!(!shared("k000"));
}

fn compare_store() -> MvccStore {
    // k: create 2, mod 3, version 2, value "m", lease 7.
    let mut s = leased(&[7]);
    put(&mut s, "k", "a");
    let req = PutRequest {
        lease: 7,
        ..PutRequest::new(b("k"), b("m"))
    };
    s.put(&req).expect("put");
    s
}

#[test]
fn every_compare_target_and_operator() {
    use CompareResult::*;
    let s = compare_store();
    // (compare builder, value below, equal value, value above)
    type MakeCompare = Box<dyn Fn(CompareResult, i64) -> Compare>;
    let targets: Vec<(&str, MakeCompare)> = vec![
        (
            "version",
            Box::new(|r, d| Compare::version(b("k"), r, 2 + d)),
        ),
        ("create", Box::new(|r, d| Compare::create(b("k"), r, 2 + d))),
        ("mod", Box::new(|r, d| Compare::modified(b("k"), r, 3 + d))),
        ("lease", Box::new(|r, d| Compare::lease(b("k"), r, 7 + d))),
        (
            "value",
            Box::new(|r, d| {
                let v = match d {
                    -1 => "l",
                    0 => "m",
                    _ => "n",
                };
                Compare::value(b("k"), r, b(v))
            }),
        ),
    ];
    for (name, make) in &targets {
        // The key's field vs a target below (-1), equal (0), above (+1).
        for (result, expect) in [
            (Equal, [false, true, false]),
            (NotEqual, [true, false, true]),
            (Greater, [true, false, false]),
            (Less, [false, false, true]),
        ] {
            let got = [-1, 0, 1].map(|d| s.compare_holds(&make(result, d)));
            assert_eq!(got, expect, "{name} {result:?}");
        }
    }
}

#[test]
fn compares_on_absent_keys_and_ranges() {
    use CompareResult::*;
    let mut s = compare_store();
    put(&mut s, "k2", "z"); // create 4, version 1
    let absent = |c: Compare| s.compare_holds(&c);
    assert!(absent(Compare::version(b("x"), Equal, 0)));
    assert!(absent(Compare::create(b("x"), Equal, 0)));
    assert!(absent(Compare::modified(b("x"), Less, 1)));
    assert!(absent(Compare::lease(b("x"), Equal, 0)));
    assert!(!absent(Compare::value(b("x"), Equal, Bytes::new())));
    assert!(!absent(Compare::value(b("x"), NotEqual, b("v"))));
    // On a range every key must satisfy it.
    let range = |c: Compare| s.compare_holds(&c.with_range_end(prefix_end(b"k")));
    assert!(range(Compare::create(b("k"), Greater, 1)));
    assert!(!range(Compare::create(b("k"), Greater, 2)));
    assert!(range(Compare::value(b("k"), Greater, b("a"))));
    assert!(!range(Compare::value(b("k"), Equal, b("m"))));
    // An empty range behaves like an absent key.
    let empty = |c: Compare| s.compare_holds(&c.with_range_end(b("q")));
    assert!(empty(Compare::version(b("p"), Equal, 0)));
    assert!(!empty(Compare::value(b("p"), NotEqual, b("x"))));
    // A target value of another kind than the target counts as zero.
    let mismatched = Compare {
        target: CompareTarget::Version,
        target_union: Some(TargetUnion::Lease(2)),
        ..Compare::version(b("k"), Greater, 0)
    };
    assert!(s.compare_holds(&mismatched));
}

#[test]
fn a_txn_is_one_revision_and_reads_its_own_writes() {
    let mut s = MvccStore::new();
    put(&mut s, "a", "0"); // 2
    put(&mut s, "d", "0"); // 3
    let req = when(
        vec![Compare::value(b("a"), CompareResult::Equal, b("0"))],
        vec![
            put_op("a", "1"),
            put_op("b", "1"),
            get_op("b"),
            del_op("d", ""),
            RequestOp::Range(RangeRequest {
                revision: 3,
                ..RangeRequest::key(b("a"))
            }),
        ],
        vec![],
    );
    let applied = txn(&mut s, req).expect("txn");
    assert!(applied.response.succeeded);
    assert_eq!(s.revision(), 4);
    assert_eq!(applied.events.len(), 3);
    assert!(applied.events.iter().all(|e| e.kv.mod_revision == 4));
    let kinds: Vec<_> = applied.events.iter().map(|e| e.kind).collect();
    assert_eq!(kinds, [EventKind::Put, EventKind::Put, EventKind::Delete]);
    let ResponseOp::Range(read) = &applied.response.responses[2] else {
        panic!("not a range: {:?}", applied.response.responses[2]);
    };
    assert_eq!(
        read.kvs[0].value,
        b("1"),
        "a read sees the txn's earlier put"
    );
    let ResponseOp::Range(old) = &applied.response.responses[4] else {
        panic!("not a range");
    };
    assert_eq!(
        old.kvs[0].value,
        b("0"),
        "a read at an older revision sees it"
    );
    assert_eq!(s.get(b"a").map(|kv| kv.version), Some(2));
    assert!(s.get(b"d").is_none());
}

#[test]
fn a_txn_that_writes_nothing_keeps_the_revision() {
    let mut s = MvccStore::new();
    put(&mut s, "a", "0");
    let failing = when(
        vec![Compare::value(b("a"), CompareResult::Equal, b("x"))],
        vec![put_op("a", "1")],
        vec![get_op("a"), del_op("nothing", "")],
    );
    let applied = txn(&mut s, failing).expect("txn");
    assert!(!applied.response.succeeded);
    assert_eq!(applied.response.responses.len(), 2);
    assert_eq!((s.revision(), applied.events.len()), (2, 0));
    let empty = txn(&mut s, TxnRequest::default()).expect("empty txn");
    assert!(empty.response.succeeded);
    assert_eq!(s.revision(), 2);
}

#[test]
fn nested_txns_choose_their_branch_on_the_state_before_the_txn() {
    let mut s = MvccStore::new();
    put(&mut s, "a", "0"); // 2
    let inner = when(
        vec![Compare::value(b("a"), CompareResult::Equal, b("1"))],
        vec![put_op("then", "x")],
        vec![put_op("else", "x"), get_op("a")],
    );
    let outer = when(
        vec![],
        vec![
            put_op("a", "1"),
            RequestOp::Txn(inner),
            put_op("after", "y"),
        ],
        vec![],
    );
    let applied = txn(&mut s, outer).expect("txn");
    assert_eq!(s.revision(), 3);
    assert!(s.get(b"else").is_some() && s.get(b"then").is_none());
    let ResponseOp::Txn(nested) = &applied.response.responses[1] else {
        panic!("not a txn");
    };
    assert!(!nested.succeeded);
    let ResponseOp::Range(read) = &nested.responses[1] else {
        panic!("not a range");
    };
    assert_eq!(
        read.kvs[0].value,
        b("1"),
        "a nested read sees the outer write"
    );
    let events: Vec<_> = applied.events.iter().map(|e| e.kv.key.clone()).collect();
    assert_eq!(events, [b("a"), b("else"), b("after")]);
}

#[test]
fn duplicate_keys_in_a_txn() {
    let mut s = MvccStore::new();
    let check = |success: Vec<RequestOp>| validate_txn(&when(vec![], success, vec![]), 128);
    let dup = Err(KvError::DuplicateKey);
    assert_eq!(check(vec![put_op("a", "1"), put_op("a", "2")]), dup);
    assert_eq!(check(vec![put_op("a", "1"), del_op("a", "")]), dup);
    assert_eq!(check(vec![del_op("a", "c"), put_op("b", "1")]), dup);
    assert_eq!(check(vec![del_op("a", "\0"), put_op("z", "1")]), dup);
    assert_eq!(check(vec![del_op("a", "c"), put_op("c", "1")]), Ok(()));
    assert_eq!(check(vec![del_op("a", "c"), del_op("b", "d")]), Ok(()));
    let nested =
        |then: Vec<RequestOp>, other: Vec<RequestOp>| RequestOp::Txn(when(vec![], then, other));
    let both_branches = nested(vec![put_op("a", "1")], vec![put_op("a", "2")]);
    assert_eq!(check(vec![both_branches]), Ok(()));
    let outer_and_inner = vec![put_op("a", "1"), nested(vec![put_op("a", "2")], vec![])];
    assert_eq!(check(outer_and_inner), dup);
    let inner_delete = vec![put_op("a", "1"), nested(vec![], vec![del_op("a", "")])];
    assert_eq!(check(inner_delete), dup);
    let two_inner = vec![
        nested(vec![put_op("a", "1")], vec![]),
        nested(vec![], vec![put_op("a", "2")]),
    ];
    assert_eq!(check(two_inner), dup);
    // success and failure are checked separately.
    let split = when(vec![], vec![put_op("a", "1")], vec![put_op("a", "2")]);
    assert_eq!(validate_txn(&split, 128), Ok(()));
    let req = when(vec![], vec![put_op("a", "1"), put_op("a", "2")], vec![]);
    assert_eq!(txn(&mut s, req).err(), Some(KvError::DuplicateKey));
    assert_eq!(s.revision(), 1);
    assert_eq!(
        KvError::DuplicateKey.to_string(),
        "etcdserver: duplicate key given in txn request"
    );
}

#[test]
fn too_many_operations_in_a_txn() {
    let puts = |n: usize| {
        (0..n)
            .map(|i| put_op(&format!("k{i}"), "v"))
            .collect::<Vec<_>>()
    };
    let too_many = Err(KvError::TooManyOps);
    assert_eq!(validate_txn(&when(vec![], puts(128), vec![]), 128), Ok(()));
    assert_eq!(
        validate_txn(&when(vec![], puts(129), vec![]), 128),
        too_many
    );
    assert_eq!(validate_txn(&when(vec![], vec![], puts(4)), 3), too_many);
    let compares = (0..4)
        .map(|_| Compare::version(b("a"), CompareResult::Equal, 0))
        .collect();
    assert_eq!(validate_txn(&when(compares, vec![], vec![]), 3), too_many);
    // A nested txn gets the budget its parent left: 3 - 2 = 1 here.
    let inner = |n| RequestOp::Txn(when(vec![], puts(n), vec![]));
    assert_eq!(
        validate_txn(&when(vec![], vec![inner(1), get_op("x")], vec![]), 3),
        Ok(())
    );
    assert_eq!(
        validate_txn(&when(vec![], vec![inner(2), get_op("x")], vec![]), 3),
        too_many
    );
    let mut s = MvccStore::new();
    let err = s.txn(&when(vec![], puts(3), vec![]), 2).err();
    assert_eq!(err, Some(KvError::TooManyOps));
    assert_eq!(
        KvError::TooManyOps.to_string(),
        "etcdserver: too many operations in txn request"
    );
}

#[test]
fn txn_state_checks_run_before_any_change() {
    let mut s = MvccStore::new();
    put(&mut s, "a", "0"); // 2
    let keep = RequestOp::Put(PutRequest {
        ignore_value: true,
        ..PutRequest::new(b("missing"), Bytes::new())
    });
    let req = when(vec![], vec![put_op("a", "1"), keep.clone()], vec![]);
    assert_eq!(txn(&mut s, req), Err(KvError::KeyNotFound));
    assert_eq!(
        (s.revision(), s.get(b"a").map(|kv| kv.value)),
        (2, Some(b("0")))
    );
    // The same put in the branch that does not run is fine.
    let req = when(vec![], vec![put_op("a", "1")], vec![keep]);
    txn(&mut s, req).expect("txn");
    let future = RequestOp::Range(RangeRequest {
        revision: 4,
        ..RangeRequest::key(b("a"))
    });
    let req = when(vec![], vec![put_op("a", "2"), future], vec![]);
    assert_eq!(txn(&mut s, req), Err(KvError::FutureRev));
    s.compact(&CompactionRequest {
        revision: 3,
        physical: false,
    })
    .expect("compact");
    let old = RequestOp::Range(RangeRequest {
        revision: 2,
        ..RangeRequest::key(b("a"))
    });
    assert_eq!(
        txn(&mut s, when(vec![], vec![old], vec![])),
        Err(KvError::Compacted)
    );
    let empty = when(
        vec![],
        vec![RequestOp::Range(RangeRequest::default())],
        vec![],
    );
    assert_eq!(txn(&mut s, empty), Err(KvError::EmptyKey));
    assert_eq!(s.revision(), 3);
}

#[test]
fn snapshots_round_trip_and_refuse_unknown_versions() {
    let mut s = MvccStore::new();
    put(&mut s, "a", "1");
    put(&mut s, "b", "2");
    del(&mut s, "a");
    put(&mut s, "a", "3");
    s.compact(&CompactionRequest {
        revision: 3,
        physical: false,
    })
    .expect("compact");
    let bytes = bincode::serialize(&s).expect("encode");
    let back: MvccStore = bincode::deserialize(&bytes).expect("decode");
    assert_eq!(back, s);
    assert_eq!(back.size_bytes(), s.size_bytes());
    let future = bincode::serialize(&(SNAPSHOT_FORMAT_VERSION + 1, "whatever")).expect("encode");
    let err = bincode::deserialize::<MvccStore>(&future).expect_err("unknown version");
    let unknown = format!(
        "MVCC snapshot format version {} is unknown",
        SNAPSHOT_FORMAT_VERSION + 1
    );
    assert!(err.to_string().contains(&unknown), "{err}");
    // Version 1 (before leases): `(1, (revision, compacted, [(key, revision, kind)]))`.
    let kind = history::ChangeKind::Put {
        value: b("1"),
        create_revision: 2,
        version: 1,
        lease: 0,
    };
    let v1 = (
        1u32,
        (2i64, 0i64, vec![(b("a"), Revision::new(2, 0), kind)]),
    );
    let old: MvccStore = bincode::deserialize(&bincode::serialize(&v1).unwrap()).unwrap();
    assert_eq!(old.get(b"a").map(|kv| kv.value), Some(b("1")));
    assert_eq!(old.leases().count(), 0);
    let empty = bincode::serialize(&MvccStore::new()).expect("encode");
    assert_eq!(
        bincode::deserialize::<MvccStore>(&empty).ok(),
        Some(MvccStore::new())
    );
}

#[test]
fn corrupt_snapshots_are_refused() {
    let put = |v: i64| ChangeKindImage::Put {
        value: b("v"),
        create_revision: 2,
        version: v,
        lease: 0,
    };
    let encode = |records: Vec<(Bytes, Revision, ChangeKindImage)>| {
        let body = BodyImage {
            revision: 5,
            compacted: 0,
            records: records
                .into_iter()
                .map(|(key, revision, kind)| RecordImage {
                    key,
                    revision,
                    kind,
                })
                .collect(),
            leases: Vec::new(),
        };
        bincode::serialize(&(SNAPSHOT_FORMAT_VERSION, body)).expect("encode")
    };
    let decode =
        |bytes: Vec<u8>| bincode::deserialize::<MvccStore>(&bytes).map_err(|e| e.to_string());
    let r = Revision::new;
    let good = encode(vec![
        (b("a"), r(2, 0), put(1)),
        (b("a"), r(3, 0), put(2)),
        (b("b"), r(4, 0), put(1)),
    ]);
    assert_eq!(decode(good).map(|s| s.change_count()), Ok(3));
    let unordered = encode(vec![(b("a"), r(3, 0), put(2)), (b("a"), r(2, 0), put(1))]);
    assert!(decode(unordered).is_err_and(|e| e.contains("corrupt MVCC snapshot")));
    let keys = encode(vec![(b("b"), r(2, 0), put(1)), (b("a"), r(3, 0), put(1))]);
    assert!(decode(keys).is_err_and(|e| e.contains("keys out of order")));
    let future = encode(vec![(b("a"), r(6, 0), put(1))]);
    assert!(decode(future).is_err_and(|e| e.contains("out of range")));
}

/// The body's shape, written independently of the store's encoder, to craft bad snapshots.
#[derive(serde::Serialize)]
struct BodyImage {
    revision: i64,
    compacted: i64,
    records: Vec<RecordImage>,
    leases: Vec<(i64, i64)>,
}

#[derive(serde::Serialize)]
struct RecordImage {
    key: Bytes,
    revision: Revision,
    kind: ChangeKindImage,
}

#[derive(serde::Serialize)]
enum ChangeKindImage {
    Put {
        value: Bytes,
        create_revision: i64,
        version: i64,
        lease: i64,
    },
}

fn put_leased(s: &mut MvccStore, k: &str, lease: i64) -> Result<Applied<PutResponse>, KvError> {
    s.put(&PutRequest {
        lease,
        ..PutRequest::new(b(k), b("v"))
    })
}

#[test]
fn a_revoke_deletes_every_attached_key_in_one_revision() {
    let mut s = MvccStore::new();
    let grant = |id, ttl| ddbb_libs::kv::LeaseGrantRequest { id, ttl };
    s.lease_grant(&grant(7, 10)).unwrap();
    s.lease_grant(&grant(8, 10)).unwrap();
    assert_eq!(s.lease_grant(&grant(7, 5)), Err(KvError::LeaseExists));
    assert_eq!(
        put_leased(&mut s, "x", 9).err(),
        Some(KvError::LeaseNotFound)
    );
    put_leased(&mut s, "a", 7).unwrap();
    put_leased(&mut s, "b", 7).unwrap();
    put_leased(&mut s, "c", 8).unwrap();
    put_leased(&mut s, "b", 8).unwrap(); // moves b to lease 8
    put(&mut s, "plain", "p");
    // A Txn checks the lease only on the branch that runs.
    let never = when(
        vec![],
        vec![],
        vec![RequestOp::Put(PutRequest {
            lease: 99,
            ..PutRequest::new(b("y"), b("v"))
        })],
    );
    assert!(txn(&mut s, never).is_ok());
    let keys = |s: &MvccStore, id| -> Vec<Bytes> {
        s.lease(id)
            .map(|l| l.keys.iter().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(keys(&s, 7), [b("a")]);
    assert_eq!(keys(&s, 8), [b("b"), b("c")]);
    let before = s.revision();
    let revoked = s.lease_revoke(8).unwrap();
    assert_eq!(s.revision(), before + 1, "one revision for every key");
    let deleted: Vec<Bytes> = revoked.events.iter().map(|e| e.kv.key.clone()).collect();
    assert_eq!(deleted, [b("b"), b("c")]);
    assert!(revoked.events.iter().all(|e| e.kind == EventKind::Delete));
    assert!(s.lease(8).is_none());
    assert_eq!(s.lease_revoke(8).err(), Some(KvError::LeaseNotFound));
    assert_eq!(s.lease_keepalive(7).map(|k| k.ttl), Ok(10));
    // An empty lease revokes without a new revision; the rest survives a snapshot.
    del(&mut s, "a");
    let rev = s.revision();
    s.lease_grant(&grant(9, 3)).unwrap();
    s.lease_revoke(9).unwrap();
    assert_eq!(s.revision(), rev);
    put_leased(&mut s, "z", 7).unwrap();
    let back: MvccStore = bincode::deserialize(&bincode::serialize(&s).unwrap()).unwrap();
    assert_eq!(back, s);
    assert_eq!(keys(&back, 7), [b("z")]);
}

#[test]
fn an_expiry_loses_to_a_keepalive_that_came_first() {
    let mut s = leased(&[7]);
    put_leased(&mut s, "k", 7).unwrap();
    let seen = s.lease(7).unwrap().renewals;
    s.lease_keepalive(7).unwrap(); // decided between the leader's look and its expiry
    let stale = s.lease_expire(7, seen);
    assert!(!stale.response && stale.events.is_empty());
    assert!(s.get(b"k").is_some(), "the keepalive saved the lease");
    let now = s.lease(7).unwrap().renewals;
    let expired = s.lease_expire(7, now);
    assert!(expired.response);
    assert_eq!(expired.events.len(), 1);
    assert!(s.lease(7).is_none() && s.get(b"k").is_none());
    assert!(!s.lease_expire(7, now).response, "gone already");
    let back: MvccStore =
        bincode::deserialize(&bincode::serialize(&leased(&[3])).unwrap()).unwrap();
    assert_eq!(back.lease(3).map(|l| l.renewals), Some(0));
}
