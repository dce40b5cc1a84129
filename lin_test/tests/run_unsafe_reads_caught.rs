//! Proof that the tester can fail: replicas started with the UNSAFE `--unsafe-local-reads`
//! answer linearizable reads from local state, and a partition nemesis must get that caught.
//!
//! Why it is reliable: with 3 replicas every partition cuts one replica off from the other
//! two. Clients are bound to replicas, two per replica, so two clients keep reading from the
//! isolated one, which answers at once from its frozen state, while the four others keep
//! writing through the majority (one key, so every write is to the register being read). A
//! read that starts after such a write was acknowledged and returns the older value is a
//! violation no interleaving can explain, and each partition produces several. Reads on a
//! healthy follower can already be stale in this mode, too. A bounded number of attempts
//! covers the improbable run where the nemesis could not act.

mod common;

use std::time::Duration;

use common::{report_network, run_workload, until_caught};

/// Runs allowed before giving up (each takes about 25 s).
const ATTEMPTS: usize = 3;

#[test]
fn unsafe_local_reads_are_caught_under_partitions() {
    let (mut run, attempt) = until_caught(ATTEMPTS, "unsafe local reads", || {
        let mut run = run_workload(
            "register",
            &[
                ("--nodes", "3"),
                ("--clients", "6"),
                ("--keys", "1"),
                ("--time-limit", "20"),
                ("--mix", "read=60,write=40"),
                ("--nemesis", "partition"),
                ("--nemesis-interval", "4"),
                ("--request-timeout-ms", "1000"),
            ],
            &["--unsafe-local-reads"],
            Duration::from_secs(180),
        );
        report_network(&mut run);
        run
    });
    run.expect_verdict(1, "VERDICT: NOT linearizable");
    run.check(
        run.output.contains("smallest non-linearizable prefix"),
        "no counterexample in the report",
    );
    let page = run.read("timeline/key-0.html");
    run.check(
        page.contains("linearizable: false") && page.contains("id=\"stuck\""),
        "the timeline does not highlight the violation",
    );
    eprintln!("violation caught on attempt {attempt}");
}
