//! The workload-specific wiring of a run, in one place: which workload is built from the
//! configuration, what its clients do, what it does before the clients start and after
//! healing. The phases of [`super::run`] call these and never match on the workload.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::cluster::AddressPlan;
use crate::error::Result;
use crate::lock_workload::{LockWorkload, LockWorkloadConfig};
use crate::recorder::Recorder;
use crate::txn_workload::{TxnWorker, TxnWorkload, TxnWorkloadConfig};
use crate::watch_workload::{WatchWorkload, WatchWorkloadConfig};
use crate::watcher::{CatchUp, Watchers};
use crate::workload::{Worker, Workload, WorkloadConfig};
use ddbb_libs::shutdown::Shutdown;
use ddbb_libs::NodeId;

use super::{
    harness, watcher_count, RunConfig, WorkloadKind, CATCH_UP_TIMEOUT, LOCK_MAX_INCREMENTS,
    STARTUP_TIMEOUT, WATCH_RESUME_AFTER,
};

/// The workload of a run, shared by its clients (and, for watch, its watchers once started).
pub(super) enum Driver {
    Register(Arc<Workload>),
    Txn(Arc<TxnWorkload>),
    Watch(Arc<WatchWorkload>, Option<Watchers>),
    Lock(Arc<LockWorkload>),
}

/// One client of any workload once the workload is over (a watch writer and a lock client
/// have nothing left to do).
pub(super) enum AnyWorker {
    Register(Worker),
    Txn(TxnWorker),
    Watch,
    Lock,
}

impl WorkloadKind {
    /// How the title describes the workload.
    pub(super) fn shape(self, config: &RunConfig) -> String {
        match self {
            WorkloadKind::Register => format!("mix {}", config.mix),
            WorkloadKind::Txn => format!(
                "workload txn (list-append, {}-{} ops per txn)",
                config.max_txn_ops.min(2),
                config.max_txn_ops
            ),
            WorkloadKind::Watch => format!(
                "workload watch ({} watchers over gRPC, resuming on other replicas)",
                watcher_count(config)
            ),
            WorkloadKind::Lock => format!(
                "workload lock (etcd's lock recipe over gRPC, lease TTL {} s, fenced increments)",
                config.lock_ttl
            ),
        }
    }

    /// True if the replicas must also serve etcd's gRPC API.
    pub(super) fn needs_grpc(self) -> bool {
        matches!(self, WorkloadKind::Watch | WorkloadKind::Lock)
    }

    /// The phase after healing: its name in the notes, and the name and description of the
    /// marker that starts it in the history.
    pub(super) fn last_phase(self) -> (&'static str, &'static str, &'static str) {
        match self {
            WorkloadKind::Register | WorkloadKind::Txn => {
                ("final reads", "final-reads", "every client reads every key")
            }
            WorkloadKind::Watch => ("catch-up", "catch-up", "every watcher catches up"),
            WorkloadKind::Lock => ("final read", "final-read", "the counter is read"),
        }
    }
}

impl Driver {
    /// Builds the workload that `config` asks for.
    pub(super) fn new(config: &RunConfig, plan: &AddressPlan) -> Driver {
        match config.workload {
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
            WorkloadKind::Watch => Driver::Watch(
                Arc::new(WatchWorkload::new(
                    WatchWorkloadConfig {
                        keys: config.keys,
                        writers: config.clients,
                        watchers: watcher_count(config),
                        rate: config.rate,
                        seed: config.seed,
                        op_timeout: config.op_timeout,
                        resume_after: WATCH_RESUME_AFTER,
                    },
                    plan.clone(),
                )),
                None,
            ),
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
        }
    }

    /// What comes before the clients: the lock workload's counter is created (asking
    /// `leader` first), the watch workload's watchers start.
    pub(super) async fn prepare(
        &mut self,
        leader: NodeId,
        plan: &AddressPlan,
        recorder: &Arc<Recorder>,
        stop: &mut Shutdown,
    ) -> Result<()> {
        match self {
            Driver::Lock(workload) => {
                let order: Vec<_> = std::iter::once(leader).chain(plan.ids()).collect();
                let deadline = Instant::now() + STARTUP_TIMEOUT;
                if let Err(e) = workload.setup(&order, recorder, deadline, stop).await {
                    return Err(harness(format!(
                        "could not set up the lock workload's counter: {e}"
                    )));
                }
            }
            Driver::Watch(workload, watchers) => {
                *watchers = Some(Watchers::start(workload, recorder, stop.clone()));
            }
            Driver::Register(_) | Driver::Txn(_) => {}
        }
        Ok(())
    }

    /// Starts client `c`, bound to `addr` (the register and txn workloads; the others pick
    /// their replicas themselves), until `until`.
    pub(super) fn spawn_client(
        &self,
        c: usize,
        addr: SocketAddr,
        recorder: Arc<Recorder>,
        until: Instant,
        stop: Shutdown,
    ) -> JoinHandle<AnyWorker> {
        match self {
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
            Driver::Watch(workload, _) => {
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
        }
    }

    /// The final reads of one client after healing, if its workload has any.
    ///
    /// # Errors
    /// [`crate::Error::Harness`] for a worker of another workload (an internal error).
    pub(super) fn spawn_final_reads(
        &self,
        worker: AnyWorker,
        recorder: Arc<Recorder>,
        stop: Shutdown,
    ) -> Result<Option<JoinHandle<()>>> {
        Ok(Some(match (self, worker) {
            (Driver::Register(workload), AnyWorker::Register(worker)) => {
                let workload = workload.clone();
                tokio::spawn(async move { workload.final_reads(worker, &recorder, stop).await })
            }
            (Driver::Txn(workload), AnyWorker::Txn(worker)) => {
                let workload = workload.clone();
                tokio::spawn(async move { workload.final_reads(worker, &recorder, stop).await })
            }
            (Driver::Watch(..), AnyWorker::Watch) | (Driver::Lock(_), AnyWorker::Lock) => {
                return Ok(None)
            }
            _ => return Err(harness("internal error: a worker of the other workload")),
        }))
    }

    /// After the clients' final reads: the lock workload reads its counter once, the watch
    /// workload reads the final revision and waits for its watchers to catch up with it
    /// (which it returns, with how many did). `order` is the replicas to ask, best first.
    pub(super) async fn finish(
        self,
        order: &[NodeId],
        config: &RunConfig,
        recorder: &Recorder,
        stop: &mut Shutdown,
    ) -> Option<(i64, CatchUp)> {
        let deadline = Instant::now() + config.recovery_timeout.min(CATCH_UP_TIMEOUT);
        match self {
            Driver::Lock(workload) => {
                match workload.final_read(order, recorder, deadline, stop).await {
                    Some(counter) => println!("final counter {counter}"),
                    None => println!("WARNING: the final counter could not be read"),
                }
                None
            }
            Driver::Watch(workload, Some(watchers)) => {
                let revision = workload.final_revision(order, deadline, stop).await;
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
                revision.map(|r| (r, done))
            }
            Driver::Register(_) | Driver::Txn(_) | Driver::Watch(_, None) => None,
        }
    }

    /// Instead of [`Driver::finish`] when the run was interrupted: the watchers stop at once.
    pub(super) async fn abandon(self) {
        if let Driver::Watch(_, Some(watchers)) = self {
            watchers.finish(None, Instant::now()).await;
        }
    }
}
