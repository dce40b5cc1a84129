//! Replicated behaviour of real `ddbb_server` processes: reads after writes, CAS races,
//! failover, minority and majority loss, batching.

mod common;

use common::*;
use ddbb_libs::Frame;

async fn writes_are_seen_by_linearizable_reads_everywhere(n: usize) {
    let cluster = Cluster::start(n, &[]);
    cluster.wait_for_leader().await;
    let mut clients = Vec::new();
    for id in 1..=n as u64 {
        clients.push(TestClient::connect_when_up(cluster.addr(id)).await);
    }
    for writer in 0..n {
        let value = format!("v{writer}");
        assert_eq!(clients[writer].cmd(&["SET", "k", &value]).await, ok());
        // Immediately after the acknowledgement, every replica must return it.
        for (reader, c) in clients.iter_mut().enumerate() {
            assert_eq!(
                c.cmd(&["GET", "k"]).await,
                bulk(&value),
                "replica {} after a write through replica {}",
                reader + 1,
                writer + 1
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_linearizable_read_after_write_on_every_replica() {
    writes_are_seen_by_linearizable_reads_everywhere(3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_replicas_linearizable_read_after_write_on_every_replica() {
    writes_are_seen_by_linearizable_reads_everywhere(5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serializable_get_sees_a_write_eventually() {
    let cluster = Cluster::start(3, &[]);
    cluster.wait_for_leader().await;
    let mut writer = TestClient::connect_when_up(cluster.addr(1)).await;
    // etcd's revisions: the store starts at 1, so the first write is revision 2.
    assert_eq!(writer.cmd(&["PUT", "s", "42"]).await, Frame::Integer(2));
    for id in 1..=3 {
        let mut c = TestClient::connect_when_up(cluster.addr(id)).await;
        let mut deadline = Deadline::new("a serializable read to see the write");
        while c.cmd(&["GET", "s", "SERIALIZABLE"]).await != bulk("42") {
            deadline.pause().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cas_race_from_many_clients_has_exactly_one_winner() {
    let cluster = Cluster::start(3, &[]);
    cluster.wait_for_leader().await;
    let mut setup = TestClient::connect_when_up(cluster.addr(1)).await;
    for round in 0..5 {
        let key = format!("race{round}");
        assert_eq!(setup.cmd(&["SET", &key, "start"]).await, ok());
        let mut tasks = Vec::new();
        for i in 0..12u64 {
            let addr = cluster.addr(i % 3 + 1);
            let key = key.clone();
            tasks.push(tokio::spawn(async move {
                let mut c = TestClient::connect(addr).await.expect("connect");
                let mine = format!("client{i}");
                (mine.clone(), c.cmd(&["CAS", &key, "start", &mine]).await)
            }));
        }
        let mut winners = Vec::new();
        for t in tasks {
            let (mine, reply) = t.await.expect("task");
            match reply {
                Frame::Integer(1) => winners.push(mine),
                Frame::Integer(0) => {}
                other => panic!("unexpected CAS reply {other:?}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        assert_eq!(setup.cmd(&["GET", &key]).await, bulk(&winners[0]));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_leader_elects_a_new_one_and_writes_continue() {
    let mut cluster = Cluster::start(3, &[]);
    let old = cluster.wait_for_leader().await;
    let mut c = TestClient::connect_when_up(cluster.addr(old % 3 + 1)).await;
    assert_eq!(c.cmd(&["SET", "before", "1"]).await, ok());
    cluster.kill(old);
    let new = cluster.wait_for_leader().await;
    assert_ne!(new, old);
    for id in cluster.alive() {
        let mut c = TestClient::connect_when_up(cluster.addr(id)).await;
        let key = format!("after{id}");
        assert_eq!(c.cmd(&["SET", &key, "2"]).await, ok(), "write via {id}");
        assert_eq!(c.cmd(&["GET", "before"]).await, bulk("1"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_replicas_stay_available_with_two_followers_killed() {
    let mut cluster = Cluster::start(5, &[]);
    let leader = cluster.wait_for_leader().await;
    let followers: Vec<u64> = (1..=5).filter(|&id| id != leader).collect();
    let mut c = TestClient::connect_when_up(cluster.addr(leader)).await;
    for (i, victim) in followers.iter().take(2).enumerate() {
        cluster.kill(*victim);
        let key = format!("k{i}");
        assert_eq!(c.cmd(&["SET", &key, "v"]).await, ok());
        for id in cluster.alive() {
            let mut r = TestClient::connect_when_up(cluster.addr(id)).await;
            assert_eq!(r.cmd(&["GET", &key]).await, bulk("v"), "replica {id}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_majority_writes_and_linearizable_reads_fail_clearly() {
    let mut cluster = Cluster::start(3, &["--request-timeout-ms", "1500"]);
    cluster.wait_for_leader().await;
    let mut c = TestClient::connect_when_up(cluster.addr(1)).await;
    assert_eq!(c.cmd(&["SET", "k", "old"]).await, ok());
    cluster.kill(2);
    cluster.kill(3);
    let reply = c.cmd(&["SET", "k", "new"]).await;
    assert!(
        is_err(&reply),
        "a write without quorum must fail: {reply:?}"
    );
    let reply = c.cmd(&["GET", "k"]).await;
    assert!(
        is_err(&reply),
        "a linearizable read without quorum must fail: {reply:?}"
    );
    // A serializable read answers from local state: the last committed value, never "new".
    assert_eq!(c.cmd(&["GET", "k", "SERIALIZABLE"]).await, bulk("old"));
    // The replica stays up and answers again once the majority is back; the timed-out
    // write may or may not have taken effect, but nothing else can appear.
    cluster.restart(2);
    let mut deadline = Deadline::new("a quorum again");
    let value = loop {
        match c.cmd(&["GET", "k"]).await {
            Frame::Bulk(b) => break b,
            _ => deadline.pause().await,
        }
    };
    assert!(&value[..] == b"old" || &value[..] == b"new", "{value:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_writes_are_batched_into_few_log_entries() {
    let cluster = Cluster::start(3, &[]);
    let leader = cluster.wait_for_leader().await;
    let mut c = TestClient::connect_when_up(cluster.addr(leader)).await;
    assert_eq!(c.cmd(&["SET", "warm", "up"]).await, ok());
    let before = status(cluster.addr(leader)).await.expect("status");
    let n = 2000;
    for i in 0..n {
        c.conn().write_frame(&Frame::command([
            "SET".to_string(),
            format!("p{i}"),
            "x".into(),
        ]));
    }
    c.conn().flush().await.expect("flush");
    for _ in 0..n {
        assert_eq!(c.conn().read_frame().await.expect("read"), Some(ok()));
    }
    let after = status(cluster.addr(leader)).await.expect("status");
    let writes = after.revision - before.revision;
    let entries = after.decided_index - before.decided_index;
    assert_eq!(writes, n);
    assert!(
        (entries as u64) < n / 4,
        "{n} pipelined writes took {entries} log entries"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retried_request_id_is_applied_once() {
    let cluster = Cluster::start(3, &[]);
    cluster.wait_for_leader().await;
    let mut a = TestClient::connect_when_up(cluster.addr(1)).await;
    let mut b = TestClient::connect_when_up(cluster.addr(2)).await;
    assert_eq!(
        a.cmd(&["PUT", "x", "1", "REQID", "77", "1"]).await,
        Frame::Integer(2)
    );
    assert_eq!(
        a.cmd(&["PUT", "x", "2", "REQID", "77", "2"]).await,
        Frame::Integer(3)
    );
    // A retry of seq 1 through another replica returns the first outcome, changes nothing.
    assert_eq!(
        b.cmd(&["PUT", "x", "1", "REQID", "77", "1"]).await,
        Frame::Integer(2)
    );
    assert_eq!(b.cmd(&["GET", "x"]).await, bulk("2"));
    assert_eq!(
        b.cmd(&["RANGE", "x", "", "REVS"]).await,
        Frame::Array(vec![Frame::Array(vec![
            bulk("x"),
            bulk("2"),
            Frame::Integer(2),
            Frame::Integer(3),
            Frame::Integer(2),
            Frame::Integer(0)
        ])])
    );
}
