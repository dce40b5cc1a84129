//! `ddbb`, the DDBB command-line tool: etcdctl-style one-shot commands, an interactive REPL,
//! and the in-process playground cluster. Layers, each using only those before it:
//!
//! - [`output`]: simple/json/table rendering of results;
//! - [`words`]: splitting a line into words (shell-like quoting);
//! - [`cli`]: clap definitions, one-shot execution, the txn text format;
//! - [`playground`]: a local cluster in this process and its meta-commands;
//! - [`repl`]: the rustyline REPL (on a cluster, or on a playground);
//! - [`app`]: what `main` runs: the command line dispatched to the above.

pub mod app;
pub mod cli;
pub mod output;
pub mod playground;
pub mod repl;
pub mod words;

pub use ddbb_client::{Client, ClientConfig, Error, KeyRange, RangeOptions, RangeReply, RangeView};
