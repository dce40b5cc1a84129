//! `report.md`: a table per scenario with DDBB, etcd and their ratio.

use std::collections::BTreeSet;
use std::fmt::Write;

use super::{Meta, Plot, Report, Section, SteadyResult};
use crate::cluster::System;
use crate::fault::Scenario;
use crate::run::Shape;

/// `12345.6` → `12,346`.
pub(crate) fn thousands(v: f64) -> String {
    let n = v.round() as i64;
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

/// A latency in ms with sensible precision.
pub(crate) fn ms(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// `4096` → `4 KiB`.
pub(crate) fn size(bytes: usize) -> String {
    if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} B")
    }
}

fn find<'a>(report: &'a Report, system: System, shape: &Shape) -> Option<&'a SteadyResult> {
    report
        .steady
        .iter()
        .find(|r| r.system == system && &r.shape == shape)
}

fn ratio(a: Option<f64>, b: Option<f64>) -> String {
    match (a, b) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}×", a / b),
        _ => "—".into(),
    }
}

fn cell(r: Option<&SteadyResult>, f: impl Fn(&SteadyResult) -> String) -> String {
    r.map(f).unwrap_or_else(|| "—".into())
}

fn target(shape: &Shape) -> &'static str {
    match shape.target {
        crate::run::Target::Leader => "leader",
        crate::run::Target::All => "all",
    }
}

/// The run's context as a list (command, time, machine, load, protocol, systems, data,
/// settings), then its notes.
pub(crate) fn context(md: &mut String, m: &Meta, protocol: &str, notes: &[String]) {
    let _ = writeln!(md, "- command: `{}`", m.command);
    let _ = writeln!(md, "- started: {} (wall time {:.0} s)", m.started, m.wall_s);
    let _ = writeln!(md, "- machine: {}", m.machine);
    let _ = writeln!(
        md,
        "- load average (1/5/15 min): before {:.2} / {:.2} / {:.2}, after {:.2} / {:.2} / {:.2}",
        m.load_before[0],
        m.load_before[1],
        m.load_before[2],
        m.load_after[0],
        m.load_after[1],
        m.load_after[2]
    );
    let _ = writeln!(md, "- protocol: {protocol}");
    let _ = writeln!(md, "- DDBB: {}", m.ddbb_server);
    let _ = writeln!(
        md,
        "- etcd: {}",
        m.etcd_version.as_deref().unwrap_or("not run (see notes)")
    );
    let _ = writeln!(
        md,
        "- data directories: {} (both systems, fsync on)",
        m.data_root
    );
    for s in &m.settings {
        let _ = writeln!(md, "- {s}");
    }
    md.push('\n');
    if !notes.is_empty() {
        md.push_str("## Notes\n\n");
        for n in notes {
            let _ = writeln!(md, "- {n}");
        }
        md.push('\n');
    }
}

/// The markdown report; `plots` are the images drawn beside it.
pub fn render(report: &Report, plots: &[Plot]) -> String {
    let mut md = String::new();
    let m = &report.meta;
    let grpc = m.protocol == "grpc";
    let _ = writeln!(
        md,
        "# ddbb-bench: DDBB vs etcd, {}{}\n",
        m.date,
        if grpc { " (gRPC)" } else { "" }
    );
    if m.quick {
        md.push_str(
            "> **Quick mode** (CI smoke test): every run lasts about a second on a small key \
             space. These figures show that the harness works, not how fast anything is.\n\n",
        );
    }
    let protocol = if grpc {
        "gRPC (`--protocol grpc`): DDBB and etcd driven by the same etcd v3 client \
         (ddbb_proto's KvClient), DDBB on its `--grpc-addr` port"
    } else {
        "RESP (`--protocol resp`): DDBB driven by ddbb_client over RESP2, etcd by the etcd \
         v3 gRPC client (ddbb_proto's KvClient)"
    };
    context(&mut md, m, protocol, &report.notes);
    md.push_str(
        "Throughput is successful operations per second in the measured window; latency is per \
         operation, measured by the client (HdrHistogram); ops/CPU-s divides operations by the \
         CPU seconds of all server processes together (utime + stime from /proc), the fairest \
         figure when servers and clients share two cores. Ratios are DDBB / etcd: above 1 DDBB \
         is faster. Clients are closed-loop (one request at a time each) sharing the given \
         connections; `leader` runs connect to the leader only, `all` spreads connections \
         round-robin over the members (etcd's benchmark shapes).\n\n",
    );

    // Steady runs, grouped by (replicas, value size).
    let groups: BTreeSet<(usize, usize)> = report
        .steady
        .iter()
        .map(|r| (r.shape.replicas, r.shape.value_size))
        .collect();
    for (replicas, value_size) in groups {
        let _ = writeln!(md, "## {replicas} replicas, {} values\n", size(value_size));
        md.push_str(
            "| workload | clients / conns | to | DDBB ops/s | etcd ops/s | DDBB/etcd | DDBB p50 / p99 ms \
             | etcd p50 / p99 ms | p99 DDBB/etcd | DDBB ops/CPU-s | etcd ops/CPU-s |\n\
             |---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        let shapes: BTreeSet<Shape> = report
            .steady
            .iter()
            .filter(|r| r.shape.replicas == replicas && r.shape.value_size == value_size)
            .map(|r| r.shape)
            .collect();
        let mut shapes: Vec<Shape> = shapes.into_iter().collect();
        shapes.sort_by_key(|s| (s.workload, s.clients));
        for shape in shapes {
            let d = find(report, System::Ddbb, &shape);
            let e = find(report, System::Etcd, &shape);
            let _ = writeln!(
                md,
                "| {} | {} / {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                shape.workload.name(),
                shape.clients,
                shape.conns,
                target(&shape),
                cell(d, |r| thousands(r.throughput)),
                cell(e, |r| thousands(r.throughput)),
                ratio(d.map(|r| r.throughput), e.map(|r| r.throughput)),
                cell(d, |r| format!(
                    "{} / {}",
                    ms(r.latency.p50_ms),
                    ms(r.latency.p99_ms)
                )),
                cell(e, |r| format!(
                    "{} / {}",
                    ms(r.latency.p50_ms),
                    ms(r.latency.p99_ms)
                )),
                ratio(d.map(|r| r.latency.p99_ms), e.map(|r| r.latency.p99_ms)),
                cell(d, |r| thousands(r.ops_per_cpu_s)),
                cell(e, |r| thousands(r.ops_per_cpu_s)),
            );
        }
        md.push('\n');
        for p in plots
            .iter()
            .filter(|p| p.section == Section::Throughput(replicas, value_size))
        {
            let _ = writeln!(md, "![{}]({})\n", p.title, p.file);
        }
    }

    let latency: Vec<&Plot> = plots
        .iter()
        .filter(|p| p.section == Section::Latency)
        .collect();
    if !latency.is_empty() {
        md.push_str("## Latency distributions\n\n");
        for p in latency {
            let _ = writeln!(md, "![{}]({})\n", p.title, p.file);
        }
    }

    if !report.faults.is_empty() {
        md.push_str("## Faults\n\n");
        md.push_str(
            "Writes (16 clients over 4 connections with failover, 256 B values) run throughout; \
             \"writes back after\" is the time from the fault to the first successful write that \
             was sent after it, \"half throughput after\" the time until a 100 ms bucket had half \
             the throughput of before the fault (— : not until the partitions were healed or the \
             run ended). \
             Both systems detect failures on the same time scale here: DDBB's defaults (10 ms \
             ticks, 10-tick election round) and etcd with `--heartbeat-interval 10 \
             --election-timeout 100`.\n\n",
        );
        md.push_str(
            "| scenario | replicas | DDBB writes back after | etcd writes back after | DDBB half throughput after | etcd half throughput after | DDBB writes/s before / during / after | etcd writes/s before / during / after |\n\
             |---|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for scenario in Scenario::ALL {
            let d = report
                .faults
                .iter()
                .find(|f| f.scenario == scenario && f.system == System::Ddbb);
            let e = report
                .faults
                .iter()
                .find(|f| f.scenario == scenario && f.system == System::Etcd);
            if d.is_none() && e.is_none() {
                continue;
            }
            let time =
                |f: Option<&crate::fault::FaultResult>,
                 v: fn(&crate::fault::FaultResult) -> Option<f64>| match f {
                    None => "not run".to_string(),
                    Some(f) => v(f)
                        .map(|v| format!("{v:.0} ms"))
                        .unwrap_or_else(|| "—".into()),
                };
            let back = |f| time(f, |f| f.recovery_ms);
            let half = |f| time(f, |f| f.half_throughput_ms);
            let rates = |f: Option<&crate::fault::FaultResult>| match f {
                None => "not run".to_string(),
                Some(f) => format!(
                    "{} / {} / {}",
                    thousands(f.before_per_s),
                    thousands(f.during_per_s),
                    thousands(f.after_per_s)
                ),
            };
            let replicas = d.or(e).map(|f| f.replicas).unwrap_or(0);
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                scenario.name(),
                replicas,
                back(d),
                back(e),
                half(d),
                half(e),
                rates(d),
                rates(e)
            );
        }
        md.push('\n');
        for f in &report.faults {
            let events: Vec<String> = f
                .events
                .iter()
                .map(|e| format!("{:.1} s {}", e.t_s, e.what))
                .collect();
            let _ = writeln!(
                md,
                "- {} / {}: {}; {} writes ok, {} failed",
                f.scenario.name(),
                f.system,
                events.join(", "),
                f.ops,
                f.errors
            );
        }
        md.push('\n');
        for p in plots.iter().filter(|p| p.section == Section::Faults) {
            let _ = writeln!(md, "![{}]({})\n", p.title, p.file);
        }
    }

    if !report.steady.is_empty() {
        md.push_str("## All steady runs\n\n");
        md.push_str(
            "| system | replicas | workload | value | clients / conns | to | ops/s | p50 | p90 | p99 | p99.9 | max ms | errors | CAS misses | server CPU s | client CPU s | ops/CPU-s | peak RSS sum / max MiB |\n\
             |---|---:|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for r in &report.steady {
            let s = &r.shape;
            let l = &r.latency;
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} / {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.2} | {:.2} | {} | {:.0} / {:.0} |",
                r.system,
                s.replicas,
                s.workload.name(),
                size(s.value_size),
                s.clients,
                s.conns,
                target(s),
                thousands(r.throughput),
                ms(l.p50_ms),
                ms(l.p90_ms),
                ms(l.p99_ms),
                ms(l.p999_ms),
                ms(l.max_ms),
                r.errors,
                r.cas_misses,
                r.server_cpu_s,
                r.client_cpu_s,
                thousands(r.ops_per_cpu_s),
                r.peak_rss_sum_mib,
                r.peak_rss_max_mib
            );
        }
        md.push('\n');
        md.push_str(
            "Raw data: `results.json` (everything, with latency CDFs), `steady.csv`, `faults.csv`, \
             `timeline-<scenario>.csv`.\n",
        );
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_formatted_for_people() {
        assert_eq!(thousands(0.4), "0");
        assert_eq!(thousands(999.0), "999");
        assert_eq!(thousands(1000.0), "1,000");
        assert_eq!(thousands(1234567.8), "1,234,568");
        assert_eq!(size(24), "24 B");
        assert_eq!(size(4096), "4 KiB");
        assert_eq!(ms(0.123), "0.12");
        assert_eq!(ms(123.4), "123");
    }

    #[test]
    fn report_has_a_table_per_scenario_with_ratios() {
        let report = crate::report::tests::sample();
        let plots = vec![Plot {
            file: "throughput-3r-256B.png".into(),
            title: "bars".into(),
            section: Section::Throughput(3, 256),
        }];
        let md = render(&report, &plots);
        assert!(md.starts_with("# ddbb-bench: DDBB vs etcd, 2026-11-21\n"));
        assert!(md.contains("- protocol: RESP"), "{md}");
        assert!(md.contains("**Quick mode**"));
        assert!(md.contains("## 3 replicas, 256 B values"));
        assert!(md.contains("![bars](throughput-3r-256B.png)"));
        // put, 1 client: DDBB 15,000 ops in 2 s = 7,500/s; etcd 10,000 in 2 s = 5,000/s.
        assert!(
            md.contains("| put | 1 / 1 | leader | 7,500 | 5,000 | 1.50× |"),
            "{md}"
        );
        // etcd did not run mixed 50/50: dashes, no ratio.
        assert!(
            md.contains("| mixed-50r-50w | 16 / 2 | all | 11,000 | — | — |"),
            "{md}"
        );
        assert!(
            md.contains("| kill-leader | 3 | 250 ms | — | 400 ms | — |"),
            "{md}"
        );
        assert!(md.contains("## Notes\n\n- a note"));
        assert!(md.contains("## All steady runs"));
        // One detail row per steady result.
        let detail_rows = md
            .lines()
            .filter(|l| l.starts_with("| DDBB |") || l.starts_with("| etcd |"))
            .count();
        assert_eq!(detail_rows, report.steady.len());
    }

    #[test]
    fn a_grpc_report_says_so() {
        let mut report = crate::report::tests::sample();
        report.meta.protocol = "grpc".into();
        let md = render(&report, &[]);
        assert!(md.starts_with("# ddbb-bench: DDBB vs etcd, 2026-11-21 (gRPC)\n"));
        assert!(md.contains("- protocol: gRPC (`--protocol grpc`)"), "{md}");
    }

    #[test]
    fn a_ddbb_only_report_renders() {
        let mut report = crate::report::tests::sample();
        report.steady.retain(|r| r.system == System::Ddbb);
        report.faults.retain(|r| r.system == System::Ddbb);
        let md = render(&report, &[]);
        assert!(md.contains("not run (see notes)"));
        assert!(md.contains("| chained | 3 |"));
        assert!(md.contains("not run"));
    }
}
