//! `ddbb-bench watch`: watch event latency and fan-out, DDBB and etcd side by side.
//!
//! Both clusters (3 members each) run at once on loopback, DDBB serving etcd's gRPC API on
//! `--grpc-addr`, so both systems are driven by the same client code: `ddbb_proto`'s generated
//! `WatchClient` and `KvClient`. Each run opens W watch streams (one watch each, on the run's
//! key prefix, from now), spread over the members other than the leader; then writers put to
//! the leader at a paced rate for a bounded time; then the watchers drain until each has as
//! many events as puts were acknowledged, or the drain deadline passes.
//!
//! - **latency** runs (W = 1 and 1,000 by default, 200 puts/s, one writer): put acknowledged →
//!   event received, p50/p99/max, with events that beat the acknowledgement counted as 0 and
//!   reported;
//! - **fan-out** runs (W = 1,000, a higher rate, a few writers): events received per second by
//!   all watchers together, and whether every watcher got every event (none lost, none twice,
//!   in revision order).
//!
//! Parts: [`load`] (writers, sequence numbers, the clock), [`stream`] (one watcher),
//! [`run`] (one run), [`report`] (markdown, JSON, CSV).

mod load;
mod report;
mod run;
pub(crate) mod stream;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;

use crate::compare::{SideBySide, SideBySideArgs};
pub use report::{WatchReport, WatchResult};
pub use run::{Kind, WatchShape};

/// Options of `ddbb-bench watch`.
#[derive(Args, Debug, Clone)]
pub struct WatchArgs {
    /// `--quick`, `--out` and the systems.
    #[command(flatten)]
    pub bench: SideBySideArgs,
    /// Watcher counts of the latency runs (default: 1,1000; quick: 1,20).
    #[arg(long, value_delimiter = ',')]
    pub watchers: Vec<usize>,
    /// Puts per second in the latency runs, one per watcher count or one for all (default:
    /// 200,20 so that 1,000 watchers get 20,000 events/s, below what this 2-core machine
    /// saturates at; quick: 100).
    #[arg(long, value_delimiter = ',')]
    pub rate: Vec<f64>,
    /// Seconds of puts per latency run (default: 10; quick: 1).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Watchers of the fan-out run (default: 1000; quick: 20; 0 skips it).
    #[arg(long)]
    pub fanout_watchers: Option<usize>,
    /// Puts per second in the fan-out run (default: 1000; quick: 300).
    #[arg(long)]
    pub fanout_rate: Option<f64>,
    /// Seconds of puts in the fan-out run (default: 5; quick: 1).
    #[arg(long)]
    pub fanout_duration: Option<f64>,
    /// Writers in the fan-out run, sharing one connection to the leader.
    #[arg(long, default_value_t = 4)]
    pub fanout_writers: usize,
    /// Value size in bytes (the first 12 are the put's sequence number).
    #[arg(long, default_value_t = 256)]
    pub value_size: usize,
    /// Longest wait, after the last put, for every watcher to have every event (seconds).
    #[arg(long, default_value_t = 30.0)]
    pub drain: f64,
}

/// The runs of `args`, in order.
pub fn plan(args: &WatchArgs) -> Vec<WatchShape> {
    let q = args.bench.quick;
    let watchers = if args.watchers.is_empty() {
        if q {
            vec![1, 20]
        } else {
            vec![1, 1000]
        }
    } else {
        args.watchers.clone()
    };
    let rates = match (args.rate.as_slice(), q) {
        ([], true) => vec![100.0],
        ([], false) if args.watchers.is_empty() => vec![200.0, 20.0],
        ([], false) => vec![200.0],
        (rates, _) => rates.to_vec(),
    };
    let rate = |i: usize| rates.get(i).or(rates.last()).copied().unwrap_or(200.0);
    let latency = WatchShape {
        kind: Kind::Latency,
        watchers: 1,
        rate: rate(0),
        writers: 1,
        duration_s: args.duration.unwrap_or(if q { 1.0 } else { 10.0 }),
        value_size: args.value_size,
        drain_s: args.drain,
    };
    let mut shapes: Vec<WatchShape> = watchers
        .into_iter()
        .enumerate()
        .filter(|&(_, w)| w > 0)
        .map(|(i, watchers)| WatchShape {
            watchers,
            rate: rate(i),
            ..latency
        })
        .collect();
    let fanout_watchers = args.fanout_watchers.unwrap_or(if q { 20 } else { 1000 });
    if fanout_watchers > 0 {
        shapes.push(WatchShape {
            kind: Kind::FanOut,
            watchers: fanout_watchers,
            rate: args.fanout_rate.unwrap_or(if q { 300.0 } else { 1000.0 }),
            writers: args.fanout_writers.max(1),
            duration_s: args.fanout_duration.unwrap_or(if q { 1.0 } else { 5.0 }),
            ..latency
        });
    }
    shapes
}

/// Runs the watch benchmark and writes the report; returns the output directory.
///
/// # Errors
/// When a cluster cannot start or the report cannot be written; a run that fails is noted in
/// the report and makes the whole command fail at the end.
pub async fn watch(args: WatchArgs) -> Result<PathBuf> {
    let shapes = plan(&args);
    if shapes.is_empty() {
        bail!("nothing to run (no watcher counts)");
    }
    // Both clusters side by side; each shape runs on DDBB then on etcd.
    let mut bench = SideBySide::start(&args.bench, "watch").await?;
    let mut report = WatchReport {
        notes: std::mem::take(&mut bench.notes),
        ..WatchReport::default()
    };
    let mut failures = 0;
    for (n, shape) in shapes.iter().enumerate() {
        for cluster in &bench.clusters {
            let system = cluster.system;
            eprintln!("{system:>4} {} ...", shape.label());
            match run::run(cluster, shape, n).await {
                Ok(out) => {
                    let r = WatchResult::new(system, *shape, &out);
                    eprintln!(
                        "{system:>4} {:<45} p50 {:.2} / p99 {:.2} / max {:.2} ms, {} events/s, \
                         {} / {} events, {} lost, {} before ack",
                        shape.label(),
                        r.after_ack.p50_ms,
                        r.after_ack.p99_ms,
                        r.after_ack.max_ms,
                        crate::report::thousands(r.delivered_per_s),
                        r.events,
                        r.expected_events,
                        r.lost,
                        r.before_ack
                    );
                    if !r.complete() || r.put_errors > 0 {
                        let msg = format!(
                            "{system}, {}: {} of {} events received, {} lost on {} watchers, \
                             {} duplicates, {} out of order, {} stream errors (first: {}), \
                             {} put errors (first: {})",
                            shape.label(),
                            r.events,
                            r.expected_events,
                            r.lost,
                            r.watchers_with_loss,
                            r.duplicates,
                            r.out_of_order,
                            r.stream_errors,
                            r.first_stream_error.as_deref().unwrap_or("-"),
                            r.put_errors,
                            r.first_put_error.as_deref().unwrap_or("-"),
                        );
                        eprintln!("{msg}");
                        report.notes.push(msg);
                    }
                    report.runs.push(r);
                }
                Err(e) => {
                    failures += 1;
                    let msg = format!("FAILED: {system}, {}: {e:#}", shape.label());
                    eprintln!("{msg}");
                    report.notes.push(msg);
                }
            }
            // Let the closed streams go before the next run.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let settings = vec![
        "3 members per system, each system's defaults, fsync on; the writers put to the \
         leader, the watchers are spread round-robin over the two other members"
            .to_string(),
        format!(
            "one watch per gRPC Watch stream (etcd's generated WatchClient for both), at most \
             {} streams per connection; key prefix per run, watches from now; {} B values \
             over {} keys; writers pace their puts (put i is due at i/rate s)",
            run::WATCHERS_PER_CONN,
            args.value_size,
            load::KEYS
        ),
        format!(
            "after the last put each watcher waits for as many events as puts were \
             acknowledged, at most {:.0} s; an event missing then counts as lost",
            args.drain
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
        args: WatchArgs,
    }

    #[test]
    fn the_default_plan_is_the_issues() {
        let args = Cli::parse_from(["watch"]).args;
        let shapes = plan(&args);
        let latency: Vec<(usize, f64)> = shapes
            .iter()
            .filter(|s| s.kind == Kind::Latency)
            .map(|s| (s.watchers, s.rate))
            .collect();
        assert_eq!(latency, vec![(1, 200.0), (1000, 20.0)]);
        let one_rate = plan(&Cli::parse_from(["watch", "--watchers", "1,8", "--rate", "50"]).args);
        assert!(one_rate.iter().take(2).all(|s| s.rate == 50.0));
        assert!(shapes
            .iter()
            .any(|s| s.kind == Kind::FanOut && s.watchers == 1000 && s.rate > 200.0));
        assert!(shapes.iter().all(|s| s.duration_s > 0.0 && s.puts() > 0));
        let quick = plan(&Cli::parse_from(["watch", "--quick"]).args);
        assert!(quick
            .iter()
            .all(|s| s.watchers <= 20 && s.duration_s <= 1.0));
    }
}
