//! `ddbb-bench`: the same workloads against DDBB and etcd, side by side, with a report and
//! plots.
//!
//! `ddbb-bench compare [--quick] [--out DIR]` starts a DDBB cluster and an etcd cluster on
//! loopback (each member on its own 127.77.x.y address, data on the same disk, fsync on),
//! drives both through their native clients (or, with `--protocol grpc`, both through the same
//! etcd gRPC client) with the same workloads, injects faults, and writes `report.md`, raw
//! JSON/CSV and PNG plots.
//!
//! Parts, bottom-up:
//! - [`workload`]: keys, values and the operations each client sends;
//! - [`histogram`]: latency histograms (HdrHistogram) and their merging;
//! - [`procfs`]: CPU seconds and peak RSS of the servers, from `/proc`;
//! - [`cluster`]: starting and stopping members (own uid, own address), leader lookup;
//! - [`iptables`]: cutting links between members in chains owned by the run;
//! - [`driver`]: one operation through `ddbb_client` or etcd's gRPC `KvClient` (`ddbb_proto`);
//! - [`run`]: steady-state runs (warm-up, measured window, closed-loop clients);
//! - [`fault`]: kill-leader and partial-connectivity scenarios with throughput timelines;
//! - [`report`]: markdown, JSON, CSV and plots;
//! - [`compare`]: the plan and the orchestration; [`serve`]: the embedded DDBB replica;
//! - [`watch`]: `ddbb-bench watch`, watch event latency and fan-out on both systems;
//! - [`lease`]: `ddbb-bench lease`, lease keepalives and lock cycles on both systems;
//! - `lin_test::cleanup` (shared with lin_test): what must be undone however the bench exits.
//!
//! Caveats: servers and clients share the machine, so figures depend on its load (the report
//! records the load average before and after). Cutting links needs root (members run under
//! their own uids so iptables can tell their connections apart); without it the partition
//! scenarios are skipped and the report says so.

mod cluster;
mod compare;
mod driver;
mod fault;
mod histogram;
mod iptables;
mod lease;
mod procfs;
mod report;
mod run;
mod serve;
mod watch;
mod workload;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Benchmarks DDBB against etcd on this machine.
#[derive(Parser, Debug)]
#[command(name = "ddbb-bench", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Start DDBB and etcd clusters, run the same workloads and faults on both, write a report.
    Compare(compare::CompareArgs),
    /// Watch event latency (put acknowledged → event on another member) and fan-out, on DDBB
    /// and etcd through the same gRPC client; writes a report.
    Watch(watch::WatchArgs),
    /// Lease keepalives/s (etcd's `benchmark lease-keepalive` shape) and lock acquire/release
    /// cycles/s (etcd's lock recipe), on DDBB and etcd through the same gRPC client; writes a
    /// report.
    Lease(lease::LeaseArgs),
    /// Rewrite report.md, the CSV files and the plots of an output directory from its
    /// results.json.
    Render {
        /// The output directory of an earlier `compare`.
        dir: std::path::PathBuf,
    },
    /// Run one DDBB replica (used by `compare`; takes `ddbb_server`'s flags).
    #[command(hide = true)]
    Serve(serve::ServeArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => serve::main(args),
        Command::Compare(args) => run_until_interrupted(compare::compare(args)),
        Command::Watch(args) => run_until_interrupted(watch::watch(args)),
        Command::Lease(args) => run_until_interrupted(lease::lease(args)),
        Command::Render { dir } => match report::Report::rewrite(&dir) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("Error: {e:#}");
                ExitCode::FAILURE
            }
        },
    }
}

/// Runs a benchmark on a 2-thread runtime until it ends or Ctrl-C/SIGTERM; either way its
/// clusters are stopped (dropping it kills them) before the process exits.
fn run_until_interrupted(
    bench: impl std::future::Future<Output = anyhow::Result<std::path::PathBuf>>,
) -> ExitCode {
    lin_test::cleanup::install_panic_hook();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The comparison runs on this (main) thread inside block_on: servers are spawned from it,
    // and their parent-death signal follows the thread that forked them.
    let result = runtime.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            result = bench => result.map(Some),
            _ = tokio::signal::ctrl_c() => Ok(None),
            _ = term.recv() => Ok(None),
        }
        // Leaving the select drops the benchmark: clusters are killed, chains removed.
    });
    lin_test::cleanup::emergency(); // nothing should be left; this is a no-op then
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(Some(_)) => ExitCode::SUCCESS,
        Ok(None) => {
            eprintln!("Interrupted: servers stopped, iptables rules removed.");
            ExitCode::from(130)
        }
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
