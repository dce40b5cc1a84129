//! etcd's JSON gateway on DDBB's gRPC port (HTTP/1.1, the same port `etcdctl` uses over
//! HTTP/2): KV, leases, a streaming watch, `/version`, `/health`, errors and size limits.
//! The same requests go to a real etcd 3.4 (Debian's `etcd-server`) when it is installed, and
//! the JSON answers are compared after zeroing what legitimately differs (cluster id, member
//! id, raft term, lease ids). etcd3gw (Debian's `python3-etcd3gw`), a Python client of the
//! gateway, runs its KV, lease and watch calls against DDBB.
//!
//! Without the tools the tests say that they skipped, except under CI (`CI=true`), where a
//! missing tool is a failure (`scripts/test` installs them).

mod common;

use std::net::SocketAddr;
use std::process::Command;

use bytes::Bytes;
use common::*;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// One HTTP/1.1 exchange on a fresh connection: the status and the response (body unread).
async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Bytes,
) -> (u16, hyper::Response<Incoming>) {
    let exchange = async {
        let tcp = TcpStream::connect(addr).await.expect("connect");
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .expect("HTTP/1.1 handshake");
        tokio::spawn(conn);
        let request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", addr.to_string())
            .header("content-type", "application/json")
            .body(Full::new(body))
            .expect("request");
        let response = sender.send_request(request).await.expect("response");
        (response.status().as_u16(), response)
    };
    timeout(DEADLINE, exchange)
        .await
        .expect("HTTP exchange timed out")
}

/// `POST path` with a JSON body: the status and the JSON answer.
async fn post(addr: SocketAddr, path: &str, body: &Value) -> (u16, Value) {
    let (status, response) = request(addr, "POST", path, Bytes::from(body.to_string())).await;
    let bytes = timeout(DEADLINE, response.into_body().collect())
        .await
        .expect("body timed out")
        .expect("body")
        .to_bytes();
    let value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!(
            "{path}: not JSON ({e}): {}",
            String::from_utf8_lossy(&bytes)
        )
    });
    (status, value)
}

/// `GET path`: the status and the body as text.
async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let (status, response) = request(addr, "GET", path, Bytes::new()).await;
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// A streamed answer read line by line (one JSON object per line).
struct Lines {
    body: Incoming,
    buf: Vec<u8>,
}

impl Lines {
    async fn open(addr: SocketAddr, path: &str, body: &Value) -> Lines {
        let (status, response) = request(addr, "POST", path, Bytes::from(body.to_string())).await;
        assert_eq!(status, 200, "{path}");
        Lines {
            body: response.into_body(),
            buf: Vec::new(),
        }
    }

    /// The next line as JSON, `None` when the stream ended.
    async fn next(&mut self) -> Option<Value> {
        loop {
            if let Some(end) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=end).collect();
                return Some(serde_json::from_slice(&line).expect("a JSON line"));
            }
            let frame = timeout(DEADLINE, self.body.frame())
                .await
                .expect("stream timed out")?
                .expect("stream broke");
            if let Some(data) = frame.data_ref() {
                self.buf.extend_from_slice(data);
            }
        }
    }
}

/// Zeroes what differs between two clusters answering the same requests: the header's
/// cluster id, member id and raft term, and lease ids (etcd picks them at random).
fn normalize(mut v: Value) -> Value {
    fn zero(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (k, x) in map.iter_mut() {
                    if matches!(
                        k.as_str(),
                        "cluster_id" | "member_id" | "raft_term" | "ID" | "lease"
                    ) {
                        *x = json!("0");
                    } else {
                        zero(x);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(zero),
            _ => {}
        }
    }
    zero(&mut v);
    v
}

/// etcd's gateway carries keys and values as base64.
fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The requests both servers get, in order, each with the HTTP status expected; later steps
/// depend on earlier revisions (the first put makes revision 2 on both).
fn kv_script() -> Vec<(&'static str, Value, u16)> {
    let (key, key2, end) = (b64("foo"), b64("foo2"), b64("fop"));
    vec![
        ("/v3/kv/put", json!({"key": key, "value": b64("bar")}), 200),
        (
            "/v3/kv/put",
            json!({"key": key2, "value": b64("x"), "prev_kv": true}),
            200,
        ),
        (
            "/v3/kv/put",
            json!({"key": key, "value": b64("baz"), "prev_kv": true}),
            200,
        ),
        ("/v3/kv/range", json!({"key": key}), 200),
        // A prefix, int64s as strings and as numbers, enums by name, serializable.
        (
            "/v3/kv/range",
            json!({"key": key, "range_end": end, "limit": "1", "sort_order": "DESCEND",
                   "sort_target": "KEY", "serializable": true}),
            200,
        ),
        (
            "/v3/kv/range",
            json!({"key": key, "rangeEnd": end, "count_only": true, "revision": 3}),
            200,
        ),
        // Patroni's txn shapes: compare MOD with a string revision; CREATE = 0 (absent key).
        (
            "/v3/kv/txn",
            json!({"compare": [{"target": "MOD", "mod_revision": "4", "key": key}],
                   "success": [{"request_put": {"key": key, "value": b64("txn")}}],
                   "failure": [{"request_range": {"key": key}}]}),
            200,
        ),
        (
            "/v3/kv/txn",
            json!({"compare": [{"target": "CREATE", "create_revision": 0, "key": key}],
                   "success": [{"request_put": {"key": key, "value": b64("no")}}],
                   "failure": [{"request_range": {"key": key}}]}),
            200,
        ),
        (
            "/v3/kv/txn",
            json!({"compare": [{"key": key, "result": "EQUAL", "target": "VALUE", "value": b64("txn")}],
                   "success": [{"request_delete_range": {"key": key2, "prev_kv": true}}]}),
            200,
        ),
        (
            "/v3/kv/deleterange",
            json!({"key": key, "range_end": end, "prev_kv": true}),
            200,
        ),
        ("/v3/kv/compaction", json!({"revision": "4"}), 200),
        // etcd's errors: a compacted and a future revision (OutOfRange: 400), no key (400).
        ("/v3/kv/range", json!({"key": key, "revision": "3"}), 400),
        ("/v3/kv/range", json!({"key": key, "revision": "100"}), 400),
        ("/v3/kv/range", json!({}), 400),
        (
            "/v3beta/kv/range",
            json!({"key": key, "range_end": end}),
            200,
        ),
    ]
}

/// Runs [`kv_script`] against the gateway on `addr`; the normalized answers.
async fn run_kv_script(addr: SocketAddr) -> Vec<Value> {
    let mut answers = Vec::new();
    for (path, body, expected) in kv_script() {
        let (status, answer) = post(addr, path, &body).await;
        assert_eq!(status, expected, "{path} {body}: {answer}");
        answers.push(normalize(answer));
    }
    answers
}

/// Lease grant, keepalive (one `{"result": …}` object, then the stream ends, as etcd's gateway
/// answers a request body holding one keepalive), time-to-live with keys, list, revoke.
async fn run_lease_script(addr: SocketAddr) -> Vec<Value> {
    let mut answers = Vec::new();
    let (status, grant) = post(addr, "/v3/lease/grant", &json!({"TTL": 60})).await;
    assert_eq!(status, 200, "{grant}");
    let id = grant["ID"].as_str().expect("ID as a string").to_string();
    answers.push(grant);
    let put = json!({"key": b64("leased"), "value": b64("v"), "lease": id});
    answers.push(post(addr, "/v3/kv/put", &put).await.1);
    let mut keepalive = Lines::open(addr, "/v3/lease/keepalive", &json!({"ID": id})).await;
    answers.push(keepalive.next().await.expect("a keepalive answer"));
    assert_eq!(keepalive.next().await, None, "the stream ends after it");
    let (_, mut ttl) = post(
        addr,
        "/v3/kv/lease/timetolive",
        &json!({"ID": id, "keys": true}),
    )
    .await;
    let left: i64 = ttl["TTL"].as_str().expect("TTL").parse().expect("a number");
    assert!((55..=60).contains(&left), "{ttl}");
    ttl["TTL"] = json!("60");
    answers.push(ttl);
    answers.push(post(addr, "/v3/lease/leases", &json!({})).await.1);
    answers.push(post(addr, "/v3/lease/revoke", &json!({"ID": id})).await.1);
    answers.push(
        post(addr, "/v3/lease/timetolive", &json!({"ID": id}))
            .await
            .1,
    );
    answers.push(
        post(addr, "/v3/kv/range", &json!({"key": b64("leased")}))
            .await
            .1,
    );
    // A keepalive of a lease that is gone: TTL absent (0), which clients read as "re-grant".
    let mut gone = Lines::open(addr, "/v3/lease/keepalive", &json!({"ID": id})).await;
    answers.push(gone.next().await.expect("an answer"));
    answers.into_iter().map(normalize).collect()
}

/// A watch from now: the created line, then the event of a put made meanwhile.
async fn run_watch_script(addr: SocketAddr) -> Vec<Value> {
    let key = b64("watched");
    let create = json!({"create_request": {"key": key, "prev_kv": true}});
    let mut watch = Lines::open(addr, "/v3/watch", &create).await;
    let created = watch.next().await.expect("created");
    assert_eq!(created["result"]["created"], json!(true), "{created}");
    post(addr, "/v3/kv/put", &json!({"key": key, "value": b64("1")})).await;
    post(addr, "/v3/kv/put", &json!({"key": key, "value": b64("2")})).await;
    let mut events = Vec::new();
    while events.len() < 2 {
        let line = watch.next().await.expect("events");
        let batch = line["result"]["events"].as_array().expect("events").clone();
        events.extend(batch);
    }
    vec![normalize(created), normalize(json!(events))]
}

#[tokio::test]
async fn gateway_answers_as_real_etcd_does() {
    let cluster = Cluster::start_grpc(3, &[]);
    cluster.wait_for_leader().await;
    let ddbb = cluster.grpc(2);
    wait_until("the gateway's /health", || async {
        (get(ddbb, "/health").await.0 == 200).then_some(())
    })
    .await;
    let ours = (
        run_kv_script(ddbb).await,
        run_lease_script(ddbb).await,
        run_watch_script(ddbb).await,
    );

    let Some(bin) = tool("etcd", "etcd-server") else {
        return;
    };
    let etcd = RealEtcd::start(&bin);
    wait_until("etcd's /health", || async {
        let up = TcpStream::connect(etcd.client).await.is_ok();
        (up && get(etcd.client, "/health").await.0 == 200).then_some(())
    })
    .await;
    let theirs = (
        run_kv_script(etcd.client).await,
        run_lease_script(etcd.client).await,
        run_watch_script(etcd.client).await,
    );
    for (i, (a, b)) in ours.0.iter().zip(&theirs.0).enumerate() {
        assert_eq!(a, b, "kv step {i}: {:?}", kv_script()[i]);
    }
    assert_eq!(ours.1, theirs.1, "lease steps");
    assert_eq!(ours.2, theirs.2, "watch");
    for path in ["/version", "/health"] {
        assert_eq!(
            get(ddbb, path).await,
            get(etcd.client, path).await,
            "{path}"
        );
    }
}

#[tokio::test]
async fn gateway_version_health_and_errors() {
    let cluster = Cluster::start_grpc(3, &["--max-request-bytes", "65536"]);
    cluster.wait_for_leader().await;
    let addr = cluster.grpc(1);
    wait_until("the gateway's /health", || async {
        (get(addr, "/health").await.0 == 200).then_some(())
    })
    .await;
    assert_eq!(
        get(addr, "/version").await,
        (
            200,
            r#"{"etcdserver":"3.4.23","etcdcluster":"3.4.0"}"#.to_string()
        )
    );
    assert_eq!(
        get(addr, "/health").await,
        (200, r#"{"health":"true"}"#.to_string())
    );

    // Compacted revision: etcd's message, gRPC code 11 (OutOfRange), HTTP 400.
    let key = b64("k");
    for v in ["1", "2", "3"] {
        post(addr, "/v3/kv/put", &json!({"key": key, "value": b64(v)})).await;
    }
    post(addr, "/v3/kv/compaction", &json!({"revision": 3})).await;
    let (status, err) = post(addr, "/v3/kv/range", &json!({"key": key, "revision": 2})).await;
    let message = "etcdserver: mvcc: required revision has been compacted";
    assert_eq!(
        (status, err),
        (
            400,
            json!({"error": message, "message": message, "code": 11})
        )
    );
    // A watch from a compacted revision is cancelled in its stream.
    let create = json!({"create_request": {"key": key, "start_revision": "2"}});
    let mut watch = Lines::open(addr, "/v3/watch", &create).await;
    assert_eq!(
        watch.next().await.expect("created")["result"]["created"],
        json!(true)
    );
    let cancelled = watch.next().await.expect("cancelled");
    assert_eq!(
        cancelled["result"]["compact_revision"],
        json!("3"),
        "{cancelled}"
    );
    // As etcd's: no header revision on a compaction notice.
    assert_eq!(
        cancelled["result"]["header"].get("revision"),
        None,
        "{cancelled}"
    );
    // Not JSON: InvalidArgument; an unknown lease: NotFound (404).
    let (status, response) = request(addr, "POST", "/v3/kv/put", Bytes::from("{\"key\": x")).await;
    assert_eq!(status, 400);
    drop(response);
    let (status, err) = post(addr, "/v3/lease/revoke", &json!({"ID": "7"})).await;
    assert_eq!((status, &err["code"]), (404, &json!(5)), "{err}");

    // Over --max-request-bytes: etcd's "request is too large"; over the gRPC decode limit
    // (max + 512 KiB): grpc-go's ResourceExhausted (429); far over: refused unbuffered.
    let value = "x".repeat(70_000);
    let (status, err) = post(
        addr,
        "/v3/kv/put",
        &json!({"key": key, "value": b64(&value)}),
    )
    .await;
    assert_eq!(
        (status, &err["error"]),
        (400, &json!("etcdserver: request is too large"))
    );
    let value = "x".repeat(600 * 1024);
    let (status, err) = post(
        addr,
        "/v3/kv/put",
        &json!({"key": key, "value": b64(&value)}),
    )
    .await;
    assert_eq!((status, &err["code"]), (429, &json!(8)), "{err}");
    let huge = Bytes::from(format!(
        "{{\"key\":\"{key}\",\"value\":\"{}\"}}",
        "A".repeat(4 << 20)
    ));
    let (status, _) = request(addr, "POST", "/v3/kv/put", huge).await;
    assert_eq!(status, 429);
    // The value was never written.
    let (_, range) = post(addr, "/v3/kv/range", &json!({"key": key})).await;
    assert_eq!(range["kvs"][0]["value"], json!(b64("3")));

    // Unknown paths as etcd's muxes; gRPC still works on the same port.
    assert_eq!(get(addr, "/v3/nope").await.0, 404);
    assert_eq!(get(addr, "/nope").await.0, 404);
    let mut kv = ddbb_proto::etcdserverpb::kv_client::KvClient::new(
        grpc_channel(addr, Some(DEADLINE)).await,
    );
    let range = kv
        .range(ddbb_proto::etcdserverpb::RangeRequest {
            key: "k".into(),
            ..Default::default()
        })
        .await
        .expect("gRPC range")
        .into_inner();
    assert_eq!(range.kvs[0].value, "3".as_bytes());

    // Without a leader: /health false with 503.
    cluster_without_leader(cluster, addr).await;
}

/// Stops two replicas of three; the survivor's `/health` turns false (503).
async fn cluster_without_leader(mut cluster: Cluster, addr: SocketAddr) {
    cluster.kill(2);
    cluster.kill(3);
    wait_until("/health false without a quorum", || async {
        let (status, body) = get(addr, "/health").await;
        (status == 503 && body == "{\"health\":\"false\"}\n").then_some(())
    })
    .await;
}

/// etcd3gw (OpenStack's client of etcd's gateway) against DDBB: put/get/prefix, a
/// transaction, a lease with keys, refresh and revoke, and a watch that sees a put.
const ETCD3GW_SCRIPT: &str = r#"
import sys, threading
from etcd3gw.client import Etcd3Client
c = Etcd3Client(host=sys.argv[1], port=int(sys.argv[2]), api_path="/v3/")
assert c.put("gw/a", "1")
assert c.get("gw/a") == [b"1"], c.get("gw/a")
assert c.create("gw/a", "2") is False
assert c.create("gw/b", "2") is True
assert sorted(v for v, _ in c.get_prefix("gw/")) == [b"1", b"2"]
assert c.replace("gw/a", "1", "3") is True
assert c.get("gw/a") == [b"3"]
assert c.delete("gw/b") is True
lease = c.lease(30)
assert lease.refresh() == 30, lease.refresh()
assert c.put("gw/leased", "x", lease=lease)
assert lease.keys() == [b"gw/leased"], lease.keys()
assert 0 < lease.ttl() <= 30
assert lease.revoke()
assert c.get("gw/leased") == []
events, cancel = c.watch("gw/w")
threading.Timer(0.2, lambda: c.put("gw/w", "seen")).start()
for event in events:
    assert event["kv"]["value"] == b"seen", event
    break
cancel()
assert c.members()[0]["clientURLs"]
print("OK")
"#;

#[tokio::test]
async fn etcd3gw_drives_the_gateway() {
    let python = "/usr/bin/python3";
    let available = Command::new(python)
        .args(["-c", "import etcd3gw"])
        .status()
        .is_ok_and(|s| s.success());
    if !available {
        assert!(
            std::env::var("CI").is_err(),
            "etcd3gw is missing under CI: scripts/test must install python3-etcd3gw"
        );
        eprintln!("SKIPPED: etcd3gw not installed (apt-get install python3-etcd3gw)");
        return;
    }
    let cluster = Cluster::start_grpc(3, &[]);
    cluster.wait_for_leader().await;
    let addr = cluster.grpc(3);
    wait_until("the gateway's /health", || async {
        (get(addr, "/health").await.0 == 200).then_some(())
    })
    .await;
    let run = tokio::process::Command::new(python)
        .args(["-c", ETCD3GW_SCRIPT, "127.0.0.1", &addr.port().to_string()])
        .kill_on_drop(true)
        .output();
    let out = timeout(DEADLINE, run)
        .await
        .expect("etcd3gw timed out")
        .expect("run python3");
    assert!(
        out.status.success() && out.stdout == b"OK\n",
        "etcd3gw failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
