//! A bounded `--workload watch` run against a healthy DDBB: 3 replicas, kill and partition
//! faults, 25 s of puts while one watcher per replica streams the prefix over gRPC and
//! resumes from its last revision + 1 on other replicas. Every watcher's log must be a
//! gap-free, duplicate-free piece of one revision order holding every acknowledged put, and
//! every watcher must catch up after healing.

mod common;

use std::time::Duration;

use common::{assert_nothing_left, number_after, report_network, run_workload};

#[test]
fn a_watch_run_with_kills_and_partitions_is_valid() {
    let mut run = run_workload(
        "watch",
        &[
            ("--nodes", "3"),
            ("--clients", "4"),
            ("--keys", "3"),
            ("--time-limit", "25"),
            ("--rate", "50"),
            ("--nemesis", "kill,partition"),
            ("--nemesis-interval", "4"),
        ],
        &[],
        Duration::from_secs(150),
    );
    report_network(&mut run);
    run.expect_verdict(0, "VERDICT: valid watch streams (3 watchers, ");
    run.expect_faults(&["kill-", "partition-"]);
    let summary = run.read("summary.txt");
    let streams = number_after(&summary, "streams ").unwrap_or(0);
    let resumptions = number_after(&summary, &format!("streams {streams} (")).unwrap_or(0);
    let events = number_after(&summary, "events received ").unwrap_or(0);
    eprintln!("streams {streams}, resumptions {resumptions}, events {events}");
    run.check(
        resumptions >= 10,
        "fewer than 10 resumptions: the run did not exercise resuming",
    );
    run.check(events >= 1000, "fewer than 1000 events received");
    run.check(
        summary.contains("3 of 3 watchers caught up"),
        "not every watcher caught up after healing",
    );
    let history = run.read("history.edn");
    run.check(
        history.contains("{:type :ok, :f :put, :value [\"lin_test/watch/")
            && history.contains(":f :watch, :value [[")
            && history.contains(":f :watch-start, :value {:node "),
        "history.edn holds no puts with revisions or watch events",
    );
    run.expect_check("history.edn", 0, ": valid watch streams (");
    assert_nothing_left(&mut run);
}
