//! The checker agrees with the known verdicts of 52 real Jepsen histories of etcd.
//!
//! The histories live beside the project (`../shared/testdata/jepsen-etcd`, relative to the
//! workspace root) and are not copied into the repository; on a checkout without them the test
//! says it skipped and passes.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use lin_test::{check_operations, pair_operations, read_events, CheckOptions, Verdict};

fn testdata_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/jepsen-etcd")
}

#[test]
fn checker_agrees_with_every_jepsen_etcd_verdict() {
    let dir = testdata_dir();
    let verdicts_path = dir.join("VERDICTS");
    let Ok(verdicts) = std::fs::read_to_string(&verdicts_path) else {
        eprintln!(
            "SKIPPED: {} not found; the Jepsen etcd histories are not beside this checkout",
            verdicts_path.display()
        );
        return;
    };
    let options = CheckOptions {
        // Generous: each file takes milliseconds; a timeout here means a regression.
        timeout: Some(Duration::from_secs(60)),
        ..CheckOptions::default()
    };
    let started = Instant::now();
    let mut checked = 0;
    let mut disagreements = Vec::new();
    for line in verdicts.lines().filter(|l| !l.trim().is_empty()) {
        let mut fields = line.split_whitespace();
        let (Some(file), Some(expected), None) = (fields.next(), fields.next(), fields.next())
        else {
            panic!("malformed VERDICTS line: {line:?}");
        };
        let expected: bool = expected
            .parse()
            .unwrap_or_else(|_| panic!("verdict must be true or false: {line:?}"));
        let events = read_events(&dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let ops = pair_operations(&events).unwrap_or_else(|e| panic!("{file}: {e}"));
        let reports = check_operations(&ops, &options);
        assert_eq!(reports.len(), 1, "{file}: a single-register history");
        let got = match &reports[0].verdict {
            Verdict::Linearizable => true,
            Verdict::NotLinearizable(_) => false,
            Verdict::Unknown(why) => panic!("{file}: no verdict ({why})"),
        };
        if got != expected {
            disagreements.push(format!("{file}: expected {expected}, checker says {got}"));
        }
        checked += 1;
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
    assert_eq!(checked, 52, "VERDICTS should list 52 histories");
    eprintln!(
        "checked {checked} Jepsen etcd histories in {:.3} s",
        started.elapsed().as_secs_f64()
    );
}
