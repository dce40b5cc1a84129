//! Domain types named once and shared by every crate.

use serde::{Deserialize, Serialize};

/// A replica's id: contiguous 1..=N, as OmniPaxos indexes its vectors by it.
pub type NodeId = u64;
/// Position in the replicated log (OmniPaxos indices are `usize`).
pub type LogIndex = usize;
/// etcd-style store revision: increases by one with every applied write; 0 means "absent".
pub type Revision = u64;

/// Identifies one client request so that retries are applied at most once.
///
/// `client` is chosen at random by the client (a session); `seq` increases per request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RequestId {
    /// The client session, chosen at random by the client.
    pub client: u64,
    /// The request's number within the session.
    pub seq: u64,
}

/// How a read is served.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Consistency {
    /// Sees every write acknowledged before the read started (etcd's default): the replica
    /// waits for a read barrier to pass through the log.
    #[default]
    Linearizable,
    /// Answered at once from the replica's local state; may be stale.
    Serializable,
}
