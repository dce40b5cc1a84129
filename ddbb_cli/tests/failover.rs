//! Failover: commands keep working when the first endpoint (even the leader) is gone or
//! partitioned, through the `ddbb` binary and through the `Client` library.

mod common;

use std::time::Duration;

use bytes::Bytes;
use ddbb_client::{Client, ClientConfig};
use ddbb_libs::cmd::{Put, PutReply};
use ddbb_libs::{Command, Frame, RequestId};

use common::{ddbb_on, TestCluster};

#[test]
fn commands_succeed_with_the_first_endpoint_killed() {
    let mut cluster = TestCluster::start(3);
    let e = cluster.endpoints();
    ddbb_on(&e, &["put", "before", "1"]).ok();
    cluster.kill(1);
    assert_eq!(ddbb_on(&e, &["put", "after", "2"]).ok().out(), "OK\n");
    assert_eq!(
        ddbb_on(&e, &["get", "", "--prefix", "--keys-only"])
            .ok()
            .out(),
        "after\nbefore\n"
    );
    let status = ddbb_on(&e, &["status"]).ok().out();
    assert!(
        status.lines().next().unwrap().contains("unavailable"),
        "{status}"
    );
}

#[test]
fn commands_succeed_when_the_first_endpoint_was_the_leader() {
    let mut cluster = TestCluster::start(3);
    let leader = cluster.wait_for_leader();
    let others: Vec<String> = (1..=3)
        .filter(|&id| id != leader)
        .map(|id| cluster.endpoint(id))
        .collect();
    let e = format!("{},{}", cluster.endpoint(leader), others.join(","));
    ddbb_on(&e, &["put", "k", "v1"]).ok();
    cluster.kill(leader);
    assert_eq!(ddbb_on(&e, &["put", "k", "v2"]).ok().out(), "OK\n");
    assert_eq!(
        ddbb_on(&e, &["get", "k", "--print-value-only"]).ok().out(),
        "v2\n"
    );
}

#[test]
fn client_fails_over_from_a_partitioned_endpoint() {
    let cluster = TestCluster::start(3);
    let endpoints: Vec<String> = (1..=3).map(|id| cluster.endpoint(id)).collect();
    // Replica 1 still answers clients but cannot reach a quorum.
    cluster.faults.set_cut(1, 2, true);
    cluster.faults.set_cut(1, 3, true);
    let config = ClientConfig {
        attempt_timeout: Duration::from_millis(500),
        ..ClientConfig::new(endpoints).with_timeout(Duration::from_secs(30))
    };
    let client = Client::new(config).unwrap();
    cluster.block_on(async {
        let revision = client
            .put("k", "v")
            .await
            .expect("put through another endpoint");
        assert!(revision > 0);
        assert_eq!(client.get("k").await.unwrap(), Some(Bytes::from("v")));
        assert_ne!(client.current_endpoint(), cluster.endpoint(1));
    });
}

#[test]
fn client_pipelines_concurrent_writes_and_survives_a_kill() {
    let mut cluster = TestCluster::start(3);
    let endpoints: Vec<String> = (1..=3).map(|id| cluster.endpoint(id)).collect();
    let client =
        Client::new(ClientConfig::new(endpoints).with_timeout(Duration::from_secs(30))).unwrap();
    let write_all = |prefix: &'static str| {
        let client = client.clone();
        async move {
            let mut tasks = tokio::task::JoinSet::new();
            for i in 0..200 {
                let client = client.clone();
                tasks.spawn(async move { client.put(format!("{prefix}/{i:03}"), "v").await });
            }
            let mut revisions = Vec::new();
            while let Some(r) = tasks.join_next().await {
                revisions.push(r.unwrap().expect("put"));
            }
            revisions.sort();
            revisions.dedup();
            assert_eq!(revisions.len(), 200, "every write has its own revision");
        }
    };
    cluster.block_on(write_all("a"));
    cluster.kill(1);
    cluster.block_on(write_all("b"));
    cluster.block_on(async {
        let count = client
            .range(
                ddbb_client::KeyRange::prefix(Bytes::new()),
                ddbb_client::RangeOptions {
                    view: ddbb_client::RangeView::CountOnly,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(count, ddbb_client::RangeReply::Count(400));
    });
}

#[test]
fn a_request_id_retried_on_another_endpoint_is_applied_once() {
    let cluster = TestCluster::start(3);
    let endpoints: Vec<String> = (1..=3).map(|id| cluster.endpoint(id)).collect();
    let client = Client::connect(endpoints).unwrap();
    let put = Command::Put(Put {
        key: "once".into(),
        value: "v".into(),
        if_revision: None,
        lease: 0,
        expire_ms: None,
        prev_kv: false,
        request: Some(RequestId {
            client: client.client_id(),
            seq: 1_000_000,
        }),
        reply: PutReply::Revision,
    });
    cluster.block_on(async {
        let first = client.execute_on(0, put.clone()).await.unwrap();
        let retry = client.execute_on(2, put).await.unwrap();
        assert_eq!(first, retry, "the retry returns the first outcome");
        let Frame::Integer(revision) = first else {
            panic!("{first:?}")
        };
        let status = client.status().await.unwrap();
        assert_eq!(status.revision, revision as u64, "applied once");
    });
}
