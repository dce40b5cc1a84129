//! Results and the report: `report.md`, raw `results.json` and CSV files, PNG plots.
//!
//! ```text
//! <out>/report.md            tables per scenario (DDBB, etcd, ratio), plots inline
//! <out>/results.json         everything below, machine-readable
//! <out>/steady.csv           one row per steady run and system
//! <out>/faults.csv           one row per fault scenario and system
//! <out>/timeline-<s>.csv     throughput per 100 ms under fault scenario <s>
//! <out>/*.png                throughput bars, latency CDFs, fault timelines
//! ```

mod markdown;
mod plot;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::cluster::System;
use crate::fault::FaultResult;
use crate::histogram::LatencySummary;
use crate::run::{RunOutput, Shape};

pub use markdown::render;
pub(crate) use markdown::{context, ms, thousands};

/// One steady run of one system.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SteadyResult {
    /// The system.
    pub system: System,
    /// What ran.
    pub shape: Shape,
    /// Successful operations measured.
    pub ops: u64,
    /// Failed operations (warm-up included).
    pub errors: u64,
    /// CAS operations that did not swap.
    pub cas_misses: u64,
    /// Measured seconds.
    pub elapsed_s: f64,
    /// Operations per second.
    pub throughput: f64,
    /// Latency percentiles.
    pub latency: LatencySummary,
    /// CPU seconds of all server processes during the window.
    pub server_cpu_s: f64,
    /// CPU seconds of the bench process (clients) during the window.
    pub client_cpu_s: f64,
    /// Operations per server CPU-second.
    pub ops_per_cpu_s: f64,
    /// Sum over members of their peak RSS during the run, MiB.
    pub peak_rss_sum_mib: f64,
    /// Largest member peak RSS during the run, MiB.
    pub peak_rss_max_mib: f64,
    /// The first error, if any.
    pub first_error: Option<String>,
    /// Latency CDF points `(ms, fraction)`, for plots.
    pub cdf: Vec<(f64, f64)>,
}

impl SteadyResult {
    /// Summarises one run.
    pub fn new(system: System, shape: Shape, out: &RunOutput) -> SteadyResult {
        let secs = out.elapsed.as_secs_f64();
        let throughput = if secs > 0.0 {
            out.ops as f64 / secs
        } else {
            0.0
        };
        let cpu = out.usage.server_cpu_s;
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        SteadyResult {
            system,
            shape,
            ops: out.ops,
            errors: out.errors,
            cas_misses: out.cas_misses,
            elapsed_s: secs,
            throughput,
            latency: out.latency.summary(),
            server_cpu_s: cpu,
            client_cpu_s: out.usage.client_cpu_s,
            ops_per_cpu_s: if cpu > 0.0 { out.ops as f64 / cpu } else { 0.0 },
            peak_rss_sum_mib: mib(out.usage.peak_rss_sum),
            peak_rss_max_mib: mib(out.usage.peak_rss_max),
            first_error: out.first_error.clone(),
            cdf: out.latency.cdf(120),
        }
    }
}

/// Where and how the run happened.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Meta {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    /// Start time, `YYYY-MM-DD HH:MM:SS UTC`.
    pub started: String,
    /// Wall time of the whole comparison, seconds.
    pub wall_s: f64,
    /// The command line.
    pub command: String,
    /// `--quick`.
    pub quick: bool,
    /// CPU model and count, memory, kernel.
    pub machine: String,
    /// 1/5/15-minute load averages before the run.
    pub load_before: [f64; 3],
    /// 1/5/15-minute load averages after the run.
    pub load_after: [f64; 3],
    /// `etcd --version`, when etcd ran.
    pub etcd_version: Option<String>,
    /// How DDBB replicas were started.
    pub ddbb_server: String,
    /// The protocol DDBB was driven with: `resp` or `grpc` (empty in reports from before
    /// `--protocol`, which were all RESP).
    #[serde(default)]
    pub protocol: String,
    /// Where the data directories were.
    pub data_root: String,
    /// Run settings worth knowing (durations, key space).
    pub settings: Vec<String>,
}

/// Everything a comparison produced.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Report {
    /// Context.
    pub meta: Meta,
    /// Steady runs, in run order.
    pub steady: Vec<SteadyResult>,
    /// Fault scenarios, in run order.
    pub faults: Vec<FaultResult>,
    /// Things the reader must know (skipped parts, failures).
    pub notes: Vec<String>,
}

/// Creates `dir` and writes `files` (name, text) into it; returns their paths.
///
/// # Errors
/// I/O errors.
pub(crate) fn write_files(dir: &Path, files: Vec<(&str, String)>) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut written = Vec::new();
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

impl Report {
    /// Operations that failed anywhere in the steady runs.
    pub fn steady_errors(&self) -> u64 {
        self.steady.iter().map(|r| r.errors).sum()
    }

    /// Reads `dir/results.json` and writes everything else again (after a change to the
    /// report's layout or plots).
    ///
    /// # Errors
    /// When results.json cannot be read, or writing fails.
    pub fn rewrite(dir: &Path) -> Result<()> {
        let path = dir.join("results.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let report: Report = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a ddbb-bench result", path.display()))?;
        report.write(dir)?;
        Ok(())
    }

    /// Writes `report.md`, `results.json`, the CSV files and the plots into `dir`; returns
    /// the files written.
    ///
    /// # Errors
    /// I/O errors, or a plot that cannot be drawn.
    pub fn write(&self, dir: &Path) -> Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut files = Vec::new();
        let mut put = |name: &str, text: String| -> Result<()> {
            let path = dir.join(name);
            std::fs::write(&path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            files.push(path);
            Ok(())
        };
        put("results.json", serde_json::to_string_pretty(self)?)?;
        put("steady.csv", steady_csv(&self.steady))?;
        put("faults.csv", faults_csv(&self.faults))?;
        for scenario in crate::fault::Scenario::ALL {
            let rows: Vec<&FaultResult> = self
                .faults
                .iter()
                .filter(|f| f.scenario == scenario)
                .collect();
            if !rows.is_empty() {
                put(
                    &format!("timeline-{}.csv", scenario.name()),
                    timeline_csv(&rows),
                )?;
            }
        }
        let plots = plot::draw_all(self, dir)?;
        put("report.md", render(self, &plots))?;
        files.extend(plots.into_iter().map(|p| dir.join(p.file)));
        Ok(files)
    }
}

fn steady_csv(rows: &[SteadyResult]) -> String {
    let mut out = String::from(
        "system,replicas,workload,value_bytes,clients,conns,target,ops,errors,cas_misses,elapsed_s,\
         ops_per_s,mean_ms,p50_ms,p90_ms,p99_ms,p999_ms,max_ms,server_cpu_s,client_cpu_s,\
         ops_per_cpu_s,peak_rss_sum_mib,peak_rss_max_mib\n",
    );
    for r in rows {
        let s = &r.shape;
        let l = &r.latency;
        out.push_str(&format!(
            "{},{},{},{},{},{},{:?},{},{},{},{:.3},{:.1},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.3},{:.1},{:.1},{:.1}\n",
            r.system.to_string().to_lowercase(),
            s.replicas,
            s.workload.name(),
            s.value_size,
            s.clients,
            s.conns,
            s.target,
            r.ops,
            r.errors,
            r.cas_misses,
            r.elapsed_s,
            r.throughput,
            l.mean_ms,
            l.p50_ms,
            l.p90_ms,
            l.p99_ms,
            l.p999_ms,
            l.max_ms,
            r.server_cpu_s,
            r.client_cpu_s,
            r.ops_per_cpu_s,
            r.peak_rss_sum_mib,
            r.peak_rss_max_mib,
        ));
    }
    out
}

fn faults_csv(rows: &[FaultResult]) -> String {
    let mut out = String::from(
        "system,scenario,replicas,fault_at_s,heal_at_s,recovery_ms,half_throughput_ms,\
         before_per_s,during_per_s,after_per_s,ops,errors\n",
    );
    let opt = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_default();
    for r in rows {
        out.push_str(&format!(
            "{},{},{},{:.2},{},{},{},{:.1},{:.1},{:.1},{},{}\n",
            r.system.to_string().to_lowercase(),
            r.scenario.name(),
            r.replicas,
            r.fault_at_s,
            opt(r.heal_at_s),
            opt(r.recovery_ms),
            opt(r.half_throughput_ms),
            r.before_per_s,
            r.during_per_s,
            r.after_per_s,
            r.ops,
            r.errors
        ));
    }
    out
}

fn timeline_csv(rows: &[&FaultResult]) -> String {
    let mut out = String::from("system,t_s,ok_per_s,errors_per_s\n");
    for r in rows {
        for p in &r.timeline {
            out.push_str(&format!(
                "{},{:.1},{:.0},{:.0}\n",
                r.system.to_string().to_lowercase(),
                p.t_s,
                p.ok_per_s,
                p.errors_per_s
            ));
        }
    }
    out
}

/// A plot that was drawn, for the report to link.
#[derive(Clone, Debug)]
pub struct Plot {
    /// File name inside the output directory.
    pub file: String,
    /// What it shows.
    pub title: String,
    /// Report section it belongs to.
    pub section: Section,
}

/// Where a plot goes in the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Section {
    /// Throughput of a (replicas, value size) group.
    Throughput(usize, usize),
    /// Latency CDFs.
    Latency,
    /// Fault timelines.
    Faults,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::fault::{Event, Point, Scenario};
    use crate::histogram::Latency;
    use crate::procfs::Usage;
    use crate::run::Target;
    use crate::workload::Workload;
    use std::time::Duration;

    /// A small report with both systems, a missing etcd row and two fault scenarios.
    pub(crate) fn sample() -> Report {
        let mut steady = Vec::new();
        for (i, workload) in Workload::ALL.into_iter().enumerate() {
            for clients in [1usize, 16] {
                for system in System::ALL {
                    if system == System::Etcd && workload == Workload::Mixed(50) {
                        continue; // a missing row must render as a dash
                    }
                    let mut latency = Latency::new();
                    for k in 1..=200u64 {
                        latency.record(Duration::from_micros(k * (50 + i as u64 * 10)));
                    }
                    let out = RunOutput {
                        ops: 10_000
                            + 1000 * i as u64
                            + if system == System::Ddbb { 5000 } else { 0 },
                        errors: 0,
                        cas_misses: 0,
                        elapsed: Duration::from_secs(2),
                        latency,
                        usage: Usage {
                            server_cpu_s: 1.5,
                            client_cpu_s: 0.5,
                            peak_rss_sum: 300 << 20,
                            peak_rss_max: 120 << 20,
                        },
                        first_error: None,
                    };
                    let shape = Shape {
                        replicas: 3,
                        workload,
                        value_size: 256,
                        clients,
                        conns: clients.div_ceil(8),
                        target: if clients == 1 {
                            Target::Leader
                        } else {
                            Target::All
                        },
                    };
                    steady.push(SteadyResult::new(system, shape, &out));
                }
            }
        }
        let faults = [Scenario::KillLeader, Scenario::Chained]
            .into_iter()
            .flat_map(|scenario| {
                System::ALL.into_iter().map(move |system| FaultResult {
                    system,
                    scenario,
                    replicas: 3,
                    timeline: (0..50)
                        .map(|b| Point {
                            t_s: b as f64 / 10.0,
                            ok_per_s: if (20..25).contains(&b) { 0.0 } else { 5000.0 },
                            errors_per_s: 0.0,
                        })
                        .collect(),
                    events: vec![Event {
                        t_s: 2.0,
                        what: "kill -9 leader 1".into(),
                    }],
                    fault_at_s: 2.0,
                    heal_at_s: (scenario == Scenario::Chained).then_some(4.0),
                    recovery_ms: (system == System::Ddbb).then_some(250.0),
                    half_throughput_ms: (system == System::Ddbb).then_some(400.0),
                    before_per_s: 5000.0,
                    during_per_s: 2000.0,
                    after_per_s: 5000.0,
                    ops: 22_500,
                    errors: 3,
                })
            })
            .collect();
        Report {
            meta: Meta {
                date: "2026-11-21".into(),
                command: "ddbb-bench compare --quick".into(),
                quick: true,
                machine: "2 CPUs".into(),
                ..Meta::default()
            },
            steady,
            faults,
            notes: vec!["a note".into()],
        }
    }

    #[test]
    fn report_files_are_written() {
        let dir = tempfile::tempdir().unwrap();
        let files = sample().write(dir.path()).unwrap();
        for name in [
            "report.md",
            "results.json",
            "steady.csv",
            "faults.csv",
            "timeline-kill-leader.csv",
        ] {
            assert!(files.iter().any(|f| f.ends_with(name)), "{name} missing");
        }
        let pngs: Vec<_> = files
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "png"))
            .collect();
        assert!(pngs.len() >= 3, "{pngs:?}");
        for png in &pngs {
            let bytes = std::fs::read(png).unwrap();
            assert!(
                bytes.starts_with(b"\x89PNG"),
                "{} is not a PNG",
                png.display()
            );
        }
        let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
        for png in &pngs {
            let name = png.file_name().unwrap().to_str().unwrap();
            assert!(md.contains(name), "report does not show {name}");
        }
        let csv = std::fs::read_to_string(dir.path().join("steady.csv")).unwrap();
        assert_eq!(csv.lines().count(), 1 + sample().steady.len());
        let back: Report = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("results.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(back.steady.len(), sample().steady.len());
    }
}
