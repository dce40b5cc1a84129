//! `ddbb-bench watch --quick` end to end: real DDBB replicas (and etcd members when etcd is
//! installed), watchers on the members other than the leader, paced puts to the leader. Checks
//! that the report is written and that every watcher received every acknowledged put's event
//! exactly once, in revision order. No timing assertions.

use std::process::Command;

mod common;

#[test]
fn quick_watch_delivers_every_event_to_every_watcher() {
    let etcd = common::etcd_or_ddbb_alone();
    let out = tempfile::tempdir().expect("temp dir");
    // The run bounds itself (1 s of puts per run, at most 10 s of drain); the child is
    // waited for, and its clusters are killed by PID when it exits.
    let status = Command::new(env!("CARGO_BIN_EXE_ddbb-bench"))
        .args(["watch", "--quick", "--drain", "10", "--out"])
        .arg(out.path())
        .status()
        .expect("run ddbb-bench");
    assert!(
        status.success(),
        "ddbb-bench watch --quick failed: {status}"
    );

    let dir = out.path();
    for name in ["report.md", "results.json", "watch.csv"] {
        assert!(dir.join(name).is_file(), "{name} missing");
    }
    let report = std::fs::read_to_string(dir.join("report.md")).unwrap();
    assert!(!report.contains("FAILED"), "a run failed:\n{report}");
    assert!(!report.contains("INCOMPLETE"), "events missing:\n{report}");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("results.json")).unwrap()).unwrap();
    let runs = results["runs"].as_array().expect("runs");
    let systems: &[&str] = if etcd { &["ddbb", "etcd"] } else { &["ddbb"] };
    for system in systems {
        for (kind, watchers) in [("latency", 1), ("latency", 20), ("fan-out", 20)] {
            let r = runs
                .iter()
                .find(|r| {
                    r["system"] == *system
                        && r["shape"]["kind"] == kind
                        && r["shape"]["watchers"] == watchers
                })
                .unwrap_or_else(|| panic!("{system}: no {kind} run with {watchers} watchers"));
            let puts = r["puts"].as_u64().unwrap();
            assert!(puts > 0, "{system}: no put acknowledged in {r}");
            assert_eq!(r["put_errors"], 0, "{system}: put errors in {r}");
            assert_eq!(
                r["events"].as_u64().unwrap(),
                puts * watchers,
                "{system}: events != puts × watchers in {r}"
            );
            for field in [
                "lost",
                "duplicates",
                "out_of_order",
                "unexpected",
                "stream_errors",
            ] {
                assert_eq!(r[field], 0, "{system}: {field} in {r}");
            }
            assert_eq!(
                r["after_ack"]["count"].as_u64().unwrap(),
                puts * watchers,
                "{system}: every event has a latency in {r}"
            );
            // Watchers are never on the writer's member.
            let writer = &r["writer_member"];
            assert!(
                r["watcher_members"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|m| m != writer),
                "{system}: a watcher on the writer's member in {r}"
            );
        }
    }
}
