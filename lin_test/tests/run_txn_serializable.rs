//! A bounded `--workload txn` run against a healthy DDBB: 3 replicas, kill and partition
//! faults, 45 s of list-append transactions. DDBB must come out strict serializable, and the
//! history must be Jepsen EDN that `lin_test check` agrees with.

mod common;

use std::time::Duration;

use common::{assert_nothing_left, report_network, run_workload};

#[test]
fn a_txn_run_with_kills_and_partitions_is_strict_serializable() {
    let mut run = run_workload(
        "txn",
        &[
            ("--nodes", "3"),
            ("--clients", "6"),
            ("--keys", "4"),
            ("--time-limit", "45"),
            ("--rate", "60"),
            ("--nemesis", "kill,partition"),
            ("--nemesis-interval", "6"),
        ],
        &[],
        Duration::from_secs(240),
    );
    report_network(&mut run);
    run.expect_verdict(0, "VERDICT: strict serializable (");
    run.expect_faults(&["kill-", "partition-"]);
    let history = run.read("history.edn");
    run.check(
        history.contains(":f :txn, :value [[:")
            && history.contains("{:type :ok, :f :txn")
            && history.contains("[:append "),
        "history.edn holds no list-append transactions",
    );
    let summary = run.read("summary.txt");
    for part in [
        "transactions (",
        "faults (",
        "availability per phase",
        "list-append check",
    ] {
        run.check(
            summary.contains(part),
            &format!("summary.txt lacks '{part}'"),
        );
    }
    run.expect_check("history.edn", 0, "strict serializable");
    assert_nothing_left(&mut run);
}
