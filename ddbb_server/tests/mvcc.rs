//! MVCC with real processes: reads at a revision on every replica after a leader kill,
//! transactions through a follower, compaction and the NOSPACE alarm on every replica,
//! auto-compaction, and history across a restart from snapshots.

mod common;

use common::*;
use ddbb_libs::Frame;

fn int(f: &Frame) -> i64 {
    match f {
        Frame::Integer(n) => *n,
        other => panic!("expected an integer, got {other:?}"),
    }
}

fn err_text(f: &Frame) -> String {
    match f {
        Frame::Error(e) => e.clone(),
        other => panic!("expected an error, got {other:?}"),
    }
}

/// Waits until every live replica's STATUS satisfies `check`.
async fn on_every_replica(
    cluster: &Cluster,
    what: &str,
    check: impl Fn(&ddbb_libs::StatusReply) -> bool,
) {
    for id in cluster.alive() {
        let addr = cluster.addr(id);
        let check = &check;
        wait_until(&format!("replica {id}: {what}"), || async move {
            status(addr).await.ok().filter(|s| check(s)).map(|_| ())
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_at_a_revision_agree_on_every_replica_after_a_leader_kill() {
    let mut cluster = Cluster::start(3, &[]);
    let leader = cluster.wait_for_leader().await;
    let follower = leader % 3 + 1;
    let mut c = TestClient::connect_when_up(cluster.addr(follower)).await;
    let mut revisions = Vec::new();
    for i in 0..5 {
        revisions.push(int(&c.cmd(&["PUT", "k", &format!("v{i}")]).await));
    }
    assert_eq!(int(&c.cmd(&["DEL", "k"]).await), 1);
    cluster.kill(leader);
    cluster.wait_for_leader().await;
    for id in cluster.alive() {
        let mut r = TestClient::connect_when_up(cluster.addr(id)).await;
        for (i, rev) in revisions.iter().enumerate() {
            let got = r.cmd(&["GET", "k", "REV", &rev.to_string()]).await;
            assert_eq!(
                got,
                bulk(&format!("v{i}")),
                "replica {id} at revision {rev}"
            );
        }
        assert_eq!(r.cmd(&["GET", "k"]).await, Frame::Null, "deleted now");
        let future = r.cmd(&["GET", "k", "REV", "1000"]).await;
        assert_eq!(
            err_text(&future),
            "ERR etcdserver: mvcc: required revision is a future revision"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_txn_through_a_follower_is_one_revision_and_takes_one_branch() {
    let cluster = Cluster::start(3, &[]);
    let leader = cluster.wait_for_leader().await;
    let mut c = TestClient::connect_when_up(cluster.addr(leader % 3 + 1)).await;
    let rev = int(&c.cmd(&["PUT", "a", "1"]).await);
    let txn = [
        "TXN",
        "IF",
        "MOD",
        "a",
        "=",
        &rev.to_string(),
        "THEN",
        "3",
        "PUT",
        "a",
        "2",
        "THEN",
        "3",
        "PUT",
        "b",
        "2",
        "THEN",
        "2",
        "GET",
        "a",
        "ELSE",
        "2",
        "GET",
        "a",
    ];
    let reply = c.cmd(&txn).await;
    let Frame::Array(items) = &reply else {
        panic!("{reply:?}")
    };
    assert_eq!(items[0], Frame::Integer(1));
    assert_eq!(
        items[1],
        Frame::Integer(rev + 1),
        "both puts share one revision"
    );
    assert_eq!(
        items[2],
        Frame::Array(vec![
            Frame::Integer(rev + 1),
            Frame::Integer(rev + 1),
            bulk("2")
        ])
    );
    // The same compare now fails: the other branch runs and nothing changes.
    let reply = c.cmd(&txn).await;
    assert_eq!(
        reply,
        Frame::Array(vec![
            Frame::Integer(0),
            Frame::Integer(rev + 1),
            Frame::Array(vec![bulk("2")])
        ])
    );
    let dup = c
        .cmd(&[
            "TXN", "THEN", "3", "PUT", "x", "1", "THEN", "3", "PUT", "x", "2",
        ])
        .await;
    assert_eq!(
        err_text(&dup),
        "ERR etcdserver: duplicate key given in txn request"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_applies_on_every_replica_at_the_same_revision() {
    let cluster = Cluster::start(3, &["--snapshot-every", "20"]);
    cluster.wait_for_leader().await;
    let mut c = TestClient::connect_when_up(cluster.addr(1)).await;
    let mut last = 0;
    for i in 0..60 {
        last = int(&c
            .cmd(&["PUT", &format!("k{}", i % 3), &i.to_string()])
            .await);
    }
    let at = last - 10;
    assert_eq!(c.cmd(&["COMPACT", &at.to_string()]).await, ok());
    let again = c.cmd(&["COMPACT", &at.to_string()]).await;
    assert_eq!(
        err_text(&again),
        "ERR etcdserver: mvcc: required revision has been compacted"
    );
    on_every_replica(&cluster, "compacted at the same revision", |s| {
        s.compact_revision == at as u64
    })
    .await;
    for id in 1..=3 {
        let mut r = TestClient::connect_when_up(cluster.addr(id)).await;
        let old = r.cmd(&["GET", "k0", "REV", &(at - 1).to_string()]).await;
        assert!(err_text(&old).contains("compacted"), "replica {id}");
        // At the compacted revision itself the history is still there.
        let kept = r
            .cmd(&["RANGE", "k", "l", "REV", &at.to_string(), "COUNTONLY"])
            .await;
        assert_eq!(kept, Frame::Integer(3), "replica {id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quota_alarm_blocks_writes_on_every_replica_until_disarmed() {
    let cluster = Cluster::start(3, &["--quota-backend-bytes", "20000"]);
    cluster.wait_for_leader().await;
    let mut c = TestClient::connect_when_up(cluster.addr(1)).await;
    let value = "x".repeat(1000);
    let mut refused = None;
    for i in 0..100 {
        let reply = c.cmd(&["PUT", &format!("k{}", i % 4), &value]).await;
        if let Frame::Error(e) = reply {
            refused = Some(e);
            break;
        }
    }
    assert_eq!(
        refused.as_deref(),
        Some("ERR etcdserver: mvcc: database space exceeded")
    );
    on_every_replica(&cluster, "NOSPACE raised", |s| s.alarms.contains("NOSPACE")).await;
    for id in 1..=3 {
        let mut r = TestClient::connect_when_up(cluster.addr(id)).await;
        let small = r.cmd(&["PUT", "tiny", "1"]).await;
        assert!(
            err_text(&small).contains("database space exceeded"),
            "replica {id}"
        );
        assert!(
            matches!(r.cmd(&["GET", "k0"]).await, Frame::Bulk(_)),
            "reads still work"
        );
    }
    let Frame::Array(alarms) = c.cmd(&["ALARM", "LIST"]).await else {
        panic!("ALARM LIST")
    };
    assert!(!alarms.is_empty());
    // Free space: delete, compact, then disarm.
    assert!(int(&c.cmd(&["DELRANGE", "k", "l"]).await) > 0);
    let st = status(cluster.addr(1)).await.unwrap();
    assert_eq!(c.cmd(&["COMPACT", &st.revision.to_string()]).await, ok());
    assert_eq!(c.cmd(&["ALARM", "DISARM"]).await, Frame::Array(vec![]));
    on_every_replica(&cluster, "no alarm", |s| s.alarms.is_empty()).await;
    for id in 1..=3 {
        let mut r = TestClient::connect_when_up(cluster.addr(id)).await;
        assert!(
            int(&r.cmd(&["PUT", "after", "1"]).await) > 0,
            "replica {id}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revision_auto_compaction_keeps_the_last_revisions() {
    let cluster = Cluster::start(
        3,
        &[
            "--auto-compaction-mode",
            "revision",
            "--auto-compaction-retention",
            "10",
            "--auto-compaction-interval-ms",
            "100",
        ],
    );
    cluster.wait_for_leader().await;
    let mut c = TestClient::connect_when_up(cluster.addr(2)).await;
    let mut last = 0;
    for i in 0..50 {
        last = int(&c.cmd(&["PUT", "k", &i.to_string()]).await);
    }
    on_every_replica(&cluster, "auto-compacted to revision - 10", |s| {
        s.compact_revision == (last - 10) as u64
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_survives_a_restart_from_snapshots() {
    let mut cluster = Cluster::start(3, &["--snapshot-every", "10"]);
    cluster.wait_for_leader().await;
    let mut c = TestClient::connect_when_up(cluster.addr(1)).await;
    let mut revisions = Vec::new();
    for i in 0..40 {
        revisions.push(int(&c.cmd(&["PUT", "h", &i.to_string()]).await));
    }
    on_every_replica(&cluster, "a snapshot", |s| s.snapshot_index > 0).await;
    for id in 1..=3 {
        cluster.kill(id);
    }
    for id in 1..=3 {
        cluster.restart(id);
    }
    cluster.wait_for_leader().await;
    for id in 1..=3 {
        let mut r = TestClient::connect_when_up(cluster.addr(id)).await;
        for (i, rev) in revisions.iter().enumerate().step_by(7) {
            let got = r.cmd(&["GET", "h", "REV", &rev.to_string()]).await;
            assert_eq!(got, bulk(&i.to_string()), "replica {id} at revision {rev}");
        }
    }
}
