//! The DDBB replica: one member of a cluster that agrees on a log with OmniPaxos and applies
//! it to an etcd-style key-value store.
//!
//! Layers, bottom up:
//! - [`entry`]: the replicated [`LogEntry`] (a batch of writes plus an optional read barrier);
//! - [`state`]: the pure, deterministic key-value state machine with per-client dedup;
//! - [`storage`]: the seam between OmniPaxos' `Storage` and the disk ("sync before send");
//! - [`transport`]: OmniSIMO, the framed TCP transport between replicas;
//! - [`replica`]: the one task that owns OmniPaxos: propose, sync, send, apply;
//! - [`service`]: the RESP2 client port;
//! - [`server`]: wiring it all together; [`config`]: the settings.
//!
//! Caveat: storage is in memory in this version; a replica that restarts comes back empty
//! and must not reuse its id (see the README).

pub mod cli;
pub mod config;
pub mod entry;
pub mod error;
pub mod replica;
pub mod server;
pub mod service;
pub mod shutdown;
pub mod state;
pub mod storage;
pub mod transport;

pub use config::ServerConfig;
pub use entry::LogEntry;
pub use error::{Error, Result};
pub use server::{start, start_with_faults, ServerHandle};
pub use transport::LinkFaults;
