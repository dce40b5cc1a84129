//! The report of a `--workload lock` run: rounds and requests by outcome, faults,
//! availability per phase, the guarded-write and lease-lifetime findings, the unguarded
//! overlaps (a warning), and the verdict.

use std::fmt::Write as _;
use std::path::Path;

use crate::checker::lock::LockReport;
use crate::error::Result;
use crate::lock_history::LockRecord;
use crate::recorder::Entry;

use super::{secs, Overall, RunBasics};

/// Problem examples printed in the summary.
const EXAMPLES_SHOWN: usize = 8;

/// Everything a lock run's report is made of.
#[derive(Debug)]
pub struct LockRunReport<'a> {
    /// Title, notes, history, faults, phases and verdict.
    pub run: RunBasics<'a>,
    /// What the checker found.
    pub check: &'a LockReport,
}

/// The lock-workload records of `entries`, in order.
pub fn lock_records(entries: &[Entry]) -> Vec<LockRecord> {
    entries
        .iter()
        .filter_map(|e| match e {
            Entry::Lock { record, .. } => Some(record.clone()),
            _ => None,
        })
        .collect()
}

impl Overall {
    /// The run's verdict from the lock checker's.
    pub fn from_lock(report: &LockReport) -> Overall {
        if report.valid() {
            Overall::LockValid {
                increments: report.increments[0],
                overlaps: report.overlaps.pairs,
            }
        } else {
            Overall::LockInvalid {
                problems: report.problem_list(),
            }
        }
    }
}

/// The workload section: rounds, requests, the counter.
pub fn workload_text(check: &LockReport, out: &mut String) {
    let [a_ok, a_fail, a_info] = check.acquisitions;
    let [i_ok, i_fail, i_info] = check.increments;
    let _ = writeln!(
        out,
        "leases granted: {}, keepalives answered: {}",
        check.leases, check.keepalives
    );
    let _ = writeln!(
        out,
        "acquisitions: {} ({a_ok} ok, {a_fail} fail, {a_info} info)",
        a_ok + a_fail + a_info
    );
    let _ = writeln!(
        out,
        "guarded increments: {} ({i_ok} ok, {i_fail} fail, {i_info} info); {} rejected by the \
         fencing compare (lock key gone); locks lost while held: {}",
        i_ok + i_fail + i_info,
        check.fenced,
        check.lost
    );
    match check.final_counter {
        Some(c) => {
            let _ = writeln!(
                out,
                "final counter: {c} (successful increments {i_ok}, indeterminate {i_info})"
            );
        }
        None => {
            let _ = writeln!(out, "final counter: not read");
        }
    }
}

/// The checker section: guarded writes and lease lifetimes, then the overlaps warning.
pub fn checker_text(check: &LockReport, out: &mut String) {
    let _ = writeln!(
        out,
        "lock check: guarded writes in revision order with non-decreasing tokens, none between \
         another's read and write, each on the previous one's value, no increment lost; no \
         lease seen gone before a keepalive's TTL had passed; {:.3} s",
        check.elapsed.as_secs_f64()
    );
    if check.valid() {
        let _ = writeln!(out, "  no problems");
    } else {
        let _ = writeln!(out, "  problems: {}", check.problem_list());
        for problem in check.problems.iter().take(EXAMPLES_SHOWN) {
            let _ = writeln!(out, "  - {problem}");
        }
    }
    let o = &check.overlaps;
    if o.pairs == 0 {
        let _ = writeln!(
            out,
            "unguarded overlaps: none (no two clients believed they held the lock at once)"
        );
        return;
    }
    let _ = writeln!(
        out,
        "WARNING unguarded overlaps: {} (pairs of clients that believed they held the lock at \
         once; {} holds involved, {:.3} s in all, the longest {:.3} s). Expected when a \
         holder is cut off from its lease (pause, kill, partition): fencing must keep the \
         guarded writes correct anyway.",
        o.pairs,
        o.intervals,
        secs(o.total),
        o.longest.first().map_or(0.0, |l| secs(l.length))
    );
    for overlap in &o.longest {
        let _ = writeln!(out, "  - {overlap}");
    }
}

/// The whole summary of a lock run.
pub fn lock_summary_text(report: &LockRunReport<'_>) -> String {
    let (mut workload, mut check) = (String::new(), String::new());
    workload_text(report.check, &mut workload);
    checker_text(report.check, &mut check);
    report.run.summary(&workload, &check)
}

/// Writes `summary.txt` and `index.html` of a lock run; returns the summary.
///
/// # Errors
/// [`crate::Error::Io`] naming the file that could not be written.
pub fn write_lock_report(dir: &Path, report: &LockRunReport<'_>) -> Result<String> {
    let summary = lock_summary_text(report);
    report.run.write_plain_report(dir, "lock", &summary)?;
    Ok(summary)
}
