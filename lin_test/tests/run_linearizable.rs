//! A bounded Jepsen-style run against a healthy DDBB: 3 replicas, kill and partition faults,
//! about a minute of workload. DDBB must come out linearizable, and the run directory must
//! hold every file the report promises.

mod common;

use std::time::Duration;

use common::{assert_nothing_left, report_network, run_workload};

#[test]
fn a_run_with_kills_and_partitions_is_linearizable() {
    let mut run = run_workload(
        "register",
        &[
            ("--nodes", "3"),
            ("--clients", "6"),
            ("--keys", "4"),
            ("--time-limit", "60"),
            ("--rate", "60"),
            ("--nemesis", "kill,partition"),
            ("--nemesis-interval", "6"),
            ("--check-timeout", "60"),
        ],
        &[],
        Duration::from_secs(300),
    );
    report_network(&mut run);
    run.expect_verdict(0, "VERDICT: linearizable (4 of 4 keys)");

    // Faults of both families happened and were healed.
    run.expect_faults(&["kill-", "partition-"]);
    let nemesis = run.read("nemesis.log");
    let starts = nemesis.matches("  start ").count();
    let stops = nemesis.matches("  stop ").count();
    run.check(starts >= 4 && starts == stops, "faults were not all healed");

    // The files of the run directory, and the checker agrees when run on them alone.
    let history = run.read("history.edn");
    run.check(
        history.lines().all(|l| l.starts_with("{:type :")),
        "history.edn is not one event per line",
    );
    run.check(
        history.contains(":process :nemesis"),
        "no nemesis events in history.edn",
    );
    run.expect_check("history.edn", 0, "");
    run.expect_check("keys/key-0.edn", 0, "key register: linearizable: true");
    let jsonl = run.read("history.jsonl");
    run.check(
        jsonl.lines().count() == history.lines().count(),
        "history.jsonl differs",
    );
    let summary = run.read("summary.txt");
    for part in [
        "operations (",
        "faults (",
        "availability per phase",
        "final reads",
        "verdict per key:",
    ] {
        run.check(
            summary.contains(part),
            &format!("summary.txt lacks '{part}'"),
        );
    }
    run.check(
        run.read("index.html").contains("timeline/key-0.html"),
        "index.html lacks links",
    );
    run.check(
        run.read("timeline/key-3.html").contains("<svg"),
        "no timeline for key 3",
    );
    assert_nothing_left(&mut run);
}
