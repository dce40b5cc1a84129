//! DDBB client library: the async [`Client`] (the `ddbb` tool lives in the `ddbb_cli` crate).
//!
//! - [`client`]: [`Client`] over a list of endpoints: one pipelined connection per endpoint,
//!   failover to the next endpoint on connection loss, timeout or a replica without quorum,
//!   and request ids `(client_id, seq)` on every write so retries are applied once;
//! - [`lease`]: typed `LEASE` commands on [`Client`] and [`KeepAlive`], a task renewing a
//!   lease every third of its TTL until dropped;
//! - [`watch`]: [`Watcher`], a watch that resumes from its last revision + 1 on another
//!   endpoint after a failure;
//! - [`error`]: [`Error`], named by what the caller does next.
//!
//! ```no_run
//! # async fn demo() -> ddbb_client::Result<()> {
//! let client = ddbb_client::Client::connect(["127.0.0.1:6001", "127.0.0.1:6002"])?;
//! let revision = client.put("greeting", "hello").await?;
//! assert_eq!(client.get("greeting").await?.as_deref(), Some(&b"hello"[..]));
//! # let _ = revision; Ok(()) }
//! ```
//!
//! It depends on neither the server nor a command-line parser.

pub mod client;
pub mod error;
pub mod lease;
mod pipeline;
pub mod watch;

pub use client::{Client, ClientConfig, EndpointStatus, RangeOptions, RangeReply};
pub use ddbb_libs::cmd::{KeyRange, RangeView};
pub use ddbb_libs::kv::{WatchCreateRequest, WatchResponse};
pub use ddbb_libs::{Consistency, KeyValue, NodeId, RequestId, Revision, StatusReply};
pub use error::{Error, Result};
pub use lease::{KeepAlive, LeaseTimeToLive};
pub use watch::Watcher;
