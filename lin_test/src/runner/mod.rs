//! One test run, start to finish: cluster up, workload and nemesis, heal, final reads,
//! cluster down, history written, checked, reported.
//!
//! Order matters for cleanliness: the replicas are killed and the network rules removed as
//! soon as the final reads are done, before the (possibly long) check, and on every early
//! return the owners ([`Cluster`], [`Network`]) clean up when dropped.

mod check;
mod driver;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::cluster::{self, AddressPlan, Cluster, ServerCommand};
use crate::error::{Error, Result};
use crate::nemesis::{Fault, Nemesis, NemesisConfig};
use crate::network::{NetChoice, NetMode, Network};
use crate::recorder::Recorder;
use crate::report::Overall;
use crate::workload::Mix;
use ddbb_libs::shutdown::Shutdown;
use ddbb_libs::NodeId;

use check::{check_and_report, Collected};
use driver::{AnyWorker, Driver};

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
/// The phases, in order, each a function of this module: the run directory and the title
/// (`create_run_dir`, `announce`); the network and a healthy cluster (`start_cluster`); the
/// workload built and prepared, its clients started (`start_clients`); the nemesis schedule
/// while the clients run (`run_nemesis_schedule`); healing and the final reads
/// (`heal_and_read`); the cluster and the network rules down (`tear_down`); the history
/// checked and reported (`check_and_report`).
///
/// # Errors
/// [`Error::Harness`] if the cluster cannot be set up or never becomes healthy, [`Error::Io`]
/// if the run directory cannot be written. Everything started is cleaned up either way.
pub async fn run(config: RunConfig, mut stop: Shutdown) -> Result<RunOutcome> {
    let nemesis_log = create_run_dir(&config.out)?;
    let title = announce(&config);
    let setup = start_cluster(&config, &mut stop).await?;

    let recorder = Arc::new(Recorder::new());
    let mut driver = Driver::new(&config, &setup.plan);
    driver
        .prepare(setup.leader, &setup.plan, &recorder, &mut stop)
        .await?;
    let until = Instant::now() + config.time_limit;
    let clients = start_clients(&config, &driver, &setup.plan, &recorder, until, &stop);
    let (workers, mut nemesis) = run_nemesis_schedule(
        &config,
        &setup,
        nemesis_log,
        &recorder,
        clients,
        until,
        &stop,
    )
    .await?;
    let workload_end = recorder.now_ns();

    let finale = heal_and_read(
        &config,
        driver,
        workers,
        &mut nemesis,
        &setup.plan,
        &recorder,
        &mut stop,
    )
    .await?;
    let end = recorder.now_ns();

    let (faults, notes, network) = tear_down(setup, nemesis, config.keep_data);
    let collected = Collected {
        title,
        notes,
        entries: recorder.entries(),
        faults,
        workload_end,
        final_start: finale.final_start,
        end,
        catch_up: finale.catch_up,
        interrupted: finale.interrupted,
        network,
    };
    check_and_report(&config, collected).await
}

/// Creates the run directory and opens its nemesis log.
fn create_run_dir(out: &Path) -> Result<std::fs::File> {
    std::fs::create_dir_all(out).map_err(|source| Error::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let nemesis_log_path = out.join("nemesis.log");
    std::fs::File::create(&nemesis_log_path).map_err(|source| Error::Io {
        path: nemesis_log_path.clone(),
        source,
    })
}

/// Prints the run's title (also the first line of its summary) and directory; returns the
/// title.
fn announce(config: &RunConfig) -> String {
    let fault_names: Vec<&str> = config.faults.iter().map(|f| f.name()).collect();
    let title = format!(
        "lin_test run: {} replicas, {} clients, {} keys, {:.0} s, rate {}/s, {}, nemesis [{}] every {:.1} s",
        config.nodes,
        config.clients,
        config.keys,
        config.time_limit.as_secs_f64(),
        config.rate,
        config.workload.shape(config),
        fault_names.join(","),
        config.nemesis_interval.as_secs_f64()
    );
    println!("{title}");
    println!("run directory: {}", config.out.display());
    title
}

/// A healthy cluster and what owns its network: dropping it stops the replicas, deletes
/// their data (unless kept) and removes the network rules, in that order (fields drop in
/// declaration order).
struct Setup {
    /// The replicas.
    cluster: Arc<Cluster>,
    /// Their data directories.
    data: tempfile::TempDir,
    /// The links between them and their faults (shared with the nemesis).
    network: Arc<Mutex<Network>>,
    /// Their addresses.
    plan: AddressPlan,
    /// The network backend.
    mode: NetMode,
    /// The leader once the cluster came up.
    leader: NodeId,
    /// Lines under the title: network backend, servers, seed.
    notes: Vec<String>,
}

/// Sets up the network, starts the replicas and waits until the cluster is healthy.
///
/// # Errors
/// [`Error::Harness`] if the network or the replicas cannot be set up, or the cluster does
/// not come up within [`STARTUP_TIMEOUT`] (with the tail of every replica's log).
async fn start_cluster(config: &RunConfig, stop: &mut Shutdown) -> Result<Setup> {
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
    let server = if config.workload.needs_grpc() {
        config.server.clone().with_grpc()
    } else {
        config.server.clone()
    };
    notes.push(format!("servers: {}", server.describe()));
    notes.push(format!(
        "seed {}; client timeout {} ms; run directory {}",
        config.seed,
        config.op_timeout.as_millis(),
        config.out.display()
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
    let log_dir = config.out.join("logs");
    let cluster = Arc::new(Cluster::start(plan.clone(), server, data.path(), &log_dir)?);
    let leader = match cluster::wait_healthy(&plan, STARTUP_TIMEOUT, stop).await {
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
    Ok(Setup {
        cluster,
        data,
        network,
        plan,
        mode,
        leader,
        notes,
    })
}

/// Starts the workload's clients, client `c` bound to replica `c % nodes + 1`, until `until`.
fn start_clients(
    config: &RunConfig,
    driver: &Driver,
    plan: &AddressPlan,
    recorder: &Arc<Recorder>,
    until: Instant,
    stop: &Shutdown,
) -> Vec<JoinHandle<AnyWorker>> {
    (0..config.clients)
        .map(|c| {
            let node = (c % config.nodes) as u64 + 1;
            let addr = plan.client_addr(node);
            driver.spawn_client(c, addr, recorder.clone(), until, stop.clone())
        })
        .collect()
}

/// Runs the nemesis schedule until `until` while the clients run, printing progress, and
/// waits for both; returns the clients' workers and the nemesis (for healing).
///
/// # Errors
/// [`Error::Harness`] if a client or the nemesis task fails; the others are aborted.
async fn run_nemesis_schedule(
    config: &RunConfig,
    setup: &Setup,
    nemesis_log: std::fs::File,
    recorder: &Arc<Recorder>,
    clients: Vec<JoinHandle<AnyWorker>>,
    until: Instant,
    stop: &Shutdown,
) -> Result<(Vec<AnyWorker>, Nemesis)> {
    let mut tasks = AbortOnDrop(clients.iter().map(JoinHandle::abort_handle).collect());
    let mut nemesis = Nemesis::new(
        NemesisConfig {
            faults: config.faults.clone(),
            interval: config.nemesis_interval,
            latency: config.latency,
            seed: config.seed,
        },
        setup.cluster.clone(),
        setup.network.clone(),
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
    let nemesis = nemesis_task
        .await
        .map_err(|e| harness(format!("the nemesis task failed: {e}")))?;
    progress.abort();
    drop(tasks);
    Ok((workers, nemesis))
}

/// What the phase after healing left for the check.
struct Finale {
    /// True if the run was stopped early: no final reads.
    interrupted: bool,
    /// When the final reads (or the catch-up) started.
    final_start: Option<i64>,
    /// The watch workload's final revision and how many watchers caught up with it.
    catch_up: Option<(i64, crate::watcher::CatchUp)>,
}

/// Heals every fault, lets the cluster recover, and runs the workload's last phase: every
/// client reads every key (register, txn), the counter is read (lock), or every watcher
/// catches up with the final revision (watch). An interrupted run skips all but the healing.
///
/// # Errors
/// [`Error::Harness`] if a final-read task fails.
async fn heal_and_read(
    config: &RunConfig,
    driver: Driver,
    workers: Vec<AnyWorker>,
    nemesis: &mut Nemesis,
    plan: &AddressPlan,
    recorder: &Arc<Recorder>,
    stop: &mut Shutdown,
) -> Result<Finale> {
    nemesis.heal_all().await;
    let interrupted = stop.is_triggered();
    if interrupted {
        driver.abandon().await;
        return Ok(Finale {
            interrupted,
            final_start: None,
            catch_up: None,
        });
    }
    let healed_leader = match cluster::wait_healthy(plan, config.recovery_timeout, stop).await {
        Ok(leader) => {
            println!("healed; cluster healthy again (leader {leader}); final reads");
            Some(leader)
        }
        Err(problem) => {
            let text =
                format!("cluster still unhealthy after healing ({problem}); final reads anyway");
            println!("WARNING: {text}");
            nemesis.note(&text);
            None
        }
    };
    let final_start = Some(recorder.now_ns());
    let (_, marker, description) = config.workload.last_phase();
    recorder.nemesis(marker, description);
    let mut readers = Vec::new();
    for worker in workers {
        if let Some(reader) = driver.spawn_final_reads(worker, recorder.clone(), stop.clone())? {
            readers.push(reader);
        }
    }
    for reader in readers {
        reader
            .await
            .map_err(|e| harness(format!("a final-read task failed: {e}")))?;
    }
    let order: Vec<NodeId> = healed_leader.into_iter().chain(plan.ids()).collect();
    let catch_up = driver.finish(&order, config, recorder, stop).await;
    Ok(Finale {
        interrupted,
        final_start,
        catch_up,
    })
}

/// Stops the replicas and removes the network rules before the (possibly long) check;
/// deletes the replicas' data unless `keep_data`. Returns the faults injected, the notes
/// (with where the data was kept) and the network backend.
fn tear_down(
    setup: Setup,
    nemesis: Nemesis,
    keep_data: bool,
) -> (Vec<crate::nemesis::FaultRecord>, Vec<String>, NetMode) {
    let Setup {
        cluster,
        data,
        network,
        mode,
        mut notes,
        ..
    } = setup;
    cluster.stop_all();
    let faults = nemesis.records().to_vec();
    drop(nemesis);
    drop(cluster);
    if let Ok(network) = Arc::try_unwrap(network) {
        drop(network.into_inner());
    }
    if keep_data {
        let kept = data.keep();
        notes.push(format!("replica data kept in {}", kept.display()));
    } else {
        drop(data);
    }
    (faults, notes, mode)
}

/// Watchers of a watch run: as configured, or one per replica.
fn watcher_count(config: &RunConfig) -> usize {
    if config.watchers == 0 {
        config.nodes
    } else {
        config.watchers
    }
}
