//! `ddbb-bench compare --quick` end to end: real DDBB replicas (and etcd members when etcd is
//! installed), every workload and fault scenario for about a second each. Checks that the
//! report, the raw data and the plots are written and that every steady operation succeeded.
//! No timing assertions.

use std::path::Path;
use std::process::Command;

mod common;

fn no_bench_chains_left() -> bool {
    match Command::new("iptables").args(["-w", "-S"]).output() {
        Ok(out) => !String::from_utf8_lossy(&out.stdout).contains("DDBB_BENCH_"),
        Err(_) => true, // no iptables: nothing could have been installed
    }
}

/// The report's name of a workload as serialized in results.json.
fn workload_name(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.replace('_', "-"),
        serde_json::Value::Object(o) => match o.get("mixed").and_then(|r| r.as_u64()) {
            Some(r) => format!("mixed-{r}r-{}w", 100 - r),
            None => v.to_string(),
        },
        _ => v.to_string(),
    }
}

#[test]
fn quick_compare_writes_a_complete_report() {
    let etcd = common::etcd_or_ddbb_alone();
    let out = tempfile::tempdir().expect("temp dir");
    let status = Command::new(env!("CARGO_BIN_EXE_ddbb-bench"))
        .args(["compare", "--quick", "--out"])
        .arg(out.path())
        .status()
        .expect("run ddbb-bench");
    assert!(
        status.success(),
        "ddbb-bench compare --quick failed: {status}"
    );

    let dir = out.path();
    for name in ["report.md", "results.json", "steady.csv", "faults.csv"] {
        assert!(dir.join(name).is_file(), "{name} missing");
    }
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();

    // Every steady run succeeded without a failed operation, on every system that ran.
    let steady = results["steady"].as_array().expect("steady runs");
    let systems: Vec<&str> = if etcd {
        vec!["ddbb", "etcd"]
    } else {
        vec!["ddbb"]
    };
    for system in &systems {
        let runs: Vec<&serde_json::Value> =
            steady.iter().filter(|r| r["system"] == *system).collect();
        assert!(runs.len() >= 6, "{system}: only {} steady runs", runs.len());
        for r in &runs {
            assert_eq!(r["errors"], 0, "{system}: failed operations in {r}");
            assert!(
                r["ops"].as_u64().unwrap() > 0,
                "{system}: no operation in {r}"
            );
            assert_eq!(r["cas_misses"], 0, "{system}: a CAS did not swap in {r}");
        }
        for workload in [
            "put",
            "get-linearizable",
            "get-serializable",
            "get-old",
            "cas",
            "txn",
            "mixed-90r-10w",
            "mixed-50r-50w",
        ] {
            assert!(
                runs.iter()
                    .any(|r| workload_name(&r["shape"]["workload"]) == workload),
                "{system}: no {workload} run"
            );
        }
    }
    assert!(!report.contains("FAILED"), "a run failed:\n{report}");

    // Fault scenarios: kill-leader always; the partition ones when iptables could be used.
    let faults = results["faults"].as_array().expect("fault runs");
    for system in &systems {
        assert!(
            faults
                .iter()
                .any(|f| f["system"] == *system && f["scenario"] == "kill-leader"),
            "{system}: no kill-leader run"
        );
    }
    let partitions_ran = faults.iter().any(|f| f["scenario"] == "quorum-loss");
    assert!(
        partitions_ran || report.contains("partial-connectivity scenarios skipped"),
        "partition scenarios neither ran nor were reported as skipped"
    );

    // Every plot the report shows exists and is a PNG.
    let mut shown = 0;
    for line in report.lines().filter(|l| l.starts_with("![")) {
        let file = line.rsplit_once('(').unwrap().1.trim_end_matches(')');
        let bytes = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{file} is not a PNG"
        );
        shown += 1;
    }
    // At least one throughput chart, one latency CDF and one fault timeline.
    assert!(shown >= 3, "only {shown} plots in the report");
    assert!(Path::new(&dir.join("throughput-3r-256B.png")).is_file());

    // Nothing is left behind: no iptables chain of ours.
    assert!(no_bench_chains_left(), "iptables chains left behind");
}

/// `--protocol grpc` in seconds: the main group's shapes at 16 clients, no faults. DDBB is
/// driven through its etcd gRPC port by the same client as etcd.
#[test]
fn grpc_protocol_smoke() {
    let etcd = common::etcd_or_ddbb_alone();
    let out = tempfile::tempdir().expect("temp dir");
    let status = Command::new(env!("CARGO_BIN_EXE_ddbb-bench"))
        .args([
            "compare",
            "--quick",
            "--protocol",
            "grpc",
            "--skip-faults",
            "--warmup",
            "0.1",
            "--duration",
            "0.3",
            "--filter",
            "256 B, 16 clients/4 conns, all members, 3 replicas",
            "--out",
        ])
        .arg(out.path())
        .status()
        .expect("run ddbb-bench");
    assert!(
        status.success(),
        "ddbb-bench compare --protocol grpc failed: {status}"
    );
    let report = std::fs::read_to_string(out.path().join("report.md")).unwrap();
    assert!(report.contains("- protocol: gRPC"), "{report}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("results.json")).unwrap())
            .unwrap();
    assert_eq!(results["meta"]["protocol"], "grpc");
    let steady = results["steady"].as_array().expect("steady runs");
    let systems: &[&str] = if etcd { &["ddbb", "etcd"] } else { &["ddbb"] };
    for system in systems {
        let runs: Vec<&serde_json::Value> =
            steady.iter().filter(|r| r["system"] == *system).collect();
        for workload in [
            "put",
            "get-linearizable",
            "get-serializable",
            "get-old",
            "cas",
            "txn",
        ] {
            let r = runs
                .iter()
                .find(|r| workload_name(&r["shape"]["workload"]) == workload)
                .unwrap_or_else(|| panic!("{system}: no {workload} run"));
            assert_eq!(r["errors"], 0, "{system}: failed operations in {r}");
            assert!(
                r["ops"].as_u64().unwrap() > 0,
                "{system}: no operation in {r}"
            );
            assert_eq!(
                r["cas_misses"], 0,
                "{system}: a CAS or txn compare failed in {r}"
            );
        }
    }
}
