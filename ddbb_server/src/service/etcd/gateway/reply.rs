//! HTTP answers shaped as etcd 3.4's gateway (grpc-gateway v1) writes them: JSON bodies,
//! `{"result": …}` lines for streams, its error bodies and its gRPC code → HTTP status table.

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::StatusCode;
use prost_reflect::DynamicMessage;
use serde_json::Value;
use tonic::{Code, Status};

use super::transcode::message_to_json;

/// grpc-gateway's `HTTPStatusFromCode` (the version etcd 3.4 vendors: `FailedPrecondition`
/// is 412, `Canceled` 408).
pub fn http_status(code: Code) -> StatusCode {
    match code {
        Code::Ok => StatusCode::OK,
        Code::Cancelled => StatusCode::REQUEST_TIMEOUT,
        Code::InvalidArgument | Code::OutOfRange => StatusCode::BAD_REQUEST,
        Code::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        Code::NotFound => StatusCode::NOT_FOUND,
        Code::AlreadyExists | Code::Aborted => StatusCode::CONFLICT,
        Code::PermissionDenied => StatusCode::FORBIDDEN,
        Code::Unauthenticated => StatusCode::UNAUTHORIZED,
        Code::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
        Code::FailedPrecondition => StatusCode::PRECONDITION_FAILED,
        Code::Unimplemented => StatusCode::NOT_IMPLEMENTED,
        Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Code::Unknown | Code::Internal | Code::DataLoss => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A JSON body with `status`.
pub fn json(status: StatusCode, json: impl Into<Bytes>) -> Response {
    with_body(status, "application/json", json.into())
}

/// A response with a content type and a whole body.
pub fn with_body(status: StatusCode, content_type: &'static str, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, http::HeaderValue::from_static(content_type));
    response
}

/// A unary call's answer: the response message itself.
pub fn message(message: &DynamicMessage) -> Response {
    match message_to_json(message) {
        Ok(body) => json(StatusCode::OK, body),
        Err(status) => error(&status),
    }
}

/// A failed call: `{"error": msg, "message": msg, "code": n}` with the status the code maps
/// to (grpc-gateway's `DefaultHTTPError`; `details` is never set by etcd).
pub fn error(status: &Status) -> Response {
    json(http_status(status.code()), error_body(status))
}

/// The body of [`error`], written by hand to keep grpc-gateway's key order.
fn error_body(status: &Status) -> String {
    let message = Value::from(status.message());
    format!(
        r#"{{"error":{message},"message":{message},"code":{}}}"#,
        status.code() as i32
    )
}

/// One line of a streamed answer: `{"result": message}` or, when the stream failed,
/// `{"error": {grpc_code, http_code, message, http_status}}` (grpc-gateway's `streamChunk`).
pub fn stream_line(item: Result<DynamicMessage, Status>) -> Bytes {
    let line = match item.and_then(|m| message_to_json(&m)) {
        Ok(result) => {
            let mut line = Vec::with_capacity(result.len() + 12);
            line.extend_from_slice(br#"{"result":"#);
            line.extend_from_slice(&result);
            line.extend_from_slice(b"}\n");
            line
        }
        Err(status) => {
            let http = http_status(status.code());
            format!(
                "{{\"error\":{{\"grpc_code\":{},\"http_code\":{},\"message\":{},\"http_status\":{}}}}}\n",
                status.code() as i32,
                http.as_u16(),
                Value::from(status.message()),
                Value::from(http.canonical_reason().unwrap_or("")),
            )
            .into_bytes()
        }
    };
    Bytes::from(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_grpc_gateways_statuses() {
        assert_eq!(http_status(Code::OutOfRange), StatusCode::BAD_REQUEST);
        assert_eq!(http_status(Code::NotFound), StatusCode::NOT_FOUND);
        assert_eq!(
            http_status(Code::FailedPrecondition),
            StatusCode::PRECONDITION_FAILED
        );
        assert_eq!(
            http_status(Code::ResourceExhausted),
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(
            http_status(Code::Unavailable),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }

    #[test]
    fn errors_are_grpc_gateways_bodies() {
        let status = Status::out_of_range("etcdserver: \"x\"");
        assert_eq!(
            error_body(&status),
            r#"{"error":"etcdserver: \"x\"","message":"etcdserver: \"x\"","code":11}"#
        );
        assert_eq!(error(&status).status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn stream_errors_are_wrapped_as_grpc_gateway_does() {
        let line = stream_line(Err(Status::out_of_range("etcdserver: mvcc: x")));
        let value: Value = serde_json::from_slice(&line).expect("json");
        assert_eq!(
            value,
            serde_json::json!({"error": {"grpc_code": 11, "http_code": 400, "message": "etcdserver: mvcc: x", "http_status": "Bad Request"}})
        );
        assert_eq!(line.last(), Some(&b'\n'));
    }
}
