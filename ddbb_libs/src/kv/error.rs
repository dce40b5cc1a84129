//! Why a key-value request was refused, with etcd's exact error texts (clients match on them).

use serde::{Deserialize, Serialize};

/// Why a key-value request was refused. A refused request changed nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum KvError {
    /// The revision asked for is below the compacted revision (gRPC `OutOfRange`).
    #[error("etcdserver: mvcc: required revision has been compacted")]
    Compacted,
    /// The revision asked for is above the current revision (gRPC `OutOfRange`).
    #[error("etcdserver: mvcc: required revision is a future revision")]
    FutureRev,
    /// A Txn writes one key twice (gRPC `InvalidArgument`).
    #[error("etcdserver: duplicate key given in txn request")]
    DuplicateKey,
    /// A Txn has more compares or operations than allowed (gRPC `InvalidArgument`).
    #[error("etcdserver: too many operations in txn request")]
    TooManyOps,
    /// `ignore_value`/`ignore_lease` on a key that does not exist (gRPC `InvalidArgument`).
    #[error("etcdserver: key not found")]
    KeyNotFound,
    /// An empty key (gRPC `InvalidArgument`).
    #[error("etcdserver: key is not provided")]
    EmptyKey,
    /// `ignore_value` together with a non-empty value (gRPC `InvalidArgument`).
    #[error("etcdserver: value is provided")]
    ValueProvided,
    /// `ignore_lease` together with a non-zero lease (gRPC `InvalidArgument`).
    #[error("etcdserver: lease is provided")]
    LeaseProvided,
    /// The `NOSPACE` alarm is raised: writes that add data are refused until it is disarmed
    /// (gRPC `ResourceExhausted`).
    #[error("etcdserver: mvcc: database space exceeded")]
    NoSpace,
    /// A retried request applied so long ago that its outcome is no longer remembered.
    #[error("duplicate request: it was applied earlier and its outcome is no longer remembered")]
    Expired,
    /// A snapshot written in a format this build does not know.
    #[error(
        "MVCC snapshot format version {found} is unknown (this build reads version {supported})"
    )]
    UnknownSnapshotFormat {
        /// The version found in the snapshot.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// A snapshot whose contents are inconsistent.
    #[error("corrupt MVCC snapshot: {0}")]
    CorruptSnapshot(String),
    // Appended (variant order is part of the snapshot format).
    /// A put or keepalive names a lease that does not exist (gRPC `NotFound`).
    #[error("etcdserver: requested lease not found")]
    LeaseNotFound,
    /// A grant with the id of an existing lease (gRPC `FailedPrecondition`).
    #[error("etcdserver: lease already exists")]
    LeaseExists,
    /// A grant with a TTL above [`super::MAX_LEASE_TTL`] (gRPC `OutOfRange`).
    #[error("etcdserver: too large lease TTL")]
    LeaseTtlTooLarge,
}
