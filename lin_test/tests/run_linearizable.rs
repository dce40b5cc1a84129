//! A bounded Jepsen-style run against a healthy DDBB: 3 replicas, kill and partition faults,
//! about a minute of workload. DDBB must come out linearizable, and the run directory must
//! hold every file the report promises.

mod common;

use std::time::Duration;

use common::{assert_nothing_left, check_file, report_network, run_lin_test};

#[test]
fn a_run_with_kills_and_partitions_is_linearizable() {
    let mut run = run_lin_test(
        &[
            "--nodes",
            "3",
            "--clients",
            "6",
            "--keys",
            "4",
            "--time-limit",
            "60",
            "--rate",
            "60",
            "--nemesis",
            "kill,partition",
            "--nemesis-interval",
            "6",
            "--check-timeout",
            "60",
        ],
        Duration::from_secs(300),
    );
    report_network(&mut run);
    let code = run.status.code();
    run.check(
        code == Some(0),
        &format!("expected exit 0 (linearizable), got {code:?}"),
    );
    run.check(
        run.output.contains("VERDICT: linearizable (4 of 4 keys)"),
        "the summary does not say linearizable",
    );

    // Faults of both families happened and were healed.
    let nemesis = run.read("nemesis.log");
    run.check(nemesis.contains("start kill-"), "no kill in nemesis.log");
    run.check(
        nemesis.contains("start partition-"),
        "no partition in nemesis.log",
    );
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
    let (code, out) = check_file(&run.out.join("history.edn"));
    run.check(
        code == Some(0),
        &format!("lin_test check history.edn: {code:?}\n{out}"),
    );
    let (code, out) = check_file(&run.out.join("keys/key-0.edn"));
    run.check(
        code == Some(0) && out.starts_with("key register: linearizable: true"),
        &format!("lin_test check keys/key-0.edn: {code:?}\n{out}"),
    );
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
