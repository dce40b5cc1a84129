//! Proof that the watch checker can fail: replicas started with the UNSAFE
//! `--unsafe-watch-drop-resumed-event` lose the first event owed to every watch created with
//! a start revision, which is every stream of the workload (the first from revision 1, each
//! resumption from its last revision + 1). Watchers resume every 0.3 to 2.5 s, so a 10 s run
//! without faults has a dozen or more resumptions, each leaving a gap that the other watchers'
//! logs and the acknowledged puts expose. The test insists on a gap reported in a resumed
//! stream (stream 2 or later), so it cannot pass on the first streams alone.

mod common;

use std::time::Duration;

use common::{assert_nothing_left, run_workload};

#[test]
fn unsafe_watch_drop_resumed_event_is_caught() {
    let mut run = run_workload(
        "watch",
        &[
            ("--nodes", "3"),
            ("--clients", "4"),
            ("--keys", "3"),
            ("--time-limit", "10"),
            ("--rate", "60"),
            ("--nemesis", "none"),
        ],
        &["--unsafe-watch-drop-resumed-event"],
        Duration::from_secs(120),
    );
    assert_nothing_left(&mut run);
    run.expect_verdict(1, "VERDICT: NOT valid watch streams: gap x");
    let summary = run.read("summary.txt");
    let resumed_gap = summary.lines().any(|l| {
        l.starts_with("  - gap: watcher ")
            && l.split("(stream ")
                .nth(1)
                .and_then(|rest| rest.split(' ').next())
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|n| n >= 2)
    });
    run.check(
        resumed_gap,
        "no gap reported in a resumed stream (stream 2 or later)",
    );
    let history = run.read("history.edn");
    let resumptions = history
        .lines()
        .filter(|l| l.contains(":f :watch-start, :value {:node ") && !l.contains(":from 1}"))
        .count();
    eprintln!("{resumptions} streams resumed from a revision after 1");
    run.check(
        resumptions >= 3,
        "fewer than 3 resumptions from a revision after 1",
    );
    run.expect_check("history.edn", 1, "NOT valid: gap x");
}
