//! A bounded `--workload watch` run against a healthy DDBB: 3 replicas, kill and partition
//! faults, 25 s of puts while one watcher per replica streams the prefix over gRPC and
//! resumes from its last revision + 1 on other replicas. Every watcher's log must be a
//! gap-free, duplicate-free piece of one revision order holding every acknowledged put, and
//! every watcher must catch up after healing.

mod common;

use std::time::Duration;

use common::{assert_nothing_left, check_file, report_network, run_lin_test};

/// The number after `label` in `text` (`"streams 38 ("` with label `"streams "`).
fn number_after(text: &str, label: &str) -> Option<u64> {
    let rest = &text[text.find(label)? + label.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

#[test]
fn a_watch_run_with_kills_and_partitions_is_valid() {
    let mut run = run_lin_test(
        &[
            "--workload",
            "watch",
            "--nodes",
            "3",
            "--clients",
            "4",
            "--keys",
            "3",
            "--time-limit",
            "25",
            "--rate",
            "50",
            "--nemesis",
            "kill,partition",
            "--nemesis-interval",
            "4",
        ],
        Duration::from_secs(150),
    );
    report_network(&mut run);
    let code = run.status.code();
    run.check(
        code == Some(0),
        &format!("expected exit 0 (valid watch streams), got {code:?}"),
    );
    run.check(
        run.output
            .contains("VERDICT: valid watch streams (3 watchers, "),
        "the summary does not say valid watch streams",
    );
    let nemesis = run.read("nemesis.log");
    run.check(nemesis.contains("start kill-"), "no kill in nemesis.log");
    run.check(
        nemesis.contains("start partition-"),
        "no partition in nemesis.log",
    );
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
    let (code, out) = check_file(&run.out.join("history.edn"));
    run.check(
        code == Some(0) && out.contains(": valid watch streams ("),
        &format!("lin_test check history.edn: {code:?}\n{out}"),
    );
    assert_nothing_left(&mut run);
}
