//! The DDBB protocol: what travels on the client port and between replicas.
//!
//! - [`frame`]: RESP2 [`Frame`]s with two-phase parsing (`check`, then `parse`) and size limits.
//! - [`connection`]: framed async streams; writes are buffered and flushed once per burst.
//! - [`cmd`]: client [`Command`]s, one file per command, parsed from and cast to frames.
//! - [`reply`]: typed multi-frame replies ([`KeyValue`], [`StatusReply`]).
//! - [`types`]: domain names shared by every crate ([`NodeId`], [`Revision`], [`RequestId`]).
//!
//! Nothing here does consensus or storage; the crate is pure apart from the socket wrappers.

pub mod cmd;
pub mod connection;
pub mod error;
pub mod frame;
pub mod kv;
pub mod reply;
pub mod shutdown;
pub mod types;

pub use cmd::Command;
pub use connection::{Connection, FrameReader, FrameWriter};
pub use error::{Error, Result};
pub use frame::{Frame, FrameLimits};
pub use kv::KeyValue;
pub use reply::{alarm_list, ErrorCode, StatusReply};
pub use types::{Consistency, LogIndex, NodeId, RequestId, Revision};
