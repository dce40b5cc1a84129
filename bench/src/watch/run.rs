//! One watch run: W watchers on the members other than the writer's, paced puts to the
//! leader, then a drain until every watcher has every event (or the deadline passes).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::load::{self, Clock, Written};
use super::stream::{self, micros, Control, Tally, Watcher};
use crate::cluster::Cluster;
use crate::histogram::Latency;
use crate::procfs::{CpuMark, Usage};

/// Watch streams per gRPC connection (HTTP/2 servers cap concurrent streams per connection:
/// DDBB at 1,024 by default, hyper-based servers at 200).
pub const WATCHERS_PER_CONN: usize = 50;
/// Longest wait for every watch of a run to be created.
const OPEN_TIMEOUT: Duration = Duration::from_secs(60);

/// What a run measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Event latency at a paced, non-saturating put rate.
    Latency,
    /// Events delivered per second in total, at a higher put rate.
    FanOut,
}

impl Kind {
    /// `latency` or `fan-out`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Latency => "latency",
            Kind::FanOut => "fan-out",
        }
    }
}

/// The shape of one run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct WatchShape {
    /// What it measures.
    pub kind: Kind,
    /// Watch streams (one watch each).
    pub watchers: usize,
    /// Puts per second, all writers together.
    pub rate: f64,
    /// Sequential writers sharing one connection to the leader.
    pub writers: usize,
    /// Seconds of puts.
    pub duration_s: f64,
    /// Value size in bytes.
    pub value_size: usize,
    /// Longest wait after the last put for the watchers to catch up, seconds.
    pub drain_s: f64,
}

impl WatchShape {
    /// `latency, 1000 watchers, 200 puts/s for 10 s`
    pub fn label(&self) -> String {
        format!(
            "{}, {} watcher{}, {} puts/s for {} s",
            self.kind.name(),
            self.watchers,
            if self.watchers == 1 { "" } else { "s" },
            self.rate,
            self.duration_s
        )
    }

    /// Puts the run sends.
    pub fn puts(&self) -> usize {
        (self.rate * self.duration_s).round().max(1.0) as usize
    }
}

/// What one run measured.
#[derive(Debug)]
pub struct WatchOutput {
    /// Where the writer wrote (member index) and where the watchers were.
    pub writer_member: usize,
    /// Members the watchers were spread over (indices).
    pub watcher_members: Vec<usize>,
    /// gRPC connections the watchers shared.
    pub conns: usize,
    /// What the writers did.
    pub written: Written,
    /// Events received, all watchers (distinct, of acknowledged or unacknowledged puts).
    pub events: u64,
    /// Put acknowledged → event received.
    pub after_ack: Latency,
    /// Put sent → event received.
    pub after_send: Latency,
    /// Events that arrived before their put was acknowledged (counted as 0 in `after_ack`).
    pub before_ack: u64,
    /// Events of puts whose writer got an error (no acknowledgement).
    pub unacked_events: u64,
    /// Acknowledged puts' events that some watcher never received, summed over watchers.
    pub lost: u64,
    /// Watchers that missed at least one acknowledged put's event.
    pub watchers_with_loss: usize,
    /// Events received twice, out of revision order, or not the run's.
    pub duplicates: u64,
    /// See `duplicates`.
    pub out_of_order: u64,
    /// See `duplicates`.
    pub unexpected: u64,
    /// Streams that ended early, and the first reason.
    pub stream_errors: usize,
    /// The first stream error.
    pub first_stream_error: Option<String>,
    /// From the first put to the last event received, seconds.
    pub span_s: f64,
    /// From the last acknowledgement to the last event received, ms (0 if before).
    pub drain_ms: f64,
    /// CPU of the servers and of the bench from the first put to the end of the drain.
    pub usage: Usage,
}

/// Runs `shape` on `cluster`; `run` makes the key prefix unique.
pub async fn run(cluster: &Cluster, shape: &WatchShape, run: usize) -> Result<WatchOutput> {
    let leader = cluster.leader().await.context("finding the leader")?;
    let endpoints = cluster.endpoints();
    let others: Vec<usize> = cluster
        .alive()
        .into_iter()
        .filter(|&i| i != leader)
        .collect();
    if others.is_empty() {
        bail!("no member other than the leader to watch on");
    }
    let prefix = format!("watch-bench/{}/{run}/", std::process::id());

    // Watch streams, spread over connections to the other members.
    let conns = shape
        .watchers
        .div_ceil(WATCHERS_PER_CONN)
        .max(others.len().min(shape.watchers))
        .max(1);
    let channels = (0..conns)
        .map(|j| stream::channel(&endpoints[others[j % others.len()]]))
        .collect::<Result<Vec<_>>>()?;
    let mut opening = JoinSet::new();
    for i in 0..shape.watchers {
        let (channel, prefix) = (channels[i % conns].clone(), prefix.clone());
        opening.spawn(async move { Watcher::open(channel, &prefix, OPEN_TIMEOUT).await });
    }
    let mut watchers = Vec::with_capacity(shape.watchers);
    while let Some(done) = opening.join_next().await {
        watchers.push(done?.context("opening a watch")?);
    }

    // Puts, while the watchers receive.
    let clock = Arc::new(Clock::new(shape.puts()));
    let mark = CpuMark::start(&cluster.pids());
    let (control, control_rx) = watch::channel(Control::Writing);
    let mut receiving = JoinSet::new();
    for w in watchers {
        receiving.spawn(w.receive(clock.clone(), control_rx.clone()));
    }
    let written = load::write(
        &endpoints[leader],
        &prefix,
        clock.clone(),
        shape.rate,
        shape.writers,
        shape.value_size,
    )
    .await?;
    let _ = control.send(Control::Expect(written.acked));

    // Drain: every watcher stops once it has as many events as puts were acknowledged.
    let deadline = tokio::time::Instant::now() + Duration::from_secs_f64(shape.drain_s);
    let mut tallies = Vec::with_capacity(shape.watchers);
    loop {
        match tokio::time::timeout_at(deadline, receiving.join_next()).await {
            Ok(Some(done)) => tallies.push(done?),
            Ok(None) => break,
            Err(_) => {
                let _ = control.send(Control::Stop);
                while let Some(done) = receiving.join_next().await {
                    tallies.push(done?);
                }
                break;
            }
        }
    }
    let usage = mark.finish();
    // The members that got a connection.
    let used: Vec<usize> = others.iter().copied().take(conns).collect();
    Ok(summarize(
        &clock,
        written,
        tallies,
        (leader, used, conns),
        usage,
    ))
}

/// Merges the watchers' tallies into the run's figures.
fn summarize(
    clock: &Clock,
    written: Written,
    tallies: Vec<Tally>,
    (leader, others, conns): (usize, Vec<usize>, usize),
    usage: Usage,
) -> WatchOutput {
    let acked_ns = |seq: usize| clock.acked[seq].load(std::sync::atomic::Ordering::Acquire);
    let acked: Vec<usize> = (0..clock.len()).filter(|&s| acked_ns(s) != 0).collect();
    let mut out = WatchOutput {
        writer_member: leader,
        watcher_members: others,
        conns,
        events: 0,
        after_ack: Latency::new(),
        after_send: Latency::new(),
        before_ack: 0,
        unacked_events: 0,
        lost: 0,
        watchers_with_loss: 0,
        duplicates: 0,
        out_of_order: 0,
        unexpected: 0,
        stream_errors: 0,
        first_stream_error: None,
        span_s: 0.0,
        drain_ms: 0.0,
        usage,
        written,
    };
    let mut last_ns = 0;
    for t in &tallies {
        out.events += t.received;
        out.duplicates += t.duplicates;
        out.out_of_order += t.out_of_order;
        out.unexpected += t.unexpected;
        last_ns = last_ns.max(t.last_ns);
        if let Some(e) = &t.error {
            out.stream_errors += 1;
            out.first_stream_error.get_or_insert_with(|| e.clone());
        }
        for &us in &t.after_ack_us {
            out.after_ack.record(Duration::from_micros(us as u64));
        }
        for &us in &t.after_send_us {
            out.after_send.record(Duration::from_micros(us as u64));
        }
        for &(seq, at) in &t.early {
            match acked_ns(seq as usize) {
                0 => out.unacked_events += 1,
                ack if ack > at => {
                    out.before_ack += 1;
                    out.after_ack.record(Duration::ZERO);
                }
                ack => out
                    .after_ack
                    .record(Duration::from_micros(micros(at - ack) as u64)),
            }
        }
        let missing = acked.iter().filter(|&&s| !t.has(s)).count() as u64;
        out.lost += missing;
        if missing > 0 {
            out.watchers_with_loss += 1;
        }
    }
    out.span_s = last_ns as f64 / 1e9;
    out.drain_ms = last_ns.saturating_sub(out.written.last_ack_ns) as f64 / 1e6;
    out
}
