//! `ddbb_server`: runs one DDBB replica.

use std::process::ExitCode;

use clap::Parser;
use ddbb_server::cli::ServerArgs;

/// One replica of a DDBB cluster.
///
/// Example (three terminals, ids 1, 2, 3):
///   ddbb_server --id 1 --peers 1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003
///               --client-addr 127.0.0.1:6001 --data-dir /var/lib/ddbb/1
#[derive(Parser, Debug)]
#[command(version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
}

fn main() -> ExitCode {
    ddbb_server::cli::run(Cli::parse().server)
}
