//! `ddbb-bench lease`: lease keepalive throughput and lock acquire/release cycles, DDBB and
//! etcd side by side.
//!
//! Both clusters (3 members each) run at once on loopback, DDBB serving etcd's gRPC API on
//! `--grpc-addr`, so both systems are driven by the same client code: `ddbb_proto`'s generated
//! `LeaseClient`, `KvClient` and `WatchClient`.
//!
//! - **keepalive** runs (16 and 64 streams by default), the shape of etcd's `benchmark
//!   lease-keepalive`: every stream grants a lease (TTL 100 s), then sends keepalives for it
//!   back to back on one `LeaseKeepAlive` stream, each after the previous one's response;
//!   keepalives answered per second and their latency, after a warm-up;
//! - **lock** runs (1 and 16 contenders by default): each contender loops over cycles of
//!   grant a lease, acquire the lock with etcd's recipe (`clientv3/concurrency/mutex.go`),
//!   an empty critical section, release by revoking the lease; cycles per second, acquire
//!   latency, and a check that no two critical sections interleave.
//!
//! Parts: [`keepalive`] (one keepalive run), [`lock`] (one lock run), [`report`] (markdown,
//! JSON, CSV).

mod keepalive;
mod lock;
mod report;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use tonic::transport::Channel;

use crate::cluster::Cluster;
use crate::compare::{conns_for, SideBySide, SideBySideArgs};
use crate::driver::{etcd_channel, Timeouts};
use crate::run::Target;
pub use keepalive::KeepAliveShape;
pub use lock::LockShape;
pub use report::{KeepAliveResult, LeaseReport, LockResult};

/// Options of `ddbb-bench lease`.
#[derive(Args, Debug, Clone)]
pub struct LeaseArgs {
    /// `--quick`, `--out` and the systems.
    #[command(flatten)]
    pub bench: SideBySideArgs,
    /// Keepalive streams of the keepalive runs, one lease each (default: 16,64; quick: 4,16;
    /// 0 skips them).
    #[arg(long, value_delimiter = ',')]
    pub streams: Vec<usize>,
    /// Contenders of the lock runs (default: 1,16; 0 skips them).
    #[arg(long, value_delimiter = ',')]
    pub contenders: Vec<usize>,
    /// Measured seconds per run (default: 5; quick: 1).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Warm-up seconds of the keepalive runs (default: 1; quick: 0.3).
    #[arg(long)]
    pub warmup: Option<f64>,
    /// TTL of the keepalive runs' leases, seconds (etcd's benchmark grants 100).
    #[arg(long, default_value_t = 100)]
    pub keepalive_ttl: i64,
    /// TTL of the lock sessions' leases, seconds (nothing keeps them alive: a cycle is short).
    #[arg(long, default_value_t = 10)]
    pub lock_ttl: i64,
    /// Longest wait, after the measured time, for the lock cycles in progress to end
    /// (seconds); a contender still waiting then gives up.
    #[arg(long, default_value_t = 30.0)]
    pub drain: f64,
}

/// One run of the plan.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Run {
    /// Keepalive throughput.
    KeepAlive(KeepAliveShape),
    /// Lock cycles.
    Lock(LockShape),
}

/// The runs of `args`, in order: keepalive runs, then lock runs.
pub fn plan(args: &LeaseArgs) -> Vec<Run> {
    let q = args.bench.quick;
    let duration_s = args.duration.unwrap_or(if q { 1.0 } else { 5.0 });
    let streams = match (args.streams.as_slice(), q) {
        ([], true) => vec![4, 16],
        ([], false) => vec![16, 64],
        (s, _) => s.to_vec(),
    };
    let contenders = if args.contenders.is_empty() {
        vec![1, 16]
    } else {
        args.contenders.clone()
    };
    let keepalive = streams.into_iter().filter(|&s| s > 0).map(|streams| {
        Run::KeepAlive(KeepAliveShape {
            streams,
            conns: conns_for(streams),
            warmup_s: args.warmup.unwrap_or(if q { 0.3 } else { 1.0 }),
            duration_s,
            ttl: args.keepalive_ttl,
        })
    });
    let lock = contenders.into_iter().filter(|&c| c > 0).map(|contenders| {
        Run::Lock(LockShape {
            contenders,
            conns: conns_for(contenders),
            target: target(contenders),
            duration_s,
            ttl: args.lock_ttl,
            drain_s: args.drain,
        })
    });
    keepalive.chain(lock).collect()
}

/// One client talks to the leader (etcd's latency rows); more spread over the members.
fn target(clients: usize) -> Target {
    if clients == 1 {
        Target::Leader
    } else {
        Target::All
    }
}

/// The members `conns` connections go to (by index), round-robin over `target`.
async fn members_for(cluster: &Cluster, target: Target, conns: usize) -> Result<Vec<usize>> {
    let members = match target {
        Target::Leader => vec![cluster.leader().await.context("finding the leader")?],
        Target::All => cluster.alive(),
    };
    if members.is_empty() {
        bail!("no member is running");
    }
    Ok((0..conns.max(1))
        .map(|j| members[j % members.len()])
        .collect())
}

/// Per connection: a channel for unary calls (5 s per request) and one for streams (no
/// request timeout: a stream lives as long as it is needed).
fn channels(cluster: &Cluster, members: &[usize]) -> Result<Vec<(Channel, Channel)>> {
    let endpoints = cluster.endpoints();
    members
        .iter()
        .map(|&m| {
            Ok((
                etcd_channel(&endpoints[m], Timeouts::STEADY.op)?,
                crate::watch::stream::channel(&endpoints[m])?,
            ))
        })
        .collect()
}

/// A unary call bounded by the client timeout: the reply, or why not, as one line.
async fn call<T>(
    call: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<T, String> {
    match tokio::time::timeout(Timeouts::STEADY.op, call).await {
        Ok(Ok(r)) => Ok(r.into_inner()),
        Ok(Err(status)) => Err(crate::driver::status_text(&status)),
        Err(_) => Err(format!("no answer within {:?}", Timeouts::STEADY.op)),
    }
}

/// Runs the lease benchmark and writes the report; returns the output directory.
///
/// # Errors
/// When a cluster cannot start or the report cannot be written; a run that fails is noted in
/// the report and makes the whole command fail at the end.
pub async fn lease(args: LeaseArgs) -> Result<PathBuf> {
    let runs = plan(&args);
    if runs.is_empty() {
        bail!("nothing to run (no streams, no contenders)");
    }
    // Both clusters side by side; each run goes to DDBB then to etcd.
    let mut bench = SideBySide::start(&args.bench, "lease").await?;
    let mut report = LeaseReport {
        notes: std::mem::take(&mut bench.notes),
        ..LeaseReport::default()
    };
    let mut failures = 0;
    for (n, run) in runs.iter().enumerate() {
        for cluster in &bench.clusters {
            let system = cluster.system;
            let label = match run {
                Run::KeepAlive(s) => s.label(),
                Run::Lock(s) => s.label(),
            };
            eprintln!("{system:>4} {label} ...");
            let outcome = match run {
                Run::KeepAlive(shape) => keepalive::run(cluster, shape).await.map(|out| {
                    let r = KeepAliveResult::new(system, *shape, &out);
                    eprintln!(
                        "{system:>4} {label:<40} {} keepalives/s, p50 {:.2} / p99 {:.2} ms, \
                         {} errors",
                        crate::report::thousands(r.per_s),
                        r.latency.p50_ms,
                        r.latency.p99_ms,
                        r.errors
                    );
                    let problem = r.problem().map(|p| format!("{system}, {label}: {p}"));
                    report.keepalive.push(r);
                    problem
                }),
                Run::Lock(shape) => lock::run(cluster, shape, n).await.map(|out| {
                    let r = LockResult::new(system, *shape, &out);
                    eprintln!(
                        "{system:>4} {label:<40} {} cycles/s ({} cycles), acquire p50 {:.2} / \
                         p99 {:.2} ms, {} overlaps, {} errors",
                        crate::report::thousands(r.per_s),
                        r.cycles,
                        r.acquire.p50_ms,
                        r.acquire.p99_ms,
                        r.overlaps,
                        r.errors
                    );
                    let problem = r.problem().map(|p| format!("{system}, {label}: {p}"));
                    report.lock.push(r);
                    problem
                }),
            };
            match outcome {
                Ok(None) => {}
                Ok(Some(problem)) => {
                    eprintln!("{problem}");
                    report.notes.push(problem);
                }
                Err(e) => {
                    failures += 1;
                    let msg = format!("FAILED: {system}, {label}: {e:#}");
                    eprintln!("{msg}");
                    report.notes.push(msg);
                }
            }
            // Let the closed streams go before the next run.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let settings = vec![
        "3 members per system, each system's defaults, fsync on; one client (contender) \
         on one connection to the leader, more spread round-robin over all members, 4 \
         per connection up to 16, then 8 (as `compare`)"
            .to_string(),
        format!(
            "keepalive: each stream grants a lease of TTL {} s, opens one LeaseKeepAlive \
             stream and sends the next keepalive when the previous one is answered; \
             responses counted after the warm-up; the leases are revoked afterwards",
            args.keepalive_ttl
        ),
        format!(
            "lock: etcd's recipe over gRPC (lease of TTL {} s, not kept alive; Txn put \
             `<prefix><lease hex>` if its create revision is 0 and read the oldest key \
             under the prefix; until ours is the oldest, read the newest key created \
             before ours and watch it, from that read's revision + 1, until deleted; \
             release = revoke the lease); acquire latency = Txn sent → lock held; cycle = \
             grant sent → revoke answered; contenders begin no cycle after the measured \
             time, and cycles/s = cycles / (first grant → last release)",
            args.lock_ttl
        ),
    ];
    report.meta = bench.stop(&args.bench, settings);
    report.write(&bench.out_dir).context("writing the report")?;
    bench.finish(failures)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: LeaseArgs,
    }

    #[test]
    fn the_default_plan_is_the_issues() {
        let runs = plan(&Cli::parse_from(["lease"]).args);
        let streams: Vec<usize> = runs
            .iter()
            .filter_map(|r| match r {
                Run::KeepAlive(s) => Some(s.streams),
                Run::Lock(_) => None,
            })
            .collect();
        assert_eq!(streams, vec![16, 64]);
        let contenders: Vec<(usize, Target)> = runs
            .iter()
            .filter_map(|r| match r {
                Run::Lock(s) => Some((s.contenders, s.target)),
                Run::KeepAlive(_) => None,
            })
            .collect();
        assert_eq!(contenders, vec![(1, Target::Leader), (16, Target::All)]);
        let quick = plan(&Cli::parse_from(["lease", "--quick", "--streams", "0"]).args);
        assert_eq!(quick.len(), 2);
        assert!(quick
            .iter()
            .all(|r| matches!(r, Run::Lock(s) if s.duration_s <= 1.0)));
    }
}
