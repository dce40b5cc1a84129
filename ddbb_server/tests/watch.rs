//! Watch against real replicas: identical streams on every replica across a leader kill, the
//! client library resuming on another replica without gap or duplicate, 10,000 watches on one
//! gRPC stream, and a reader that stops reading (bounded memory, then a compaction cancel).

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;

use bytes::Bytes;
use common::*;
use ddbb_client::{Client, WatchCreateRequest};
use ddbb_proto::etcdserverpb as pb;
use ddbb_proto::etcdserverpb::watch_client::WatchClient;
use pb::watch_request::RequestUnion;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;
use tonic::Streaming;

/// One event as the tests compare them: (revision, key, value, is delete).
type Seen = (i64, Bytes, Bytes, bool);

async fn channel(addr: SocketAddr) -> Channel {
    grpc_channel(addr, None).await
}

fn create(key: &str, end: &[u8], start: i64) -> pb::WatchRequest {
    pb::WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(pb::WatchCreateRequest {
            key: Bytes::copy_from_slice(key.as_bytes()),
            range_end: Bytes::copy_from_slice(end),
            start_revision: start,
            ..Default::default()
        })),
    }
}

/// Opens a Watch stream on `addr`: the request sender and the response stream.
async fn open(addr: SocketAddr) -> (mpsc::Sender<pb::WatchRequest>, Streaming<pb::WatchResponse>) {
    let mut client = WatchClient::new(channel(addr).await).max_decoding_message_size(64 << 20);
    let (tx, rx) = mpsc::channel(16);
    let responses = client
        .watch(ReceiverStream::new(rx))
        .await
        .expect("watch stream")
        .into_inner();
    (tx, responses)
}

/// Collects the events of a prefix watch from revision 1 until the stream breaks.
async fn collect(addr: SocketAddr, prefix: &'static str, out: mpsc::UnboundedSender<Seen>) {
    let (tx, mut responses) = open(addr).await;
    tx.send(create(prefix, &prefix_end(prefix), 1))
        .await
        .unwrap();
    while let Ok(Some(r)) = responses.message().await {
        for e in r.events {
            let kv = e.kv.unwrap_or_default();
            if out
                .send((kv.mod_revision, kv.key, kv.value, e.r#type == 1))
                .is_err()
            {
                return;
            }
        }
    }
}

fn prefix_end(prefix: &str) -> Vec<u8> {
    ddbb_libs::kv::prefix_end(prefix.as_bytes()).to_vec()
}

fn drain(rx: &mut mpsc::UnboundedReceiver<Seen>, into: &mut Vec<Seen>) {
    while let Ok(seen) = rx.try_recv() {
        into.push(seen);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watchers_on_every_replica_see_the_same_stream_across_a_leader_kill() {
    let mut cluster = Cluster::start_grpc(3, &[]);
    let leader = cluster.wait_for_leader().await;
    let mut streams = Vec::new();
    for id in 1..=3 {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(collect(cluster.grpc(id), "w/", tx));
        streams.push((id, rx, Vec::new()));
    }
    let client = Client::connect(cluster.client_addrs.iter().map(|a| a.to_string())).unwrap();
    let mut acked: BTreeMap<i64, (Bytes, Bytes)> = BTreeMap::new();
    for i in 0..200 {
        if i == 100 {
            cluster.kill(leader);
        }
        let key = format!("w/{}", i % 7);
        let value = format!("v{i}");
        if let Ok(rev) = client.put(key.clone(), value.clone()).await {
            acked.insert(rev as i64, (Bytes::from(key), Bytes::from(value)));
        }
    }
    assert!(acked.len() >= 150, "most writes succeed: {}", acked.len());
    let last = *acked.keys().last().unwrap();
    for (id, rx, seen) in &mut streams {
        if *id == leader {
            continue;
        }
        wait_until(
            &format!("replica {id}'s watcher to reach revision {last}"),
            || {
                drain(rx, seen);
                let reached = seen.last().is_some_and(|s| s.0 >= last);
                async move { reached.then_some(()) }
            },
        )
        .await;
    }
    let (_, mut killed_rx, mut killed) = streams.remove((leader - 1) as usize);
    drain(&mut killed_rx, &mut killed);
    let reference = streams[0].2.clone();
    for (id, _, seen) in &streams {
        assert_eq!(seen, &reference, "replica {id}'s stream differs");
    }
    assert!(
        reference.windows(2).all(|w| w[0].0 < w[1].0),
        "one event per revision here, in order"
    );
    let revisions: Vec<i64> = reference.iter().map(|s| s.0).collect();
    assert_eq!(revisions, (2..=last).collect::<Vec<_>>(), "no gap");
    for (rev, (key, value)) in &acked {
        let event = reference
            .iter()
            .find(|s| s.0 == *rev)
            .expect("acked write has its event");
        assert_eq!((&event.1, &event.2, event.3), (key, value, false));
    }
    assert!(
        !killed.is_empty(),
        "the killed leader's watcher saw events before the kill"
    );
    assert_eq!(
        killed[..],
        reference[..killed.len()],
        "the killed replica's stream is a prefix"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_library_resumes_on_another_replica_without_gap_or_duplicate() {
    let mut cluster = Cluster::start_grpc(3, &[]);
    cluster.wait_for_leader().await;
    // The watcher starts on replica 1; writes go to replica 3 first.
    let endpoints: Vec<String> = cluster.client_addrs.iter().map(|a| a.to_string()).collect();
    let watcher_client = Client::connect(endpoints.clone()).unwrap();
    let writer = Client::connect(endpoints.iter().rev().cloned()).unwrap();
    let mut watcher = watcher_client.watch(WatchCreateRequest {
        key: Bytes::from_static(b"r/"),
        range_end: ddbb_libs::kv::prefix_end(b"r/"),
        start_revision: 1,
        ..WatchCreateRequest::default()
    });
    let first = watcher.next().await.unwrap().unwrap();
    assert!(first.created);
    let mut last = 0;
    for i in 0..120 {
        if i == 60 {
            cluster.kill(1);
        }
        if let Ok(rev) = writer.put(format!("r/{}", i % 5), format!("{i}")).await {
            last = rev as i64;
        }
    }
    let mut revisions = Vec::new();
    while revisions.last().is_none_or(|r| *r < last) {
        // As an async stream.
        let response = tokio::time::timeout(DEADLINE, tokio_stream::StreamExt::next(&mut watcher))
            .await
            .expect("events keep coming after the kill")
            .expect("the watch goes on")
            .expect("no error");
        revisions.extend(response.events.iter().map(|e| e.kv.mod_revision));
    }
    assert_eq!(
        revisions,
        (2..=last).collect::<Vec<_>>(),
        "no gap, no duplicate"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_watches_on_one_stream() {
    let cluster = Cluster::start_grpc(3, &[]);
    cluster.wait_for_leader().await;
    let (tx, mut responses) = open(cluster.grpc(2)).await;
    const WATCHES: usize = 10_000;
    let sender = tokio::spawn(async move {
        for i in 0..WATCHES {
            tx.send(create(&format!("t/{i}"), b"", 0)).await.unwrap();
        }
        tx // keep the request side open
    });
    let mut ids = BTreeMap::new();
    while ids.len() < WATCHES {
        let r = responses.message().await.unwrap().unwrap();
        assert!(r.created && !r.canceled, "{r:?}");
        ids.insert(r.watch_id, ids.len());
    }
    let _tx = sender.await.unwrap();
    let client = Client::connect([cluster.addr(1).to_string()]).unwrap();
    for i in (0..WATCHES).step_by(100) {
        client.put(format!("t/{i}"), "x").await.unwrap();
    }
    let mut notified = Vec::new();
    while notified.len() < WATCHES / 100 {
        let r = responses.message().await.unwrap().unwrap();
        assert_eq!(r.events.len(), 1);
        let key = String::from_utf8_lossy(&r.events[0].kv.as_ref().unwrap().key).into_owned();
        assert_eq!(
            key,
            format!("t/{}", ids[&r.watch_id]),
            "the event reached its own watch"
        );
        notified.push(ids[&r.watch_id]);
    }
    assert_eq!(notified, (0..WATCHES).step_by(100).collect::<Vec<_>>());
}

/// Resident memory of a process, from /proc.
fn rss_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_stops_reading_costs_bounded_memory_then_learns_of_compaction() {
    // Frequent snapshots keep the log short, so what grows is what watching costs.
    let cluster = Cluster::start_grpc(3, &["--snapshot-every", "50"]);
    cluster.wait_for_leader().await;
    let (_tx, mut responses) = open(cluster.grpc(2)).await;
    _tx.send(create("s", b"", 0)).await.unwrap();
    let created = responses.message().await.unwrap().unwrap();
    assert!(created.created);
    let pid = cluster.pid(2).unwrap();
    let before = rss_bytes(pid);
    // 160 MiB of events for the stalled watcher; compaction keeps the store itself small.
    let client = Client::connect([cluster.addr(1).to_string()]).unwrap();
    let value = Bytes::from(vec![b'x'; 128 * 1024]);
    let mut last = 0;
    for i in 0..1280 {
        last = client.put("s", value.clone()).await.unwrap() as i64;
        if i % 100 == 99 {
            client.compact(last).await.unwrap();
        }
    }
    let grown = rss_bytes(pid).saturating_sub(before);
    eprintln!("replica 2 grew by {} MiB", grown >> 20);
    assert!(
        grown < 80 << 20,
        "a reader that does not read made replica 2 grow by {} MiB",
        grown >> 20
    );
    // Reading again: what was still buffered, then the cancel with the compacted revision.
    let mut seen = 0;
    loop {
        let r = tokio::time::timeout(DEADLINE, responses.message())
            .await
            .expect("a response")
            .unwrap()
            .expect("stream open");
        seen += r.events.len();
        if r.canceled {
            assert!(r.compact_revision > 0, "{r:?}");
            break;
        }
    }
    assert!(
        seen < 1280,
        "the stalled watcher was not buffered whole: {seen} events"
    );
    let _ = last;
}
