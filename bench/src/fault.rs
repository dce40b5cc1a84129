//! Fault scenarios: a write load with a throughput timeline while the cluster is hurt.
//!
//! - **kill-leader** (3 replicas): kill -9 the leader.
//! - **quorum-loss** (5): every link is cut except those of one follower `C`, so `C` is the
//!   only server still connected to a majority; the old leader is not.
//! - **constrained-election** (5): first a follower `C` is isolated long enough to fall
//!   behind; then the leader is isolated and the links among the three others are cut, so
//!   the only server connected to a majority is `C`, whose log is outdated.
//! - **chained** (3): the link between the leader and one follower is cut; the third server
//!   still reaches both.
//!
//! The partial-connectivity scenarios are those of the OmniPaxos paper (EuroSys 2023); the
//! cuts are iptables rules between the members' loopback addresses ([`crate::iptables`]) and
//! are healed after the fault phase. Clients (16 over 4 failover connections, spread over all
//! members) write 256-byte values throughout; every operation is placed in the 100 ms bucket
//! in which it completed. "Writes back after" is the time from the fault to the completion of
//! the first write that was *sent* after the fault and succeeded; "half throughput after" is
//! the time to the end of the first 100 ms bucket after the fault with at least half the
//! throughput of before it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use crate::cluster::{Cluster, Launcher, System, Timing};
use crate::driver::{Conn, Timeouts};
use crate::iptables::{Endpoint, Firewall};
use crate::workload::{OpGen, Workload};

/// Width of one timeline bucket.
pub const BUCKET: Duration = Duration::from_millis(100);
/// Clients writing during a fault scenario.
pub const CLIENTS: usize = 16;
/// Connections they share.
pub const CONNS: usize = 4;
/// Value size of their writes.
pub const VALUE_SIZE: usize = 256;
/// Keys they write to.
const KEYS: u64 = 10_000;

/// A fault scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// kill -9 the leader.
    KillLeader,
    /// Only one follower stays connected to a majority.
    QuorumLoss,
    /// The only quorum-connected server has an outdated log.
    ConstrainedElection,
    /// The leader loses its link to one follower.
    Chained,
}

impl Scenario {
    /// All, in report order.
    pub const ALL: [Scenario; 4] = [
        Scenario::KillLeader,
        Scenario::QuorumLoss,
        Scenario::ConstrainedElection,
        Scenario::Chained,
    ];

    /// File and table name.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::KillLeader => "kill-leader",
            Scenario::QuorumLoss => "quorum-loss",
            Scenario::ConstrainedElection => "constrained-election",
            Scenario::Chained => "chained",
        }
    }

    /// Cluster size.
    pub fn replicas(self) -> usize {
        match self {
            Scenario::KillLeader | Scenario::Chained => 3,
            Scenario::QuorumLoss | Scenario::ConstrainedElection => 5,
        }
    }

    /// Whether it needs iptables.
    pub fn needs_firewall(self) -> bool {
        self != Scenario::KillLeader
    }
}

/// How long each phase lasts.
#[derive(Clone, Copy, Debug)]
pub struct Phases {
    /// Healthy load before the fault.
    pub before: Duration,
    /// Constrained election only: how long the follower is isolated to fall behind.
    pub lag: Duration,
    /// The fault itself (the partitions are healed after it).
    pub fault: Duration,
    /// Load after healing.
    pub after: Duration,
}

/// One point of a timeline.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Start of the bucket, seconds since the load started.
    pub t_s: f64,
    /// Successful writes per second in the bucket.
    pub ok_per_s: f64,
    /// Failed writes per second in the bucket.
    pub errors_per_s: f64,
}

/// Something the scenario did, on the timeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Seconds since the load started.
    pub t_s: f64,
    /// What happened.
    pub what: String,
}

/// The result of one scenario against one system.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FaultResult {
    /// The system.
    pub system: System,
    /// The scenario.
    pub scenario: Scenario,
    /// Cluster size.
    pub replicas: usize,
    /// Throughput per 100 ms.
    pub timeline: Vec<Point>,
    /// Faults and heals.
    pub events: Vec<Event>,
    /// Seconds since the load started when the (main) fault hit.
    pub fault_at_s: f64,
    /// When the partitions were healed, if they were.
    pub heal_at_s: Option<f64>,
    /// Time from the fault to the first successful write sent after it (ms); `None` if no
    /// write sent after the fault succeeded before the partitions were healed (or the end).
    pub recovery_ms: Option<f64>,
    /// Time from the fault to the first 100 ms bucket with at least half the throughput of
    /// before the fault (ms); `None` if none came before the heal (or the end).
    pub half_throughput_ms: Option<f64>,
    /// Mean writes/s before the fault.
    pub before_per_s: f64,
    /// Mean writes/s during the fault.
    pub during_per_s: f64,
    /// Mean writes/s after healing (or in the last phase).
    pub after_per_s: f64,
    /// Successful writes in total.
    pub ops: u64,
    /// Failed writes (timeouts, connection errors) in total.
    pub errors: u64,
}

/// Shared counters of a running load.
struct Timeline {
    start: Instant,
    ok: Vec<AtomicU64>,
    err: Vec<AtomicU64>,
    /// Microseconds since start at which the fault hit (`u64::MAX` before).
    fault_us: AtomicU64,
    /// Microseconds since start at which the partitions were healed (`u64::MAX` before).
    heal_us: AtomicU64,
    /// Smallest (completion − fault) of successful writes sent after the fault, µs.
    recovery_us: AtomicU64,
    stop: AtomicBool,
}

impl Timeline {
    fn bucket(&self, at: Instant) -> usize {
        ((at - self.start).as_micros() / BUCKET.as_micros()) as usize
    }
}

/// Runs `scenario` against a fresh cluster of `system`.
///
/// # Errors
/// When the cluster cannot start, or a partition scenario is asked without a firewall.
pub async fn run(
    launcher: &Launcher,
    firewall: Option<&Firewall>,
    system: System,
    scenario: Scenario,
    phases: Phases,
) -> Result<FaultResult> {
    if scenario.needs_firewall() && firewall.is_none() {
        bail!("{} needs iptables (run as root)", scenario.name());
    }
    let n = scenario.replicas();
    let mut cluster = Cluster::start(launcher, system, n, Timing::Matched).await?;
    let endpoints = cluster.endpoints();
    let mut conns = Vec::new();
    for j in 0..CONNS {
        conns
            .push(Conn::connect(cluster.protocol, &endpoints, j % n, true, Timeouts::FAULT).await?);
    }
    let lag = if scenario == Scenario::ConstrainedElection {
        phases.lag
    } else {
        Duration::ZERO
    };
    let total = phases.before + lag + phases.fault + phases.after;
    let buckets = (total.as_micros() / BUCKET.as_micros()) as usize + 100;
    let timeline = Arc::new(Timeline {
        start: Instant::now(),
        ok: (0..buckets).map(|_| AtomicU64::new(0)).collect(),
        err: (0..buckets).map(|_| AtomicU64::new(0)).collect(),
        fault_us: AtomicU64::new(u64::MAX),
        heal_us: AtomicU64::new(u64::MAX),
        recovery_us: AtomicU64::new(u64::MAX),
        stop: AtomicBool::new(false),
    });
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..CLIENTS {
        let conn = conns[client % conns.len()].clone();
        let mut generator = OpGen::new(Workload::Put, KEYS, VALUE_SIZE, client, CLIENTS, 99, 0);
        let timeline = timeline.clone();
        tasks.spawn(async move {
            while !timeline.stop.load(Ordering::Relaxed) {
                let op = generator.next_op();
                let t0 = Instant::now();
                let sent_us = (t0 - timeline.start).as_micros() as u64;
                let result = conn.execute(&op).await;
                let t1 = Instant::now();
                let b = timeline.bucket(t1).min(timeline.ok.len() - 1);
                match result {
                    Ok(_) => {
                        timeline.ok[b].fetch_add(1, Ordering::Relaxed);
                        let fault = timeline.fault_us.load(Ordering::Relaxed);
                        if sent_us >= fault {
                            let done_us = (t1 - timeline.start).as_micros() as u64;
                            timeline
                                .recovery_us
                                .fetch_min(done_us - fault, Ordering::Relaxed);
                        }
                    }
                    Err(_) => {
                        timeline.err[b].fetch_add(1, Ordering::Relaxed);
                        // Don't spin on an endpoint that refuses at once.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
        });
    }
    let at = |d: Duration| timeline.start + d;
    let since = |t: Instant| (t - timeline.start).as_secs_f64();
    let mark_fault = |tl: &Timeline| {
        let us = tl.start.elapsed().as_micros() as u64;
        tl.fault_us.store(us, Ordering::Relaxed);
    };
    let mut events = Vec::new();
    tokio::time::sleep_until(at(phases.before)).await;
    let leader = cluster.leader().await?;
    let m = |i: usize| cluster.members[i].endpoint();
    let others: Vec<usize> = (0..n).filter(|&i| i != leader).collect();
    let c = others[0];
    let mut heal_at = None;
    match scenario {
        Scenario::KillLeader => {
            cluster.kill(leader);
            // Marked once the leader is dead and reaped: a write sent before could still
            // have been committed by it.
            mark_fault(&timeline);
            events.push(Event {
                t_s: since(Instant::now()),
                what: format!("kill -9 leader {}", leader + 1),
            });
            tokio::time::sleep_until(at(phases.before + phases.fault + phases.after)).await;
        }
        _ => {
            let firewall = firewall.expect("checked above");
            let cuts: Vec<(Endpoint, Endpoint)> = match scenario {
                Scenario::QuorumLoss => pairs(n)
                    .into_iter()
                    .filter(|&(a, b)| a != c && b != c)
                    .map(|(a, b)| (m(a), m(b)))
                    .collect(),
                Scenario::ConstrainedElection => {
                    let isolate_c: Vec<_> = others[1..]
                        .iter()
                        .chain([&leader])
                        .map(|&x| (m(c), m(x)))
                        .collect();
                    firewall.set_cuts(&isolate_c)?;
                    events.push(Event {
                        t_s: since(Instant::now()),
                        what: format!("isolate follower {} (it falls behind)", c + 1),
                    });
                    tokio::time::sleep_until(at(phases.before + lag)).await;
                    let rest = &others[1..];
                    let mut cuts: Vec<_> = others.iter().map(|&x| (m(leader), m(x))).collect();
                    for (i, &a) in rest.iter().enumerate() {
                        for &b in &rest[i + 1..] {
                            cuts.push((m(a), m(b)));
                        }
                    }
                    cuts
                }
                Scenario::Chained => vec![(m(leader), m(c))],
                Scenario::KillLeader => unreachable!(),
            };
            firewall.set_cuts(&cuts)?;
            // Marked once the rules are in place (iptables-restore takes milliseconds, in
            // which writes still go through).
            mark_fault(&timeline);
            events.push(Event {
                t_s: since(Instant::now()),
                what: match scenario {
                    Scenario::QuorumLoss => format!(
                        "cut all links but follower {}'s (leader was {})",
                        c + 1,
                        leader + 1
                    ),
                    Scenario::ConstrainedElection => format!(
                        "isolate leader {}; only lagging {} reaches a majority",
                        leader + 1,
                        c + 1
                    ),
                    _ => format!("cut link leader {} - follower {}", leader + 1, c + 1),
                },
            });
            tokio::time::sleep_until(at(phases.before + lag + phases.fault)).await;
            firewall.set_cuts(&[])?;
            let now = Instant::now();
            timeline
                .heal_us
                .store((now - timeline.start).as_micros() as u64, Ordering::Relaxed);
            heal_at = Some(since(now));
            events.push(Event {
                t_s: since(now),
                what: "heal".into(),
            });
            tokio::time::sleep_until(at(total)).await;
        }
    }
    let end = Instant::now();
    timeline.stop.store(true, Ordering::Relaxed);
    // Clients stop after their operation in flight (bounded by the client timeout).
    let _ = tokio::time::timeout(Timeouts::FAULT.op * 2, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    tasks.abort_all();
    drop(cluster);

    let fault_us = timeline.fault_us.load(Ordering::Relaxed);
    let heal_us = timeline.heal_us.load(Ordering::Relaxed);
    let recovery_us = timeline.recovery_us.load(Ordering::Relaxed);
    let end_bucket = timeline.bucket(end).min(timeline.ok.len());
    let points: Vec<Point> = (0..end_bucket)
        .map(|b| Point {
            t_s: b as f64 * BUCKET.as_secs_f64(),
            ok_per_s: timeline.ok[b].load(Ordering::Relaxed) as f64 / BUCKET.as_secs_f64(),
            errors_per_s: timeline.err[b].load(Ordering::Relaxed) as f64 / BUCKET.as_secs_f64(),
        })
        .collect();
    let fault_s = fault_us as f64 / 1e6;
    let heal_s = heal_at.unwrap_or(f64::INFINITY);
    // A recovery only counts while the fault is in place (a heal fixes anything).
    let recovery_ms = (recovery_us != u64::MAX
        && (heal_us == u64::MAX || recovery_us + fault_us <= heal_us))
        .then(|| recovery_us as f64 / 1000.0);
    let mean = |from: f64, to: f64| {
        let sel: Vec<f64> = points
            .iter()
            .filter(|p| p.t_s >= from && p.t_s + BUCKET.as_secs_f64() <= to)
            .map(|p| p.ok_per_s)
            .collect();
        if sel.is_empty() {
            0.0
        } else {
            sel.iter().sum::<f64>() / sel.len() as f64
        }
    };
    let first_fault_s = events.first().map(|e| e.t_s).unwrap_or(fault_s);
    let end_s = since(end);
    let before_per_s = mean(0.5, first_fault_s);
    let half_throughput_ms = points
        .iter()
        .filter(|p| p.t_s >= fault_s && p.t_s < heal_s)
        .find(|p| p.ok_per_s >= before_per_s / 2.0 && before_per_s > 0.0)
        .map(|p| (p.t_s + BUCKET.as_secs_f64() - fault_s) * 1000.0);
    let (during_to, after_from) = if heal_s.is_finite() {
        (heal_s, heal_s)
    } else {
        let to = (fault_s + phases.fault.as_secs_f64()).min(end_s);
        (to, to)
    };
    Ok(FaultResult {
        system,
        scenario,
        replicas: n,
        half_throughput_ms,
        before_per_s,
        during_per_s: mean(fault_s, during_to),
        after_per_s: mean(after_from, end_s),
        ops: points
            .iter()
            .map(|p| p.ok_per_s * BUCKET.as_secs_f64())
            .sum::<f64>() as u64,
        errors: points
            .iter()
            .map(|p| p.errors_per_s * BUCKET.as_secs_f64())
            .sum::<f64>() as u64,
        timeline: points,
        events,
        fault_at_s: fault_s,
        heal_at_s: heal_at,
        recovery_ms,
    })
}

/// Every unordered pair of `0..n`.
fn pairs(n: usize) -> Vec<(usize, usize)> {
    (0..n)
        .flat_map(|a| (a + 1..n).map(move |b| (a, b)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_unordered_and_complete() {
        assert_eq!(pairs(3), vec![(0, 1), (0, 2), (1, 2)]);
        assert_eq!(pairs(5).len(), 10);
    }
}
