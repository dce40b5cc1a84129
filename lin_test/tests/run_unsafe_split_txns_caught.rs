//! Proof that the txn checker can fail: replicas started with the UNSAFE
//! `--unsafe-split-txns` run each operation of a `TXN` as a write of its own, so a
//! transaction's compares hold only for its first operation and other clients see it half
//! applied. With 3 keys, 6 clients and transactions of 2 to 4 operations, two commits race
//! on the same keys many times a second, which breaks serializability (lost updates,
//! incompatible orders, G-single/G1c cycles, reads that disagree with the transaction's own
//! append) within seconds; no fault is needed. A few attempts cover an unlucky run.

mod common;

use std::time::Duration;

use common::{run_workload, until_caught};

/// Runs allowed before giving up (each takes about 15 s).
const ATTEMPTS: usize = 3;

#[test]
fn unsafe_split_txns_are_caught() {
    let (mut run, attempt) = until_caught(ATTEMPTS, "split transactions", || {
        run_workload(
            "txn",
            &[
                ("--nodes", "3"),
                ("--clients", "6"),
                ("--keys", "3"),
                ("--time-limit", "10"),
                ("--rate", "200"),
                ("--nemesis", "none"),
            ],
            &["--unsafe-split-txns"],
            Duration::from_secs(120),
        )
    });
    run.expect_verdict(1, "VERDICT: NOT serializable");
    run.check(
        run.read("summary.txt").contains("anomalies: "),
        "no anomalies listed in summary.txt",
    );
    eprintln!("split transactions caught on attempt {attempt}");
}
