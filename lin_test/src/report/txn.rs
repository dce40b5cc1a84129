//! The report of a `--workload txn` run: transactions by outcome, faults, availability per
//! phase, the list-append checker's findings, and the verdict.

use std::fmt::Write as _;
use std::path::Path;

use crate::checker::append::{AppendReport, TxnVerdict};
use crate::error::Result;
use crate::history::Outcome;
use crate::recorder::Entry;
use crate::txn_history::{Mop, Txn, TxnEvent};

use super::{Overall, RunBasics};

/// Anomaly examples printed in the summary.
const EXAMPLES_SHOWN: usize = 6;

/// Everything a txn run's report is made of.
#[derive(Debug)]
pub struct TxnRunReport<'a> {
    /// Title, notes, history, faults, phases and verdict.
    pub run: RunBasics<'a>,
    /// The transactions of the history, paired.
    pub txns: &'a [Txn],
    /// What the checker found.
    pub check: &'a AppendReport,
}

/// The transaction events of `entries`, in order.
pub fn txn_events(entries: &[Entry]) -> Vec<TxnEvent> {
    entries
        .iter()
        .filter_map(|e| match e {
            Entry::Txn { event, .. } => Some(event.clone()),
            _ => None,
        })
        .collect()
}

impl Overall {
    /// The run's verdict from the list-append checker's.
    pub fn from_append(report: &AppendReport) -> Overall {
        match report.verdict {
            TxnVerdict::StrictSerializable => Overall::StrictSerializable {
                txns: report.outcomes.iter().sum(),
            },
            verdict => Overall::NotStrictSerializable {
                serializable: verdict == TxnVerdict::SerializableNotStrict,
                anomalies: report.anomaly_list(),
            },
        }
    }
}

fn transactions(txns: &[Txn], out: &mut String) {
    // rows: read-only, with appends; columns: ok, fail, info
    let mut rows = [[0usize; 3]; 2];
    let mut mops = [0usize; 2];
    for t in txns {
        let writes = t.mops.iter().any(|m| matches!(m, Mop::Append(..)));
        let column = match t.outcome {
            Outcome::Ok => 0,
            Outcome::Fail => 1,
            Outcome::Info => 2,
        };
        rows[usize::from(writes)][column] += 1;
        for m in &t.mops {
            mops[usize::from(matches!(m, Mop::Append(..)))] += 1;
        }
    }
    let _ = writeln!(
        out,
        "transactions ({} invoked; {} reads and {} appends):",
        txns.len(),
        mops[0],
        mops[1]
    );
    let _ = writeln!(
        out,
        "  {:<12} {:>7} {:>7} {:>7} {:>7}",
        "kind", "ok", "fail", "info", "total"
    );
    for (name, row) in ["read-only", "with appends"].into_iter().zip(rows) {
        let _ = writeln!(
            out,
            "  {name:<12} {:>7} {:>7} {:>7} {:>7}",
            row[0],
            row[1],
            row[2],
            row.iter().sum::<usize>()
        );
    }
    let _ = writeln!(
        out,
        "  (fail: certainly not applied, including a mod-revision compare that did not hold; info: unknown)"
    );
}

fn checker(check: &AppendReport, out: &mut String) {
    let [ww, wr, rw, rt] = check.edges;
    let _ = writeln!(
        out,
        "list-append check (Elle-style): {} keys; edges ww {ww}, wr {wr}, rw {rw}, rt {rt}; \
         {} cyclic component(s); {:.3} s",
        check.keys,
        check.cycles,
        check.elapsed.as_secs_f64()
    );
    if check.counts.is_empty() {
        let _ = writeln!(out, "  no anomalies");
        return;
    }
    let _ = writeln!(out, "  anomalies: {}", check.anomaly_list());
    for anomaly in check.anomalies.iter().take(EXAMPLES_SHOWN) {
        for (i, line) in anomaly.to_string().lines().enumerate() {
            let _ = writeln!(out, "  {}{line}", if i == 0 { "- " } else { "  " });
        }
    }
}

/// The whole summary of a txn run.
pub fn txn_summary_text(report: &TxnRunReport<'_>) -> String {
    let (mut workload, mut check) = (String::new(), String::new());
    transactions(report.txns, &mut workload);
    checker(report.check, &mut check);
    report.run.summary(&workload, &check)
}

/// Writes `summary.txt` and `index.html` of a txn run; returns the summary.
///
/// # Errors
/// [`crate::Error::Io`] naming the file that could not be written.
pub fn write_txn_report(dir: &Path, report: &TxnRunReport<'_>) -> Result<String> {
    let summary = txn_summary_text(report);
    report.run.write_plain_report(dir, "txn", &summary)?;
    Ok(summary)
}
