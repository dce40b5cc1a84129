//! Proof that the txn checker can fail: replicas started with the UNSAFE
//! `--unsafe-split-txns` run each operation of a `TXN` as a write of its own, so a
//! transaction's compares hold only for its first operation and other clients see it half
//! applied. With 3 keys, 6 clients and transactions of 2 to 4 operations, two commits race
//! on the same keys many times a second, which breaks serializability (lost updates,
//! incompatible orders, G-single/G1c cycles, reads that disagree with the transaction's own
//! append) within seconds; no fault is needed. A few attempts cover an unlucky run.

mod common;

use std::time::Duration;

use common::{assert_nothing_left, run_lin_test};

/// Runs allowed before giving up (each takes about 15 s).
const ATTEMPTS: usize = 3;

#[test]
fn unsafe_split_txns_are_caught() {
    let mut outputs = Vec::new();
    for attempt in 1..=ATTEMPTS {
        let mut run = run_lin_test(
            &[
                "--workload",
                "txn",
                "--nodes",
                "3",
                "--clients",
                "6",
                "--keys",
                "3",
                "--time-limit",
                "10",
                "--rate",
                "200",
                "--nemesis",
                "none",
                "--unsafe-split-txns",
            ],
            Duration::from_secs(120),
        );
        assert_nothing_left(&mut run);
        if run.status.code() == Some(1) {
            run.check(
                run.output.contains("VERDICT: NOT serializable"),
                "exit 1 without a NOT serializable verdict",
            );
            run.check(
                run.read("summary.txt").contains("anomalies: "),
                "no anomalies listed in summary.txt",
            );
            eprintln!("split transactions caught on attempt {attempt}");
            return;
        }
        eprintln!(
            "attempt {attempt}: nothing caught (exit {:?})",
            run.status.code()
        );
        outputs.push(run.output.clone());
    }
    panic!(
        "split transactions were not caught in {ATTEMPTS} runs:\n{}",
        outputs.join("\n-----\n")
    );
}
