//! The generated client against a real etcd 3.4 (Debian's `etcd-server`): Put, Range, Txn,
//! DeleteRange, Maintenance.Status and grpc.health.v1 Check. Proves that the trimmed .proto
//! files still match etcd's wire format. Skips with a message when `etcd` is not installed,
//! and fails instead under `CI=true`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ddbb_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use ddbb_proto::etcdserverpb::kv_client::KvClient;
use ddbb_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use ddbb_proto::etcdserverpb::request_op::Request as Op;
use ddbb_proto::etcdserverpb::response_op::Response as OpResponse;
use ddbb_proto::etcdserverpb::{
    Compare, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, StatusRequest, TxnRequest,
};
use ddbb_proto::health::health_check_response::ServingStatus;
use ddbb_proto::health::health_client::HealthClient;
use ddbb_proto::health::HealthCheckRequest;
use prost::bytes::Bytes;
use tonic::transport::Channel;

/// etcd gets this long to start answering; every RPC gets `RPC`.
const STARTUP: Duration = Duration::from_secs(30);
const RPC: Duration = Duration::from_secs(5);

/// `etcd` on the PATH, or `None` after saying why the test skips (panics under `CI=true`).
fn etcd_binary() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("etcd"))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        let missing = "etcd is not installed (apt-get install etcd-server)";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{missing}: CI must run the real-etcd test");
        }
        eprintln!("{missing}: skipping the real-etcd test");
    }
    found
}

/// A free loopback port (the listener is closed before etcd binds it).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One etcd member on loopback ports; killed (by its own PID) when dropped.
struct Etcd {
    child: Child,
    url: String,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Etcd {
    fn start(bin: &Path) -> Etcd {
        let dir = tempfile::tempdir().unwrap();
        let client = format!("http://127.0.0.1:{}", free_port());
        let peer = format!("http://127.0.0.1:{}", free_port());
        let log = dir.path().join("etcd.log");
        let child = Command::new(bin)
            .arg("--name=t")
            .arg(format!("--data-dir={}", dir.path().join("data").display()))
            .arg(format!("--listen-client-urls={client}"))
            .arg(format!("--advertise-client-urls={client}"))
            .arg(format!("--listen-peer-urls={peer}"))
            .arg(format!("--initial-advertise-peer-urls={peer}"))
            .arg(format!("--initial-cluster=t={peer}"))
            .args(["--logger=zap", "--log-outputs=stderr", "--log-level=warn"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start etcd");
        Etcd {
            child,
            url: client,
            log,
            _dir: dir,
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// A channel once etcd answers a Status call, within `STARTUP`.
    async fn ready_channel(&mut self) -> Channel {
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("etcd exited with {status}:\n{}", self.log_tail());
            }
            let channel = Channel::from_shared(self.url.clone())
                .unwrap()
                .connect_timeout(RPC)
                .timeout(RPC)
                .connect_lazy();
            let mut maintenance = MaintenanceClient::new(channel.clone());
            let last = match tokio::time::timeout(RPC, maintenance.status(StatusRequest {})).await {
                Ok(Ok(status)) if status.get_ref().leader != 0 => return channel,
                Ok(Ok(_)) => "no leader yet".to_string(),
                Ok(Err(e)) => e.to_string(),
                Err(_) => "status timed out".to_string(),
            };
            assert!(
                Instant::now() < deadline,
                "etcd at {} not ready after {STARTUP:?}: {last}\n{}",
                self.url,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn within<T>(
    what: &str,
    f: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> T {
    match tokio::time::timeout(RPC, f).await {
        Ok(Ok(response)) => response.into_inner(),
        Ok(Err(status)) => panic!("{what}: {status}"),
        Err(_) => panic!("{what}: no answer within {RPC:?}"),
    }
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

#[tokio::test]
async fn generated_client_talks_to_real_etcd() {
    let Some(bin) = etcd_binary() else { return };
    let mut etcd = Etcd::start(&bin);
    let channel = etcd.ready_channel().await;
    let mut kv = KvClient::new(channel.clone());

    let status = within(
        "status",
        MaintenanceClient::new(channel.clone()).status(StatusRequest {}),
    )
    .await;
    let header = status.header.expect("status header");
    assert_ne!(header.member_id, 0);
    assert_eq!(
        status.leader, header.member_id,
        "a single member leads itself"
    );
    assert!(
        status.version.starts_with("3.4"),
        "etcd version {}",
        status.version
    );

    let put = within(
        "put",
        kv.put(PutRequest {
            key: b("k1"),
            value: b("v1"),
            ..PutRequest::default()
        }),
    )
    .await;
    let first_rev = put.header.unwrap().revision;
    assert!(
        first_rev >= 2,
        "etcd's first write gets revision 2 at least"
    );

    let put = within(
        "put with prev_kv",
        kv.put(PutRequest {
            key: b("k1"),
            value: b("v2"),
            prev_kv: true,
            ..PutRequest::default()
        }),
    )
    .await;
    assert_eq!(put.header.unwrap().revision, first_rev + 1);
    let prev = put.prev_kv.expect("prev_kv");
    assert_eq!((prev.value, prev.version), (b("v1"), 1));

    within(
        "put k2",
        kv.put(PutRequest {
            key: b("k2"),
            value: Bytes::from((0..=255u8).collect::<Vec<u8>>()),
            ..PutRequest::default()
        }),
    )
    .await;

    // Range over the prefix "k": range_end is the prefix with its last byte + 1.
    let range = within(
        "range",
        kv.range(RangeRequest {
            key: b("k"),
            range_end: b("l"),
            ..RangeRequest::default()
        }),
    )
    .await;
    assert_eq!(range.count, 2);
    let k1 = &range.kvs[0];
    assert_eq!(
        (
            &k1.key,
            &k1.value,
            k1.create_revision,
            k1.mod_revision,
            k1.version
        ),
        (&b("k1"), &b("v2"), first_rev, first_rev + 1, 2)
    );
    assert_eq!(range.kvs[1].value.len(), 256);

    let serializable = within(
        "serializable count-only range",
        kv.range(RangeRequest {
            key: b("k"),
            range_end: b("l"),
            serializable: true,
            count_only: true,
            ..RangeRequest::default()
        }),
    )
    .await;
    assert_eq!((serializable.count, serializable.kvs.len()), (2, 0));

    // Txn: compare-and-swap on the value, both branches.
    let cas = |expected: &str, new: &str| TxnRequest {
        compare: vec![Compare {
            result: CompareResult::Equal as i32,
            target: CompareTarget::Value as i32,
            key: b("k1"),
            target_union: Some(TargetUnion::Value(b(expected))),
            ..Compare::default()
        }],
        success: vec![RequestOp {
            request: Some(Op::RequestPut(PutRequest {
                key: b("k1"),
                value: b(new),
                ..PutRequest::default()
            })),
        }],
        failure: vec![RequestOp {
            request: Some(Op::RequestRange(RangeRequest {
                key: b("k1"),
                ..RangeRequest::default()
            })),
        }],
    };
    let txn = within("txn that swaps", kv.txn(cas("v2", "v3"))).await;
    assert!(txn.succeeded);
    assert!(matches!(
        txn.responses[0].response,
        Some(OpResponse::ResponsePut(_))
    ));
    let txn = within("txn that fails", kv.txn(cas("v2", "v4"))).await;
    assert!(!txn.succeeded);
    match &txn.responses[0].response {
        Some(OpResponse::ResponseRange(range)) => assert_eq!(range.kvs[0].value, b("v3")),
        other => panic!("expected the failure branch's range, got {other:?}"),
    }

    // Compare on mod revision, through the other target of the oneof.
    let txn = within(
        "txn on mod revision",
        kv.txn(TxnRequest {
            compare: vec![Compare {
                result: CompareResult::Greater as i32,
                target: CompareTarget::Mod as i32,
                key: b("k1"),
                target_union: Some(TargetUnion::ModRevision(first_rev)),
                ..Compare::default()
            }],
            ..TxnRequest::default()
        }),
    )
    .await;
    assert!(txn.succeeded);

    let deleted = within(
        "delete range",
        kv.delete_range(DeleteRangeRequest {
            key: b("k"),
            range_end: b("l"),
            prev_kv: true,
        }),
    )
    .await;
    assert_eq!((deleted.deleted, deleted.prev_kvs.len()), (2, 2));

    // etcd's errors arrive with etcd's code and message.
    let err = tokio::time::timeout(
        RPC,
        kv.range(RangeRequest {
            key: b("k1"),
            revision: 1_000_000,
            ..RangeRequest::default()
        }),
    )
    .await
    .expect("answer in time")
    .unwrap_err();
    assert_eq!(err.code(), tonic::Code::OutOfRange);
    assert_eq!(
        err.message(),
        "etcdserver: mvcc: required revision is a future revision"
    );

    let health = within(
        "health check",
        HealthClient::new(channel).check(HealthCheckRequest::default()),
    )
    .await;
    assert_eq!(health.status(), ServingStatus::Serving);
}
