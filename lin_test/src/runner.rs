//! One test run, start to finish: cluster up, workload and nemesis, heal, final reads,
//! cluster down, history written, checked, reported.
//!
//! Order matters for cleanliness: the replicas are killed and the network rules removed as
//! soon as the final reads are done, before the (possibly long) check, and on every early
//! return the owners ([`Cluster`], [`Network`]) clean up when dropped.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::checker::append::check_append;
use crate::checker::lock::{check_lock, LockCheckOptions};
use crate::checker::watch::{check_watch, WatchCheckOptions};
use crate::checker::{check_operations, CheckOptions};
use crate::cluster::{self, AddressPlan, Cluster, ServerCommand};
use crate::error::{Error, Result};
use crate::history::pair_operations;
use crate::lock_workload::{LockWorkload, LockWorkloadConfig};
use crate::nemesis::{Fault, Nemesis, NemesisConfig};
use crate::network::{NetChoice, NetMode, Network};
use crate::recorder::Recorder;
use crate::report::{self, Overall, RunReport};
use crate::txn_history::pair_txns;
use crate::txn_workload::{TxnWorker, TxnWorkload, TxnWorkloadConfig};
use crate::watch_history::{puts, watcher_logs};
use crate::watch_workload::{WatchWorkload, WatchWorkloadConfig};
use crate::watcher::Watchers;
use crate::workload::{Mix, Worker, Workload, WorkloadConfig};
use ddbb_libs::shutdown::Shutdown;

/// Which workload a run drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WorkloadKind {
    /// Single-key reads, writes, CAS and deletes, checked for linearizability key by key.
    #[default]
    Register,
    /// Jepsen's list-append transactions, checked for strict serializability.
    Txn,
    /// Puts under a prefix while watchers stream it over gRPC and resume on other replicas;
    /// checked for one gap-free, duplicate-free revision order.
    Watch,
    /// Clients take a lock (etcd's recipe over leases) and increment a counter guarded by the
    /// fencing token; checked for guarded writes that never interleave, no lost increment,
    /// and no early lease expiry, with unguarded overlaps reported as a warning.
    Lock,
}

/// The workload of a run, shared by its clients.
enum Driver {
    Register(Arc<Workload>),
    Txn(Arc<TxnWorkload>),
    Watch(Arc<WatchWorkload>),
    Lock(Arc<LockWorkload>),
}

/// One client of any workload (a watch writer has nothing left to do after the workload).
enum AnyWorker {
    Register(Worker),
    Txn(TxnWorker),
    Watch,
    Lock,
}

/// How long a fresh cluster may take to elect a leader and connect every link.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How often progress is printed during the workload.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// Most time the watchers get to catch up after healing (within the recovery timeout).
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a watcher keeps one stream before resuming elsewhere: shortest and longest.
const WATCH_RESUME_AFTER: (Duration, Duration) =
    (Duration::from_millis(300), Duration::from_millis(2500));
/// Most guarded increments per hold of the lock workload.
const LOCK_MAX_INCREMENTS: usize = 2;
/// Lines of each replica log shown when the cluster does not come up.
const LOG_TAIL_LINES: usize = 8;

/// Everything a run needs to know.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Number of replicas.
    pub nodes: usize,
    /// Number of logical clients (the writers of the watch workload).
    pub clients: usize,
    /// Watchers of the watch workload (0: one per replica).
    pub watchers: usize,
    /// Number of keys.
    pub keys: usize,
    /// How long the workload and the nemesis run.
    pub time_limit: Duration,
    /// Target operations per second (0: unthrottled).
    pub rate: f64,
    /// Operation mix (register workload).
    pub mix: Mix,
    /// Which workload.
    pub workload: WorkloadKind,
    /// Most micro-operations per transaction (txn workload; the fewest is 2, or this if less).
    pub max_txn_ops: usize,
    /// Lease TTL of the lock workload, in seconds.
    pub lock_ttl: i64,
    /// Faults the nemesis takes turns with.
    pub faults: Vec<Fault>,
    /// Length of each healthy and fault window.
    pub nemesis_interval: Duration,
    /// Delay of the latency fault.
    pub latency: Duration,
    /// Network backend.
    pub net: NetChoice,
    /// The run directory.
    pub out: PathBuf,
    /// How to start a replica.
    pub server: ServerCommand,
    /// How long a client waits for a reply (a bit more than the servers' request timeout).
    pub op_timeout: Duration,
    /// Checker timeout per key.
    pub check_timeout: Duration,
    /// How long the healed cluster may take to recover before the final reads.
    pub recovery_timeout: Duration,
    /// Seed of the workload's and the nemesis' random choices.
    pub seed: u64,
    /// Keep the replicas' data directories (printed) instead of deleting them.
    pub keep_data: bool,
}

/// What a run concluded.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// The verdict over all keys.
    pub overall: Overall,
    /// The run directory.
    pub out: PathBuf,
    /// The network backend used.
    pub network: NetMode,
    /// The summary text (also in `summary.txt`).
    pub summary: String,
    /// True if the run was stopped early (Ctrl-C): no final reads.
    pub interrupted: bool,
}

/// Aborts the run's background tasks if the run returns early, so that they release the
/// cluster and the network (whose owners clean up when the last handle drops).
struct AbortOnDrop(Vec<tokio::task::AbortHandle>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

fn harness(message: impl Into<String>) -> Error {
    Error::Harness(message.into())
}

/// The last lines of a replica log, for error messages.
fn log_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(LOG_TAIL_LINES)..].join("\n    ")
}

/// Runs one test and writes its run directory.
///
/// # Errors
/// [`Error::Harness`] if the cluster cannot be set up or never becomes healthy, [`Error::Io`]
/// if the run directory cannot be written. Everything started is cleaned up either way.
pub async fn run(config: RunConfig, mut stop: Shutdown) -> Result<RunOutcome> {
    let out = config.out.clone();
    std::fs::create_dir_all(&out).map_err(|source| Error::Io {
        path: out.clone(),
        source,
    })?;
    let log_dir = out.join("logs");
    let nemesis_log_path = out.join("nemesis.log");
    let nemesis_log = std::fs::File::create(&nemesis_log_path).map_err(|source| Error::Io {
        path: nemesis_log_path.clone(),
        source,
    })?;
    let fault_names: Vec<&str> = config.faults.iter().map(|f| f.name()).collect();
    let shape = match config.workload {
        WorkloadKind::Register => format!("mix {}", config.mix),
        WorkloadKind::Txn => format!(
            "workload txn (list-append, {}-{} ops per txn)",
            config.max_txn_ops.min(2),
            config.max_txn_ops
        ),
        WorkloadKind::Watch => format!(
            "workload watch ({} watchers over gRPC, resuming on other replicas)",
            watcher_count(&config)
        ),
        WorkloadKind::Lock => format!(
            "workload lock (etcd's lock recipe over gRPC, lease TTL {} s, fenced increments)",
            config.lock_ttl
        ),
    };
    let title = format!(
        "lin_test run: {} replicas, {} clients, {} keys, {:.0} s, rate {}/s, {shape}, nemesis [{}] every {:.1} s",
        config.nodes,
        config.clients,
        config.keys,
        config.time_limit.as_secs_f64(),
        config.rate,
        fault_names.join(","),
        config.nemesis_interval.as_secs_f64()
    );
    println!("{title}");
    println!("run directory: {}", out.display());

    let plan = AddressPlan::new(config.nodes)?;
    let wants_latency = config.faults.contains(&Fault::Latency);
    let network = Network::start(&plan, config.net, wants_latency).await?;
    let mut notes = vec![format!(
        "network faults: {} ({}); replicas on {}",
        network.mode(),
        network.notes().join("; "),
        plan.block()
    )];
    let mode = network.mode();
    let partitions = config.faults.iter().any(|f| f.is_network());
    if mode == NetMode::Proxy && partitions {
        println!(
            "NOTE: partitions are injected with the tester's link proxy, not iptables ({})",
            network.notes().join("; ")
        );
    }
    let server = if matches!(config.workload, WorkloadKind::Watch | WorkloadKind::Lock) {
        config.server.clone().with_grpc()
    } else {
        config.server.clone()
    };
    notes.push(format!("servers: {}", server.describe()));
    notes.push(format!(
        "seed {}; client timeout {} ms; run directory {}",
        config.seed,
        config.op_timeout.as_millis(),
        out.display()
    ));
    for note in &notes {
        println!("  {note}");
    }
    let network = Arc::new(Mutex::new(network));

    let data = tempfile::Builder::new()
        .prefix("lin_test-data-")
        .tempdir()
        .map_err(|e| {
            harness(format!(
                "cannot create a temp dir for the replicas' data: {e}"
            ))
        })?;
    let cluster = Arc::new(Cluster::start(plan.clone(), server, data.path(), &log_dir)?);
    let leader = match cluster::wait_healthy(&plan, STARTUP_TIMEOUT, &mut stop).await {
        Ok(leader) => leader,
        Err(problem) => {
            let mut message = format!("the cluster did not come up: {problem}");
            for id in plan.ids() {
                message.push_str(&format!(
                    "\n  {}:\n    {}",
                    cluster.log_path(id).display(),
                    log_tail(&cluster.log_path(id))
                ));
            }
            return Err(harness(message));
        }
    };
    println!(
        "cluster healthy (leader {leader}); workload for {:.0} s",
        config.time_limit.as_secs_f64()
    );

    // The workload and the nemesis.
    let recorder = Arc::new(Recorder::new());
    let driver = match config.workload {
        WorkloadKind::Register => Driver::Register(Arc::new(Workload::new(WorkloadConfig {
            keys: config.keys,
            clients: config.clients,
            rate: config.rate,
            mix: config.mix,
            seed: config.seed,
            op_timeout: config.op_timeout,
        }))),
        WorkloadKind::Txn => Driver::Txn(Arc::new(TxnWorkload::new(TxnWorkloadConfig {
            keys: config.keys,
            clients: config.clients,
            rate: config.rate,
            min_mops: config.max_txn_ops.min(2),
            max_mops: config.max_txn_ops,
            seed: config.seed,
            op_timeout: config.op_timeout,
        }))),
        WorkloadKind::Watch => Driver::Watch(Arc::new(WatchWorkload::new(
            WatchWorkloadConfig {
                keys: config.keys,
                writers: config.clients,
                watchers: watcher_count(&config),
                rate: config.rate,
                seed: config.seed,
                op_timeout: config.op_timeout,
                resume_after: WATCH_RESUME_AFTER,
            },
            plan.clone(),
        ))),
        WorkloadKind::Lock => Driver::Lock(Arc::new(LockWorkload::new(
            LockWorkloadConfig {
                clients: config.clients,
                ttl: config.lock_ttl,
                rate: config.rate,
                max_increments: LOCK_MAX_INCREMENTS,
                seed: config.seed,
                op_timeout: config.op_timeout,
            },
            plan.clone(),
        ))),
    };
    if let Driver::Lock(workload) = &driver {
        let order: Vec<_> = std::iter::once(leader).chain(plan.ids()).collect();
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        if let Err(e) = workload.setup(&order, &recorder, deadline, &mut stop).await {
            return Err(harness(format!(
                "could not set up the lock workload's counter: {e}"
            )));
        }
    }
    let watchers = match &driver {
        Driver::Watch(workload) => Some(Watchers::start(workload, &recorder, stop.clone())),
        _ => None,
    };
    let until = Instant::now() + config.time_limit;
    let mut tasks = AbortOnDrop(Vec::new());
    let mut clients = Vec::new();
    for c in 0..config.clients {
        let node = (c % config.nodes) as u64 + 1;
        let addr = plan.client_addr(node);
        let (recorder, stop) = (recorder.clone(), stop.clone());
        let client = match &driver {
            Driver::Register(workload) => {
                let (workload, worker) = (workload.clone(), workload.worker(c, addr));
                tokio::spawn(async move {
                    AnyWorker::Register(workload.run(worker, &recorder, until, stop).await)
                })
            }
            Driver::Txn(workload) => {
                let (workload, worker) = (workload.clone(), workload.worker(c, addr));
                tokio::spawn(async move {
                    AnyWorker::Txn(workload.run(worker, &recorder, until, stop).await)
                })
            }
            Driver::Watch(workload) => {
                let (workload, writer) = (workload.clone(), workload.writer(c));
                tokio::spawn(async move {
                    workload.run_writer(writer, &recorder, until, stop).await;
                    AnyWorker::Watch
                })
            }
            Driver::Lock(workload) => {
                let (workload, client) = (workload.clone(), workload.client(c));
                tokio::spawn(async move {
                    workload.run(client, recorder, until, stop).await;
                    AnyWorker::Lock
                })
            }
        };
        tasks.0.push(client.abort_handle());
        clients.push(client);
    }
    let mut nemesis = Nemesis::new(
        NemesisConfig {
            faults: config.faults.clone(),
            interval: config.nemesis_interval,
            latency: config.latency,
            seed: config.seed,
        },
        cluster.clone(),
        network.clone(),
        recorder.clone(),
        Some(nemesis_log),
    );
    let nemesis_task = tokio::spawn({
        let stop = stop.clone();
        async move {
            nemesis.run(until, stop).await;
            nemesis
        }
    });
    tasks.0.push(nemesis_task.abort_handle());
    let progress = tokio::spawn({
        let (recorder, mut stop) = (recorder.clone(), stop.clone());
        async move {
            let started = Instant::now();
            while stop.sleep(PROGRESS_EVERY).await && Instant::now() < until {
                println!(
                    "progress {:>6.1} s  {} events",
                    started.elapsed().as_secs_f64(),
                    recorder.len()
                );
            }
        }
    });
    let mut workers = Vec::new();
    for client in clients {
        workers.push(
            client
                .await
                .map_err(|e| harness(format!("a client task failed: {e}")))?,
        );
    }
    let mut nemesis = nemesis_task
        .await
        .map_err(|e| harness(format!("the nemesis task failed: {e}")))?;
    progress.abort();
    drop(tasks);
    let workload_end = recorder.now_ns();

    // Heal everything, let the cluster recover, read every key everywhere.
    nemesis.heal_all().await;
    let interrupted = stop.is_triggered();
    let mut final_start = None;
    let mut catch_up = None;
    if !interrupted {
        let mut healed_leader = None;
        match cluster::wait_healthy(&plan, config.recovery_timeout, &mut stop).await {
            Ok(leader) => {
                println!("healed; cluster healthy again (leader {leader}); final reads");
                healed_leader = Some(leader);
            }
            Err(problem) => {
                let text = format!(
                    "cluster still unhealthy after healing ({problem}); final reads anyway"
                );
                println!("WARNING: {text}");
                nemesis.note(&text);
            }
        }
        final_start = Some(recorder.now_ns());
        match config.workload {
            WorkloadKind::Watch => recorder.nemesis("catch-up", "every watcher catches up"),
            WorkloadKind::Lock => recorder.nemesis("final-read", "the counter is read"),
            _ => recorder.nemesis("final-reads", "every client reads every key"),
        };
        let mut readers = Vec::new();
        for worker in workers {
            let (recorder, stop) = (recorder.clone(), stop.clone());
            readers.push(match (&driver, worker) {
                (Driver::Register(workload), AnyWorker::Register(worker)) => {
                    let workload = workload.clone();
                    tokio::spawn(async move { workload.final_reads(worker, &recorder, stop).await })
                }
                (Driver::Txn(workload), AnyWorker::Txn(worker)) => {
                    let workload = workload.clone();
                    tokio::spawn(async move { workload.final_reads(worker, &recorder, stop).await })
                }
                (Driver::Watch(_), AnyWorker::Watch) | (Driver::Lock(_), AnyWorker::Lock) => {
                    continue
                }
                _ => return Err(harness("internal error: a worker of the other workload")),
            });
        }
        for reader in readers {
            reader
                .await
                .map_err(|e| harness(format!("a final-read task failed: {e}")))?;
        }
        if let Driver::Lock(workload) = &driver {
            let deadline = Instant::now() + config.recovery_timeout.min(CATCH_UP_TIMEOUT);
            let order: Vec<_> = healed_leader.into_iter().chain(plan.ids()).collect();
            match workload
                .final_read(&order, &recorder, deadline, &mut stop)
                .await
            {
                Some(counter) => println!("final counter {counter}"),
                None => println!("WARNING: the final counter could not be read"),
            }
        }
        if let (Driver::Watch(workload), Some(watchers)) = (&driver, watchers) {
            let deadline = Instant::now() + config.recovery_timeout.min(CATCH_UP_TIMEOUT);
            let order: Vec<_> = healed_leader.into_iter().chain(plan.ids()).collect();
            let revision = workload.final_revision(&order, deadline, &mut stop).await;
            let text = match revision {
                Some(r) => format!("final revision {r}: every watcher must catch up with it"),
                None => "the final revision could not be read; watchers stop".to_string(),
            };
            if let Some(r) = revision {
                // The value is the bare number, which `lin_test check` reads back.
                recorder.nemesis("final-revision", &r.to_string());
            }
            let done = watchers.finish(revision, deadline).await;
            println!(
                "{text}; {} of {} watchers caught up",
                done.caught_up, done.watchers
            );
            catch_up = revision.map(|r| (r, done));
        }
    } else if let Some(watchers) = watchers {
        watchers.finish(None, Instant::now()).await;
    }
    let end = recorder.now_ns();

    // Down with the cluster and the rules before the check.
    cluster.stop_all();
    let faults = nemesis.records().to_vec();
    drop(nemesis);
    drop(cluster);
    if let Ok(network) = Arc::try_unwrap(network) {
        drop(network.into_inner());
    }
    if config.keep_data {
        let kept = data.keep();
        notes.push(format!("replica data kept in {}", kept.display()));
    } else {
        drop(data);
    }

    let entries = recorder.entries();
    report::write_history(&out, &entries)?;
    let phases = report::phases(&faults, workload_end, final_start, end);
    if config.workload == WorkloadKind::Watch {
        let records = report::watch_records(&entries);
        let (puts, logs) = (puts(&records), watcher_logs(&records));
        println!(
            "checking {} watchers' logs against {} puts...",
            logs.len(),
            puts.len()
        );
        let options = WatchCheckOptions {
            final_revision: catch_up.map(|(r, _)| r),
            contiguous: true,
        };
        let check = tokio::task::spawn_blocking(move || check_watch(&puts, &logs, options))
            .await
            .map_err(|e| harness(format!("the checker failed: {e}")))?;
        let times = (workload_end, end, check.elapsed);
        timing_notes(&mut notes, "catch-up", times, interrupted);
        let overall = Overall::from_watch(&check);
        let watch_report = report::WatchRunReport {
            title,
            notes: &notes,
            entries: &entries,
            faults: &faults,
            phases,
            check: &check,
            caught_up: catch_up.map(|(_, done)| done),
            overall: overall.clone(),
        };
        let summary = report::write_watch_report(&out, &watch_report)?;
        return Ok(finished(overall, out, mode, summary, interrupted));
    }
    if config.workload == WorkloadKind::Lock {
        let records = report::lock_records(&entries);
        println!("checking {} lock events...", records.len());
        let check =
            tokio::task::spawn_blocking(move || check_lock(&records, LockCheckOptions::default()))
                .await
                .map_err(|e| harness(format!("the checker failed: {e}")))?;
        let times = (workload_end, end, check.elapsed);
        timing_notes(&mut notes, "final read", times, interrupted);
        let overall = Overall::from_lock(&check);
        let lock_report = report::LockRunReport {
            title,
            notes: &notes,
            entries: &entries,
            faults: &faults,
            phases,
            check: &check,
            overall: overall.clone(),
        };
        let summary = report::write_lock_report(&out, &lock_report)?;
        return Ok(finished(overall, out, mode, summary, interrupted));
    }
    if config.workload == WorkloadKind::Txn {
        let txns = pair_txns(&report::txn_events(&entries))?;
        println!("checking {} transactions...", txns.len());
        let checked = txns.clone();
        let check = tokio::task::spawn_blocking(move || check_append(&checked))
            .await
            .map_err(|e| harness(format!("the checker failed: {e}")))?;
        let times = (workload_end, end, check.elapsed);
        timing_notes(&mut notes, "final reads", times, interrupted);
        let overall = Overall::from_append(&check);
        let txn_report = report::TxnRunReport {
            title,
            notes: &notes,
            entries: &entries,
            txns: &txns,
            faults: &faults,
            phases,
            check: &check,
            overall: overall.clone(),
        };
        let summary = report::write_txn_report(&out, &txn_report)?;
        return Ok(finished(overall, out, mode, summary, interrupted));
    }
    let ops = pair_operations(&report::client_events(&entries))?;
    println!(
        "checking {} operations on {} keys...",
        ops.len(),
        report::keys(&entries).len()
    );
    let check_started = std::time::Instant::now();
    let options = CheckOptions {
        timeout: Some(config.check_timeout),
        ..CheckOptions::default()
    };
    let checked_ops = ops.clone();
    let reports = tokio::task::spawn_blocking(move || check_operations(&checked_ops, &options))
        .await
        .map_err(|e| harness(format!("the checker failed: {e}")))?;
    let times = (workload_end, end, check_started.elapsed());
    timing_notes(&mut notes, "final reads", times, interrupted);
    let overall = Overall::from_reports(&reports);
    let run_report = RunReport {
        title,
        notes: &notes,
        entries: &entries,
        ops: &ops,
        faults: &faults,
        phases,
        reports: &reports,
        overall: overall.clone(),
        clients: config.clients,
        nodes: config.nodes,
    };
    let summary = report::write_report(&out, &run_report)?;
    println!("\n{summary}");
    println!(
        "history, summary and timelines: {}/index.html",
        out.display()
    );
    Ok(RunOutcome {
        overall,
        out,
        network: mode,
        summary,
        interrupted,
    })
}

/// The notes on how long the run's parts took (`(workload end, end, check time)`), and
/// whether it was interrupted before its `last` phase.
fn timing_notes(
    notes: &mut Vec<String>,
    last: &str,
    (workload_end, end, check): (i64, i64, Duration),
    interrupted: bool,
) {
    notes.push(format!(
        "workload {:.1} s, recovery and {last} {:.1} s, check {:.3} s",
        report::secs(workload_end),
        report::secs(end - workload_end),
        check.as_secs_f64()
    ));
    if interrupted {
        notes.push(format!("INTERRUPTED: stopped early, no {last}"));
    }
}

/// Watchers of a watch run: as configured, or one per replica.
fn watcher_count(config: &RunConfig) -> usize {
    if config.watchers == 0 {
        config.nodes
    } else {
        config.watchers
    }
}

/// Prints the summary of a run without timelines and says where it is.
fn finished(
    overall: Overall,
    out: PathBuf,
    network: NetMode,
    summary: String,
    interrupted: bool,
) -> RunOutcome {
    println!("\n{summary}");
    println!("history and summary: {}/index.html", out.display());
    RunOutcome {
        overall,
        out,
        network,
        summary,
        interrupted,
    }
}
