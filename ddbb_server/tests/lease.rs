//! Leases against real replicas: attached keys vanish after the TTL (and not before) once
//! keepalives stop, keepalives keep a lease alive across a leader kill, and revocation deletes
//! every attached key in one revision that watchers see.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::*;
use ddbb_proto::etcdserverpb as pb;
use ddbb_proto::etcdserverpb::kv_client::KvClient;
use ddbb_proto::etcdserverpb::lease_client::LeaseClient;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

async fn channel(addr: SocketAddr) -> Channel {
    grpc_channel(addr, None).await
}

fn put(key: &str, lease: i64) -> pb::PutRequest {
    pb::PutRequest {
        key: Bytes::copy_from_slice(key.as_bytes()),
        value: Bytes::from_static(b"v"),
        lease,
        ..Default::default()
    }
}

async fn exists(kv: &mut KvClient<Channel>, key: &str) -> Option<bool> {
    let r = kv
        .range(pb::RangeRequest {
            key: Bytes::copy_from_slice(key.as_bytes()),
            ..Default::default()
        })
        .await
        .ok()?;
    Some(!r.into_inner().kvs.is_empty())
}

/// Keepalives through a stream on `addr` every `every` until `stop` is dropped; counts acks.
fn keep_alive(addr: SocketAddr, id: i64, every: Duration) -> mpsc::Sender<()> {
    let (stop, mut stopped) = mpsc::channel::<()>(1);
    tokio::spawn(async move {
        loop {
            let mut lease = LeaseClient::new(channel(addr).await);
            let (tx, rx) = mpsc::channel(1);
            let Ok(response) = lease.lease_keep_alive(ReceiverStream::new(rx)).await else {
                continue;
            };
            let mut acks = response.into_inner();
            loop {
                if tx.send(pb::LeaseKeepAliveRequest { id }).await.is_err() {
                    break;
                }
                match acks.message().await {
                    Ok(Some(ack)) => assert!(ack.ttl > 0, "the lease is alive: {ack:?}"),
                    _ => break, // reconnect (the replica died)
                }
                tokio::select! {
                    _ = stopped.recv() => return,
                    _ = tokio::time::sleep(every) => {}
                }
            }
        }
    });
    stop
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_vanish_after_the_ttl_once_keepalives_stop_and_not_before() {
    let cluster = Cluster::start_grpc(3, &[]);
    cluster.wait_for_leader().await;
    let ch = channel(cluster.grpc(2)).await;
    let mut lease = LeaseClient::new(ch.clone());
    let mut kv = KvClient::new(ch);
    let granted = lease
        .lease_grant(pb::LeaseGrantRequest { ttl: 2, id: 0 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(granted.ttl, 2);
    kv.put(put("leased/a", granted.id)).await.unwrap();
    kv.put(put("leased/b", granted.id)).await.unwrap();
    let stop = keep_alive(cluster.grpc(3), granted.id, Duration::from_millis(500));
    // Alive well past its TTL while kept alive.
    let kept = Instant::now();
    while kept.elapsed() < Duration::from_secs(4) {
        assert_eq!(exists(&mut kv, "leased/a").await, Some(true));
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(stop);
    let last_keepalive = Instant::now();
    wait_until("the leased keys to vanish", || {
        let mut kv = kv.clone();
        async move { (exists(&mut kv, "leased/a").await == Some(false)).then_some(()) }
    })
    .await;
    let gone_after = last_keepalive.elapsed();
    // Never before the TTL since the last keepalive could have been applied (the last one
    // was sent at most 500 ms before `last_keepalive`).
    assert!(
        gone_after >= Duration::from_millis(1_500),
        "expired after only {gone_after:?}"
    );
    assert_eq!(exists(&mut kv, "leased/b").await, Some(false));
    let ttl = lease
        .lease_time_to_live(pb::LeaseTimeToLiveRequest {
            id: granted.id,
            keys: true,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ttl.ttl, -1, "the lease is gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keepalives_keep_a_lease_across_a_leader_kill() {
    let mut cluster = Cluster::start_grpc(3, &[]);
    let leader = cluster.wait_for_leader().await;
    let survivors: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
    let ch = channel(cluster.grpc(survivors[0])).await;
    let mut lease = LeaseClient::new(ch.clone());
    let mut kv = KvClient::new(ch);
    let granted = lease
        .lease_grant(pb::LeaseGrantRequest { ttl: 3, id: 0 })
        .await
        .unwrap()
        .into_inner();
    kv.put(put("kept", granted.id)).await.unwrap();
    let stop = keep_alive(
        cluster.grpc(survivors[1]),
        granted.id,
        Duration::from_millis(500),
    );
    cluster.kill(leader);
    let since = Instant::now();
    while since.elapsed() < Duration::from_secs(8) {
        if let Some(present) = exists(&mut kv, "kept").await {
            assert!(present, "the kept-alive key vanished after the leader kill");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(stop);
    wait_until("the key to vanish once keepalives stop", || {
        let mut kv = kv.clone();
        async move { (exists(&mut kv, "kept").await == Some(false)).then_some(()) }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lease_errors_are_etcds() {
    let cluster = Cluster::start_grpc(3, &[]);
    cluster.wait_for_leader().await;
    let ch = channel(cluster.grpc(1)).await;
    let mut lease = LeaseClient::new(ch.clone());
    let mut kv = KvClient::new(ch);
    let e = kv.put(put("k", 12345)).await.unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (
            tonic::Code::NotFound,
            "etcdserver: requested lease not found"
        )
    );
    let e = lease
        .lease_grant(pb::LeaseGrantRequest {
            ttl: 9_000_000_001,
            id: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (tonic::Code::OutOfRange, "etcdserver: too large lease TTL")
    );
    let g = lease
        .lease_grant(pb::LeaseGrantRequest { ttl: 0, id: 77 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (g.id, g.ttl),
        (77, 1),
        "raised to the minimum TTL (1.5 election timeouts)"
    );
    let e = lease
        .lease_grant(pb::LeaseGrantRequest { ttl: 5, id: 77 })
        .await
        .unwrap_err();
    assert_eq!(
        (e.code(), e.message()),
        (
            tonic::Code::FailedPrecondition,
            "etcdserver: lease already exists"
        )
    );
    let e = lease
        .lease_revoke(pb::LeaseRevokeRequest { id: 78 })
        .await
        .unwrap_err();
    assert_eq!(e.code(), tonic::Code::NotFound);
    let list = lease
        .lease_leases(pb::LeaseLeasesRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(list.leases.iter().map(|l| l.id).collect::<Vec<_>>(), [77]);
}
