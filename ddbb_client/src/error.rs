//! The one error type of the client crate.

/// Why a request failed, named by what the caller can do next.
///
/// For writes the difference between [`Error::Unavailable`] and [`Error::Timeout`] matters:
/// `Unavailable` means the request never reached a replica, so it did not take effect;
/// `Timeout` means it was sent at least once without an answer, so it may still take effect
/// (as with etcd). Retrying a write through the same [`crate::Client`] reuses its request id
/// only within one call; a new call is a new write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// No endpoint could be reached; the request was not delivered. Retry later.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// No answer within the deadline (or the connection broke after sending); a write may
    /// still take effect. Retry, or check with a read.
    #[error("timeout: {0}")]
    Timeout(String),
    /// The request is invalid before it is sent (bad endpoint, bad argument). Fix the input.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The replica answered with an error (`-ERR ...`) that a retry will not fix.
    #[error("server error: {0}")]
    Server(String),
    /// The replica's reply did not have the expected shape (a version mismatch or a bug).
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl Error {
    /// True when a write that failed with this error may nevertheless have taken effect:
    /// a timeout, or a duplicate of a request applied earlier. False means it certainly did
    /// not (it never reached a replica, or was refused as invalid).
    pub fn maybe_applied(&self) -> bool {
        match self {
            Error::Timeout(_) => true,
            Error::Server(msg) => msg.starts_with("duplicate request"),
            _ => false,
        }
    }
}

/// Result alias of the client crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
