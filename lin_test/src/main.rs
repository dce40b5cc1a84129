//! The `lin_test` command line: runs Jepsen-style tests of DDBB and checks histories.
//!
//! `lin_test [run] [OPTIONS]` starts a test (the default when no subcommand is given);
//! `lin_test check FILE.edn` checks a history; `lin_test serve ...` (hidden) is one replica,
//! used by the test's cluster harness.

mod serve;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand, ValueEnum};
use lin_test::{
    check_operations, pair_operations, parse_events, CheckOptions, Fault, NetChoice, Overall,
    RunConfig, ServerCommand, Verdict,
};

/// Exit code when every key is linearizable.
const EXIT_LINEARIZABLE: u8 = 0;
/// Exit code when some key is not linearizable (takes precedence over unknown).
const EXIT_NOT_LINEARIZABLE: u8 = 1;
/// Exit code when some key is unknown (timeout) or the input or setup is bad.
const EXIT_UNKNOWN_OR_ERROR: u8 = 2;
/// Exit code of a run stopped with Ctrl-C (128 + SIGINT, as shells report it).
const EXIT_INTERRUPTED: u8 = 130;
/// Added to the servers' request timeout to get the clients' reply timeout: the server's own
/// `-TIMEOUT` should normally arrive first.
const CLIENT_TIMEOUT_SLACK: Duration = Duration::from_secs(1);

/// Jepsen-style tester for DDBB: without a subcommand, runs a test (see `lin_test run --help`).
#[derive(Parser)]
#[command(
    name = "lin_test",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

/// One variant per subcommand; each owns its arguments and a `run`.
#[derive(Subcommand)]
enum Command {
    /// Start a cluster, drive it, break it, heal it, check the history (the default).
    Run(RunArgs),
    /// Check an EDN history for linearizability, key by key.
    Check(CheckArgs),
    /// Run one replica (used by the test harness; takes ddbb_server's flags).
    #[command(hide = true)]
    Serve(serve::ServeArgs),
}

/// Network backend for link faults.
#[derive(Clone, Copy, ValueEnum)]
enum NetArg {
    /// iptables when it works here (root, iptables installed) and no latency is asked for,
    /// else the link proxy.
    Auto,
    /// iptables rules in a chain of the run's own; fail if unavailable.
    Iptables,
    /// A TCP proxy per link inside the tester (no privileges; supports latency).
    Proxy,
}

/// Which workload to run.
#[derive(Clone, Copy, ValueEnum)]
enum WorkloadArg {
    /// Single-key reads, writes, CAS and deletes; checked for linearizability key by key.
    Register,
    /// Jepsen's list-append transactions (read phase, then a TXN guarded by IF MOD per key);
    /// checked for strict serializability by an Elle-style checker.
    Txn,
    /// Puts under a prefix while watchers stream it over etcd's gRPC Watch and resume from
    /// their last revision + 1 on other replicas; checked for one gap-free, duplicate-free
    /// revision order that holds every acknowledged put.
    Watch,
    /// Clients take a lock with etcd's recipe (a lease kept alive, a key under a prefix, the
    /// oldest key holds) and increment a counter in a Txn guarded by the fencing token (the
    /// key's create revision); checked for guarded writes that never interleave, no lost
    /// increment and no early lease expiry. Unguarded overlaps (two clients believing they
    /// hold the lock) are reported as a warning.
    Lock,
}

/// Arguments of `lin_test run`.
#[derive(Args, Clone)]
struct RunArgs {
    /// Number of replicas (1-9).
    #[arg(long, default_value_t = 5)]
    nodes: usize,
    /// Number of logical clients, each with one operation in flight; client c talks to
    /// replica c % nodes + 1 (the writers of `--workload watch`).
    #[arg(long, default_value_t = 10)]
    clients: usize,
    /// Lease TTL of `--workload lock`, in seconds (the servers' minimum is 1.5 election
    /// timeouts, rounded up).
    #[arg(long, value_name = "SECS", default_value_t = 2)]
    lock_ttl: i64,
    /// Watchers of `--workload watch` (0: one per replica; watcher w starts on replica
    /// w % nodes + 1).
    #[arg(long, default_value_t = 0)]
    watchers: usize,
    /// Number of keys (registers).
    #[arg(long, default_value_t = 8)]
    keys: usize,
    /// Seconds of workload and faults (the final reads come after).
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    time_limit: f64,
    /// Target operations per second over all clients (0: as fast as possible).
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// What the clients do.
    #[arg(long, value_enum, default_value_t = WorkloadArg::Register)]
    workload: WorkloadArg,
    /// Most micro-operations per transaction of `--workload txn` (the fewest is 2).
    #[arg(long, default_value_t = 4)]
    max_txn_ops: usize,
    /// Operation mix as weights (register workload).
    #[arg(long, default_value = "read=50,write=25,cas=20,delete=5")]
    mix: String,
    /// Faults, comma-separated: families kill, pause, partition, partial, latency; variants
    /// such as kill-leader, partition-ring, quorum-loss, constrained-election, chained; all;
    /// none.
    #[arg(long, default_value = "kill,pause,partition,partial")]
    nemesis: String,
    /// Seconds of each healthy window and of each fault window.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    nemesis_interval: f64,
    /// One-way delay of the latency fault, in milliseconds.
    #[arg(long, default_value_t = 100)]
    latency_ms: u64,
    /// How links are cut.
    #[arg(long, value_enum, default_value_t = NetArg::Auto)]
    net: NetArg,
    /// Run directory [default: lin_test/results/<UTC time>-<pid>].
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Test this ddbb_server binary instead of the server library linked into lin_test.
    #[arg(long, value_name = "PATH")]
    server_bin: Option<PathBuf>,
    /// Extra flag for every replica (repeatable), e.g. --server-arg=--tick-ms=5.
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    server_arg: Vec<String>,
    /// The replicas' --request-timeout-ms; clients wait one second longer.
    #[arg(long, default_value_t = 2000)]
    request_timeout_ms: u64,
    /// UNSAFE server mode for proving the checker: replicas answer linearizable reads from
    /// local state. A run with partitions must then report a violation.
    #[arg(long)]
    unsafe_local_reads: bool,
    /// UNSAFE server mode for proving the txn checker: replicas run each operation of a TXN
    /// as a write of its own. A `--workload txn` run must then report anomalies.
    #[arg(long)]
    unsafe_split_txns: bool,
    /// UNSAFE server mode for proving the watch checker: a watch created with a start
    /// revision loses the first event it is owed. A `--workload watch` run must then report
    /// gaps.
    #[arg(long)]
    unsafe_watch_drop_resumed_event: bool,
    /// UNSAFE server mode for proving the lock workload: followers expire leases too, by a
    /// clock running 10 times fast. A `--workload lock` run must then report early lease
    /// expiries (and unguarded overlaps), while fencing keeps the guarded counter correct.
    #[arg(long)]
    unsafe_follower_lease_expiry: bool,
    /// Give up checking a key after this many seconds (verdict unknown).
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    check_timeout: f64,
    /// Seconds the healed cluster may take to recover before the final reads.
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    recovery_timeout: f64,
    /// Seed of the random choices [default: random, printed].
    #[arg(long)]
    seed: Option<u64>,
    /// Keep the replicas' data directories.
    #[arg(long)]
    keep_data: bool,
}

fn seconds(name: &str, value: f64) -> anyhow::Result<Duration> {
    match Duration::try_from_secs_f64(value) {
        Ok(d) if !d.is_zero() => Ok(d),
        _ => bail!("--{name} must be a positive number of seconds"),
    }
}

/// `<manifest dir>/results/<UTC time>-<pid>` when run from a checkout, else
/// `./lin_test_results/<UTC time>-<pid>`.
fn default_out_dir() -> PathBuf {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, secs) = (now / 86_400, now % 86_400);
    let (y, m, d) = lin_test::report::civil_from_days(days as i64);
    let name = format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z-{}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        std::process::id()
    );
    let checkout = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if checkout.is_dir() {
        checkout.join("results").join(name)
    } else {
        PathBuf::from("lin_test_results").join(name)
    }
}

impl RunArgs {
    fn config(&self) -> anyhow::Result<RunConfig> {
        let faults: Vec<Fault> =
            lin_test::parse_faults(&self.nemesis).map_err(anyhow::Error::msg)?;
        let mix = self
            .mix
            .parse()
            .map_err(anyhow::Error::msg)
            .context("--mix")?;
        if !(1..=lin_test::cluster::MAX_NODES).contains(&self.nodes) {
            bail!(
                "--nodes must be between 1 and {}",
                lin_test::cluster::MAX_NODES
            );
        }
        if self.clients == 0 || self.keys == 0 {
            bail!("--clients and --keys must be positive");
        }
        if self.watchers != 0 && self.watchers < self.nodes {
            bail!("--watchers must be 0 (one per replica) or at least --nodes");
        }
        if !(self.rate >= 0.0 && self.rate.is_finite()) {
            bail!("--rate must be a non-negative number");
        }
        let mut extra = vec![
            "--request-timeout-ms".to_string(),
            self.request_timeout_ms.to_string(),
        ];
        if self.unsafe_local_reads {
            extra.push("--unsafe-local-reads".into());
        }
        if self.unsafe_split_txns {
            extra.push("--unsafe-split-txns".into());
        }
        if self.unsafe_watch_drop_resumed_event {
            extra.push("--unsafe-watch-drop-resumed-event".into());
        }
        if self.unsafe_follower_lease_expiry {
            extra.push("--unsafe-follower-lease-expiry".into());
        }
        if self.lock_ttl < 1 {
            bail!("--lock-ttl must be at least 1 second");
        }
        if self.max_txn_ops == 0 {
            bail!("--max-txn-ops must be positive");
        }
        extra.extend(self.server_arg.iter().cloned());
        let server = match &self.server_bin {
            Some(path) => ServerCommand::external(path.clone(), extra),
            None => ServerCommand::embedded(extra)?,
        };
        Ok(RunConfig {
            nodes: self.nodes,
            clients: self.clients,
            watchers: self.watchers,
            keys: self.keys,
            time_limit: seconds("time-limit", self.time_limit)?,
            rate: self.rate,
            mix,
            workload: match self.workload {
                WorkloadArg::Register => lin_test::runner::WorkloadKind::Register,
                WorkloadArg::Txn => lin_test::runner::WorkloadKind::Txn,
                WorkloadArg::Watch => lin_test::runner::WorkloadKind::Watch,
                WorkloadArg::Lock => lin_test::runner::WorkloadKind::Lock,
            },
            max_txn_ops: self.max_txn_ops,
            lock_ttl: self.lock_ttl,
            faults,
            nemesis_interval: seconds("nemesis-interval", self.nemesis_interval)?,
            latency: Duration::from_millis(self.latency_ms),
            net: match self.net {
                NetArg::Auto => NetChoice::Auto,
                NetArg::Iptables => NetChoice::Iptables,
                NetArg::Proxy => NetChoice::Proxy,
            },
            out: self.out.clone().unwrap_or_else(default_out_dir),
            server,
            op_timeout: Duration::from_millis(self.request_timeout_ms) + CLIENT_TIMEOUT_SLACK,
            check_timeout: seconds("check-timeout", self.check_timeout)?,
            recovery_timeout: seconds("recovery-timeout", self.recovery_timeout)?,
            seed: self.seed.unwrap_or_else(rand::random),
            keep_data: self.keep_data,
        })
    }

    /// Runs the test; the exit code is the verdict.
    fn run(&self) -> anyhow::Result<u8> {
        let config = self.config()?;
        // Whatever panics, replicas and iptables chains must not outlive the tester.
        lin_test::cleanup::install_panic_hook();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?;
        let outcome = runtime.block_on(async {
            let (trigger, stop) = ddbb_libs::shutdown::channel();
            tokio::spawn(async move {
                use tokio::signal::unix::{signal, SignalKind};
                let kinds = [
                    SignalKind::interrupt(),
                    SignalKind::terminate(),
                    SignalKind::hangup(),
                ];
                let mut signals = Vec::new();
                for kind in kinds {
                    match signal(kind) {
                        Ok(s) => signals.push(s),
                        Err(e) => eprintln!("lin_test: cannot handle signal {kind:?}: {e}"),
                    }
                }
                let mut first = true;
                loop {
                    if !any_signal(&mut signals).await {
                        return;
                    }
                    if first {
                        eprintln!(
                            "\nlin_test: interrupted: healing faults, stopping the cluster and \
                             writing the history (again to abort at once)"
                        );
                        trigger.trigger();
                        first = false;
                    } else {
                        eprintln!("\nlin_test: aborting: killing the replicas, removing the rules");
                        lin_test::cleanup::emergency();
                        std::process::exit(EXIT_INTERRUPTED.into());
                    }
                }
            });
            lin_test::run(config, stop).await
        });
        // Replicas and rules were released by their owners; this catches anything left over.
        lin_test::cleanup::emergency();
        drop(runtime);
        let outcome = outcome?;
        if outcome.interrupted {
            return Ok(EXIT_INTERRUPTED);
        }
        Ok(match outcome.overall {
            Overall::Linearizable { .. }
            | Overall::StrictSerializable { .. }
            | Overall::WatchValid { .. }
            | Overall::LockValid { .. } => EXIT_LINEARIZABLE,
            Overall::NotLinearizable { .. }
            | Overall::NotStrictSerializable { .. }
            | Overall::WatchInvalid { .. }
            | Overall::LockInvalid { .. } => EXIT_NOT_LINEARIZABLE,
            Overall::Unknown { .. } => EXIT_UNKNOWN_OR_ERROR,
        })
    }
}

/// Waits for the first of `signals`; false if none can fire.
async fn any_signal(signals: &mut [tokio::signal::unix::Signal]) -> bool {
    if signals.is_empty() {
        return false;
    }
    std::future::poll_fn(|cx| {
        for signal in signals.iter_mut() {
            if let std::task::Poll::Ready(received) = signal.poll_recv(cx) {
                return std::task::Poll::Ready(received.is_some());
            }
        }
        std::task::Poll::Pending
    })
    .await
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
        if lin_test::txn_history::is_txn_history(&text) {
            return check_txn_history(&text, &file.to_string());
        }
        if lin_test::watch_history::is_watch_history(&text) {
            return check_watch_history(&text, &file.to_string());
        }
        if lin_test::lock_history::is_lock_history(&text) {
            return check_lock_history(&text, &file.to_string());
        }
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

/// `lin_test check` on a list-append (`:f :txn`) history: the Elle-style checker.
fn check_txn_history(text: &str, file: &str) -> anyhow::Result<u8> {
    use lin_test::checker::append::{check_append, TxnVerdict};
    let events = lin_test::txn_history::parse_txn_events(text).with_context(|| file.to_string())?;
    let txns = lin_test::txn_history::pair_txns(&events).with_context(|| file.to_string())?;
    let report = check_append(&txns);
    for anomaly in &report.anomalies {
        println!("{anomaly}");
    }
    let [ok, fail, info] = report.outcomes;
    println!(
        "{} transactions ({ok} ok, {fail} fail, {info} info) on {} keys: {}{} ({:.3} s)",
        txns.len(),
        report.keys,
        report.verdict,
        if report.counts.is_empty() {
            String::new()
        } else {
            format!(": {}", report.anomaly_list())
        },
        report.elapsed.as_secs_f64()
    );
    Ok(match report.verdict {
        TxnVerdict::StrictSerializable => EXIT_LINEARIZABLE,
        _ => EXIT_NOT_LINEARIZABLE,
    })
}

/// `lin_test check` on a watch history (`--workload watch`): the watch checker.
fn check_watch_history(text: &str, file: &str) -> anyhow::Result<u8> {
    use lin_test::checker::watch::{check_watch, WatchCheckOptions};
    use lin_test::watch_history::{parse_watch_history, puts, watcher_logs};
    let history = parse_watch_history(text).with_context(|| file.to_string())?;
    let options = WatchCheckOptions {
        final_revision: history.final_revision,
        contiguous: true,
    };
    let report = check_watch(
        &puts(&history.records),
        &watcher_logs(&history.records),
        options,
    );
    for problem in &report.problems {
        println!("{problem}");
    }
    let [ok, fail, info] = report.puts;
    println!(
        "{} watchers ({} streams, {} resumptions, {} events) and {} puts ({ok} ok, {fail} fail, \
         {info} info): {} ({:.3} s)",
        report.watchers,
        report.sessions,
        report.resumptions,
        report.events,
        ok + fail + info,
        if report.valid() {
            "valid watch streams".to_string()
        } else {
            format!("NOT valid: {}", report.problem_list())
        },
        report.elapsed.as_secs_f64()
    );
    Ok(if report.valid() {
        EXIT_LINEARIZABLE
    } else {
        EXIT_NOT_LINEARIZABLE
    })
}

/// `lin_test check` on a lock history (`--workload lock`): the lock checker.
fn check_lock_history(text: &str, file: &str) -> anyhow::Result<u8> {
    use lin_test::checker::lock::{check_lock, LockCheckOptions};
    let records =
        lin_test::lock_history::parse_lock_history(text).with_context(|| file.to_string())?;
    let report = check_lock(&records, LockCheckOptions::default());
    let mut text = String::new();
    lin_test::report::lock_checker_text(&report, &mut text);
    print!("{text}");
    let [ok, fail, info] = report.increments;
    println!(
        "{} acquisitions, {} guarded increments ({ok} ok, {fail} fail, {info} info), final \
         counter {}: {} ({:.3} s)",
        report.acquisitions[0],
        ok + fail + info,
        report
            .final_counter
            .map_or_else(|| "not read".to_string(), |c| c.to_string()),
        if report.valid() {
            format!("valid lock, {} unguarded overlaps", report.overlaps.pairs)
        } else {
            format!("NOT valid: {}", report.problem_list())
        },
        report.elapsed.as_secs_f64()
    );
    Ok(if report.valid() {
        EXIT_LINEARIZABLE
    } else {
        EXIT_NOT_LINEARIZABLE
    })
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Check(args)) => args.run(),
        Some(Command::Serve(args)) => return serve::main(args),
        Some(Command::Run(args)) => args.run(),
        None => cli.run.run(),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(EXIT_UNKNOWN_OR_ERROR)
        }
    }
}
