//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong while reading or checking a history, or running a test.
///
/// [`Error::Io`] and [`Error::Harness`] are about the environment (files, processes,
/// network rules); every other variant means the input must be fixed. None is retryable as is.
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

    /// The tester could not set up or drive a test run: spawning replicas, installing network
    /// rules, writing the run directory. The message says what failed and how to fix it.
    #[error("{0}")]
    Harness(String),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;
