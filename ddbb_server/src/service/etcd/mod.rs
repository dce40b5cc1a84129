//! The etcd v3 gRPC API on `--grpc-addr`, so `etcdctl` and etcd's client libraries work
//! unchanged: a thin adapter like the RESP service. Each RPC is decoded (tonic/prost, from
//! `ddbb_proto`), turned into the typed request of `ddbb_libs::kv`, sent on the SAME
//! `mpsc::Sender<Request>` as the RESP service (so gRPC and RESP requests share the loop's
//! batches, read barriers and exactly-once re-proposal), and the typed response is rendered
//! back with etcd's `ResponseHeader`.
//!
//! - [`kv`]: `etcdserverpb.KV` (Range, Put, DeleteRange, Txn, Compact);
//! - [`maintenance`]: Status, Alarm, HashKV, Snapshot, Defragment (MoveLeader, Hash, Downgrade:
//!   `Unimplemented`);
//! - [`cluster`]: MemberList (add/remove/update/promote: `Unimplemented`);
//! - [`health`]: `grpc.health.v1.Health` Check;
//! - [`watch`]: the Watch stream (one `crate::watch::session` per stream);
//! - [`lease`]: Lease (grant, revoke, keepalive stream, time-to-live, list);
//! - Auth is registered with tonic's default bodies: every RPC answers `Unimplemented`, never
//!   a wrong answer;
//! - [`errors`]: etcd's gRPC codes and exact messages; [`convert`]: protobuf ⇄ typed;
//! - [`gateway`]: etcd's JSON gateway (`POST /v3/kv/range` …, `/version`, `/health`) over
//!   HTTP/1.1 on the same port, calling these same services in-process.
//!
//! Limits: a request larger than `--max-request-bytes` gets etcd's `InvalidArgument
//! "etcdserver: request is too large"`; one larger than that plus 512 KiB (etcd's gRPC
//! overhead allowance) is refused by the decoder (`OutOfRange`) before it is buffered whole.
//! At most `--max-concurrent-streams` RPCs run per connection (HTTP/2 advertises the same
//! number), and the loop's bounded request queue bounds the rest.

pub mod cluster;
pub mod convert;
pub mod errors;
pub mod gateway;
pub mod health;
pub mod kv;
pub mod lease;
pub mod maintenance;
pub mod watch;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ddbb_libs::NodeId;
use ddbb_proto::etcdserverpb::auth_server::{Auth, AuthServer};
use ddbb_proto::etcdserverpb::cluster_server::ClusterServer;
use ddbb_proto::etcdserverpb::kv_server::KvServer;
use ddbb_proto::etcdserverpb::lease_server::LeaseServer;
use ddbb_proto::etcdserverpb::maintenance_server::MaintenanceServer;
use ddbb_proto::etcdserverpb::watch_server::WatchServer;
use ddbb_proto::etcdserverpb::ResponseHeader;
use ddbb_proto::health::health_server::HealthServer;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tonic::service::Routes;
use tonic::transport::server::TcpIncoming;
use tonic::transport::Server;
use tonic::Status;
use tracing::{info, warn};

use crate::replica::{ReplicaView, Request, Response};
use crate::shutdown::Shutdown;
use crate::watch::WatchSource;

/// etcd lets a gRPC message exceed `--max-request-bytes` by this much before the decoder
/// refuses it; between the two, the request gets "etcdserver: request is too large".
pub const GRPC_OVERHEAD_BYTES: usize = 512 * 1024;

/// The etcd version `Maintenance.Status` reports: the etcd API DDBB speaks. Clients use it to
/// pick features, and some parse it as dotted integers (Patroni does: `3.4.0-ddbb` breaks it),
/// so it is a plain etcd version number.
pub const ETCD_VERSION: &str = "3.4.23";

/// The cluster version `GET /version` reports beside [`ETCD_VERSION`]: etcd reports
/// major.minor.0 of the version every member runs.
pub const ETCD_CLUSTER_VERSION: &str = "3.4.0";

/// One member of the cluster as `Cluster.MemberList` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberInfo {
    /// The replica id (etcd's member id).
    pub id: NodeId,
    /// Where peers reach it.
    pub peer_addr: SocketAddr,
    /// Where it serves gRPC, when known (`--grpc-peers`, or `--grpc-addr` for this replica).
    pub grpc_addr: Option<SocketAddr>,
}

/// Settings of the gRPC service.
#[derive(Clone, Debug)]
pub struct EtcdConfig {
    /// `ResponseHeader.cluster_id`.
    pub cluster_id: u64,
    /// This replica's id: `ResponseHeader.member_id`.
    pub member_id: NodeId,
    /// How long a request may wait for the replica before "etcdserver: request timed out".
    pub request_timeout: Duration,
    /// etcd's `--max-request-bytes`.
    pub max_request_bytes: usize,
    /// Concurrent RPCs per connection (etcd's `--max-concurrent-streams`).
    pub max_concurrent_streams: u32,
    /// Every member, this one included, in id order.
    pub members: Vec<MemberInfo>,
}

/// What every service of the adapter shares.
pub(crate) struct Ctx {
    requests: mpsc::Sender<Request>,
    view: tokio::sync::watch::Receiver<ReplicaView>,
    watch: WatchSource,
    config: EtcdConfig,
}

impl Ctx {
    /// etcd's `ResponseHeader` for a response reflecting store `revision`; `raft_term` is the
    /// ballot this replica promised when the response is sent (etcd reads it then too).
    pub(crate) fn header(&self, revision: i64) -> Option<ResponseHeader> {
        Some(ResponseHeader {
            cluster_id: self.config.cluster_id,
            member_id: self.config.member_id,
            revision,
            raft_term: self.view.borrow().term,
        })
    }

    /// The latest leader and ballot the loop published.
    pub(crate) fn view(&self) -> ReplicaView {
        *self.view.borrow()
    }

    pub(crate) fn config(&self) -> &EtcdConfig {
        &self.config
    }

    /// Sends a request to the replica loop and waits for its answer, at most the request
    /// timeout (then etcd's "request timed out": the request may still take effect).
    pub(crate) async fn call(
        &self,
        make: impl FnOnce(oneshot::Sender<Response>) -> Request,
    ) -> Result<Response, Status> {
        let (reply, rx) = oneshot::channel();
        let request = make(reply);
        let exchange = async {
            self.requests
                .send(request)
                .await
                .map_err(|_| errors::stopped())?;
            rx.await.map_err(|_| errors::stopped())
        };
        match tokio::time::timeout(self.config.request_timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(errors::timeout()),
        }
    }

    /// Proposes `op` and waits for its outcome: the revision after it and its response, or
    /// its error as etcd's status.
    pub(crate) async fn write(
        &self,
        op: ddbb_libs::kv::WriteRequest,
    ) -> Result<(i64, ddbb_libs::kv::WriteResponse), Status> {
        let response = self
            .call(|reply| Request::Write {
                id: None,
                op,
                reply,
            })
            .await?;
        match response {
            Response::Write(ddbb_libs::kv::WriteOutcome { revision, result }) => result
                .map(|r| (revision, r))
                .map_err(|e| errors::kv_error(&e)),
            _ => Err(errors::internal()),
        }
    }

    /// etcd's check of the request size against `--max-request-bytes`.
    pub(crate) fn check_size(&self, message: &impl prost::Message) -> Result<(), Status> {
        if message.encoded_len() > self.config.max_request_bytes {
            return Err(errors::request_too_large());
        }
        Ok(())
    }
}

/// Auth: not yet (every RPC answers `Unimplemented`).
struct NoAuth;
#[tonic::async_trait]
impl Auth for NoAuth {}

/// Serves the etcd API on `listener` until shutdown.
pub async fn run(
    listener: TcpListener,
    requests: mpsc::Sender<Request>,
    view: tokio::sync::watch::Receiver<ReplicaView>,
    watch: WatchSource,
    config: EtcdConfig,
    mut shutdown: Shutdown,
) {
    let addr = listener.local_addr().ok();
    let decode_limit = config.max_request_bytes.saturating_add(GRPC_OVERHEAD_BYTES);
    let streams = config.max_concurrent_streams.max(1);
    let ctx = Arc::new(Ctx {
        requests,
        view,
        watch,
        config,
    });
    let mut grpc = Routes::builder();
    grpc.add_service(
        KvServer::from_arc(Arc::new(kv::KvService(ctx.clone())))
            .max_decoding_message_size(decode_limit)
            .max_encoding_message_size(usize::MAX),
    )
    .add_service(
        MaintenanceServer::from_arc(Arc::new(maintenance::MaintenanceService(ctx.clone())))
            .max_decoding_message_size(decode_limit)
            .max_encoding_message_size(usize::MAX),
    )
    .add_service(
        ClusterServer::from_arc(Arc::new(cluster::ClusterService(ctx.clone())))
            .max_decoding_message_size(decode_limit),
    )
    .add_service(HealthServer::from_arc(Arc::new(health::HealthService(
        ctx.clone(),
    ))))
    .add_service(
        WatchServer::from_arc(Arc::new(watch::WatchService(ctx.clone())))
            .max_decoding_message_size(decode_limit)
            .max_encoding_message_size(usize::MAX),
    )
    .add_service(
        LeaseServer::from_arc(Arc::new(lease::LeaseService(ctx.clone())))
            .max_decoding_message_size(decode_limit),
    )
    .add_service(AuthServer::new(NoAuth).max_decoding_message_size(decode_limit));
    let grpc = grpc.routes();
    // One port, as etcd: gRPC (HTTP/2) and the JSON gateway (HTTP/1.1, or HTTP/2 without
    // `application/grpc`) share the router; tonic's server tells the protocols apart per
    // connection (hyper-util's auto builder) once HTTP/1 is accepted.
    let routes = match gateway::router(grpc.clone(), ctx.clone(), decode_limit) {
        Ok(gateway) => Routes::from(grpc.into_axum_router().reset_fallback().merge(gateway)),
        Err(e) => {
            warn!(?addr, error = %e, "etcd JSON gateway not served");
            grpc
        }
    };
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let result = Server::builder()
        .accept_http1(true)
        .max_concurrent_streams(Some(streams))
        .concurrency_limit_per_connection(streams as usize)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(20)))
        .add_routes(routes.prepare())
        .serve_with_incoming_shutdown(incoming, async move { shutdown.recv().await })
        .await;
    match result {
        Ok(()) => info!(?addr, "etcd gRPC service stopped"),
        Err(e) => warn!(?addr, error = %e, "etcd gRPC service failed"),
    }
}
