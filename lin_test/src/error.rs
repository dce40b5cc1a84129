//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong while reading or checking a history.
///
/// Every variant except [`Error::Io`] means the input must be fixed; none is retryable.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A history file could not be read or written.
    #[error("{path}: {source}", path = path.display())]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// The text is not well-formed EDN.
    #[error("EDN syntax error at line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line of the offending character.
        line: usize,
        /// 1-based column (in characters) of the offending character.
        column: usize,
        /// What was wrong.
        message: String,
    },

    /// A well-formed EDN form is not a valid operation event.
    #[error("invalid event at line {line}: {message}")]
    InvalidEvent {
        /// 1-based line where the event starts.
        line: usize,
        /// What was wrong.
        message: String,
    },

    /// The events are valid one by one but do not form a history (e.g. a completion without an
    /// invocation).
    #[error("invalid history at event :index {index}: {message}")]
    InvalidHistory {
        /// The `:index` of the offending event.
        index: i64,
        /// What was wrong.
        message: String,
    },
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
