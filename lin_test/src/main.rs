//! The `lin_test` command line: checks Jepsen histories for linearizability.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use lin_test::{check_operations, pair_operations, parse_events, CheckOptions, Verdict};

/// Exit code when every key is linearizable.
const EXIT_LINEARIZABLE: u8 = 0;
/// Exit code when some key is not linearizable (takes precedence over unknown).
const EXIT_NOT_LINEARIZABLE: u8 = 1;
/// Exit code when some key is unknown (timeout) or the input is bad.
const EXIT_UNKNOWN_OR_ERROR: u8 = 2;

/// Jepsen-style tester for DDBB.
#[derive(Parser)]
#[command(name = "lin_test", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// One variant per subcommand; each owns its arguments and a `run`.
#[derive(Subcommand)]
enum Command {
    /// Check an EDN history for linearizability, key by key.
    Check(CheckArgs),
}

/// Arguments of `lin_test check`.
#[derive(Args)]
struct CheckArgs {
    /// The history: Jepsen EDN events, one map per line.
    file: PathBuf,
    /// Give up on a key after this many seconds and report it unknown.
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    timeout: f64,
}

impl CheckArgs {
    /// Checks the file and prints one verdict per key; the exit code sums them up.
    fn run(&self) -> anyhow::Result<u8> {
        let timeout = Duration::try_from_secs_f64(self.timeout)
            .ok()
            .filter(|t| !t.is_zero());
        let Some(timeout) = timeout else {
            bail!("--timeout must be a positive number of seconds");
        };
        let started = Instant::now();
        let file = self.file.display();
        let text =
            std::fs::read_to_string(&self.file).with_context(|| format!("cannot read {file}"))?;
        let events = parse_events(&text).with_context(|| format!("{file}"))?;
        let ops = pair_operations(&events).with_context(|| format!("{file}"))?;
        let options = CheckOptions {
            timeout: Some(timeout),
            ..CheckOptions::default()
        };
        let reports = check_operations(&ops, &options);
        let (mut bad, mut unknown) = (0, 0);
        for report in &reports {
            println!("{report}");
            match report.verdict {
                Verdict::Linearizable => {}
                Verdict::NotLinearizable(_) => bad += 1,
                Verdict::Unknown(_) => unknown += 1,
            }
        }
        println!(
            "{} keys, {} operations: {} linearizable, {bad} not, {unknown} unknown ({:.3} s)",
            reports.len(),
            ops.len(),
            reports.len() - bad - unknown,
            started.elapsed().as_secs_f64()
        );
        Ok(if bad > 0 {
            EXIT_NOT_LINEARIZABLE
        } else if unknown > 0 {
            EXIT_UNKNOWN_OR_ERROR
        } else {
            EXIT_LINEARIZABLE
        })
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Check(args) => args.run(),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(EXIT_UNKNOWN_OR_ERROR)
        }
    }
}
