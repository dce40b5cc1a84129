//! Proof that the lock workload exposes a lease that expires early: replicas started with the
//! UNSAFE `--unsafe-follower-lease-expiry` let followers revoke leases by their own clocks,
//! running 10 times fast, so a 2 s lease kept alive every 0.67 s is revoked about 0.2 s after
//! each keepalive. No fault is injected, so a correct server would give no early expiry and
//! no unguarded overlap.
//!
//! What must happen, and what must not:
//! - the run fails with `early-expiry`: keepalives answering TTL 0, guarded writes finding
//!   the lock key gone, and later tokens acquiring the lock, all before the TTL promised by
//!   the last keepalive had passed;
//! - unguarded overlaps are frequent (clients keep believing they hold a lock whose key was
//!   deleted under them);
//! - the guarded counter stays correct: the fencing compare rejects the stale holders, so the
//!   guarded checks (interleaving, lost increments, token order) find nothing. That is the
//!   point of fencing, and why the lease-lifetime check, not the guarded one, is what catches
//!   this bug.

mod common;

use std::time::Duration;

use common::{assert_nothing_left, number_after, run_workload};

#[test]
fn unsafe_follower_lease_expiry_is_caught() {
    let mut run = run_workload(
        "lock",
        &[
            ("--nodes", "3"),
            ("--clients", "4"),
            ("--time-limit", "10"),
            ("--rate", "40"),
            ("--lock-ttl", "2"),
            ("--nemesis", "none"),
        ],
        &["--unsafe-follower-lease-expiry"],
        Duration::from_secs(120),
    );
    assert_nothing_left(&mut run);
    run.expect_verdict(1, "VERDICT: NOT valid lock: early-expiry x");
    let summary = run.read("summary.txt");
    let verdict = summary
        .lines()
        .find(|l| l.starts_with("VERDICT: "))
        .unwrap_or_default()
        .to_string();
    eprintln!("{verdict}");
    run.check(
        verdict.starts_with("VERDICT: NOT valid lock: early-expiry x"),
        "the verdict does not name early expiries",
    );
    for guarded in [
        "interleaved",
        "lost-increment",
        "token-regression",
        "stale-read",
        "wrong-value",
        "unexplained-write",
        "phantom-increment",
    ] {
        run.check(
            !verdict.contains(guarded),
            &format!("fencing should have kept the counter correct, yet: {guarded}"),
        );
    }
    let overlaps = number_after(&summary, "WARNING unguarded overlaps: ").unwrap_or(0);
    let fenced = summary
        .split("; ")
        .find_map(|part| part.strip_suffix(" rejected by the fencing compare (lock key gone)"))
        .and_then(|n| n.parse::<u64>().ok())
        .unwrap_or(0);
    eprintln!("unguarded overlaps {overlaps}, guarded writes rejected by fencing {fenced}");
    run.check(overlaps >= 3, "fewer than 3 unguarded overlaps");
    run.expect_check("history.edn", 1, "NOT valid: early-expiry x");
}
