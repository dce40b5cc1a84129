//! The one error type of the replica crate.

use std::io;

/// Why a replica could not start or had to stop.
///
/// Following toydb's rule: a deterministic error about one request goes back to that client as
/// `-ERR` (it never reaches this type); anything that could make replicas diverge, such as a
/// failed write to disk, stops the replica.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configuration is unusable (flags, peer list, OmniPaxos settings).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Binding a listener failed.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// The cause.
        source: io::Error,
    },
    /// Log storage failed; the replica stops rather than acknowledge what it cannot keep.
    #[error("storage failure: {0}")]
    Storage(String),
    /// Any other I/O error.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Result alias of the replica crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
