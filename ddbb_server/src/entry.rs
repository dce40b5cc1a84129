//! The replicated log entry: what OmniPaxos agrees on.
//!
//! One entry holds every write that reached one replica during one pass of its event loop,
//! plus read barriers placed between them, so a burst of N client writes costs one `append`, one
//! forwarded message and one storage record instead of N. OmniPaxos' own `batch_size` stays 1.
//!
//! This type lives in the server crate, not in `ddbb_libs`, because its `Entry` impl names
//! the state machine's snapshot type.

use ddbb_libs::kv::WriteRequest;
use ddbb_libs::{NodeId, RequestId};
use omnipaxos::storage::Entry;
use serde::{Deserialize, Serialize};

/// One log entry: a batch of writes from `origin`, and read barriers between them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// The replica that proposed this entry.
    pub origin: NodeId,
    /// Writes, applied in order.
    pub commands: Vec<WriteCommand>,
    /// Read barriers of `origin`, in order. When `origin` has applied the commands before a
    /// barrier, the linearizable reads that wait on it are answered. A barrier sits exactly
    /// where its reads arrived among the writes, so a pipelined read sees the writes sent
    /// before it on its connection and none sent after.
    pub barriers: Vec<ReadBarrier>,
    /// `origin`'s own request session and the lowest sequence number it may still propose:
    /// every lower one is resolved, so the state machine can forget it (see `state::session`).
    pub session_floor: Option<RequestId>,
}

/// A read barrier inside a [`LogEntry`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadBarrier {
    /// How many of the entry's commands come before the barrier.
    pub after: u32,
    /// The barrier's number at its origin replica (increasing).
    pub number: u64,
}

/// One write with the id that makes its re-proposal and retries exactly-once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteCommand {
    /// Client-chosen (`REQID`) or assigned by the origin replica.
    pub id: RequestId,
    /// What to do.
    pub op: WriteRequest,
}

impl Entry for LogEntry {
    type Snapshot = crate::state::KvSnapshot;
}
