//! Calls a method of the gRPC services in-process: the request frames go to the same tonic
//! `Routes` the gRPC port serves (so the same service impls, the same decode limits, the same
//! header and error handling), as an HTTP request that never touches a socket; the answer is
//! read back with tonic's own response decoder.

use std::convert::Infallible;

use bytes::Bytes;
use http::header::{CONTENT_TYPE, TE};
use http_body::Frame;
use http_body_util::StreamBody;
use prost_reflect::{DynamicMessage, MethodDescriptor};
use tokio_stream::{Stream, StreamExt};
use tonic::service::Routes;
use tonic::{Status, Streaming};
use tower::ServiceExt;

use super::transcode::DynamicDecoder;

/// The HTTP/2 path of a gRPC method: `/package.Service/Method`.
pub fn grpc_path(method: &MethodDescriptor) -> String {
    format!("/{}/{}", method.parent_service().full_name(), method.name())
}

/// Sends `frames` (gRPC-framed request messages; the request stream ends when `frames` ends)
/// to `method` and returns its responses.
///
/// # Errors
/// The call's status when it failed before answering anything (tonic's "trailers-only"
/// answer); later failures come out of the returned stream.
pub async fn call<S>(
    grpc: &Routes,
    method: &MethodDescriptor,
    frames: S,
) -> Result<Streaming<DynamicMessage>, Status>
where
    S: Stream<Item = Bytes> + Send + 'static,
{
    let body = StreamBody::new(frames.map(|b| Ok::<_, Infallible>(Frame::data(b))));
    let request = http::Request::post(grpc_path(method))
        .header(CONTENT_TYPE, "application/grpc")
        .header(TE, "trailers")
        .body(tonic::body::Body::new(body))
        .map_err(|e| Status::internal(e.to_string()))?;
    let response = match grpc.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    // An error before any message comes in the headers (tonic's client checks this first too).
    if let Some(status) = Status::from_header_map(response.headers()) {
        if status.code() != tonic::Code::Ok {
            return Err(status);
        }
    }
    let status = response.status();
    Ok(Streaming::new_response(
        DynamicDecoder(method.output()),
        response.into_body(),
        status,
        None,
        // The server's own answers: as unbounded as on the gRPC port (encoding limit usize::MAX).
        Some(usize::MAX),
    ))
}
