//! `ddbb`: the DDBB command-line client (see `ddbb --help` and [`ddbb_cli::cli`]).

use std::process::ExitCode;

use clap::Parser;
use ddbb_cli::{app, cli::Cli};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return ddbb_cli::cli::report_usage_error(&e),
    };
    match app::run(cli) {
        Ok(code) => code,
        Err(e) => {
            ddbb_cli::cli::complain(&format!("Error: {e}"));
            ExitCode::from(e.exit_code())
        }
    }
}
