//! Lease requests and responses (`etcdserverpb.Lease*`), shared by the replica and clients.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// etcd's largest lease TTL in seconds; more is `etcdserver: too large lease TTL`.
pub const MAX_LEASE_TTL: i64 = 9_000_000_000;

/// Grants a lease (`LeaseGrantRequest`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseGrantRequest {
    /// Seconds without a keepalive before the lease expires (raised to the cluster's minimum).
    pub ttl: i64,
    /// The lease id; 0 lets the replica choose one.
    pub id: i64,
}

/// A granted lease (`LeaseGrantResponse`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseGrantResponse {
    /// The lease id.
    pub id: i64,
    /// The TTL granted, in seconds.
    pub ttl: i64,
}

/// Renews a lease (one `LeaseKeepAliveRequest`); its answer is the TTL it was renewed for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseKeepAliveResponse {
    /// The lease id.
    pub id: i64,
    /// The TTL it was renewed for, in seconds.
    pub ttl: i64,
}

/// What `LeaseTimeToLive` answers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseTimeToLiveResponse {
    /// The lease id.
    pub id: i64,
    /// Seconds left before it expires; -1 if there is no such lease (as etcd).
    pub ttl: i64,
    /// The TTL it was granted with.
    pub granted_ttl: i64,
    /// The keys attached, when asked for.
    pub keys: Vec<Bytes>,
}
