//! The report of a `--workload watch` run: puts by outcome, watchers' streams, faults,
//! availability per phase (of the puts), the watch checker's findings, and the verdict.

use std::fmt::Write as _;
use std::path::Path;

use crate::checker::watch::WatchReport;
use crate::error::Result;
use crate::recorder::Entry;
use crate::watch_history::WatchRecord;
use crate::watcher::CatchUp;

use super::{Overall, RunBasics};

/// Problem examples printed in the summary.
const EXAMPLES_SHOWN: usize = 8;

/// Everything a watch run's report is made of.
#[derive(Debug)]
pub struct WatchRunReport<'a> {
    /// Title, notes, history, faults, phases and verdict.
    pub run: RunBasics<'a>,
    /// What the checker found.
    pub check: &'a WatchReport,
    /// How the catch-up went (`None` when the final revision was not read).
    pub caught_up: Option<CatchUp>,
}

/// The watch-workload records of `entries`, in order.
pub fn watch_records(entries: &[Entry]) -> Vec<WatchRecord> {
    entries
        .iter()
        .filter_map(|e| match e {
            Entry::Watch { record, .. } => Some(record.clone()),
            _ => None,
        })
        .collect()
}

impl Overall {
    /// The run's verdict from the watch checker's.
    pub fn from_watch(report: &WatchReport) -> Overall {
        if report.valid() {
            Overall::WatchValid {
                watchers: report.watchers,
                events: report.events,
            }
        } else {
            Overall::WatchInvalid {
                problems: report.problem_list(),
            }
        }
    }
}

fn streams(report: &WatchRunReport<'_>, out: &mut String) {
    let check = report.check;
    let [ok, fail, info] = check.puts;
    let _ = writeln!(
        out,
        "puts: {} ({ok} ok, {fail} fail, {info} info); {} acknowledged with a header revision",
        ok + fail + info,
        check.puts_with_revision
    );
    let _ = writeln!(
        out,
        "watchers: {}, streams {} ({} resumptions from the last revision + 1, each on another \
         replica), events received {}",
        check.watchers, check.sessions, check.resumptions, check.events
    );
    let _ = writeln!(
        out,
        "common log: {} revisions, the last {}",
        check.revisions, check.last_revision
    );
    match report.caught_up {
        Some(c) => {
            let _ = writeln!(
                out,
                "catch-up: {} of {} watchers caught up with the final revision",
                c.caught_up, c.watchers
            );
        }
        None => {
            let _ = writeln!(out, "catch-up: the final revision was not read");
        }
    }
}

fn checker(check: &WatchReport, out: &mut String) {
    let _ = writeln!(
        out,
        "watch check: every watcher's log a gap-free, duplicate-free piece of one revision order \
         that holds every acknowledged put; {:.3} s",
        check.elapsed.as_secs_f64()
    );
    if check.valid() {
        let _ = writeln!(out, "  no problems");
        return;
    }
    let _ = writeln!(out, "  problems: {}", check.problem_list());
    for problem in check.problems.iter().take(EXAMPLES_SHOWN) {
        let _ = writeln!(out, "  - {problem}");
    }
}

/// The whole summary of a watch run.
pub fn watch_summary_text(report: &WatchRunReport<'_>) -> String {
    let (mut workload, mut check) = (String::new(), String::new());
    streams(report, &mut workload);
    checker(report.check, &mut check);
    report.run.summary(&workload, &check)
}

/// Writes `summary.txt` and `index.html` of a watch run; returns the summary.
///
/// # Errors
/// [`crate::Error::Io`] naming the file that could not be written.
pub fn write_watch_report(dir: &Path, report: &WatchRunReport<'_>) -> Result<String> {
    let summary = watch_summary_text(report);
    report.run.write_plain_report(dir, "watch", &summary)?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::watch::{check_watch, WatchCheckOptions};
    use crate::history::Outcome;
    use crate::watch_history::{Change, ChangeKind, PutOp, Session, WatcherLog};

    #[test]
    fn the_summary_names_the_problems_and_the_verdict() {
        let put = |rev: i64| PutOp {
            process: 0,
            key: "k".into(),
            value: rev.to_string(),
            outcome: Outcome::Ok,
            revision: Some(rev),
            index: rev,
        };
        let change = |rev: i64| {
            (
                0,
                Change {
                    revision: rev,
                    kind: ChangeKind::Put,
                    key: "k".into(),
                    value: rev.to_string(),
                },
            )
        };
        let log = WatcherLog {
            process: 3,
            sessions: vec![Session {
                node: 1,
                from: 1,
                index: 0,
            }],
            changes: vec![change(2), change(4)],
            skipped: Vec::new(),
            done: Some(4),
        };
        let check = check_watch(
            &[put(2), put(3), put(4)],
            &[log],
            WatchCheckOptions::default(),
        );
        let overall = Overall::from_watch(&check);
        let report = WatchRunReport {
            run: RunBasics {
                title: "t".into(),
                notes: &[],
                entries: &[],
                faults: &[],
                phases: Vec::new(),
                overall,
            },
            check: &check,
            caught_up: Some(CatchUp {
                caught_up: 1,
                watchers: 1,
            }),
        };
        let text = watch_summary_text(&report);
        assert!(text.contains("problems: gap x1, lost-write x1"), "{text}");
        assert!(text.contains("- gap: watcher 3, revision 3"), "{text}");
        assert!(
            text.contains("VERDICT: NOT valid watch streams: gap x1"),
            "{text}"
        );
        assert!(text.contains("1 of 1 watchers caught up"), "{text}");
    }
}
