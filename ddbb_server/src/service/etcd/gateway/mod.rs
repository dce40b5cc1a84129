//! etcd's JSON gateway (grpc-gateway, as etcd 3.4 serves it) on the gRPC port: `POST
//! /v3/kv/range` and friends with protobuf JSON bodies, `GET /version` and `GET /health`, for
//! HTTP clients such as Patroni, etcd3gw or curl.
//!
//! One port, as etcd: tonic's server already serves each connection with hyper-util's
//! automatic HTTP/1.1-or-HTTP/2 builder; with HTTP/1 accepted, the gRPC services (HTTP/2,
//! `application/grpc`) and these routes live in one axum router, behind the same limits
//! (concurrent streams and RPCs per connection, keepalives) and the same graceful shutdown.
//!
//! A gateway request never has code of its own per RPC: `transcode` turns the JSON into a
//! `prost_reflect::DynamicMessage` of the method's input type (descriptors from
//! `ddbb_proto::FILE_DESCRIPTOR_SET`) and into gRPC frames; `rpc` hands them in-process to
//! the same tonic services the gRPC port serves and reads the answer back; `reply` renders
//! it, or the error, as etcd's gateway does. `routes` lists the paths.
//!
//! Limits: one JSON request value may be at most `Gateway::json_limit` bytes (what could
//! encode a message under the gRPC decode limit), refused with `ResourceExhausted` before it
//! is buffered whole; its message must fit the gRPC limit (`--max-request-bytes` + 512 KiB),
//! and the service checks `--max-request-bytes` itself. Streams are bounded as on gRPC: a
//! response is produced only when the client read the previous ones.

mod reply;
mod routes;
mod rpc;
mod transcode;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::response::Response;
use axum::routing::{get, post};
use bytes::Bytes;
use ddbb_proto::etcdserverpb as pb;
use ddbb_proto::etcdserverpb::maintenance_server::Maintenance;
use http::StatusCode;
use prost_reflect::{DescriptorPool, MethodDescriptor};
use tonic::service::Routes;

use super::maintenance::MaintenanceService;
use super::{Ctx, ETCD_CLUSTER_VERSION, ETCD_VERSION};
use crate::error::{Error, Result};

/// How long `/health` waits for its read through the log (etcd's QGET waits 1 s).
const HEALTH_TIMEOUT: Duration = Duration::from_secs(1);

/// What the gateway's handlers share.
pub(crate) struct Gateway {
    /// The gRPC services, called in-process.
    grpc: Routes,
    ctx: Arc<Ctx>,
    /// The largest request message the gRPC services decode.
    decode_limit: usize,
    /// The largest JSON value accepted for one request message: base64 makes bytes 4/3 as
    /// long, plus room for field names.
    json_limit: usize,
}

/// Room beyond 4/3 of the decode limit for a JSON request's field names and punctuation.
const JSON_SLACK_BYTES: usize = 64 * 1024;

/// The gateway's routes over `grpc` (the tonic services it calls in-process), with a fallback
/// that answers unknown gRPC methods `Unimplemented` and other paths 404.
///
/// # Errors
/// `Error::Config` if the compiled-in descriptors lack a method the routes name (a build
/// defect; a unit test builds the router).
pub(crate) fn router(grpc: Routes, ctx: Arc<Ctx>, decode_limit: usize) -> Result<axum::Router> {
    let gateway = Arc::new(Gateway {
        grpc,
        ctx,
        decode_limit,
        json_limit: (decode_limit / 3).saturating_mul(4) + JSON_SLACK_BYTES,
    });
    let mut router = axum::Router::new();
    for (path, method) in methods()? {
        let gateway = gateway.clone();
        router = router.route(
            &path,
            post(move |request: Request| routes::serve(gateway, method, request)),
        );
    }
    let health_gateway = gateway.clone();
    Ok(router
        .route("/version", get(version))
        .route("/health", get(move || health(health_gateway)))
        .fallback(fallback))
}

/// Every gateway path (under each prefix) with the method descriptor it calls.
fn methods() -> Result<Vec<(String, MethodDescriptor)>> {
    let pool = DescriptorPool::decode(ddbb_proto::FILE_DESCRIPTOR_SET)
        .map_err(|e| Error::Config(format!("etcd gateway descriptors: {e}")))?;
    let mut methods = Vec::new();
    for &(service, paths) in routes::ROUTES {
        for &(path, name) in paths {
            let method = pool
                .get_service_by_name(service)
                .and_then(|s| s.methods().find(|m| m.name() == name))
                .ok_or_else(|| Error::Config(format!("etcd gateway: no {service}.{name}")))?;
            for prefix in routes::PREFIXES {
                methods.push((format!("{prefix}{path}"), method.clone()));
            }
        }
    }
    Ok(methods)
}

/// `GET /version`: etcd's `{"etcdserver": …, "etcdcluster": …}`; clients such as Patroni pick
/// the API prefix from `etcdcluster`.
async fn version() -> Response {
    reply::json(
        StatusCode::OK,
        format!(r#"{{"etcdserver":"{ETCD_VERSION}","etcdcluster":"{ETCD_CLUSTER_VERSION}"}}"#),
    )
}

/// `GET /health`: `{"health":"true"}` when this replica knows a leader, no alarm is raised and
/// a read through the log succeeds within a second (etcd 3.4's checks: no leader, an alarm,
/// a failed QGET); else `{"health":"false"}` with 503, as etcd writes it.
async fn health(gateway: Arc<Gateway>) -> Response {
    let healthy = gateway.ctx.view().leader != 0 && {
        let service = MaintenanceService(gateway.ctx.clone());
        let get = pb::AlarmRequest {
            action: pb::alarm_request::AlarmAction::Get as i32,
            ..Default::default()
        };
        let answer = tokio::time::timeout(HEALTH_TIMEOUT, service.alarm(tonic::Request::new(get)));
        matches!(answer.await, Ok(Ok(r)) if r.get_ref().alarms.is_empty())
    };
    if healthy {
        reply::with_body(
            StatusCode::OK,
            "text/plain; charset=utf-8",
            Bytes::from_static(br#"{"health":"true"}"#),
        )
    } else {
        reply::with_body(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain; charset=utf-8",
            Bytes::from_static(b"{\"health\":\"false\"}\n"),
        )
    }
}

/// Any other path: gRPC requests for a method no service has get `Unimplemented` (what tonic
/// answers); HTTP requests get a 404 as etcd's muxes write it.
async fn fallback(request: Request) -> Response {
    let grpc = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    if grpc {
        let (parts, ()) = tonic::Status::unimplemented("")
            .into_http::<()>()
            .into_parts();
        return Response::from_parts(parts, axum::body::Body::empty());
    }
    let in_gateway = routes::PREFIXES
        .iter()
        .any(|p| request.uri().path().starts_with(p));
    let body: &'static [u8] = if in_gateway {
        b"Not Found\n"
    } else {
        b"404 page not found\n"
    };
    reply::with_body(
        StatusCode::NOT_FOUND,
        "text/plain; charset=utf-8",
        Bytes::from_static(body),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_names_a_compiled_method() {
        let methods = methods().expect("every route resolves");
        let paths: usize = routes::ROUTES.iter().map(|(_, p)| p.len()).sum();
        assert_eq!(methods.len(), paths * routes::PREFIXES.len());
        let find = |path: &str| {
            methods
                .iter()
                .find(|(p, _)| p == path)
                .map(|(_, m)| m.full_name().to_string())
        };
        assert_eq!(
            find("/v3/kv/range").as_deref(),
            Some("etcdserverpb.KV.Range")
        );
        assert_eq!(
            find("/v3beta/lease/keepalive").as_deref(),
            Some("etcdserverpb.Lease.LeaseKeepAlive")
        );
        assert_eq!(
            find("/v3/kv/lease/timetolive").as_deref(),
            Some("etcdserverpb.Lease.LeaseTimeToLive")
        );
    }
}
