//! The replicated log entry: what OmniPaxos agrees on.
//!
//! One entry holds every write that reached one replica during one pass of its event loop,
//! plus an optional read barrier, so a burst of N client writes costs one `append`, one
//! forwarded message and one storage record instead of N. OmniPaxos' own `batch_size` stays 1.
//!
//! This type lives in the server crate, not in `ddbb_libs`, because its `Entry` impl names
//! the state machine's snapshot type.

use bytes::Bytes;
use ddbb_libs::{NodeId, RequestId, Revision};
use omnipaxos::storage::{Entry, NoSnapshot};
use serde::{Deserialize, Serialize};

/// One log entry: a batch of writes from `origin`, and maybe a read barrier.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// The replica that proposed this entry.
    pub origin: NodeId,
    /// Writes, applied in order.
    pub commands: Vec<WriteCommand>,
    /// A read barrier number of `origin`: once this entry is applied there, the linearizable
    /// reads that arrived at `origin` before the barrier was proposed can be answered.
    pub barrier: Option<u64>,
    /// `origin`'s own request session and the lowest sequence number it may still propose:
    /// every lower one is resolved, so the state machine can forget it (see `state::session`).
    pub session_floor: Option<RequestId>,
}

/// One write with the id that makes its re-proposal and retries exactly-once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteCommand {
    /// Client-chosen (`REQID`) or assigned by the origin replica.
    pub id: RequestId,
    /// What to do.
    pub op: WriteOp,
}

/// A state change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WriteOp {
    /// Set `key` to `value`, if `if_revision` (when given) equals the key's `mod_revision`.
    Put {
        /// The key.
        key: Bytes,
        /// The new value.
        value: Bytes,
        /// Guard: the key's current `mod_revision` (0 = absent).
        if_revision: Option<Revision>,
    },
    /// Delete these keys.
    Delete {
        /// The keys.
        keys: Vec<Bytes>,
    },
    /// Delete every key in `[start, end)` (`end = None`: no upper bound).
    DeleteRange {
        /// First key included.
        start: Bytes,
        /// First key excluded.
        end: Option<Bytes>,
    },
    /// Replace `key`'s value with `new` if it equals `expected`.
    Cas {
        /// The key.
        key: Bytes,
        /// The value it must hold.
        expected: Bytes,
        /// The value to store.
        new: Bytes,
    },
}

impl Entry for LogEntry {
    type Snapshot = NoSnapshot;
}
