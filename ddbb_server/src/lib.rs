//! The DDBB replica: one member of a cluster that agrees on a log with OmniPaxos and applies
//! it to an etcd-style key-value store.
//!
//! Layers, bottom up:
//! - [`entry`]: the replicated [`LogEntry`] (a batch of typed writes plus read barriers);
//! - [`state`]: the pure, deterministic state machine: etcd's MVCC store, per-client dedup,
//!   alarms;
//! - [`storage`]: the durable WAL behind OmniPaxos' `Storage` ("sync before send"), with
//!   checkpoints, recovery and the file-system seam used by the crash tests;
//! - [`transport`]: OmniSIMO, the framed TCP transport between replicas;
//! - [`replica`]: the one task that owns OmniPaxos: propose, sync, send, apply; it speaks
//!   typed requests and responses only;
//! - [`service`]: the client ports, RESP2 and etcd's v3 gRPC API (`service::etcd`), both thin
//!   adapters over the same typed requests;
//! - [`watch`]: change streams from any revision, fed from the store the loop publishes;
//! - [`server`]: wiring it all together; [`config`]: the settings; [`cli`]: the flags.
//!
//! Without `--data-dir` the log is kept in memory (tests, throwaway clusters): such a replica
//! comes back empty after a restart.

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
pub mod watch;

pub use config::ServerConfig;
pub use entry::LogEntry;
pub use error::{Error, Result};
pub use server::{start, start_with_faults, ServerHandle};
pub use transport::LinkFaults;
