//! The etcd gRPC API through `ddbb_proto`'s generated clients against a 3-replica DDBB (real
//! processes): every KV RPC and option, etcd's headers and error codes/texts, health,
//! `Unimplemented` services, and bad input (a too-large put, garbage on the port, 10,000
//! concurrent streams).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use common::*;
use ddbb_proto::etcdserverpb as pb;
use ddbb_proto::etcdserverpb::auth_client::AuthClient;
use ddbb_proto::etcdserverpb::kv_client::KvClient;
use ddbb_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use ddbb_proto::health::health_client::HealthClient;
use pb::compare::{CompareResult, CompareTarget, TargetUnion};
use pb::request_op::Request as Op;
use tokio::io::AsyncWriteExt;
use tonic::transport::Channel;
use tonic::Code;

async fn channel(addr: SocketAddr) -> Channel {
    grpc_channel(addr, Some(Duration::from_secs(10))).await
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn put_req(k: &str, v: &str) -> pb::PutRequest {
    pb::PutRequest {
        key: b(k),
        value: b(v),
        ..Default::default()
    }
}

fn range_req(k: &str) -> pb::RangeRequest {
    pb::RangeRequest {
        key: b(k),
        ..Default::default()
    }
}

fn keys(r: &pb::RangeResponse) -> Vec<String> {
    r.kvs
        .iter()
        .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
        .collect()
}

fn op(request: Op) -> pb::RequestOp {
    pb::RequestOp {
        request: Some(request),
    }
}

fn cmp(key: &str, result: CompareResult, target: CompareTarget, t: TargetUnion) -> pb::Compare {
    pb::Compare {
        result: result as i32,
        target: target as i32,
        key: b(key),
        range_end: Bytes::new(),
        target_union: Some(t),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kv_rpc_and_option_through_the_generated_client() {
    let cluster = Cluster::start_grpc(3, &[]);
    let leader = cluster.wait_for_leader().await;
    let follower = if leader == 1 { 2 } else { 1 };
    let ch = channel(cluster.grpc(follower)).await;
    let mut kv = KvClient::new(ch.clone());

    // Put, with the header etcd gives: cluster id, member id, revision, raft term.
    let r = kv.put(put_req("a", "1")).await.unwrap().into_inner();
    let h = r.header.unwrap();
    assert_eq!((h.cluster_id, h.member_id, h.revision), (1, follower, 2));
    assert!(h.raft_term >= 1);
    assert!(r.prev_kv.is_none());
    for (k, v) in [("b", "22"), ("c", "333"), ("p/x", "x"), ("p/y", "y")] {
        kv.put(put_req(k, v)).await.unwrap();
    }
    // prev_kv, ignore_value, ignore_lease.
    let r = kv
        .put(pb::PutRequest {
            prev_kv: true,
            ..put_req("a", "4444")
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.prev_kv.unwrap().value, b("1"));
    assert_eq!(r.header.unwrap().revision, 7);
    kv.put(pb::PutRequest {
        ignore_value: true,
        ..put_req("b", "")
    })
    .await
    .unwrap();
    let e = kv
        .put(pb::PutRequest {
            ignore_value: true,
            ..put_req("b", "x")
        })
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::InvalidArgument, "etcdserver: value is provided")
    );
    let e = kv
        .put(pb::PutRequest {
            ignore_value: true,
            ..put_req("absent", "")
        })
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::InvalidArgument, "etcdserver: key not found")
    );
    let e = kv
        .put(pb::PutRequest {
            ignore_lease: true,
            lease: 5,
            ..put_req("b", "x")
        })
        .await
        .unwrap_err();
    assert_eq!(e.message(), "etcdserver: lease is provided");
    let e = kv.put(put_req("", "x")).await.unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::InvalidArgument, "etcdserver: key is not provided")
    );

    // Range: single, range, from-key, prefix, limit, sort, keys/count only, revision, filters,
    // serializable.
    let r = kv.range(range_req("a")).await.unwrap().into_inner();
    assert_eq!(
        (r.kvs[0].value.clone(), r.count, r.more),
        (b("4444"), 1, false)
    );
    assert_eq!(r.kvs[0].version, 2);
    assert_eq!(r.header.unwrap().revision, 8);
    let all = pb::RangeRequest {
        range_end: Bytes::from_static(&[0]),
        ..range_req("a")
    };
    let r = kv.range(all.clone()).await.unwrap().into_inner();
    assert_eq!(keys(&r), ["a", "b", "c", "p/x", "p/y"]);
    let r = kv
        .range(pb::RangeRequest {
            range_end: b("p0"),
            ..range_req("p/")
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(keys(&r), ["p/x", "p/y"]);
    let r = kv
        .range(pb::RangeRequest {
            limit: 2,
            ..all.clone()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (keys(&r), r.more, r.count),
        (vec!["a".into(), "b".into()], true, 5)
    );
    let r = kv
        .range(pb::RangeRequest {
            sort_order: pb::range_request::SortOrder::Descend as i32,
            sort_target: pb::range_request::SortTarget::Mod as i32,
            keys_only: true,
            ..all.clone()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(keys(&r), ["b", "a", "p/y", "p/x", "c"]);
    assert!(r.kvs.iter().all(|kv| kv.value.is_empty()));
    let r = kv
        .range(pb::RangeRequest {
            count_only: true,
            ..all.clone()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((r.kvs.len(), r.count), (0, 5));
    let r = kv
        .range(pb::RangeRequest {
            revision: 2,
            ..range_req("a")
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.kvs[0].value, b("1"));
    let r = kv
        .range(pb::RangeRequest {
            min_mod_revision: 4,
            max_mod_revision: 6,
            min_create_revision: 4,
            ..all.clone()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(keys(&r), ["c", "p/x", "p/y"]);
    let r = kv
        .range(pb::RangeRequest {
            max_create_revision: 2,
            serializable: true,
            ..all.clone()
        })
        .await
        .unwrap()
        .into_inner();
    // A serializable read may be stale, but this replica applied every write it answered.
    assert_eq!(keys(&r), ["a"]);
    let e = kv
        .range(pb::RangeRequest {
            revision: 100,
            ..range_req("a")
        })
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (
            Code::OutOfRange,
            "etcdserver: mvcc: required revision is a future revision"
        )
    );
    assert_eq!(
        kv.range(range_req("")).await.unwrap_err().code(),
        Code::InvalidArgument
    );

    // Txn: compares on every target, both branches, nested txn, errors.
    let txn = pb::TxnRequest {
        compare: vec![
            cmp(
                "a",
                CompareResult::Equal,
                CompareTarget::Value,
                TargetUnion::Value(b("4444")),
            ),
            cmp(
                "a",
                CompareResult::Equal,
                CompareTarget::Version,
                TargetUnion::Version(2),
            ),
            cmp(
                "a",
                CompareResult::Less,
                CompareTarget::Create,
                TargetUnion::CreateRevision(3),
            ),
            cmp(
                "a",
                CompareResult::Greater,
                CompareTarget::Mod,
                TargetUnion::ModRevision(6),
            ),
            cmp(
                "a",
                CompareResult::Equal,
                CompareTarget::Lease,
                TargetUnion::Lease(0),
            ),
            cmp(
                "zz",
                CompareResult::NotEqual,
                CompareTarget::Version,
                TargetUnion::Version(1),
            ),
        ],
        success: vec![
            op(Op::RequestPut(pb::PutRequest {
                prev_kv: true,
                ..put_req("t", "yes")
            })),
            op(Op::RequestRange(range_req("a"))),
            op(Op::RequestTxn(pb::TxnRequest {
                success: vec![op(Op::RequestDeleteRange(pb::DeleteRangeRequest {
                    key: b("c"),
                    prev_kv: true,
                    ..Default::default()
                }))],
                ..Default::default()
            })),
        ],
        failure: vec![op(Op::RequestPut(put_req("t", "no")))],
    };
    let r = kv.txn(txn.clone()).await.unwrap().into_inner();
    assert!(r.succeeded);
    assert_eq!(r.header.unwrap().revision, 9);
    assert_eq!(r.responses.len(), 3);
    use pb::response_op::Response as R;
    match &r.responses[1].response {
        Some(R::ResponseRange(rr)) => assert_eq!(rr.kvs[0].value, b("4444")),
        other => panic!("{other:?}"),
    }
    match &r.responses[2].response {
        Some(R::ResponseTxn(t)) => match &t.responses[0].response {
            Some(R::ResponseDeleteRange(d)) => {
                assert_eq!((d.deleted, d.prev_kvs[0].value.clone()), (1, b("333")))
            }
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
    let failing = pb::TxnRequest {
        compare: vec![cmp(
            "a",
            CompareResult::Equal,
            CompareTarget::Value,
            TargetUnion::Value(b("nope")),
        )],
        success: vec![op(Op::RequestPut(put_req("t", "yes")))],
        failure: vec![op(Op::RequestPut(put_req("t", "no")))],
    };
    assert!(!kv.txn(failing).await.unwrap().into_inner().succeeded);
    assert_eq!(
        kv.range(range_req("t")).await.unwrap().into_inner().kvs[0].value,
        b("no")
    );
    let dup = pb::TxnRequest {
        success: vec![
            op(Op::RequestPut(put_req("d", "1"))),
            op(Op::RequestPut(put_req("d", "2"))),
        ],
        ..Default::default()
    };
    let e = kv.txn(dup).await.unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (
            Code::InvalidArgument,
            "etcdserver: duplicate key given in txn request"
        )
    );
    let many = pb::TxnRequest {
        success: (0..129)
            .map(|i| op(Op::RequestPut(put_req(&format!("m{i}"), "v"))))
            .collect(),
        ..Default::default()
    };
    let e = kv.txn(many).await.unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (
            Code::InvalidArgument,
            "etcdserver: too many operations in txn request"
        )
    );

    // DeleteRange: single, range with prev_kv.
    let r = kv
        .delete_range(pb::DeleteRangeRequest {
            key: b("p/"),
            range_end: b("p0"),
            prev_kv: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((r.deleted, r.prev_kvs.len()), (2, 2));
    let r = kv
        .delete_range(pb::DeleteRangeRequest {
            key: b("absent"),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.deleted, 0);

    // Compact, then the compacted-revision error.
    let now = kv.range(range_req("a")).await.unwrap().into_inner();
    let rev = now.header.unwrap().revision;
    let r = kv
        .compact(pb::CompactionRequest {
            revision: rev,
            physical: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r.header.unwrap().revision, rev);
    let e = kv
        .range(pb::RangeRequest {
            revision: 2,
            ..range_req("a")
        })
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (
            Code::OutOfRange,
            "etcdserver: mvcc: required revision has been compacted"
        )
    );
    let e = kv
        .compact(pb::CompactionRequest {
            revision: 2,
            physical: false,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange);

    // Maintenance: HashKV agrees across replicas at the same revision.
    let mut hashes = Vec::new();
    for id in 1..=3 {
        let mut m = MaintenanceClient::new(channel(cluster.grpc(id)).await);
        let h = wait_until("the replica to catch up", || {
            let mut m = m.clone();
            async move {
                // At the compacted revision itself HashKV refuses (as etcd): hash the
                // current one, once the replica has applied up to it.
                let r = m
                    .hash_kv(pb::HashKvRequest { revision: 0 })
                    .await
                    .ok()?
                    .into_inner();
                (r.header?.revision == rev && r.compact_revision == rev).then_some(r.hash)
            }
        })
        .await;
        hashes.push(h);
        let s = m.status(pb::StatusRequest {}).await.unwrap().into_inner();
        assert!((1..=3).contains(&s.leader), "{s:?}");
        assert_eq!(s.version, "3.4.23");
        assert!(
            s.raft_term >= 1 && s.raft_applied_index >= 1 && s.db_size > 0,
            "{s:?}"
        );
    }
    assert!(hashes.iter().all(|h| *h == hashes[0]), "{hashes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_etcds_errors_and_the_replica_stays_up() {
    let cluster = Cluster::start_grpc(3, &[]);
    cluster.wait_for_leader().await;
    let addr = cluster.grpc(1);
    let ch = channel(addr).await;
    let mut kv = KvClient::new(ch.clone())
        .max_encoding_message_size(64 << 20)
        .max_decoding_message_size(64 << 20);

    // 1.6 MiB: above --max-request-bytes (1.5 MiB), within the gRPC allowance.
    let e = kv
        .put(put_req("big", &"x".repeat(1_600_000)))
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (Code::InvalidArgument, "etcdserver: request is too large")
    );
    // 2.5 MiB: refused by the decoder before it is buffered whole.
    let e = kv
        .put(put_req("big", &"x".repeat(2_500_000)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange, "{e:?}");

    // Garbage on the port: that connection fails, nothing else.
    let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
    raw.write_all(b"this is not HTTP/2 at all\r\n\r\n\x00\x01\x02")
        .await
        .unwrap();
    drop(raw);

    // Unimplemented services answer Unimplemented; health says SERVING.
    let e = AuthClient::new(ch.clone())
        .auth_enable(pb::AuthEnableRequest {})
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unimplemented);
    let h = HealthClient::new(ch.clone())
        .check(ddbb_proto::health::HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        h.status,
        ddbb_proto::health::health_check_response::ServingStatus::Serving as i32
    );

    // Many concurrent RPCs on one connection all complete.
    let mut tasks = Vec::new();
    for i in 0..500 {
        let mut kv = KvClient::new(ch.clone());
        tasks.push(tokio::spawn(async move {
            kv.put(put_req(&format!("c{i}"), "v")).await.map(|_| ())
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }

    // Still up, on a fresh connection too.
    let mut kv = KvClient::new(channel(addr).await);
    kv.put(put_req("after", "ok")).await.unwrap();
    assert_eq!(
        kv.range(range_req("after")).await.unwrap().into_inner().kvs[0].value,
        b("ok")
    );
}

/// 10,000 concurrent streams: 5,000 Watch streams held open (over 10 connections, beyond
/// `--max-concurrent-streams` on none of them) while 5,000 Range RPCs run at once; every one
/// is served, the watches all see the next write, and the replica stays up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_concurrent_streams() {
    use ddbb_proto::etcdserverpb::watch_client::WatchClient;
    use tokio_stream::wrappers::ReceiverStream;

    let cluster = Cluster::start_grpc(3, &[]);
    cluster.wait_for_leader().await;
    let addr = cluster.grpc(1);
    let mut channels = Vec::new();
    for _ in 0..10 {
        channels.push(grpc_channel(addr, None).await); // no deadline: streams stay open
    }
    let created = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut watches = Vec::new();
    for i in 0..5_000 {
        let mut client = WatchClient::new(channels[i % 10].clone());
        let created = created.clone();
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        tx.send(pb::WatchRequest {
            request_union: Some(pb::watch_request::RequestUnion::CreateRequest(
                pb::WatchCreateRequest {
                    key: b("many"),
                    ..Default::default()
                },
            )),
        })
        .await
        .unwrap();
        watches.push(tokio::spawn(async move {
            let mut stream = client.watch(ReceiverStream::new(rx)).await?.into_inner();
            let first = stream.message().await?.expect("created");
            assert!(first.created);
            created.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let _keep_open = tx;
            let event = stream.message().await?.expect("event");
            Ok::<_, tonic::Status>(event.events.len())
        }));
    }
    let mut ranges = Vec::new();
    for i in 0..5_000 {
        let mut kv = KvClient::new(channels[i % 10].clone());
        ranges.push(tokio::spawn(async move {
            kv.range(range_req("many")).await.map(|_| ())
        }));
    }
    for r in ranges {
        r.await.unwrap().unwrap();
    }
    // Every watch is created before the write, so each must see it.
    let mut kv = KvClient::new(channels[0].clone());
    wait_until("5,000 watches created", || {
        let n = created.load(std::sync::atomic::Ordering::SeqCst);
        async move { (n == 5_000).then_some(()) }
    })
    .await;
    kv.put(put_req("many", "x")).await.unwrap();
    for w in watches {
        let events = tokio::time::timeout(DEADLINE, w)
            .await
            .expect("the event arrives");
        assert_eq!(events.unwrap().unwrap(), 1);
    }
    assert!(
        status(cluster.addr(1)).await.is_ok(),
        "the replica is still up"
    );
}
