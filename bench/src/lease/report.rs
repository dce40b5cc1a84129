//! The lease report: `report.md` (DDBB and etcd side by side per shape), `results.json`,
//! `keepalive.csv` and `lock.csv`.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::keepalive::{KeepAliveOutput, KeepAliveShape};
use super::lock::{self, LockOutput, LockShape};
use crate::cluster::System;
use crate::histogram::LatencySummary;
use crate::report::{context, ms, thousands, write_files, Meta};

/// One keepalive run of one system.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct KeepAliveResult {
    /// The system.
    pub system: System,
    /// What ran.
    pub shape: KeepAliveShape,
    /// 1-based indices of the members the connections went to.
    pub members: Vec<usize>,
    /// Keepalives answered in the measured window.
    pub keepalives: u64,
    /// Per second.
    pub per_s: f64,
    /// Sent → answered.
    pub latency: LatencySummary,
    /// Failed keepalives (the whole run).
    pub errors: u64,
    /// The first failure.
    pub first_error: Option<String>,
    /// Leases whose revocation at the end failed.
    pub revoke_errors: u64,
    /// CPU seconds of the servers in the measured window.
    pub server_cpu_s: f64,
    /// CPU seconds of the bench in the measured window.
    pub client_cpu_s: f64,
}

impl KeepAliveResult {
    /// Summarises one run.
    pub fn new(system: System, shape: KeepAliveShape, out: &KeepAliveOutput) -> KeepAliveResult {
        KeepAliveResult {
            system,
            shape,
            members: out.members.iter().map(|m| m + 1).collect(),
            keepalives: out.keepalives,
            per_s: out.keepalives as f64 / shape.duration_s,
            latency: out.latency.summary(),
            errors: out.errors,
            first_error: out.first_error.clone(),
            revoke_errors: out.revoke_errors,
            server_cpu_s: out.usage.server_cpu_s,
            client_cpu_s: out.usage.client_cpu_s,
        }
    }

    /// What is wrong with the run, if anything.
    pub fn problem(&self) -> Option<String> {
        (self.keepalives == 0 || self.errors > 0 || self.revoke_errors > 0).then(|| {
            format!(
                "{} keepalives, {} errors (first: {}), {} leases not revoked",
                self.keepalives,
                self.errors,
                self.first_error.as_deref().unwrap_or("-"),
                self.revoke_errors
            )
        })
    }
}

/// One lock run of one system.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LockResult {
    /// The system.
    pub system: System,
    /// What ran.
    pub shape: LockShape,
    /// 1-based indices of the members the connections went to.
    pub members: Vec<usize>,
    /// Cycles completed.
    pub cycles: u64,
    /// Cycles per second, first grant → last release.
    pub per_s: f64,
    /// Txn sent → lock held.
    pub acquire: LatencySummary,
    /// Grant sent → revoke answered.
    pub cycle: LatencySummary,
    /// Watches of a predecessor's key.
    pub waits: u64,
    /// Failed cycles.
    pub errors: u64,
    /// The first failure.
    pub first_error: Option<String>,
    /// Contenders that gave up waiting at the end of the drain.
    pub abandoned: u64,
    /// Critical sections recorded.
    pub sections: u64,
    /// Critical sections that began before an earlier one ended.
    pub overlaps: u64,
    /// Critical sections whose lock key was not created after the previous holder's.
    pub token_regressions: u64,
    /// First grant → last release, seconds.
    pub span_s: f64,
    /// CPU seconds of the servers during the run.
    pub server_cpu_s: f64,
    /// CPU seconds of the bench during the run.
    pub client_cpu_s: f64,
}

impl LockResult {
    /// Summarises one run (and checks its critical sections).
    pub fn new(system: System, shape: LockShape, out: &LockOutput) -> LockResult {
        let mut sections = out.sections.clone();
        let (overlaps, token_regressions) = lock::check(&mut sections);
        LockResult {
            system,
            shape,
            members: out.members.iter().map(|m| m + 1).collect(),
            cycles: out.cycles,
            per_s: if out.span_s > 0.0 {
                out.cycles as f64 / out.span_s
            } else {
                0.0
            },
            acquire: out.acquire.summary(),
            cycle: out.cycle.summary(),
            waits: out.waits,
            errors: out.errors,
            first_error: out.first_error.clone(),
            abandoned: out.abandoned,
            sections: sections.len() as u64,
            overlaps,
            token_regressions,
            span_s: out.span_s,
            server_cpu_s: out.usage.server_cpu_s,
            client_cpu_s: out.usage.client_cpu_s,
        }
    }

    /// What is wrong with the run, if anything.
    pub fn problem(&self) -> Option<String> {
        let bad = self.cycles == 0
            || self.errors > 0
            || self.abandoned > 0
            || self.overlaps > 0
            || self.token_regressions > 0;
        bad.then(|| {
            format!(
                "{} cycles, {} errors (first: {}), {} gave up waiting, {} overlapping critical \
                 sections, {} token regressions",
                self.cycles,
                self.errors,
                self.first_error.as_deref().unwrap_or("-"),
                self.abandoned,
                self.overlaps,
                self.token_regressions
            )
        })
    }
}

/// Everything a lease benchmark produced.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct LeaseReport {
    /// Context (`protocol` is always grpc).
    pub meta: Meta,
    /// Keepalive runs, in run order.
    pub keepalive: Vec<KeepAliveResult>,
    /// Lock runs, in run order.
    pub lock: Vec<LockResult>,
    /// Things the reader must know.
    pub notes: Vec<String>,
}

impl LeaseReport {
    /// Writes `report.md`, `results.json`, `keepalive.csv` and `lock.csv` into `dir`.
    ///
    /// # Errors
    /// I/O errors.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        let files = vec![
            ("results.json", serde_json::to_string_pretty(self)?),
            ("keepalive.csv", keepalive_csv(&self.keepalive)),
            ("lock.csv", lock_csv(&self.lock)),
            ("report.md", render(self)),
        ];
        write_files(dir, files)
    }
}

fn keepalive_csv(runs: &[KeepAliveResult]) -> String {
    let mut out = String::from(
        "system,streams,conns,warmup_s,duration_s,ttl,keepalives,per_s,p50_ms,p90_ms,p99_ms,\
         p999_ms,max_ms,errors,server_cpu_s,client_cpu_s\n",
    );
    for r in runs {
        let (s, l) = (&r.shape, &r.latency);
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{},{:.1},{:.3},{:.3},{:.3},{:.3},{:.3},{},{:.2},{:.2}",
            r.system.to_string().to_lowercase(),
            s.streams,
            s.conns,
            s.warmup_s,
            s.duration_s,
            s.ttl,
            r.keepalives,
            r.per_s,
            l.p50_ms,
            l.p90_ms,
            l.p99_ms,
            l.p999_ms,
            l.max_ms,
            r.errors,
            r.server_cpu_s,
            r.client_cpu_s,
        );
    }
    out
}

fn lock_csv(runs: &[LockResult]) -> String {
    let mut out = String::from(
        "system,contenders,conns,duration_s,ttl,cycles,per_s,acquire_p50_ms,acquire_p99_ms,\
         acquire_max_ms,cycle_p50_ms,cycle_p99_ms,waits,errors,abandoned,overlaps,\
         token_regressions,span_s,server_cpu_s,client_cpu_s\n",
    );
    for r in runs {
        let s = &r.shape;
        let _ = writeln!(
            out,
            "{},{},{},{},{},{},{:.1},{:.3},{:.3},{:.3},{:.3},{:.3},{},{},{},{},{},{:.3},{:.2},{:.2}",
            r.system.to_string().to_lowercase(),
            s.contenders,
            s.conns,
            s.duration_s,
            s.ttl,
            r.cycles,
            r.per_s,
            r.acquire.p50_ms,
            r.acquire.p99_ms,
            r.acquire.max_ms,
            r.cycle.p50_ms,
            r.cycle.p99_ms,
            r.waits,
            r.errors,
            r.abandoned,
            r.overlaps,
            r.token_regressions,
            r.span_s,
            r.server_cpu_s,
            r.client_cpu_s,
        );
    }
    out
}

/// `a / b` as `1.23×`, or `—`.
fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "—".into(),
    }
}

fn cell<R>(r: Option<&R>, f: impl Fn(&R) -> String) -> String {
    r.map(f).unwrap_or_else(|| "—".into())
}

/// `p50 / p99` of a summary.
fn p50_p99(l: &LatencySummary) -> String {
    format!("{} / {}", ms(l.p50_ms), ms(l.p99_ms))
}

/// The markdown report.
pub fn render(report: &LeaseReport) -> String {
    let mut md = String::new();
    let m = &report.meta;
    let _ = writeln!(md, "# ddbb-bench lease: DDBB vs etcd, {}\n", m.date);
    if m.quick {
        md.push_str(
            "> **Quick mode** (CI smoke test): short runs. These figures show that the harness \
             works, not how fast anything is.\n\n",
        );
    }
    context(
        &mut md,
        m,
        "gRPC: DDBB and etcd driven by the same etcd v3 client (ddbb_proto's LeaseClient, \
         KvClient and WatchClient), DDBB on its `--grpc-addr` port",
        &report.notes,
    );
    md.push_str(
        "## Lease keepalives\n\nEach stream keeps its own lease alive, one keepalive in flight \
         (sent → answered, ms).\n\n\
         | streams / conns | DDBB keepalives/s | etcd keepalives/s | DDBB/etcd | DDBB p50 / p99 \
         | etcd p50 / p99 | p99 DDBB/etcd | errors DDBB / etcd | server CPU-s DDBB / etcd |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut shapes: Vec<KeepAliveShape> = Vec::new();
    for r in &report.keepalive {
        if !shapes.contains(&r.shape) {
            shapes.push(r.shape);
        }
    }
    for shape in shapes {
        let find = |system| {
            report
                .keepalive
                .iter()
                .find(|r| r.system == system && r.shape == shape)
        };
        let (d, e) = (find(System::Ddbb), find(System::Etcd));
        let _ = writeln!(
            md,
            "| {} / {} | {} | {} | {} | {} | {} | {} | {} / {} | {} / {} |",
            shape.streams,
            shape.conns,
            cell(d, |r| thousands(r.per_s)),
            cell(e, |r| thousands(r.per_s)),
            ratio(d.map(|r| r.per_s), e.map(|r| r.per_s)),
            cell(d, |r| p50_p99(&r.latency)),
            cell(e, |r| p50_p99(&r.latency)),
            ratio(d.map(|r| r.latency.p99_ms), e.map(|r| r.latency.p99_ms)),
            cell(d, |r| r.errors.to_string()),
            cell(e, |r| r.errors.to_string()),
            cell(d, |r| format!("{:.1}", r.server_cpu_s)),
            cell(e, |r| format!("{:.1}", r.server_cpu_s)),
        );
    }

    md.push_str(
        "\n## Lock cycles\n\nA cycle: grant, acquire (etcd's recipe), empty critical section, \
         revoke. `acquire` is Txn sent → lock held, `cycle` grant sent → revoke answered (p50 / \
         p99 ms); `waits` counts watches of a predecessor's key; `overlaps` critical sections \
         that began before another had ended (must be 0).\n\n\
         | contenders / conns | DDBB cycles/s | etcd cycles/s | DDBB/etcd | acquire DDBB | \
         acquire etcd | cycle DDBB | cycle etcd | waits DDBB / etcd | overlaps DDBB / etcd | \
         errors DDBB / etcd |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut shapes: Vec<LockShape> = Vec::new();
    for r in &report.lock {
        if !shapes.contains(&r.shape) {
            shapes.push(r.shape);
        }
    }
    for shape in shapes {
        let find = |system| {
            report
                .lock
                .iter()
                .find(|r| r.system == system && r.shape == shape)
        };
        let (d, e) = (find(System::Ddbb), find(System::Etcd));
        let _ = writeln!(
            md,
            "| {} / {} | {} | {} | {} | {} | {} | {} | {} | {} / {} | {} / {} | {} / {} |",
            shape.contenders,
            shape.conns,
            cell(d, |r| thousands(r.per_s)),
            cell(e, |r| thousands(r.per_s)),
            ratio(d.map(|r| r.per_s), e.map(|r| r.per_s)),
            cell(d, |r| p50_p99(&r.acquire)),
            cell(e, |r| p50_p99(&r.acquire)),
            cell(d, |r| p50_p99(&r.cycle)),
            cell(e, |r| p50_p99(&r.cycle)),
            cell(d, |r| thousands(r.waits as f64)),
            cell(e, |r| thousands(r.waits as f64)),
            cell(d, |r| r.overlaps.to_string()),
            cell(e, |r| r.overlaps.to_string()),
            cell(d, |r| r.errors.to_string()),
            cell(e, |r| r.errors.to_string()),
        );
    }

    md.push_str(
        "\n## Every run\n\n| system | run | members | count | per s | errors (first) | \
         server / bench CPU-s |\n|---|---|---|---:|---:|---|---:|\n",
    );
    let members = |m: &[usize]| {
        m.iter()
            .map(|i| i.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let first = |n: u64, e: &Option<String>| match e {
        Some(e) => format!("{n} ({e})"),
        None => n.to_string(),
    };
    for r in &report.keepalive {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} keepalives | {} | {} | {:.1} / {:.1} |",
            r.system,
            r.shape.label(),
            members(&r.members),
            thousands(r.keepalives as f64),
            thousands(r.per_s),
            first(r.errors, &r.first_error),
            r.server_cpu_s,
            r.client_cpu_s,
        );
    }
    for r in &report.lock {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} cycles ({} sections, {} token regressions, {} gave up) | {} | \
             {} | {:.1} / {:.1} |",
            r.system,
            r.shape.label(),
            members(&r.members),
            thousands(r.cycles as f64),
            r.sections,
            r.token_regressions,
            r.abandoned,
            thousands(r.per_s),
            first(r.errors, &r.first_error),
            r.server_cpu_s,
            r.client_cpu_s,
        );
    }
    md
}
