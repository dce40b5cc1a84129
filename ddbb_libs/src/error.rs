//! The one error type of the protocol crate.

use std::io;

/// What went wrong while reading, writing or interpreting frames.
///
/// Variants are named by what the caller does next: `Incomplete` means "read more bytes",
/// `TooLarge` and `Protocol` mean "the byte stream is unusable, close the connection",
/// `InvalidCommand` means "answer `-ERR` and keep the connection".
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not enough bytes are buffered for a whole frame yet.
    #[error("incomplete frame")]
    Incomplete,
    /// A frame (or a length inside it) exceeds the configured limit.
    #[error("frame too large: {what} {size} exceeds the limit of {limit}")]
    TooLarge {
        /// Which length was too large (bulk length, array length, frame size, nesting).
        what: &'static str,
        /// The size announced or reached.
        size: u64,
        /// The configured limit.
        limit: u64,
    },
    /// The bytes are not valid RESP2.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A well-formed frame that is not a valid command or reply.
    #[error("{0}")]
    InvalidCommand(String),
    /// The peer closed the connection in the middle of a frame.
    #[error("connection reset by peer in the middle of a frame")]
    ConnectionReset,
    /// An I/O error on the underlying stream.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl Error {
    /// Shorthand for an [`Error::InvalidCommand`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        Error::InvalidCommand(msg.into())
    }

    /// Shorthand for an [`Error::Protocol`].
    pub fn protocol(msg: impl Into<String>) -> Self {
        Error::Protocol(msg.into())
    }
}

/// Result alias of the protocol crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
