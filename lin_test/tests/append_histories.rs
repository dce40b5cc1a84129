//! The list-append checker on small hand-written histories, each with one known anomaly (or
//! none), in Jepsen's EDN.

use lin_test::checker::append::{check_append, AnomalyKind, AppendReport, TxnVerdict};
use lin_test::txn_history::{pair_txns, parse_txn_events};

/// `steps`: `(type, process, value)` in real-time order.
fn history(steps: &[(&str, i64, &str)]) -> String {
    steps
        .iter()
        .enumerate()
        .map(|(i, (kind, p, value))| {
            format!(
                "{{:type :{kind}, :f :txn, :value {value}, :process {p}, :time {i}, :index {i}}}\n"
            )
        })
        .collect()
}

fn check(steps: &[(&str, i64, &str)]) -> AppendReport {
    let text = history(steps);
    check_append(&pair_txns(&parse_txn_events(&text).unwrap()).unwrap())
}

fn assert_found(r: &AppendReport, kind: AnomalyKind, verdict: TxnVerdict) {
    let shown: Vec<String> = r.anomalies.iter().map(|a| a.to_string()).collect();
    assert!(
        r.has(kind),
        "expected {kind}, found [{}]\n{}",
        r.anomaly_list(),
        shown.join("\n")
    );
    assert_eq!(r.verdict, verdict, "{}", shown.join("\n"));
}

#[test]
fn concurrent_appends_seen_in_one_order_are_fine() {
    let r = check(&[
        ("invoke", 0, "[[:append 1 1] [:append 2 1]]"),
        ("invoke", 1, "[[:append 1 2] [:r 2 nil]]"),
        ("ok", 0, "[[:append 1 1] [:append 2 1]]"),
        ("ok", 1, "[[:append 1 2] [:r 2 [1]]]"),
        ("invoke", 2, "[[:append 3 9]]"),
        ("info", 2, "[[:append 3 9]]"),
        ("invoke", 0, "[[:r 1 nil] [:r 2 nil] [:r 3 nil]]"),
        ("ok", 0, "[[:r 1 [1 2]] [:r 2 [1]] [:r 3 [9]]]"),
    ]);
    assert_eq!(
        r.verdict,
        TxnVerdict::StrictSerializable,
        "{:?}",
        r.anomalies
    );
    assert_eq!(r.outcomes, [3, 0, 1]);
}

#[test]
fn g0_write_cycle() {
    let r = check(&[
        ("invoke", 0, "[[:append 1 1] [:append 2 1]]"),
        ("invoke", 1, "[[:append 1 2] [:append 2 2]]"),
        ("ok", 0, "[[:append 1 1] [:append 2 1]]"),
        ("ok", 1, "[[:append 1 2] [:append 2 2]]"),
        ("invoke", 2, "[[:r 1 nil] [:r 2 nil]]"),
        ("ok", 2, "[[:r 1 [1 2]] [:r 2 [2 1]]]"),
    ]);
    assert_found(&r, AnomalyKind::G0, TxnVerdict::NotSerializable);
    let cycle = &r
        .anomalies
        .iter()
        .find(|a| a.kind == AnomalyKind::G0)
        .unwrap()
        .cycle;
    assert_eq!(cycle.len(), 2);
    assert!(cycle.iter().all(|s| s.edge == "ww"));
}

#[test]
fn g1c_circular_information_flow() {
    let r = check(&[
        ("invoke", 0, "[[:append 1 1] [:r 2 nil]]"),
        ("invoke", 1, "[[:append 2 1] [:r 1 nil]]"),
        ("ok", 0, "[[:append 1 1] [:r 2 [1]]]"),
        ("ok", 1, "[[:append 2 1] [:r 1 [1]]]"),
    ]);
    assert_found(&r, AnomalyKind::G1c, TxnVerdict::NotSerializable);
}

#[test]
fn g_single_read_skew() {
    let r = check(&[
        ("invoke", 0, "[[:append 1 1] [:append 2 1]]"),
        ("invoke", 1, "[[:r 1 nil] [:r 2 nil]]"),
        ("ok", 0, "[[:append 1 1] [:append 2 1]]"),
        ("ok", 1, "[[:r 1 []] [:r 2 [1]]]"),
        ("invoke", 2, "[[:r 1 nil]]"),
        ("ok", 2, "[[:r 1 [1]]]"),
    ]);
    assert_found(&r, AnomalyKind::GSingle, TxnVerdict::NotSerializable);
    let a = r
        .anomalies
        .iter()
        .find(|a| a.kind == AnomalyKind::GSingle)
        .unwrap();
    assert_eq!(a.cycle.iter().filter(|s| s.edge == "rw").count(), 1);
    assert!(a.to_string().contains("-rw (key 1)->"), "{a}");
}

#[test]
fn g2_write_skew() {
    let r = check(&[
        ("invoke", 0, "[[:r 1 nil] [:append 2 1]]"),
        ("invoke", 1, "[[:r 2 nil] [:append 1 1]]"),
        ("ok", 0, "[[:r 1 []] [:append 2 1]]"),
        ("ok", 1, "[[:r 2 []] [:append 1 1]]"),
        ("invoke", 2, "[[:r 1 nil] [:r 2 nil]]"),
        ("ok", 2, "[[:r 1 [1]] [:r 2 [1]]]"),
    ]);
    assert_found(&r, AnomalyKind::G2, TxnVerdict::NotSerializable);
    assert!(!r.has(AnomalyKind::GSingle));
}

#[test]
fn g1a_aborted_read() {
    let r = check(&[
        ("invoke", 0, "[[:append 1 1]]"),
        ("fail", 0, "[[:append 1 1]]"),
        ("invoke", 1, "[[:r 1 nil]]"),
        ("ok", 1, "[[:r 1 [1]]]"),
    ]);
    assert_found(&r, AnomalyKind::G1a, TxnVerdict::NotSerializable);
}

#[test]
fn g1b_intermediate_read() {
    let r = check(&[
        ("invoke", 0, "[[:append 1 1] [:append 1 2]]"),
        ("invoke", 1, "[[:r 1 nil]]"),
        ("ok", 1, "[[:r 1 [1]]]"),
        ("ok", 0, "[[:append 1 1] [:append 1 2]]"),
        ("invoke", 1, "[[:r 1 nil]]"),
        ("ok", 1, "[[:r 1 [1 2]]]"),
    ]);
    assert_found(&r, AnomalyKind::G1b, TxnVerdict::NotSerializable);
}

#[test]
fn internal_inconsistency_and_duplicates_and_garbage() {
    let r = check(&[
        ("invoke", 0, "[[:append 1 5] [:r 1 nil]]"),
        ("ok", 0, "[[:append 1 5] [:r 1 []]]"),
    ]);
    assert_found(&r, AnomalyKind::Internal, TxnVerdict::NotSerializable);
    let r = check(&[
        ("invoke", 0, "[[:append 1 1]]"),
        ("ok", 0, "[[:append 1 1]]"),
        ("invoke", 0, "[[:r 1 nil]]"),
        ("ok", 0, "[[:r 1 [1 1]]]"),
    ]);
    assert_found(
        &r,
        AnomalyKind::DuplicateElements,
        TxnVerdict::NotSerializable,
    );
    let r = check(&[("invoke", 0, "[[:r 1 nil]]"), ("ok", 0, "[[:r 1 [7]]]")]);
    assert_found(&r, AnomalyKind::GarbageRead, TxnVerdict::NotSerializable);
}

#[test]
fn incompatible_orders() {
    let r = check(&[
        ("invoke", 0, "[[:append 1 1]]"),
        ("invoke", 1, "[[:append 1 2]]"),
        ("ok", 0, "[[:append 1 1]]"),
        ("ok", 1, "[[:append 1 2]]"),
        ("invoke", 0, "[[:r 1 nil]]"),
        ("ok", 0, "[[:r 1 [1 2]]]"),
        ("invoke", 1, "[[:r 1 nil]]"),
        ("ok", 1, "[[:r 1 [2 1]]]"),
    ]);
    assert_found(
        &r,
        AnomalyKind::IncompatibleOrder,
        TxnVerdict::NotSerializable,
    );
}

#[test]
fn stale_reads_are_realtime_anomalies_only() {
    // The append completed before the read began, yet the read missed it, and nobody ever
    // saw the element: serializable (the append could go last), not strict.
    let r = check(&[
        ("invoke", 0, "[[:append 1 1]]"),
        ("ok", 0, "[[:append 1 1]]"),
        ("invoke", 1, "[[:r 1 nil]]"),
        ("ok", 1, "[[:r 1 []]]"),
    ]);
    assert_found(
        &r,
        AnomalyKind::LostAppend,
        TxnVerdict::SerializableNotStrict,
    );
    // Seen by someone, then missed by a later read: a cycle through a realtime edge.
    let r = check(&[
        ("invoke", 0, "[[:append 1 1]]"),
        ("ok", 0, "[[:append 1 1]]"),
        ("invoke", 1, "[[:r 1 nil]]"),
        ("ok", 1, "[[:r 1 [1]]]"),
        ("invoke", 2, "[[:r 1 nil]]"),
        ("ok", 2, "[[:r 1 []]]"),
    ]);
    assert_found(
        &r,
        AnomalyKind::GSingleRealtime,
        TxnVerdict::SerializableNotStrict,
    );
}

#[test]
fn info_transactions_may_or_may_not_have_happened() {
    let r = check(&[
        ("invoke", 0, "[[:append 1 1] [:append 2 1]]"),
        ("info", 0, "[[:append 1 1] [:append 2 1]]"),
        ("invoke", 1, "[[:append 1 2]]"),
        ("ok", 1, "[[:append 1 2]]"),
        ("invoke", 3, "[[:r 1 nil] [:r 2 nil]]"),
        ("ok", 3, "[[:r 1 [2 1]] [:r 2 [1]]]"),
        ("invoke", 4, "[[:append 3 1]]"),
    ]);
    assert_eq!(
        r.verdict,
        TxnVerdict::StrictSerializable,
        "{:?}",
        r.anomalies
    );
    assert_eq!(r.outcomes, [2, 0, 2]);
}

#[test]
fn a_long_serial_history_checks_quickly() {
    // 1500 transactions over 3 keys, each appending to one key and reading all three.
    let mut steps: Vec<(String, i64, String)> = Vec::new();
    let mut lists: Vec<Vec<i64>> = vec![Vec::new(); 3];
    for i in 0..1500i64 {
        let k = (i % 3) as usize;
        lists[k].push(i);
        let invoke = format!("[[:append {k} {i}] [:r 0 nil] [:r 1 nil] [:r 2 nil]]");
        let show = |l: &Vec<i64>| {
            format!(
                "[{}]",
                l.iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        };
        let ok = format!(
            "[[:append {k} {i}] [:r 0 {}] [:r 1 {}] [:r 2 {}]]",
            show(&lists[0]),
            show(&lists[1]),
            show(&lists[2])
        );
        steps.push(("invoke".into(), i % 5, invoke));
        steps.push(("ok".into(), i % 5, ok));
    }
    let borrowed: Vec<(&str, i64, &str)> = steps
        .iter()
        .map(|(a, p, v)| (a.as_str(), *p, v.as_str()))
        .collect();
    let r = check(&borrowed);
    assert_eq!(r.verdict, TxnVerdict::StrictSerializable);
    eprintln!("checked in {:?}", r.elapsed);
    assert!(r.elapsed.as_secs() < 10, "took {:?}", r.elapsed);
}
