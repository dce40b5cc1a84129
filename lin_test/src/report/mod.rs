//! What a run leaves behind: the history files, the summary, and the HTML timelines.
//!
//! A run directory holds:
//!
//! ```text
//! history.edn        every event, Jepsen's shape, one per line (nemesis events included)
//! history.jsonl      the same as JSON lines
//! keys/key-K.edn     one register per key, plain :value (for single-register checkers)
//! nemesis.log        every fault and heal with its time (written during the run)
//! summary.txt        operations by type and outcome, faults, availability per phase, verdicts
//! index.html         the summary and links to the timelines
//! timeline/key-K.html one chart per key: bars per process, faults shaded, violations outlined
//! logs/replica-N.log the replicas' own logs
//! ```
//!
//! Parts: `export` (EDN and JSON), `summary` (text), `timeline` (HTML).

mod export;
mod lock;
mod summary;
mod timeline;
mod txn;
mod watch;

use std::path::{Path, PathBuf};

pub use export::{client_events, history_edn, history_jsonl, keys, register_edn};
pub use lock::{
    checker_text as lock_checker_text, lock_records, lock_summary_text, write_lock_report,
    LockRunReport,
};
pub use summary::{phase_of, text as summary_text, verdict_line};
pub use timeline::{escape, index_page, key_page, page_name};
pub use txn::{txn_events, txn_summary_text, write_txn_report, TxnRunReport};
pub use watch::{watch_records, watch_summary_text, write_watch_report, WatchRunReport};

use crate::checker::{KeyReport, Verdict};
use crate::error::{Error, Result};
use crate::history::{Key, Operation};
use crate::nemesis::FaultRecord;
use crate::recorder::Entry;

/// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's civil-from-days), for
/// run directory names and report dates without a date crate.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Nanoseconds on the history's clock as seconds.
pub fn secs(ns: i64) -> f64 {
    ns as f64 / 1e9
}

/// A stretch of the run with one condition: healthy, a fault, recovery, final reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phase {
    /// What held during the phase.
    pub name: String,
    /// Start (ns on the history's clock).
    pub start: i64,
    /// End (exclusive, except for the last phase).
    pub end: i64,
}

/// Cuts a run into phases: healthy and fault windows until `workload_end`, then `recovery`
/// (healing and waiting for the cluster) and `final reads` from `final_start` to `end`.
pub fn phases(
    faults: &[FaultRecord],
    workload_end: i64,
    final_start: Option<i64>,
    end: i64,
) -> Vec<Phase> {
    let mut phases = Vec::new();
    let mut at = 0;
    let push = |name: &str, start: i64, stop: i64, phases: &mut Vec<Phase>| {
        if stop > start {
            phases.push(Phase {
                name: name.to_string(),
                start,
                end: stop,
            });
        }
    };
    for fault in faults {
        let start = fault.start.min(workload_end);
        let stop = fault.end.unwrap_or(workload_end).min(workload_end);
        push("healthy", at, start, &mut phases);
        push(fault.fault.name(), start, stop, &mut phases);
        at = at.max(stop);
    }
    push("healthy", at, workload_end, &mut phases);
    match final_start {
        Some(final_start) => {
            push("recovery", workload_end, final_start, &mut phases);
            push(
                "final reads",
                final_start,
                end.max(final_start + 1),
                &mut phases,
            );
        }
        None => push(
            "recovery",
            workload_end,
            end.max(workload_end + 1),
            &mut phases,
        ),
    }
    phases
}

/// The verdict of a whole run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overall {
    /// Every key is linearizable.
    Linearizable {
        /// Number of keys.
        keys: usize,
    },
    /// Some keys are not (this wins over unknown ones).
    NotLinearizable {
        /// The keys that are not.
        bad: Vec<String>,
        /// Number of keys.
        keys: usize,
    },
    /// Some keys could not be decided, none was found non-linearizable.
    Unknown {
        /// The undecided keys.
        unknown: Vec<String>,
        /// Number of keys.
        keys: usize,
    },
    /// `--workload txn`: every transaction fits one serial order that respects realtime.
    StrictSerializable {
        /// Number of transactions checked.
        txns: usize,
    },
    /// `--workload txn`: anomalies were found.
    NotStrictSerializable {
        /// True if only realtime anomalies were found (still serializable).
        serializable: bool,
        /// The anomalies by kind, e.g. `G-single x3, lost-append x1`.
        anomalies: String,
    },
    /// `--workload watch`: every watcher's log is a gap-free piece of one revision order.
    WatchValid {
        /// Watchers checked.
        watchers: usize,
        /// Events they received.
        events: usize,
    },
    /// `--workload watch`: problems were found.
    WatchInvalid {
        /// The problems by kind, e.g. `gap x3, divergent x1`.
        problems: String,
    },
    /// `--workload lock`: guarded writes and lease lifetimes are correct (unguarded overlaps
    /// are only a warning).
    LockValid {
        /// Successful guarded increments.
        increments: usize,
        /// Unguarded overlaps (pairs of clients believing they held the lock at once).
        overlaps: usize,
    },
    /// `--workload lock`: problems were found.
    LockInvalid {
        /// The problems by kind, e.g. `interleaved x1, early-expiry x3`.
        problems: String,
    },
}

impl Overall {
    /// Sums up the per-key verdicts.
    pub fn from_reports(reports: &[KeyReport]) -> Overall {
        let keys = reports.len();
        let named = |pred: fn(&Verdict) -> bool| -> Vec<String> {
            reports
                .iter()
                .filter(|r| pred(&r.verdict))
                .map(|r| r.key.to_string())
                .collect()
        };
        let bad = named(|v| matches!(v, Verdict::NotLinearizable(_)));
        let unknown = named(|v| matches!(v, Verdict::Unknown(_)));
        if !bad.is_empty() {
            Overall::NotLinearizable { bad, keys }
        } else if !unknown.is_empty() {
            Overall::Unknown { unknown, keys }
        } else {
            Overall::Linearizable { keys }
        }
    }
}

/// What the report of every run holds, whatever its workload.
#[derive(Debug)]
pub struct RunBasics<'a> {
    /// First line of the summary.
    pub title: String,
    /// Lines under the title: configuration, network backend, servers, seed.
    pub notes: &'a [String],
    /// The recorded history.
    pub entries: &'a [Entry],
    /// The faults injected.
    pub faults: &'a [FaultRecord],
    /// The phases of the run.
    pub phases: Vec<Phase>,
    /// The run's verdict.
    pub overall: Overall,
}

/// Everything the report files of a register run are made of.
#[derive(Debug)]
pub struct RunReport<'a> {
    /// Title, notes, history, faults, phases and verdict.
    pub run: RunBasics<'a>,
    /// The client operations of the history, paired.
    pub ops: &'a [Operation],
    /// The checker's verdict per key.
    pub reports: &'a [KeyReport],
    /// Number of logical clients (process `p` is client `p % clients`).
    pub clients: usize,
    /// Number of replicas (client `c` talks to replica `c % nodes + 1`).
    pub nodes: usize,
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn create_dir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Writes the history files (before checking, so that they exist whatever happens next).
///
/// # Errors
/// [`Error::Io`] naming the file that could not be written.
pub fn write_history(dir: &Path, entries: &[Entry]) -> Result<()> {
    create_dir(&dir.join("keys"))?;
    write(&dir.join("history.edn"), &history_edn(entries))?;
    write(&dir.join("history.jsonl"), &history_jsonl(entries))?;
    for key in keys(entries) {
        let name = page_name(&Key::Named(key.clone())).replace(".html", ".edn");
        write(&dir.join("keys").join(name), &register_edn(entries, &key))?;
    }
    Ok(())
}

impl RunBasics<'_> {
    /// Writes `summary.txt` and an `index.html` that shows it (the runs without timelines).
    fn write_plain_report(&self, dir: &Path, workload: &str, summary: &str) -> Result<()> {
        write(&dir.join("summary.txt"), summary)?;
        let page = format!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>lin_test {workload} run</title></head><body>\
             <h1>lin_test {workload} run</h1><p>{}</p><p>Files: <a href=\"history.edn\">history.edn</a>, \
             <a href=\"history.jsonl\">history.jsonl</a>, <a href=\"nemesis.log\">nemesis.log</a>, \
             <a href=\"summary.txt\">summary.txt</a>, replica logs in <code>logs/</code>.</p>\
             <pre>{}</pre></body></html>\n",
            escape(&verdict_line(&self.overall)),
            escape(summary)
        );
        write(&dir.join("index.html"), &page)
    }
}

/// Writes `summary.txt`, `index.html` and the timelines; returns the summary text.
///
/// # Errors
/// [`Error::Io`] naming the file that could not be written.
pub fn write_report(dir: &Path, report: &RunReport<'_>) -> Result<String> {
    let summary = summary_text(report);
    write(&dir.join("summary.txt"), &summary)?;
    let timelines: PathBuf = dir.join("timeline");
    create_dir(&timelines)?;
    for key in report.reports {
        write(&timelines.join(page_name(&key.key)), &key_page(report, key))?;
    }
    write(&dir.join("index.html"), &index_page(report, &summary))?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
    use crate::nemesis::Fault;

    #[test]
    fn phases_alternate_and_end_with_recovery_and_final_reads() {
        let faults = [
            FaultRecord {
                fault: Fault::KillLeader,
                description: String::new(),
                start: 10,
                end: Some(20),
            },
            FaultRecord {
                fault: Fault::PartitionHalves,
                description: String::new(),
                start: 30,
                end: None,
            },
        ];
        let phases = phases(&faults, 40, Some(45), 50);
        let names: Vec<(&str, i64, i64)> = phases
            .iter()
            .map(|p| (p.name.as_str(), p.start, p.end))
            .collect();
        assert_eq!(
            names,
            vec![
                ("healthy", 0, 10),
                ("kill-leader", 10, 20),
                ("healthy", 20, 30),
                ("partition-halves", 30, 40),
                ("recovery", 40, 45),
                ("final reads", 45, 50),
            ]
        );
        assert_eq!(phase_of(&phases, 10), Some(1));
        assert_eq!(phase_of(&phases, 50), Some(5));
        assert_eq!(phase_of(&phases, 51), None);
    }
}
