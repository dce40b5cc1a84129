//! Hostile and broken clients: the replica stays up and other clients are unaffected.

mod common;

use common::*;
use ddbb_libs::Frame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Writes raw bytes, then reads until the server closes (or up to 4 KiB); returns what came.
async fn raw(addr: std::net::SocketAddr, bytes: &[u8], close_write: bool) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(bytes).await.expect("write");
    if close_write {
        s.shutdown().await.expect("shutdown");
    }
    let mut out = vec![0u8; 4096];
    let mut n = 0;
    let read = tokio::time::timeout(DEADLINE, async {
        loop {
            match s.read(&mut out[n..]).await {
                Ok(0) | Err(_) => break,
                Ok(k) => n += k,
            }
            if n == out.len() {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "server neither answered nor closed");
    String::from_utf8_lossy(&out[..n]).into_owned()
}

async fn still_serves(cluster: &Cluster, bystander: &mut TestClient) {
    assert_eq!(bystander.cmd(&["SET", "alive", "yes"]).await, ok());
    assert_eq!(bystander.cmd(&["GET", "alive"]).await, bulk("yes"));
    let mut fresh = TestClient::connect(cluster.addr(1))
        .await
        .expect("new connection");
    assert_eq!(fresh.cmd(&["PING"]).await, Frame::Simple("PONG".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_oversized_and_broken_frames_close_only_their_connection() {
    let cluster = Cluster::start(3, &["--max-value-bytes", "1000"]);
    cluster.wait_for_leader().await;
    let addr = cluster.addr(1);
    let mut bystander = TestClient::connect_when_up(addr).await;

    // Binary garbage is read as an inline command: an error reply, then more garbage.
    let reply = raw(addr, b"\x00\x01\x02garbage\xff\r\n", true).await;
    assert!(reply.starts_with("-ERR unknown command"), "{reply:?}");

    // A bulk length of 2^60 is refused from its header, without waiting for the bytes.
    let reply = raw(addr, b"*1\r\n$1152921504606846976\r\n", false).await;
    assert!(reply.starts_with("-ERR Protocol error"), "{reply:?}");

    // An array length of 2^60 likewise.
    let reply = raw(addr, b"*1152921504606846976\r\n", false).await;
    assert!(reply.starts_with("-ERR Protocol error"), "{reply:?}");

    // Broken framing: a bulk not terminated by CRLF.
    let reply = raw(addr, b"*1\r\n$3\r\nGETXX", false).await;
    assert!(reply.starts_with("-ERR Protocol error"), "{reply:?}");

    // An unterminated frame followed by a disconnect.
    // The server may say why it closes; it must not apply the partial write.
    let reply = raw(addr, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$100\r\nabc", true).await;
    assert!(
        reply.is_empty() || reply.starts_with("-ERR Protocol error"),
        "{reply:?}"
    );
    assert_eq!(bystander.cmd(&["GET", "k"]).await, Frame::Null);

    // A value over --max-value-bytes: an error reply, and the connection stays usable.
    let mut c = TestClient::connect(addr).await.expect("connect");
    let big = "x".repeat(2000);
    let reply = c.cmd(&["SET", "big", &big]).await;
    assert!(
        matches!(&reply, Frame::Error(e) if e.contains("too large")),
        "{reply:?}"
    );
    assert_eq!(c.cmd(&["GET", "big"]).await, Frame::Null);

    // Wrong arity and unknown commands: errors, connection usable.
    assert!(is_err(&c.cmd(&["GET"]).await));
    assert!(is_err(&c.cmd(&["CAS", "a", "b"]).await));
    assert!(is_err(&c.cmd(&["NOSUCH"]).await));
    assert_eq!(c.cmd(&["PING", "again"]).await, bulk("again"));

    still_serves(&cluster, &mut bystander).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_pipelined_requests_are_answered_in_order() {
    let cluster = Cluster::start(3, &[]);
    cluster.wait_for_leader().await;
    let mut c = TestClient::connect_when_up(cluster.addr(2)).await;
    let n = 10_000;
    let mut wire = bytes::BytesMut::new();
    for i in 0..n {
        let frame = match i % 3 {
            0 => Frame::command(["SET".to_string(), format!("k{}", i % 100), i.to_string()]),
            1 => Frame::command(["GET".to_string(), format!("k{}", (i - 1) % 100)]),
            _ => Frame::command(["PING".to_string(), i.to_string()]),
        };
        frame.write_to(&mut wire);
    }
    let (mut reader, mut writer) = {
        let stream = TcpStream::connect(cluster.addr(2)).await.expect("connect");
        let (r, w) = stream.into_split();
        (ddbb_libs::FrameReader::new(r, Default::default()), w)
    };
    // Write everything while reading concurrently, as a pipelining client does.
    let send = tokio::spawn(async move {
        writer.write_all(&wire).await.expect("write");
        writer
    });
    // Replies come in request order (each PING echoes its own number). Pipelined requests are
    // concurrent with each other, as in etcd: a GET usually sees exactly the SET sent just
    // before it, but after a leader change it may see an earlier or a later SET of that key.
    // It must see one of that key's values, and a key's values never go back in time.
    let mut last_seen = std::collections::HashMap::new();
    for i in 0..n {
        let reply = reader.read_frame().await.expect("read").expect("open");
        match i % 3 {
            0 => assert_eq!(reply, ok(), "request {i}"),
            1 => {
                let Frame::Bulk(value) = &reply else {
                    panic!("request {i}: {reply:?}")
                };
                let v: u64 = std::str::from_utf8(value).unwrap().parse().unwrap();
                let key = (i - 1) % 100;
                assert!(
                    v.is_multiple_of(3) && v % 100 == key && v < n,
                    "request {i}: {v} is not a value of k{key}"
                );
                let previous = last_seen.insert(key, v).unwrap_or(0);
                assert!(
                    v >= previous,
                    "request {i}: k{key} went back from {previous} to {v}"
                );
            }
            _ => assert_eq!(reply, bulk(&i.to_string()), "request {i}"),
        }
    }
    drop(send.await);
    assert_eq!(c.cmd(&["PING"]).await, Frame::Simple("PONG".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_disconnects_mid_request_harms_nobody() {
    let cluster = Cluster::start(3, &[]);
    cluster.wait_for_leader().await;
    let mut bystander = TestClient::connect_when_up(cluster.addr(1)).await;
    for _ in 0..20 {
        // Send a batch of writes and reads and hang up before any reply arrives.
        let mut s = TcpStream::connect(cluster.addr(1)).await.expect("connect");
        let mut wire = bytes::BytesMut::new();
        for i in 0..50 {
            Frame::command(["SET".to_string(), format!("gone{i}"), "v".into()]).write_to(&mut wire);
            Frame::command(["GET".to_string(), format!("gone{i}")]).write_to(&mut wire);
        }
        wire.extend_from_slice(b"*2\r\n$3\r\nGET\r\n$3\r\nab");
        s.write_all(&wire).await.expect("write");
        drop(s);
    }
    still_serves(&cluster, &mut bystander).await;
    // Reads of the hung-up clients are answered (into the void) once their barrier applies.
    let addr = cluster.addr(1);
    wait_until("the abandoned reads to be answered", || async move {
        let st = status(addr).await.ok()?;
        (st.pending_reads == 0).then_some(())
    })
    .await;
}
