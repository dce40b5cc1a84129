//! Steady-state runs: closed-loop clients, a warm-up, then a measured window.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::cluster::Cluster;
use crate::driver::{Conn, Outcome, Timeouts};
use crate::histogram::Latency;
use crate::procfs::{CpuMark, Usage};
use crate::workload::{self, OpGen, Workload};

/// Which members clients connect to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    /// The leader only (etcd's single-client rows).
    Leader,
    /// Connections spread round-robin over all members.
    All,
}

/// The shape of one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Shape {
    /// Replicas in the cluster.
    pub replicas: usize,
    /// What the clients send.
    pub workload: Workload,
    /// Value size in bytes.
    pub value_size: usize,
    /// Concurrent clients (each one request at a time).
    pub clients: usize,
    /// Connections the clients share.
    pub conns: usize,
    /// Which members the connections go to.
    pub target: Target,
}

impl Shape {
    /// `put, 256 B, 64 clients/8 conns, all, 3 replicas`
    pub fn label(&self) -> String {
        format!(
            "{}, {} B, {} clients/{} conns, {}, {} replicas",
            self.workload.name(),
            self.value_size,
            self.clients,
            self.conns,
            match self.target {
                Target::Leader => "leader",
                Target::All => "all members",
            },
            self.replicas
        )
    }
}

/// How long a run lasts.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    /// Unmeasured time first.
    pub warmup: Duration,
    /// Then either a fixed time or a fixed number of operations.
    pub measure: Measure,
}

/// The measured part of a run.
#[derive(Clone, Copy, Debug)]
pub enum Measure {
    /// Operations started within this time.
    Time(Duration),
    /// This many operations.
    Count(u64),
}

/// What one run measured.
#[derive(Debug)]
pub struct RunOutput {
    /// Operations that succeeded in the measured window.
    pub ops: u64,
    /// Operations that failed, warm-up included.
    pub errors: u64,
    /// CAS operations that did not swap.
    pub cas_misses: u64,
    /// Length of the measured window (first start to last completion).
    pub elapsed: Duration,
    /// Latencies of the measured operations.
    pub latency: Latency,
    /// CPU and memory of the servers (and of the bench) during the window.
    pub usage: Usage,
    /// The first error message, if any.
    pub first_error: Option<String>,
}

struct ClientTally {
    latency: Latency,
    ok: u64,
    errors: u64,
    cas_misses: u64,
    last_end: Option<Instant>,
    first_error: Option<String>,
}

/// Opens the connections of `shape` to `cluster`.
pub async fn connect(cluster: &Cluster, shape: &Shape) -> Result<Vec<Conn>> {
    let endpoints = cluster.endpoints();
    let leader = match shape.target {
        Target::Leader => Some(cluster.leader().await?),
        Target::All => None,
    };
    let mut conns = Vec::with_capacity(shape.conns);
    for j in 0..shape.conns.max(1) {
        let first = leader.unwrap_or(j % endpoints.len());
        conns.push(
            Conn::connect(cluster.protocol, &endpoints, first, false, Timeouts::STEADY).await?,
        );
    }
    Ok(conns)
}

/// Writes every key of the shared key space with `value_size`-byte values; returns the
/// revision of a write made after all of them (every preloaded version is visible at it:
/// `get-old` reads there).
pub async fn preload(cluster: &Cluster, keys: u64, value_size: usize) -> Result<i64> {
    let ops = (0..keys).map(|i| workload::Op::Put {
        key: workload::key(i),
        value: workload::value(value_size, i),
    });
    load(cluster, ops.collect()).await.context("preload")?;
    let conn = Conn::connect(
        cluster.protocol,
        &cluster.endpoints(),
        0,
        true,
        Timeouts::STEADY,
    )
    .await?;
    conn.put_revision("bench-preloaded", "mark")
        .await
        .context("preload mark")
}

/// Writes the initial values of the keys of CAS run `run` with `clients` clients.
pub async fn preload_cas(
    cluster: &Cluster,
    run: u32,
    clients: usize,
    value_size: usize,
) -> Result<()> {
    let ops = (0..workload::cas_key_count(clients)).map(|i| workload::Op::Put {
        key: workload::cas_key(run, i),
        value: workload::cas_initial_value(value_size, i),
    });
    load(cluster, ops.collect()).await.context("CAS preload")
}

/// Sends `ops` with 64 concurrent clients over 4 connections; any failure is an error.
async fn load(cluster: &Cluster, ops: Vec<workload::Op>) -> Result<()> {
    const CLIENTS: usize = 64;
    let endpoints = cluster.endpoints();
    let mut conns = Vec::new();
    for j in 0..4 {
        conns.push(
            Conn::connect(
                cluster.protocol,
                &endpoints,
                j % endpoints.len(),
                true,
                Timeouts::STEADY,
            )
            .await?,
        );
    }
    let ops = Arc::new(ops);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks: tokio::task::JoinSet<Result<()>> = tokio::task::JoinSet::new();
    for c in 0..CLIENTS {
        let conn = conns[c % conns.len()].clone();
        let (ops, next) = (ops.clone(), next.clone());
        tasks.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(op) = ops.get(i) else {
                    return Ok(());
                };
                conn.execute(op).await.map_err(anyhow::Error::msg)?;
            }
        });
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    Ok(())
}

/// Runs `shape` against `cluster`; `keys` is the size of the preloaded key space and
/// `cas_run` names the CAS keys (preloaded by the caller).
pub async fn steady(
    cluster: &Cluster,
    shape: &Shape,
    budget: Budget,
    keys: u64,
    seed: u64,
    cas_run: u32,
) -> Result<RunOutput> {
    let conns = connect(cluster, shape).await?;
    let start = Instant::now();
    let warm_end = start + budget.warmup;
    let measure_end = match budget.measure {
        Measure::Time(d) => Some(warm_end + d),
        Measure::Count(_) => None,
    };
    let remaining = Arc::new(AtomicI64::new(match budget.measure {
        Measure::Count(n) => n as i64,
        Measure::Time(_) => i64::MAX,
    }));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..shape.clients {
        let conn = conns[client % conns.len()].clone();
        let mut generator = OpGen::new(
            shape.workload,
            keys,
            shape.value_size,
            client,
            shape.clients,
            seed,
            cas_run,
        )
        .with_old_revision(cluster.old_revision);
        let (remaining, stop) = (remaining.clone(), stop.clone());
        tasks.spawn(async move {
            let mut tally = ClientTally {
                latency: Latency::new(),
                ok: 0,
                errors: 0,
                cas_misses: 0,
                last_end: None,
                first_error: None,
            };
            loop {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let t0 = Instant::now();
                let measured = t0 >= warm_end;
                if measured {
                    if measure_end.is_some_and(|end| t0 >= end) {
                        break;
                    }
                    if remaining.fetch_sub(1, Ordering::Relaxed) <= 0 {
                        break;
                    }
                }
                let op = generator.next_op();
                let result = conn.execute(&op).await;
                let t1 = Instant::now();
                match result {
                    Ok(outcome) => {
                        if let Outcome::Cas(swapped) = outcome {
                            generator.cas_outcome(swapped);
                            if measured && !swapped {
                                tally.cas_misses += 1;
                            }
                        }
                        if measured {
                            tally.ok += 1;
                            tally.latency.record(t1 - t0);
                            tally.last_end = Some(t1);
                        }
                    }
                    Err(e) => {
                        generator.cas_outcome(false);
                        tally.errors += 1;
                        tally.first_error.get_or_insert(e);
                    }
                }
            }
            tally
        });
    }
    tokio::time::sleep_until(warm_end).await;
    let mark = CpuMark::start(&cluster.pids());
    if let Some(end) = measure_end {
        tokio::time::sleep_until(end).await;
    }
    let mut out = RunOutput {
        ops: 0,
        errors: 0,
        cas_misses: 0,
        elapsed: Duration::ZERO,
        latency: Latency::new(),
        usage: Usage::default(),
        first_error: None,
    };
    let mut last_end = warm_end;
    // Tasks end on their own: after the window, or when the count is used up (every
    // operation is bounded by the client timeouts). The guard only catches a stuck client.
    let guard_deadline = match measure_end {
        Some(_) => Instant::now() + Timeouts::STEADY.op * 2,
        None => Instant::now() + Duration::from_secs(24 * 3600),
    };
    loop {
        let next = tokio::time::timeout_at(guard_deadline, tasks.join_next()).await;
        let Ok(Some(done)) = next else {
            if next.is_err() {
                // A stuck client: stop the others and abandon it.
                stop.store(true, Ordering::Relaxed);
                tasks.abort_all();
                out.errors += 1;
                out.first_error
                    .get_or_insert_with(|| "a client did not finish in time".into());
            }
            break;
        };
        let tally = done.context("client task")?;
        out.ops += tally.ok;
        out.errors += tally.errors;
        out.cas_misses += tally.cas_misses;
        out.latency.merge(&tally.latency);
        if let Some(end) = tally.last_end {
            last_end = last_end.max(end);
        }
        if out.first_error.is_none() {
            out.first_error = tally.first_error;
        }
    }
    out.usage = mark.finish();
    out.elapsed = last_end.saturating_duration_since(warm_end);
    Ok(out)
}
