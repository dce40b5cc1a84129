//! What the protocol adapters (RESP, and later gRPC) ask of the replica loop, and what it
//! answers: typed requests and typed responses only; rendering is the adapter's business.

use ddbb_libs::kv::{
    AlarmMember, KvError, LeaseTimeToLiveResponse, RangeRequest, RangeResponse, WriteOutcome,
    WriteRequest,
};
use ddbb_libs::{Consistency, NodeId, RequestId, StatusReply};
use tokio::sync::oneshot;

use crate::state::mvcc::MvccStore;
use crate::state::KvState;

/// A request handed to the replica loop; the answer comes back on `reply`.
#[derive(Debug)]
pub enum Request {
    /// A write that goes through the log.
    Write {
        /// Client-chosen id (`REQID`), or `None` to let the replica assign one.
        id: Option<RequestId>,
        /// The change.
        op: WriteRequest,
        /// Where the [`Response::Write`] goes.
        reply: oneshot::Sender<Response>,
    },
    /// A read.
    Read {
        /// What to read.
        query: RangeRequest,
        /// Linearizable (barrier) or serializable (local).
        consistency: Consistency,
        /// Where the [`Response::Read`] goes.
        reply: oneshot::Sender<Response>,
    },
    /// A copy of the MVCC store and the alarms as of now (O(1): the store is a persistent map),
    /// for work done off the loop: etcd's `HashKV` and `Snapshot`, alarm listing.
    State {
        /// Where the [`Response::State`] goes.
        reply: oneshot::Sender<Response>,
    },
    /// Lease information from this replica's state and clock (like a serializable read).
    Lease {
        /// What to tell.
        query: LeaseQuery,
        /// Where the [`Response::Lease`] goes.
        reply: oneshot::Sender<Response>,
    },
    /// The replica's view of itself (`STATUS`).
    Status {
        /// Where the [`Response::Status`] goes.
        reply: oneshot::Sender<Response>,
    },
}

/// The loop's answer to a [`Request`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// To a write.
    Write(WriteOutcome),
    /// To a read.
    Read(ReadOutcome),
    /// To a status request.
    Status(Box<StatusReply>),
    /// To a state request.
    State(Box<StateCopy>),
    /// To a lease query, with the store revision it reflects.
    Lease(i64, LeaseAnswer),
}

/// A question about leases (`LeaseTimeToLive`, `LeaseLeases`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LeaseQuery {
    /// One lease's remaining and granted TTL, and its keys if asked.
    TimeToLive {
        /// The lease.
        id: i64,
        /// Also list the attached keys.
        keys: bool,
    },
    /// Every lease's id.
    List,
}

/// The answer to a [`LeaseQuery`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LeaseAnswer {
    /// To `TimeToLive` (TTL -1: no such lease).
    TimeToLive(LeaseTimeToLiveResponse),
    /// To `List`: the ids, ascending.
    List(Vec<i64>),
}

/// The answer to [`Request::State`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StateCopy {
    /// The MVCC store (shares its nodes with the loop's: cloning it was O(1)).
    pub store: MvccStore,
    /// The raised alarms.
    pub alarms: Vec<AlarmMember>,
}

/// What the loop publishes after every pass for the protocol adapters (etcd's response headers
/// and health check): cheap to read, never waits on the loop.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReplicaView {
    /// The leader this replica follows (0: none known).
    pub leader: NodeId,
    /// The ballot number this replica promised (etcd's `raft_term`).
    pub term: u64,
    /// The store revision as of the latest apply.
    pub revision: i64,
}

/// What a read came to: the store revision it saw (etcd's header revision) and the result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadOutcome {
    /// The store revision when the read was served.
    pub revision: i64,
    /// The kvs, or why the read was refused.
    pub result: Result<RangeResponse, KvError>,
}

impl ReadOutcome {
    /// Serves `query` from `state`.
    pub fn serve(query: &RangeRequest, state: &KvState) -> ReadOutcome {
        ReadOutcome {
            revision: state.revision(),
            result: state.range(query),
        }
    }
}

/// A write refused before it reached the log (it changed nothing).
pub(super) fn refused(state: &KvState, error: KvError) -> Response {
    Response::Write(WriteOutcome {
        revision: state.revision(),
        result: Err(error),
    })
}
