//! `ddbb-bench serve`: one DDBB replica from the server library, in this binary.
//!
//! `cargo run --bin ddbb-bench` builds only this binary; a `ddbb_server` lying next to it may
//! be missing or stale. Linking the server library means every comparison measures the
//! server built from the same sources. The flags and the wiring are `ddbb_server`'s own
//! (`ddbb_server::cli`), so `--ddbb-server-bin` can run the real binary with the same command
//! line.

use std::process::ExitCode;

/// The flags of `ddbb_server`.
pub use ddbb_server::cli::ServerArgs as ServeArgs;

/// Runs the replica until it fails or is told to stop; logs go to stderr (`RUST_LOG`).
pub fn main(args: ServeArgs) -> ExitCode {
    ddbb_server::cli::run(args)
}
