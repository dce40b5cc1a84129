//! The writes that go through the replicated log, and what they answer.

use serde::{Deserialize, Serialize};

use super::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse,
    LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveResponse, PutRequest, PutResponse,
    TxnRequest, TxnResponse,
};

/// A state change proposed to the log (every replica applies it in log order).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WriteRequest {
    /// `KV.Put`.
    Put(PutRequest),
    /// `KV.DeleteRange`.
    DeleteRange(DeleteRangeRequest),
    /// `KV.Txn`.
    Txn(TxnRequest),
    /// `KV.Compact`.
    Compact(CompactionRequest),
    /// `Maintenance.Alarm` (activate or deactivate; listing is a read).
    Alarm(AlarmRequest),
    /// `Lease.LeaseGrant` (the id already chosen, the TTL already raised to the minimum).
    LeaseGrant(LeaseGrantRequest),
    /// `Lease.LeaseRevoke`: deletes the lease's keys in one revision.
    LeaseRevoke(i64),
    /// One keepalive of `Lease.LeaseKeepAlive`: through the log, so it reaches the leader from
    /// any replica and renews the lease's countdown where the leader applies it.
    LeaseKeepAlive(i64),
    /// The expiry of a lease, proposed by the leader whose countdown ran out: a revocation
    /// that applies only if the lease got no keepalive since the leader looked (`renewals` is
    /// the lease's keepalive count then), so a keepalive that was in flight saves it.
    LeaseExpire {
        /// The lease.
        id: i64,
        /// Its keepalive count when the leader decided it expired.
        renewals: u64,
    },
}

/// The answer to a [`WriteRequest`], without the header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WriteResponse {
    /// To a Put.
    Put(PutResponse),
    /// To a DeleteRange.
    DeleteRange(DeleteRangeResponse),
    /// To a Txn.
    Txn(TxnResponse),
    /// To a Compact.
    Compact(CompactionResponse),
    /// To an Alarm change: the alarms now raised.
    Alarm(Vec<AlarmMember>),
    /// To a LeaseGrant.
    LeaseGrant(LeaseGrantResponse),
    /// To a LeaseRevoke.
    LeaseRevoke,
    /// To a keepalive.
    LeaseKeepAlive(LeaseKeepAliveResponse),
    /// To an expiry: whether the lease was revoked (false: a keepalive came first, or it was
    /// gone already).
    LeaseExpired(bool),
}

/// What a [`WriteRequest`] came to, as remembered for retries: the store revision right after
/// it (etcd's `ResponseHeader.revision`) and its response or error.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteOutcome {
    /// The store revision after the write.
    pub revision: i64,
    /// The response, or why nothing changed.
    pub result: Result<WriteResponse, super::KvError>,
}

/// The kinds of alarm (`etcdserverpb.AlarmType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AlarmType {
    /// No alarm (in a request: every kind).
    None,
    /// The store exceeded `--quota-backend-bytes`: writes that add data are refused.
    NoSpace,
    /// A replica found its state corrupt.
    Corrupt,
}

impl AlarmType {
    /// The name etcd prints (`NOSPACE`, `CORRUPT`).
    pub fn name(self) -> &'static str {
        match self {
            AlarmType::None => "NONE",
            AlarmType::NoSpace => "NOSPACE",
            AlarmType::Corrupt => "CORRUPT",
        }
    }
}

/// One raised alarm (`etcdserverpb.AlarmMember`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct AlarmMember {
    /// The replica that raised it.
    pub member_id: u64,
    /// What kind.
    pub alarm: AlarmType,
}

/// What an alarm request does (`etcdserverpb.AlarmRequest.AlarmAction`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlarmAction {
    /// List the raised alarms.
    Get,
    /// Raise an alarm.
    Activate,
    /// Clear an alarm.
    Deactivate,
}

/// `etcdserverpb.AlarmRequest`. `member_id` 0 with `Deactivate` clears the kind on every
/// replica; `alarm` `None` with `Deactivate` clears every kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmRequest {
    /// What to do.
    pub action: AlarmAction,
    /// The replica concerned (0: all, for `Deactivate`).
    pub member_id: u64,
    /// The kind concerned.
    pub alarm: AlarmType,
}
