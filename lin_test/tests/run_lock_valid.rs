//! A bounded `--workload lock` run against a healthy DDBB: 3 replicas, 4 clients taking a
//! lock with etcd's recipe over 2 s leases and incrementing a counter in Txns guarded by the
//! fencing token, while the nemesis kills and pauses replicas (a paused replica stalls its
//! clients' keepalives, so their leases expire while they still believe they hold the lock).
//! Guarded writes must never interleave, no increment may be lost, and no lease may be seen
//! gone before a keepalive's TTL has passed; unguarded overlaps are only reported.

mod common;

use std::time::{Duration, Instant};

use common::{assert_nothing_left, number_after, run_workload};

#[test]
fn a_lock_run_with_kills_and_pauses_is_valid() {
    let started = Instant::now();
    let mut run = run_workload(
        "lock",
        &[
            ("--nodes", "3"),
            ("--clients", "4"),
            ("--time-limit", "16"),
            ("--rate", "40"),
            ("--lock-ttl", "2"),
            ("--nemesis", "pause,kill"),
            ("--nemesis-interval", "2.5"),
        ],
        &[],
        Duration::from_secs(120),
    );
    let elapsed = started.elapsed();
    run.expect_verdict(0, "VERDICT: valid lock (guarded writes never interleaved, ");
    run.expect_faults(&["kill", "pause"]);
    let summary = run.read("summary.txt");
    let acquired = number_after(&summary, "acquisitions: ").unwrap_or(0);
    let ok = summary
        .split("guarded increments: ")
        .nth(1)
        .and_then(|rest| number_after(rest, "("))
        .unwrap_or(0);
    let overlaps = number_after(&summary, "WARNING unguarded overlaps: ").unwrap_or(0);
    eprintln!(
        "acquisitions {acquired}, successful guarded increments {ok}, unguarded overlaps \
         {overlaps}, run {:.1} s",
        elapsed.as_secs_f64()
    );
    run.check(acquired >= 30, "fewer than 30 acquisitions");
    run.check(ok >= 30, "fewer than 30 successful guarded increments");
    run.check(
        summary.contains("final counter: ") && !summary.contains("final counter: not read"),
        "the final counter was not read",
    );
    let history = run.read("history.edn");
    run.check(
        history.contains(":f :acquire, :value {:lease ")
            && history.contains("{:type :ok, :f :incr, :value {:lease ")
            && history.contains(":f :keepalive, :value {:lease "),
        "history.edn holds no acquisitions, increments or keepalives",
    );
    run.expect_check("history.edn", 0, ": valid lock, ");
    assert_nothing_left(&mut run);
}
