//! The watch report: `report.md` (DDBB and etcd side by side per shape), `results.json` and
//! `watch.csv`.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::run::{Kind, WatchOutput, WatchShape};
use crate::cluster::System;
use crate::histogram::LatencySummary;
use crate::report::{context, ms, thousands, write_files, Meta};

/// One run of one system.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct WatchResult {
    /// The system.
    pub system: System,
    /// What ran.
    pub shape: WatchShape,
    /// 1-based index of the member the writer wrote to (the leader).
    pub writer_member: usize,
    /// 1-based indices of the members the watchers were on.
    pub watcher_members: Vec<usize>,
    /// gRPC connections the watchers shared.
    pub conns: usize,
    /// Puts acknowledged.
    pub puts: u64,
    /// Puts that failed.
    pub put_errors: u64,
    /// The first put error.
    pub first_put_error: Option<String>,
    /// Events that should have arrived: acknowledged puts × watchers.
    pub expected_events: u64,
    /// Distinct events received, all watchers.
    pub events: u64,
    /// Acknowledged puts' events some watcher never received (summed over watchers).
    pub lost: u64,
    /// Watchers that missed at least one event.
    pub watchers_with_loss: usize,
    /// Events that arrived before their put's acknowledgement (counted as 0 ms).
    pub before_ack: u64,
    /// Events of puts that were not acknowledged.
    pub unacked_events: u64,
    /// Events received twice.
    pub duplicates: u64,
    /// Events whose revision was not above the previous event's on the same watcher.
    pub out_of_order: u64,
    /// Events that were not the run's puts.
    pub unexpected: u64,
    /// Watch streams that ended before the run did.
    pub stream_errors: usize,
    /// The first reason.
    pub first_stream_error: Option<String>,
    /// Put acknowledged → event received.
    pub after_ack: LatencySummary,
    /// Put sent → event received.
    pub after_send: LatencySummary,
    /// Events received per second, all watchers: events / (first put → last event).
    pub delivered_per_s: f64,
    /// Puts acknowledged per second, first put to last acknowledgement (below the planned
    /// rate when the writers could not keep up).
    pub put_rate: f64,
    /// From the last acknowledgement to the last event, ms.
    pub drain_ms: f64,
    /// CPU seconds of the servers during the run.
    pub server_cpu_s: f64,
    /// CPU seconds of the bench (writers and watchers) during the run.
    pub client_cpu_s: f64,
}

impl WatchResult {
    /// Summarises one run.
    pub fn new(system: System, shape: WatchShape, out: &WatchOutput) -> WatchResult {
        WatchResult {
            system,
            shape,
            writer_member: out.writer_member + 1,
            watcher_members: out.watcher_members.iter().map(|i| i + 1).collect(),
            conns: out.conns,
            puts: out.written.acked,
            put_errors: out.written.errors,
            first_put_error: out.written.first_error.clone(),
            expected_events: out.written.acked * shape.watchers as u64,
            events: out.events,
            lost: out.lost,
            watchers_with_loss: out.watchers_with_loss,
            before_ack: out.before_ack,
            unacked_events: out.unacked_events,
            duplicates: out.duplicates,
            out_of_order: out.out_of_order,
            unexpected: out.unexpected,
            stream_errors: out.stream_errors,
            first_stream_error: out.first_stream_error.clone(),
            after_ack: out.after_ack.summary(),
            after_send: out.after_send.summary(),
            delivered_per_s: if out.span_s > 0.0 {
                out.events as f64 / out.span_s
            } else {
                0.0
            },
            put_rate: if out.written.last_ack_ns > 0 {
                out.written.acked as f64 / (out.written.last_ack_ns as f64 / 1e9)
            } else {
                0.0
            },
            drain_ms: out.drain_ms,
            server_cpu_s: out.usage.server_cpu_s,
            client_cpu_s: out.usage.client_cpu_s,
        }
    }

    /// True when every watcher got every acknowledged put's event exactly once, in order.
    pub fn complete(&self) -> bool {
        self.lost == 0
            && self.duplicates == 0
            && self.out_of_order == 0
            && self.stream_errors == 0
            && self.events >= self.expected_events
    }
}

/// Everything a watch benchmark produced.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct WatchReport {
    /// Context (`protocol` is always grpc).
    pub meta: Meta,
    /// Runs, in run order.
    pub runs: Vec<WatchResult>,
    /// Things the reader must know.
    pub notes: Vec<String>,
}

impl WatchReport {
    /// Writes `report.md`, `results.json` and `watch.csv` into `dir`.
    ///
    /// # Errors
    /// I/O errors.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let files = vec![
            ("results.json", serde_json::to_string_pretty(self)?),
            ("watch.csv", csv(&self.runs)),
            ("report.md", render(self)),
        ];
        write_files(dir, files)
    }
}

fn csv(runs: &[WatchResult]) -> String {
    let mut out = String::from(
        "system,kind,watchers,rate,writers,duration_s,value_bytes,puts,put_errors,expected_events,\
         events,lost,before_ack,ack_p50_ms,ack_p99_ms,ack_p999_ms,ack_max_ms,send_p50_ms,\
         send_p99_ms,put_rate,delivered_per_s,drain_ms,server_cpu_s,client_cpu_s\n",
    );
    for r in runs {
        let s = &r.shape;
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.1},{:.0},{:.1},{:.2},{:.2}",
            r.system.to_string().to_lowercase(),
            s.kind.name(),
            s.watchers,
            s.rate,
            s.writers,
            s.duration_s,
            s.value_size,
            r.puts,
            r.put_errors,
            r.expected_events,
            r.events,
            r.lost,
            r.before_ack,
            r.after_ack.p50_ms,
            r.after_ack.p99_ms,
            r.after_ack.p999_ms,
            r.after_ack.max_ms,
            r.after_send.p50_ms,
            r.after_send.p99_ms,
            r.put_rate,
            r.delivered_per_s,
            r.drain_ms,
            r.server_cpu_s,
            r.client_cpu_s,
        );
    }
    out
}

/// Runs of `shape` (same kind and watchers) for `system`.
fn find<'a>(
    report: &'a WatchReport,
    system: System,
    shape: &WatchShape,
) -> Option<&'a WatchResult> {
    report
        .runs
        .iter()
        .find(|r| r.system == system && r.shape == *shape)
}

fn cell(r: Option<&WatchResult>, f: impl Fn(&WatchResult) -> String) -> String {
    r.map(f).unwrap_or_else(|| "—".into())
}

/// Shapes in run order, each once.
fn shapes(report: &WatchReport, kind: Kind) -> Vec<WatchShape> {
    let mut out: Vec<WatchShape> = Vec::new();
    for r in report.runs.iter().filter(|r| r.shape.kind == kind) {
        if !out.contains(&r.shape) {
            out.push(r.shape);
        }
    }
    out
}

/// The markdown report.
pub fn render(report: &WatchReport) -> String {
    let mut md = String::new();
    let m = &report.meta;
    let _ = writeln!(md, "# ddbb-bench watch: DDBB vs etcd, {}\n", m.date);
    if m.quick {
        md.push_str(
            "> **Quick mode** (CI smoke test): short runs with few watchers. These figures show \
             that the harness works, not how fast anything is.\n\n",
        );
    }
    context(
        &mut md,
        m,
        "gRPC: DDBB and etcd driven by the same etcd v3 client (ddbb_proto's WatchClient and \
         KvClient), DDBB on its `--grpc-addr` port",
        &report.notes,
    );
    md.push_str(
        "## Event latency\n\nPut acknowledged to the writer → event received by a watcher on \
         another member (p50 / p99 / max, ms; one monotonic clock in one process). An event \
         that arrived before its put's acknowledgement counts as 0 ms; how many did is in \
         `before ack`. `from send` is put sent → event received (p50 / p99).\n\n\
         | watchers | puts/s | DDBB p50 / p99 / max | etcd p50 / p99 / max | p99 DDBB/etcd | \
         DDBB from send | etcd from send | before ack DDBB / etcd | events DDBB / etcd (expected) |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for shape in shapes(report, Kind::Latency) {
        let d = find(report, System::Ddbb, &shape);
        let e = find(report, System::Etcd, &shape);
        let lat = |r: &WatchResult| {
            format!(
                "{} / {} / {}",
                ms(r.after_ack.p50_ms),
                ms(r.after_ack.p99_ms),
                ms(r.after_ack.max_ms)
            )
        };
        let send =
            |r: &WatchResult| format!("{} / {}", ms(r.after_send.p50_ms), ms(r.after_send.p99_ms));
        let ratio = match (d, e) {
            (Some(d), Some(e)) if e.after_ack.p99_ms > 0.0 => {
                format!("{:.2}×", d.after_ack.p99_ms / e.after_ack.p99_ms)
            }
            _ => "—".into(),
        };
        let events = |r: &WatchResult| {
            format!(
                "{}{}",
                thousands(r.events as f64),
                if r.complete() { "" } else { " (INCOMPLETE)" }
            )
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {ratio} | {} | {} | {} / {} | {} / {} ({}) |",
            shape.watchers,
            shape.rate,
            cell(d, lat),
            cell(e, lat),
            cell(d, send),
            cell(e, send),
            cell(d, |r| r.before_ack.to_string()),
            cell(e, |r| r.before_ack.to_string()),
            cell(d, events),
            cell(e, events),
            cell(d.or(e), |r| thousands(r.expected_events as f64)),
        );
    }

    md.push_str(
        "\n## Fan-out\n\nEvents received per second by all watchers together, from the first \
         put to the last event; `drain` is the time from the last acknowledged put to the last \
         event received.\n\n\
         | watchers | puts/s planned | puts/s achieved DDBB / etcd | events expected | DDBB events/s | \
         etcd events/s | DDBB/etcd | drain ms DDBB / etcd | p99 ms DDBB / etcd | lost DDBB / etcd | \
         server CPU-s DDBB / etcd |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for shape in shapes(report, Kind::FanOut) {
        let d = find(report, System::Ddbb, &shape);
        let e = find(report, System::Etcd, &shape);
        let ratio = match (d, e) {
            (Some(d), Some(e)) if e.delivered_per_s > 0.0 => {
                format!("{:.2}×", d.delivered_per_s / e.delivered_per_s)
            }
            _ => "—".into(),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} / {} | {} | {} | {} | {ratio} | {} / {} | {} / {} | {} / {} | {} / {} |",
            shape.watchers,
            shape.rate,
            cell(d, |r| thousands(r.put_rate)),
            cell(e, |r| thousands(r.put_rate)),
            cell(d.or(e), |r| thousands(r.expected_events as f64)),
            cell(d, |r| thousands(r.delivered_per_s)),
            cell(e, |r| thousands(r.delivered_per_s)),
            cell(d, |r| format!("{:.0}", r.drain_ms)),
            cell(e, |r| format!("{:.0}", r.drain_ms)),
            cell(d, |r| ms(r.after_ack.p99_ms)),
            cell(e, |r| ms(r.after_ack.p99_ms)),
            cell(d, |r| r.lost.to_string()),
            cell(e, |r| r.lost.to_string()),
            cell(d, |r| format!("{:.1}", r.server_cpu_s)),
            cell(e, |r| format!("{:.1}", r.server_cpu_s)),
        );
    }

    md.push_str("\n## Every run\n\n");
    md.push_str(
        "| system | run | writer → watchers (conns) | puts (errors) | puts/s achieved | events / expected | lost | \
         dup / out of order / unexpected | stream errors | server / bench CPU-s |\n\
         |---|---|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in &report.runs {
        let members: Vec<String> = r.watcher_members.iter().map(|m| m.to_string()).collect();
        let _ = writeln!(
            md,
            "| {} | {} | {} → {} ({}) | {} ({}) | {} | {} / {} | {} | {} / {} / {} | {}{} | {:.1} / {:.1} |",
            r.system,
            r.shape.label(),
            r.writer_member,
            members.join(","),
            r.conns,
            thousands(r.puts as f64),
            r.put_errors,
            thousands(r.put_rate),
            thousands(r.events as f64),
            thousands(r.expected_events as f64),
            r.lost,
            r.duplicates,
            r.out_of_order,
            r.unexpected,
            r.stream_errors,
            r.first_stream_error
                .as_deref()
                .map(|e| format!(" ({e})"))
                .unwrap_or_default(),
            r.server_cpu_s,
            r.client_cpu_s,
        );
    }
    md
}
