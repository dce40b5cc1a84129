//! `ddbb-sim`: runs seeds of the deterministic simulation and names each failing one with the
//! command that replays it. See the `sim` crate docs.

use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use sim::{run_seed, SimOptions, DEFAULT_STEPS};

/// Deterministic simulation of DDBB's replica core.
#[derive(Parser, Debug)]
#[command(name = "ddbb-sim")]
struct Args {
    /// Seeds to run (from --seed on) [default: 100, or 1 with --seed].
    #[arg(long)]
    seeds: Option<u64>,
    /// First (or only) seed [default: 0].
    #[arg(long)]
    seed: Option<u64>,
    /// Events simulated before the heal and the final reads.
    #[arg(long, default_value_t = DEFAULT_STEPS)]
    steps: u64,
    /// Replicas.
    #[arg(long, default_value_t = 3)]
    replicas: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 4)]
    clients: usize,
    /// Keys of the register workload.
    #[arg(long, default_value_t = 3)]
    keys: i64,
    /// Planted bug: linearizable reads answered from local state.
    #[arg(long)]
    unsafe_local_reads: bool,
    /// Planted bug: storage sync does nothing, so writes are acknowledged before their fsync.
    #[arg(long)]
    ack_before_fsync: bool,
    /// Print every fault and operation (use with one seed).
    #[arg(long, short)]
    verbose: bool,
    /// Print every Sequence Paxos message and each replica's OmniPaxos state after each pass
    /// (use with one seed; with -v for the faults and operations too).
    #[arg(long)]
    trace: bool,
    /// Keep going after the first failing seed.
    #[arg(long)]
    keep_going: bool,
}

const DEFAULT_SEEDS: u64 = 100;

fn main() -> ExitCode {
    let args = Args::parse();
    if !(2..=15).contains(&args.replicas) {
        eprintln!("--replicas must be 2..=15");
        return ExitCode::from(2);
    }
    let seeds = match (args.seeds, args.seed) {
        (Some(n), _) => n,
        (None, None) => DEFAULT_SEEDS,
        (None, Some(_)) => 1,
    };
    let first = args.seed.unwrap_or(0);
    let started = Instant::now();
    let mut failed = Vec::new();
    let mut ops = 0;
    let mut ran = 0;
    for seed in first..first + seeds {
        let options = SimOptions {
            seed,
            steps: args.steps,
            replicas: args.replicas,
            clients: args.clients,
            keys: args.keys,
            unsafe_local_reads: args.unsafe_local_reads,
            ack_before_fsync: args.ack_before_fsync,
            verbose: args.verbose,
            trace: args.trace,
        };
        let report = run_seed(&options);
        ran += 1;
        ops += report.operations;
        if seeds == 1 || args.verbose {
            println!(
                "seed {seed}: {} events, {} ops, {} ms virtual, {} crashes, {} faults, trace {:016x}",
                report.events,
                report.operations,
                report.virtual_ms,
                report.crashes,
                report.faults.len(),
                report.trace_hash
            );
        }
        if !report.passed() {
            println!("FAIL seed {seed}:");
            for failure in &report.failures {
                println!("  {failure}");
            }
            println!("  replay: {}", options.replay_command());
            failed.push(seed);
            if !args.keep_going {
                break;
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{ran} seeds, {} failed, {ops} operations checked, {secs:.1} s ({:.2} seeds/s)",
        failed.len(),
        ran as f64 / secs
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        println!("failing seeds: {failed:?}");
        ExitCode::FAILURE
    }
}
