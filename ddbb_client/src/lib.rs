//! DDBB client: the async [`Client`] library and, behind the default `cli` feature, the
//! `ddbb` command-line tool (etcdctl-style one-shot commands, an interactive REPL, and the
//! in-process playground cluster).
//!
//! Library parts:
//! - [`client`]: [`Client`] over a list of endpoints: one pipelined connection per endpoint,
//!   failover to the next endpoint on connection loss, timeout or a replica without quorum,
//!   and request ids `(client_id, seq)` on every write so retries are applied once;
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
//! Tool parts (feature `cli`): [`cli`] (clap definitions and one-shot execution),
//! [`output`] (simple/json/table rendering), [`repl`] (rustyline REPL) and [`playground`].
//! Library users that only need [`Client`] can turn the feature off
//! (`default-features = false`) and skip clap, rustyline and the server crate.

pub mod client;
pub mod error;
mod pipeline;

#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "cli")]
pub mod output;
#[cfg(feature = "cli")]
pub mod playground;
#[cfg(feature = "cli")]
pub mod repl;

pub use client::{Client, ClientConfig, EndpointStatus, RangeOptions, RangeReply};
pub use ddbb_libs::cmd::{KeyRange, RangeView};
pub use ddbb_libs::{Consistency, KeyValue, NodeId, RequestId, Revision, StatusReply};
pub use error::{Error, Result};
