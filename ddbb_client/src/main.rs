//! `ddbb`: the DDBB command-line client (see `ddbb --help` and [`ddbb_client::cli`]).

use std::process::ExitCode;

use clap::Parser;
use ddbb_client::cli::{self, Cli};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return cli::report_usage_error(&e),
    };
    match cli::run(cli) {
        Ok(code) => code,
        Err(e) => {
            cli::complain(&format!("Error: {e}"));
            ExitCode::from(e.exit_code())
        }
    }
}
