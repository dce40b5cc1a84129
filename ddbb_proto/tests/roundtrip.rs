//! The generated server and client code talk to each other: a minimal in-memory `KV` service
//! (Range and Put only, defined here and nowhere else) on a loopback port, called through the
//! generated `KvClient`. RPCs the service does not implement answer `Unimplemented`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use ddbb_proto::etcdserverpb::kv_client::KvClient;
use ddbb_proto::etcdserverpb::kv_server::{Kv, KvServer};
use ddbb_proto::etcdserverpb::{
    DeleteRangeRequest, PutRequest, PutResponse, RangeRequest, RangeResponse, ResponseHeader,
};
use ddbb_proto::health::health_client::HealthClient;
use ddbb_proto::health::health_server::{Health, HealthServer};
use ddbb_proto::health::HealthCheckResponse;
use ddbb_proto::health::{health_check_response::ServingStatus, HealthCheckRequest};
use ddbb_proto::mvccpb::KeyValue;
use prost::bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Server};
use tonic::{Code, Request, Response, Status};

/// Every RPC of the test gets this long.
const DEADLINE: Duration = Duration::from_secs(10);

/// A toy store: key → (value, create revision, mod revision, version).
#[derive(Default)]
struct MemKv {
    state: Mutex<(i64, BTreeMap<Bytes, KeyValue>)>,
}

impl MemKv {
    fn header(revision: i64) -> Option<ResponseHeader> {
        Some(ResponseHeader {
            cluster_id: 7,
            member_id: 1,
            revision,
            raft_term: 1,
        })
    }
}

#[tonic::async_trait]
impl Kv for MemKv {
    async fn range(
        &self,
        request: Request<RangeRequest>,
    ) -> Result<Response<RangeResponse>, Status> {
        let request = request.into_inner();
        let state = self.state.lock().unwrap();
        let kvs: Vec<KeyValue> = if request.range_end.is_empty() {
            state.1.get(&request.key).cloned().into_iter().collect()
        } else {
            state
                .1
                .range(request.key.clone()..request.range_end.clone())
                .map(|(_, kv)| kv.clone())
                .collect()
        };
        Ok(Response::new(RangeResponse {
            header: Self::header(state.0),
            count: kvs.len() as i64,
            kvs,
            more: false,
        }))
    }

    async fn put(&self, request: Request<PutRequest>) -> Result<Response<PutResponse>, Status> {
        let request = request.into_inner();
        if request.key.is_empty() {
            return Err(Status::invalid_argument("etcdserver: key is not provided"));
        }
        let mut state = self.state.lock().unwrap();
        state.0 += 1;
        let revision = state.0;
        let prev = state.1.get(&request.key).cloned();
        let kv = KeyValue {
            key: request.key.clone(),
            create_revision: prev.as_ref().map_or(revision, |p| p.create_revision),
            mod_revision: revision,
            version: prev.as_ref().map_or(1, |p| p.version + 1),
            value: request.value,
            lease: request.lease,
        };
        state.1.insert(request.key, kv);
        Ok(Response::new(PutResponse {
            header: Self::header(revision),
            prev_kv: if request.prev_kv { prev } else { None },
        }))
    }
}

struct AlwaysServing;

#[tonic::async_trait]
impl Health for AlwaysServing {
    async fn check(
        &self,
        _request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        Ok(Response::new(HealthCheckResponse {
            status: ServingStatus::Serving as i32,
        }))
    }
}

/// Serves `MemKv` and `AlwaysServing` on a free loopback port until the sender is dropped.
async fn serve() -> (SocketAddr, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        Server::builder()
            .add_service(KvServer::new(MemKv::default()))
            .add_service(HealthServer::new(AlwaysServing))
            .serve_with_incoming_shutdown(TcpIncoming::from(listener), async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    (addr, stop, server)
}

async fn channel(addr: SocketAddr) -> Channel {
    tokio::time::timeout(
        DEADLINE,
        Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .timeout(DEADLINE)
            .connect(),
    )
    .await
    .expect("connect in time")
    .expect("connect")
}

#[tokio::test]
async fn kv_put_and_range_round_trip() {
    let (addr, stop, server) = serve().await;
    let mut kv = KvClient::new(channel(addr).await);

    let put = kv
        .put(PutRequest {
            key: Bytes::from_static(b"a"),
            value: Bytes::from_static(b"1"),
            ..PutRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(put.header.unwrap().revision, 1);
    assert!(put.prev_kv.is_none());

    let put = kv
        .put(PutRequest {
            key: Bytes::from_static(b"a"),
            value: Bytes::from_static(b"2"),
            prev_kv: true,
            ..PutRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    let prev = put.prev_kv.expect("prev_kv asked for");
    assert_eq!((&prev.value[..], prev.version), (&b"1"[..], 1));

    // A binary key with every byte value survives the trip.
    let binary: Bytes = (0..=255u8).collect();
    kv.put(PutRequest {
        key: Bytes::from_static(b"b"),
        value: binary.clone(),
        ..PutRequest::default()
    })
    .await
    .unwrap();

    let range = kv
        .range(RangeRequest {
            key: Bytes::from_static(b"a"),
            range_end: Bytes::from_static(b"c"),
            ..RangeRequest::default()
        })
        .await
        .unwrap()
        .into_inner();
    let header = range.header.unwrap();
    assert_eq!(
        (header.cluster_id, header.member_id, header.revision),
        (7, 1, 3)
    );
    assert_eq!(range.count, 2);
    let a = &range.kvs[0];
    assert_eq!(
        (
            &a.key[..],
            &a.value[..],
            a.create_revision,
            a.mod_revision,
            a.version
        ),
        (&b"a"[..], &b"2"[..], 1, 2, 2)
    );
    assert_eq!(range.kvs[1].value, binary);

    // The server's error reaches the client with its code and message.
    let err = kv.put(PutRequest::default()).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert_eq!(err.message(), "etcdserver: key is not provided");

    // An RPC the service does not implement answers Unimplemented (the generated default).
    let err = kv
        .delete_range(DeleteRangeRequest {
            key: Bytes::from_static(b"a"),
            ..DeleteRangeRequest::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);

    // A service that is not served at all: Unimplemented too.
    let mut maintenance =
        ddbb_proto::etcdserverpb::maintenance_client::MaintenanceClient::new(channel(addr).await);
    let err = maintenance
        .status(ddbb_proto::etcdserverpb::StatusRequest {})
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);

    drop(stop);
    tokio::time::timeout(DEADLINE, server)
        .await
        .expect("server stops in time")
        .unwrap();
}

#[tokio::test]
async fn health_check_round_trip() {
    let (addr, _stop, _server) = serve().await;
    let mut health = HealthClient::new(channel(addr).await);
    let response = health
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.status(), ServingStatus::Serving);
    // Watch is not implemented by this service: the generated default answers.
    let err = health
        .watch(HealthCheckRequest::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);
}

#[test]
fn file_descriptor_set_names_every_file() {
    use prost::Message;
    let set = prost_types_free_decode(ddbb_proto::FILE_DESCRIPTOR_SET);
    for name in [
        "etcd/mvcc/mvccpb/kv.proto",
        "etcd/auth/authpb/auth.proto",
        "etcd/etcdserver/etcdserverpb/rpc.proto",
        "grpc/health/v1/health.proto",
    ] {
        assert!(
            set.contains(&name.to_string()),
            "{name} missing from {set:?}"
        );
    }

    /// The file names of an encoded FileDescriptorSet (field 1: repeated FileDescriptorProto,
    /// whose field 1 is the name), decoded with two hand-written prost messages.
    fn prost_types_free_decode(bytes: &[u8]) -> Vec<String> {
        #[derive(Clone, PartialEq, Message)]
        struct File {
            #[prost(string, tag = "1")]
            name: String,
        }
        #[derive(Clone, PartialEq, Message)]
        struct Set {
            #[prost(message, repeated, tag = "1")]
            file: Vec<File>,
        }
        Set::decode(bytes)
            .unwrap()
            .file
            .into_iter()
            .map(|f| f.name)
            .collect()
    }
}
