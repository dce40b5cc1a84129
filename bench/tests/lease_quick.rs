//! `ddbb-bench lease --quick` end to end: real DDBB replicas (and etcd members when etcd is
//! installed), keepalive streams and lock contenders through the same gRPC client. Checks
//! that the report is written, that keepalives and lock cycles were counted without an error,
//! and that no two critical sections interleaved. No timing assertions.

use std::process::Command;

mod common;

#[test]
fn quick_lease_counts_keepalives_and_never_overlaps_lock_holders() {
    let etcd = common::etcd_or_ddbb_alone();
    let out = tempfile::tempdir().expect("temp dir");
    // The run bounds itself (1 s per run, at most 10 s of drain for the lock runs); the child
    // is waited for, and its clusters are killed by PID when it exits.
    let status = Command::new(env!("CARGO_BIN_EXE_ddbb-bench"))
        .args(["lease", "--quick", "--drain", "10", "--out"])
        .arg(out.path())
        .status()
        .expect("run ddbb-bench");
    assert!(
        status.success(),
        "ddbb-bench lease --quick failed: {status}"
    );

    let dir = out.path();
    for name in ["report.md", "results.json", "keepalive.csv", "lock.csv"] {
        assert!(dir.join(name).is_file(), "{name} missing");
    }
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(!report.contains("FAILED"), "a run failed:\n{report}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    let systems: &[&str] = if etcd { &["ddbb", "etcd"] } else { &["ddbb"] };
    let find = |section: &str, system: &str, field: &str, n: u64| {
        results[section]
            .as_array()
            .expect("runs")
            .iter()
            .find(|r| r["system"] == *system && r["shape"][field] == n)
            .unwrap_or_else(|| panic!("{system}: no {section} run with {n} {field}"))
            .clone()
    };
    for system in systems {
        for streams in [4, 16] {
            let r = find("keepalive", system, "streams", streams);
            assert!(
                r["keepalives"].as_u64().unwrap() > 0,
                "{system}: no keepalive answered in {r}"
            );
            assert_eq!(
                r["latency"]["count"], r["keepalives"],
                "{system}: every keepalive has a latency in {r}"
            );
            assert_eq!(r["errors"], 0, "{system}: keepalive errors in {r}");
            assert_eq!(r["revoke_errors"], 0, "{system}: leases left in {r}");
        }
        for contenders in [1, 16] {
            let r = find("lock", system, "contenders", contenders);
            let cycles = r["cycles"].as_u64().unwrap();
            assert!(cycles > 0, "{system}: no lock cycle in {r}");
            assert_eq!(
                r["sections"], cycles,
                "{system}: a section per cycle in {r}"
            );
            assert_eq!(
                r["acquire"]["count"], cycles,
                "{system}: every acquisition timed in {r}"
            );
            for field in ["errors", "abandoned", "overlaps", "token_regressions"] {
                assert_eq!(r[field], 0, "{system}: {field} in {r}");
            }
            if contenders > 1 && cycles > contenders {
                // Contenders queue: some waited for a predecessor.
                assert!(
                    r["waits"].as_u64().unwrap() > 0,
                    "{system}: nobody waited in {r}"
                );
            }
        }
    }
}
