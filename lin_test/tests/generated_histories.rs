//! The checker on generated histories: linearizable by construction, and not once corrupted.
//! Also the speed benchmark (ignored by default; run with `--release -- --ignored --nocapture`).

use std::time::Instant;

use lin_test::generator::{corrupt_a_read, linearizable_history, GeneratorConfig};
use lin_test::history::Key;
use lin_test::{
    check_operations, pair_operations, parse_events, write_events, CheckOptions, Event, KeyReport,
    Verdict,
};

fn check(events: &[Event]) -> Vec<KeyReport> {
    let ops = pair_operations(events).expect("generated histories pair up");
    check_operations(&ops, &CheckOptions::default())
}

/// A spread of shapes: one hot key to many, few to many clients, no to frequent timeouts.
fn configs() -> impl Iterator<Item = GeneratorConfig> {
    (0..40u64).map(|seed| GeneratorConfig {
        keys: 1 + (seed % 5) as usize,
        processes: 2 + (seed % 9) as usize,
        operations: 300,
        info_per_mille: [0, 20, 100][(seed % 3) as usize],
        seed,
    })
}

#[test]
fn generated_histories_are_linearizable() {
    for config in configs() {
        let events = linearizable_history(&config);
        for report in check(&events) {
            assert_eq!(
                report.verdict,
                Verdict::Linearizable,
                "{config:?}, key {}",
                report.key
            );
        }
    }
}

#[test]
fn a_corrupted_read_is_caught_on_its_key_only() {
    for config in configs() {
        let mut events = linearizable_history(&config);
        let Some(at) = corrupt_a_read(&mut events, config.seed) else {
            continue;
        };
        let bad_key = Key::Named(events[at].key.clone().expect("generated events have keys"));
        for report in check(&events) {
            match (&report.verdict, report.key == bad_key) {
                (Verdict::NotLinearizable(cex), true) => {
                    // The search cannot get past the corrupted read.
                    assert_eq!(
                        cex.stuck.completion.map(|c| c.position),
                        Some(at),
                        "{config:?}"
                    );
                }
                (Verdict::Linearizable, false) => {}
                (verdict, _) => panic!("{config:?}, key {}: {verdict:?}", report.key),
            }
        }
    }
}

#[test]
fn generated_histories_round_trip_through_edn() {
    let events = linearizable_history(&GeneratorConfig::default());
    let mut text = Vec::new();
    write_events(&events, &mut text).unwrap();
    let text = String::from_utf8(text).unwrap();
    assert_eq!(parse_events(&text).unwrap(), events);
}

#[test]
#[ignore = "benchmark: run with --release -- --ignored --nocapture"]
fn bench_10_keys_20_processes_10k_operations() {
    let config = GeneratorConfig {
        keys: 10,
        processes: 20,
        operations: 10_000,
        info_per_mille: 10,
        seed: 42,
    };
    let mut events = linearizable_history(&config);
    let started = Instant::now();
    let reports = check(&events);
    let elapsed = started.elapsed();
    assert!(reports.iter().all(|r| r.verdict == Verdict::Linearizable));
    let slowest = reports.iter().map(|r| r.elapsed).max().unwrap_or_default();
    println!(
        "linearizable: {} events, {} keys checked in {:.3} s (slowest key {:.3} s)",
        events.len(),
        reports.len(),
        elapsed.as_secs_f64(),
        slowest.as_secs_f64()
    );

    corrupt_a_read(&mut events, 1);
    let started = Instant::now();
    let reports = check(&events);
    let elapsed = started.elapsed();
    let bad = reports
        .iter()
        .filter(|r| matches!(r.verdict, Verdict::NotLinearizable(_)))
        .count();
    assert_eq!(bad, 1);
    println!(
        "with one corrupted read: {} keys checked in {:.3} s, {bad} not linearizable",
        reports.len(),
        elapsed.as_secs_f64()
    );
}
