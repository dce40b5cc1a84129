//! The gateway's paths (etcd 3.4's `rpc.pb.gw.go`) and the handler every one of them runs:
//! JSON body → request messages → the gRPC method in-process → JSON answer.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use bytes::Bytes;
use http::StatusCode;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use prost_reflect::{DynamicMessage, MessageDescriptor, MethodDescriptor};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::Status;

use super::transcode::{grpc_frame, message_from_json, JsonSplitter, Split};
use super::{reply, rpc, Gateway};

/// Every gateway path below `/v3/` (and `/v3beta/`), by gRPC service, with the method it
/// calls, as etcd 3.4 registers them. `maintenance/hash` is `Hash`, not `HashKV`: etcd
/// registers both on that path and its mux takes the first. Methods DDBB does not serve
/// answer `Unimplemented` (HTTP 501), as over gRPC.
pub const ROUTES: &[(&str, &[(&str, &str)])] = &[
    (
        "etcdserverpb.KV",
        &[
            ("kv/range", "Range"),
            ("kv/put", "Put"),
            ("kv/deleterange", "DeleteRange"),
            ("kv/txn", "Txn"),
            ("kv/compaction", "Compact"),
        ],
    ),
    ("etcdserverpb.Watch", &[("watch", "Watch")]),
    (
        "etcdserverpb.Lease",
        &[
            ("lease/grant", "LeaseGrant"),
            ("lease/revoke", "LeaseRevoke"),
            ("kv/lease/revoke", "LeaseRevoke"),
            ("lease/keepalive", "LeaseKeepAlive"),
            ("lease/timetolive", "LeaseTimeToLive"),
            ("kv/lease/timetolive", "LeaseTimeToLive"),
            ("lease/leases", "LeaseLeases"),
            ("kv/lease/leases", "LeaseLeases"),
        ],
    ),
    (
        "etcdserverpb.Cluster",
        &[
            ("cluster/member/add", "MemberAdd"),
            ("cluster/member/remove", "MemberRemove"),
            ("cluster/member/update", "MemberUpdate"),
            ("cluster/member/list", "MemberList"),
            ("cluster/member/promote", "MemberPromote"),
        ],
    ),
    (
        "etcdserverpb.Maintenance",
        &[
            ("maintenance/alarm", "Alarm"),
            ("maintenance/status", "Status"),
            ("maintenance/defragment", "Defragment"),
            ("maintenance/hash", "Hash"),
            ("maintenance/snapshot", "Snapshot"),
            ("maintenance/transfer-leadership", "MoveLeader"),
        ],
    ),
    (
        "etcdserverpb.Auth",
        &[
            ("auth/enable", "AuthEnable"),
            ("auth/disable", "AuthDisable"),
            ("auth/authenticate", "Authenticate"),
            ("auth/user/add", "UserAdd"),
            ("auth/user/get", "UserGet"),
            ("auth/user/list", "UserList"),
            ("auth/user/delete", "UserDelete"),
            ("auth/user/changepw", "UserChangePassword"),
            ("auth/user/grant", "UserGrantRole"),
            ("auth/user/revoke", "UserRevokeRole"),
            ("auth/role/add", "RoleAdd"),
            ("auth/role/get", "RoleGet"),
            ("auth/role/list", "RoleList"),
            ("auth/role/delete", "RoleDelete"),
            ("auth/role/grant", "RoleGrantPermission"),
            ("auth/role/revoke", "RoleRevokePermission"),
        ],
    ),
];

/// The path prefixes served: etcd 3.4 answers `/v3beta/…` as `/v3/…` (older clients, such as
/// Patroni's for a 3.3 cluster, use it).
pub const PREFIXES: &[&str] = &["/v3/", "/v3beta/"];

/// Request messages read one by one from an HTTP body, each at most `limit` bytes of JSON.
struct MessageReader {
    body: Body,
    splitter: JsonSplitter,
    desc: MessageDescriptor,
    limit: usize,
    ended: bool,
}

impl MessageReader {
    /// The next request message; `None` once the body ended.
    ///
    /// # Errors
    /// `InvalidArgument` for JSON that is not a `desc` message or a body cut mid-value;
    /// `ResourceExhausted` for a value over the limit (refused before it is buffered whole);
    /// `Cancelled` when the client's body broke off.
    async fn next(&mut self) -> Result<Option<DynamicMessage>, Status> {
        loop {
            if let Split::Value(json) = self.splitter.next_value()? {
                return message_from_json(&self.desc, &json).map(Some);
            }
            if self.splitter.buffered() > self.limit {
                return Err(Status::resource_exhausted(format!(
                    "gateway: request body larger than max (over {} bytes of JSON)",
                    self.limit
                )));
            }
            if self.ended {
                return if self.splitter.is_blank() {
                    Ok(None)
                } else {
                    Err(Status::invalid_argument("unexpected EOF"))
                };
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        self.splitter.push(data);
                    }
                }
                Some(Err(e)) => return Err(Status::cancelled(e.to_string())),
                None => self.ended = true,
            }
        }
    }
}

/// Serves one gateway request for `method`: a unary call answers its response message; a
/// streaming one answers `{"result": …}` lines as the responses come (chunked), and keeps
/// reading further request messages from the body while it streams, as etcd's gateway does.
pub async fn serve(gateway: Arc<Gateway>, method: MethodDescriptor, request: Request) -> Response {
    match call(&gateway, &method, request).await {
        Ok(response) => response,
        Err(status) => reply::error(&status),
    }
}

async fn call(
    gateway: &Gateway,
    method: &MethodDescriptor,
    request: Request,
) -> Result<Response, Status> {
    let mut reader = MessageReader {
        body: request.into_body(),
        splitter: JsonSplitter::default(),
        desc: method.input(),
        limit: gateway.json_limit,
        ended: false,
    };
    let limit = gateway.decode_limit;
    let first = match reader.next().await? {
        Some(message) => Some(message),
        // An empty body is the empty request of a unary call; a stream just sends nothing.
        None if !method.is_client_streaming() => Some(DynamicMessage::new(method.input())),
        None => None,
    };
    let first = first.map(|m| grpc_frame(&m, limit)).transpose()?;
    let first = tokio_stream::iter(first);
    let mut responses = if method.is_client_streaming() {
        let (tx, rx) = mpsc::channel::<Bytes>(1);
        tokio::spawn(forward_requests(reader, tx, limit));
        rpc::call(&gateway.grpc, method, first.chain(ReceiverStream::new(rx))).await?
    } else {
        rpc::call(&gateway.grpc, method, first).await?
    };
    if !method.is_server_streaming() {
        return match responses.message().await? {
            Some(message) => Ok(reply::message(&message)),
            None => Err(Status::internal("etcdserver: no response")),
        };
    }
    // The status line waits for the first answer: a call that fails at once gets its error
    // status, as etcd's gateway writes it when nothing was sent yet.
    let first = responses.message().await?.map(Ok);
    let lines = tokio_stream::iter(first)
        .chain(responses)
        .map(|item| Ok::<_, std::convert::Infallible>(Frame::data(reply::stream_line(item))));
    let mut response = Response::new(Body::new(StreamBody::new(lines)));
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    *response.status_mut() = StatusCode::OK;
    Ok(response)
}

/// Feeds the rest of a client stream's body to the call, message by message as the client
/// sends them; the call's request stream ends (half-close) when the body ends or holds
/// something that is not a request, and this task ends with the call.
async fn forward_requests(mut reader: MessageReader, tx: mpsc::Sender<Bytes>, limit: usize) {
    loop {
        let next = tokio::select! {
            () = tx.closed() => return,
            next = reader.next() => next,
        };
        let Ok(Some(message)) = next else { return };
        let Ok(frame) = grpc_frame(&message, limit) else {
            return;
        };
        if tx.send(frame).await.is_err() {
            return;
        }
    }
}
