//! The embedded replica (part of the binary): `lin_test serve` runs one DDBB replica from the
//! server library.
//!
//! `cargo run --bin lin_test` builds only this binary, and a `ddbb_server` lying next to it
//! may be missing or stale; linking the server library makes every run test the server built
//! from the same sources as the tester. The flags and the wiring are `ddbb_server`'s own
//! (`ddbb_server::cli`), so the harness passes the same command line to either. `--server-bin` tests a real `ddbb_server` binary
//! instead.

use std::process::ExitCode;

/// The flags of `ddbb_server`.
pub use ddbb_server::cli::ServerArgs as ServeArgs;

/// Runs the replica until it fails or is told to stop; logs go to stderr (`RUST_LOG`).
pub fn main(args: ServeArgs) -> ExitCode {
    ddbb_server::cli::run(args)
}
