//! The key-value state machine: deterministic, pure, and the same on every replica.
//!
//! [`KvState::apply`] takes decided log entries in order and returns each write's outcome and
//! events; reads never change anything. The data model is etcd's MVCC ([`mvcc`]): revisions
//! start at 1 and grow by one per write that changes something, every key keeps its history
//! until it is compacted, and `Txn` is one revision.

mod kv;
pub mod mvcc;
mod session;
mod snapshot;

pub use kv::{Applied, KvState, MAX_REMEMBERED_OUTCOME_BYTES};
pub use session::{SessionTable, MAX_SESSIONS, SESSION_WINDOW};
pub use snapshot::{lend_state, KvSnapshot};
