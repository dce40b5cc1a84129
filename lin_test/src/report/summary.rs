//! The text summary of a run: operations by type and outcome, faults with their times,
//! availability per phase, and the verdict per key.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::checker::Verdict;
use crate::history::{Action, EventType, Outcome};
use crate::nemesis::FaultRecord;
use crate::recorder::Entry;
use crate::watch_history::WatchOp;

use super::{secs, Overall, Phase, RunBasics, RunReport};

/// Operations by `:f` and outcome (open operations count as `info`).
fn operations(report: &RunReport<'_>, out: &mut String) {
    let mut counts: BTreeMap<&str, [usize; 3]> = BTreeMap::new();
    for name in ["read", "write", "cas", "delete"] {
        counts.insert(name, [0; 3]);
    }
    for op in report.ops {
        let name = match &op.action {
            Action::Read(_) => "read",
            Action::Write(_) => "write",
            Action::Cas { .. } => "cas",
            Action::Delete => "delete",
        };
        let column = match op.outcome {
            Outcome::Ok => 0,
            Outcome::Fail => 1,
            Outcome::Info => 2,
        };
        if let Some(row) = counts.get_mut(name) {
            row[column] += 1;
        }
    }
    let _ = writeln!(out, "operations ({} invoked):", report.ops.len());
    let _ = writeln!(
        out,
        "  {:<8} {:>7} {:>7} {:>7} {:>7}",
        "f", "ok", "fail", "info", "total"
    );
    let mut total = [0usize; 3];
    for name in ["read", "write", "cas", "delete"] {
        let row = counts[name];
        for (t, n) in total.iter_mut().zip(row) {
            *t += n;
        }
        let _ = writeln!(
            out,
            "  {name:<8} {:>7} {:>7} {:>7} {:>7}",
            row[0],
            row[1],
            row[2],
            row.iter().sum::<usize>()
        );
    }
    let _ = writeln!(
        out,
        "  {:<8} {:>7} {:>7} {:>7} {:>7}",
        "all",
        total[0],
        total[1],
        total[2],
        total.iter().sum::<usize>()
    );
    let _ = writeln!(
        out,
        "  (fail: certainly not applied, including CAS that did not match; info: unknown)"
    );
}

/// The faults section: each fault with its window.
pub(super) fn faults_text(faults: &[FaultRecord], out: &mut String) {
    let _ = writeln!(out, "faults ({}):", faults.len());
    if faults.is_empty() {
        let _ = writeln!(out, "  none");
    }
    for fault in faults {
        let end = fault
            .end
            .map_or_else(|| "end".to_string(), |e| format!("{:.3}", secs(e)));
        let _ = writeln!(
            out,
            "  {:>8.3} .. {:>8} s  {}: {}",
            secs(fault.start),
            end,
            fault.fault,
            fault.description
        );
    }
}

impl RunBasics<'_> {
    /// Title and notes, the workload's section, faults, availability per phase, the checker's
    /// section, and the verdict line.
    pub(super) fn summary(&self, workload: &str, checker: &str) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.title);
        for note in self.notes {
            let _ = writeln!(out, "  {note}");
        }
        out.push('\n');
        out.push_str(workload);
        out.push('\n');
        faults_text(self.faults, &mut out);
        out.push('\n');
        availability_text(self.entries, &self.phases, &mut out);
        out.push('\n');
        out.push_str(checker);
        out.push('\n');
        let _ = writeln!(out, "{}", verdict_line(&self.overall));
        out
    }
}

/// The availability section, per phase: completions, how many got an answer from the
/// cluster, and the ratio (over any client events: register operations, transactions, puts,
/// lock requests).
pub(super) fn availability_text(entries: &[Entry], phases: &[Phase], out: &mut String) {
    #[derive(Default)]
    struct Row {
        ok: usize,
        fail: usize,
        info: usize,
        answered: usize,
    }
    let mut rows: Vec<Row> = phases.iter().map(|_| Row::default()).collect();
    for entry in entries {
        let (kind, time, error) = match entry {
            Entry::Op { event, error } => (event.kind, event.time, error),
            Entry::Txn { event, error } => (event.kind, event.time, error),
            Entry::Watch { record, error } => match &record.op {
                WatchOp::Put { kind, .. } => (*kind, record.time, error),
                _ => continue,
            },
            Entry::Lock { record, error } if record.op.is_request_completion() => {
                (record.op.kind(), record.time, error)
            }
            Entry::Lock { .. } | Entry::Nemesis { .. } => continue,
        };
        if kind == EventType::Invoke {
            continue;
        }
        let Some(i) = phase_of(phases, time) else {
            continue;
        };
        let row = &mut rows[i];
        match kind {
            EventType::Ok => row.ok += 1,
            EventType::Fail => row.fail += 1,
            EventType::Info | EventType::Invoke => row.info += 1,
        }
        // A definite answer from the cluster, be it "no" (a CAS that did not match).
        if error.is_none() {
            row.answered += 1;
        }
    }
    let _ = writeln!(
        out,
        "availability per phase (by completion time; available = answered without error):"
    );
    let _ = writeln!(
        out,
        "  {:<22} {:>8} {:>8} {:>6} {:>6} {:>6} {:>6} {:>8} {:>8}",
        "phase", "from s", "to s", "ops", "ok", "fail", "info", "ok/s", "avail"
    );
    for (phase, row) in phases.iter().zip(&rows) {
        let total = row.ok + row.fail + row.info;
        let length = secs(phase.end - phase.start).max(1e-3);
        let avail = if total == 0 {
            "-".to_string()
        } else {
            format!("{:.1}%", 100.0 * row.answered as f64 / total as f64)
        };
        let _ = writeln!(
            out,
            "  {:<22} {:>8.3} {:>8.3} {:>6} {:>6} {:>6} {:>6} {:>8.1} {:>8}",
            truncate(&phase.name, 22),
            secs(phase.start),
            secs(phase.end),
            total,
            row.ok,
            row.fail,
            row.info,
            row.ok as f64 / length,
            avail
        );
    }
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(width - 1).collect();
        cut.push('…');
        cut
    }
}

/// The phase containing `time`.
pub fn phase_of(phases: &[Phase], time: i64) -> Option<usize> {
    phases
        .iter()
        .position(|p| p.start <= time && time < p.end)
        .or_else(|| {
            // The last phase includes its end.
            phases
                .last()
                .filter(|p| time == p.end)
                .map(|_| phases.len() - 1)
        })
}

fn verdicts(report: &RunReport<'_>, out: &mut String) {
    let _ = writeln!(out, "verdict per key:");
    for key in report.reports {
        let summary = format!(
            "({} ops, checked in {:.3} s)",
            key.operations,
            key.elapsed.as_secs_f64()
        );
        match &key.verdict {
            Verdict::NotLinearizable(_) => {
                let text = key.to_string();
                let mut lines = text.lines();
                if let Some(first) = lines.next() {
                    let _ = writeln!(out, "  {first} {summary}");
                }
                for line in lines {
                    let _ = writeln!(out, "  {line}");
                }
            }
            _ => {
                let _ = writeln!(out, "  {key} {summary}");
            }
        }
    }
}

/// The whole summary.
pub fn text(report: &RunReport<'_>) -> String {
    let (mut workload, mut check) = (String::new(), String::new());
    operations(report, &mut workload);
    verdicts(report, &mut check);
    report.run.summary(&workload, &check)
}

/// The last line of the summary.
pub fn verdict_line(overall: &Overall) -> String {
    match overall {
        Overall::Linearizable { keys } => {
            format!("VERDICT: linearizable ({keys} of {keys} keys)")
        }
        Overall::NotLinearizable { bad, keys } => format!(
            "VERDICT: NOT linearizable: {} of {keys} keys violate linearizability (key {})",
            bad.len(),
            bad.join(", key ")
        ),
        Overall::Unknown { unknown, keys } => format!(
            "VERDICT: unknown: {} of {keys} keys could not be decided in time (key {}); the \
             others are linearizable",
            unknown.len(),
            unknown.join(", key ")
        ),
        Overall::StrictSerializable { txns } => {
            format!("VERDICT: strict serializable ({txns} transactions)")
        }
        Overall::NotStrictSerializable {
            serializable: false,
            anomalies,
        } => format!("VERDICT: NOT serializable: {anomalies}"),
        Overall::NotStrictSerializable {
            serializable: true,
            anomalies,
        } => format!("VERDICT: NOT strict serializable (but serializable): {anomalies}"),
        Overall::WatchValid { watchers, events } => format!(
            "VERDICT: valid watch streams ({watchers} watchers, {events} events, one revision \
             order without gaps or duplicates)"
        ),
        Overall::WatchInvalid { problems } => {
            format!("VERDICT: NOT valid watch streams: {problems}")
        }
        Overall::LockValid {
            increments,
            overlaps,
        } => format!(
            "VERDICT: valid lock (guarded writes never interleaved, {increments} increments, \
             none lost; no early lease expiry; {overlaps} unguarded overlaps)"
        ),
        Overall::LockInvalid { problems } => format!("VERDICT: NOT valid lock: {problems}"),
    }
}
