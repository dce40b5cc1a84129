//! The key-value state machine: deterministic, pure, and the same on every replica.
//!
//! [`KvState::apply`] takes decided log entries in order and returns each write's
//! [`Outcome`]; reads never change anything. Revisions follow etcd: the store's revision
//! grows by one per applied write (a write that changes nothing, such as a failed CAS or a
//! delete of absent keys, leaves it alone), and each key keeps `create_revision`,
//! `mod_revision` and `version`.

mod kv;
pub mod mvcc;
mod session;
mod snapshot;

pub use kv::{KvState, Outcome, Value};
pub use session::{SessionTable, MAX_SESSIONS, SESSION_WINDOW};
pub use snapshot::KvSnapshot;
