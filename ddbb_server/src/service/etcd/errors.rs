//! etcd's gRPC errors: the codes and exact messages of etcd 3.4's `api/v3rpc/rpctypes`
//! (clients such as clientv3 and etcdctl match on the message text).

use ddbb_libs::kv::KvError;
use tonic::{Code, Status};

/// The gRPC status etcd answers for a refused key-value request.
pub fn kv_error(error: &KvError) -> Status {
    let code = match error {
        KvError::Compacted | KvError::FutureRev => Code::OutOfRange,
        KvError::DuplicateKey
        | KvError::TooManyOps
        | KvError::KeyNotFound
        | KvError::EmptyKey
        | KvError::ValueProvided
        | KvError::LeaseProvided => Code::InvalidArgument,
        KvError::NoSpace => Code::ResourceExhausted,
        KvError::LeaseNotFound => Code::NotFound,
        KvError::LeaseExists => Code::FailedPrecondition,
        KvError::LeaseTtlTooLarge => Code::OutOfRange,
        // gRPC requests never carry a client request id, so an expired duplicate cannot
        // happen to them; etcd answers an error it does not know with `Unknown`.
        KvError::Expired => Code::Unknown,
        KvError::UnknownSnapshotFormat { .. } | KvError::CorruptSnapshot(_) => Code::DataLoss,
    };
    // KvError's texts are etcd's (`ddbb_libs::kv::error`).
    Status::new(code, error.to_string())
}

/// The request was not answered within `--request-timeout-ms` (it may still take effect).
pub fn timeout() -> Status {
    Status::unavailable("etcdserver: request timed out")
}

/// The replica is shutting down (its loop is gone).
pub fn stopped() -> Status {
    Status::unavailable("etcdserver: server stopped")
}

/// No leader is known (health checks, Status' `errors`).
pub const NO_LEADER: &str = "etcdserver: no leader";

/// Larger than `--max-request-bytes`.
pub fn request_too_large() -> Status {
    Status::invalid_argument("etcdserver: request is too large")
}

/// An answer the loop should never give to this request.
pub fn internal() -> Status {
    Status::internal("etcdserver: unexpected answer from the replica")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_texts_are_etcds() {
        let s = kv_error(&KvError::Compacted);
        assert_eq!(s.code(), Code::OutOfRange);
        assert_eq!(
            s.message(),
            "etcdserver: mvcc: required revision has been compacted"
        );
        assert_eq!(kv_error(&KvError::FutureRev).code(), Code::OutOfRange);
        let s = kv_error(&KvError::NoSpace);
        assert_eq!(s.code(), Code::ResourceExhausted);
        assert_eq!(s.message(), "etcdserver: mvcc: database space exceeded");
        for e in [
            KvError::DuplicateKey,
            KvError::TooManyOps,
            KvError::KeyNotFound,
            KvError::EmptyKey,
            KvError::ValueProvided,
            KvError::LeaseProvided,
        ] {
            assert_eq!(kv_error(&e).code(), Code::InvalidArgument, "{e}");
        }
        assert_eq!(
            kv_error(&KvError::TooManyOps).message(),
            "etcdserver: too many operations in txn request"
        );
        assert_eq!(timeout().code(), Code::Unavailable);
        assert_eq!(timeout().message(), "etcdserver: request timed out");
        assert_eq!(request_too_large().code(), Code::InvalidArgument);
    }
}
