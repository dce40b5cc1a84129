//! The watch checker (pure, no I/O): do the watchers' streams agree with one revision-ordered
//! log, and with the writes?
//!
//! Every watcher's events, concatenated across its streams (resumptions on any replica), must
//! be a contiguous piece of ONE common log of revisions:
//!
//! 1. **Order** (per watcher): revisions strictly increase; a revision received again is a
//!    `duplicate`, one received after a later one (and not before) a `reorder`.
//! 2. **Agreement**: every watcher that received revision `r` received the same events for it.
//!    The reference is the acknowledged put with header revision `r` when there is one, else
//!    what most watchers received; a watcher that received something else is `divergent`.
//!    The common log holds these references, and the acknowledged puts no watcher received.
//! 3. **No gap** (per watcher): from its first start revision to the last revision it
//!    received, it received every revision of the common log (`gap`), except ranges a
//!    compaction cancel made it skip.
//! 4. **Writes**: an acknowledged put with a known revision is in the common log at that
//!    revision (`lost-write`); no event carries the value of a put that failed definitively
//!    (`failed-write-seen`), a value nobody put (`unknown-value`), a value at another revision
//!    than its acknowledged put's (`misplaced`), or a value already seen at another revision
//!    (`duplicate-value`).
//! 5. **Catch-up**: after healing, every watcher received the common log up to the final
//!    revision (`not-caught-up`).
//! 6. **Contiguity** (when every revision of the run is a change under the watched prefix, as
//!    in `--workload watch`): a revision between the first and the final one that no watcher
//!    received is `unseen`.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::{Duration, Instant};

use super::Tally;
use crate::history::Outcome;
use crate::watch_history::{Change, ChangeKind, PutOp, WatcherLog};

/// Examples kept per problem kind (all are counted).
const EXAMPLES_PER_KIND: usize = 4;

/// The kinds of problem the checker reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProblemKind {
    /// A watcher missed a revision between two it received.
    Gap,
    /// A watcher received a revision twice.
    Duplicate,
    /// A watcher received a revision after a later one.
    Reorder,
    /// Watchers received different events for one revision.
    Divergent,
    /// An acknowledged put is in no watcher's log.
    LostWrite,
    /// An event carries the value of a put that certainly failed.
    FailedWriteSeen,
    /// An event carries a value nobody put.
    UnknownValue,
    /// An event carries a value at another revision than its put's.
    Misplaced,
    /// One value appears at two revisions.
    DuplicateValue,
    /// A watcher did not reach the final revision.
    NotCaughtUp,
    /// A revision of the run that no watcher received.
    Unseen,
}

impl ProblemKind {
    /// Its name in reports.
    pub fn name(self) -> &'static str {
        match self {
            ProblemKind::Gap => "gap",
            ProblemKind::Duplicate => "duplicate",
            ProblemKind::Reorder => "reorder",
            ProblemKind::Divergent => "divergent",
            ProblemKind::LostWrite => "lost-write",
            ProblemKind::FailedWriteSeen => "failed-write-seen",
            ProblemKind::UnknownValue => "unknown-value",
            ProblemKind::Misplaced => "misplaced",
            ProblemKind::DuplicateValue => "duplicate-value",
            ProblemKind::NotCaughtUp => "not-caught-up",
            ProblemKind::Unseen => "unseen",
        }
    }
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One problem, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What kind.
    pub kind: ProblemKind,
    /// The watcher's process, when one watcher is at fault.
    pub watcher: Option<i64>,
    /// The revision.
    pub revision: i64,
    /// What should have been there.
    pub expected: String,
    /// What was there.
    pub got: String,
    /// Where and why, in a few words.
    pub context: String,
}

impl fmt::Display for Problem {
    /// `gap: watcher 6, revision 18: expected [18 :put "k" "v"], got nothing (...)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.kind)?;
        if let Some(w) = self.watcher {
            write!(f, "watcher {w}, ")?;
        }
        write!(
            f,
            "revision {}: expected {}, got {}",
            self.revision, self.expected, self.got
        )?;
        if !self.context.is_empty() {
            write!(f, " ({})", self.context)?;
        }
        Ok(())
    }
}

/// What the checker is given besides the logs.
#[derive(Debug, Clone, Copy, Default)]
pub struct WatchCheckOptions {
    /// The cluster's revision after healing, which every watcher must reach.
    pub final_revision: Option<i64>,
    /// Every revision of the run is a change under the watched prefix (the workload's puts),
    /// so no revision may be missing from the common log.
    pub contiguous: bool,
}

/// What the checker found.
#[derive(Debug, Clone)]
pub struct WatchReport {
    /// Watchers checked.
    pub watchers: usize,
    /// Streams opened over all watchers.
    pub sessions: usize,
    /// Streams opened after a watcher's first: its resumptions (from the last revision it
    /// received + 1).
    pub resumptions: usize,
    /// Events received over all watchers.
    pub events: usize,
    /// Revisions in the common log.
    pub revisions: usize,
    /// Its last revision (0 when empty).
    pub last_revision: i64,
    /// Puts by outcome: `[ok, fail, info]`.
    pub puts: [usize; 3],
    /// Acknowledged puts with a known revision (each looked up in the common log).
    pub puts_with_revision: usize,
    /// How many problems of each kind (sorted by kind).
    pub counts: Vec<(ProblemKind, usize)>,
    /// A few examples per kind.
    pub problems: Vec<Problem>,
    /// Time spent checking.
    pub elapsed: Duration,
}

impl WatchReport {
    /// True when nothing is wrong.
    pub fn valid(&self) -> bool {
        self.counts.is_empty()
    }

    /// Whether a problem of this kind was found.
    pub fn has(&self, kind: ProblemKind) -> bool {
        self.counts.iter().any(|(k, n)| *k == kind && *n > 0)
    }

    /// `gap x3, divergent x1` (empty when valid).
    pub fn problem_list(&self) -> String {
        self.counts
            .iter()
            .map(|(k, n)| format!("{k} x{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Collects problems: counts all, keeps a few examples per kind.
type Found = Tally<ProblemKind, Problem>;

impl Found {
    fn problem(&mut self, problem: Problem) {
        self.add(problem.kind, || problem);
    }
}

/// One revision's events as a watcher received them.
type Events = Vec<Change>;

fn show(events: &[Change]) -> String {
    if events.is_empty() {
        return "nothing".into();
    }
    events
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The event an acknowledged put at `rev` must show up as.
fn put_change(rev: i64, put: &PutOp) -> Change {
    Change {
        revision: rev,
        kind: ChangeKind::Put,
        key: put.key.clone(),
        value: put.value.clone(),
    }
}

/// A watcher's events grouped by revision, in the order received, with each group's session.
struct Groups {
    process: i64,
    groups: Vec<(usize, i64, Events)>,
}

fn group(log: &WatcherLog) -> Groups {
    let mut groups: Vec<(usize, i64, Events)> = Vec::new();
    for (session, change) in &log.changes {
        match groups.last_mut() {
            Some((s, rev, events)) if *s == *session && *rev == change.revision => {
                events.push(change.clone());
            }
            _ => groups.push((*session, change.revision, vec![change.clone()])),
        }
    }
    Groups {
        process: log.process,
        groups,
    }
}

/// Where a watcher was when something went wrong: `session 3 on replica 2 from revision 18`.
fn session_text(log: &WatcherLog, session: usize) -> String {
    match log.sessions.get(session) {
        Some(s) => format!(
            "stream {} on replica {} from revision {}",
            session + 1,
            s.node,
            s.from
        ),
        None => "before any stream".into(),
    }
}

/// Checks the watchers' logs against each other and the puts.
pub fn check_watch(puts: &[PutOp], logs: &[WatcherLog], options: WatchCheckOptions) -> WatchReport {
    let started = Instant::now();
    let mut found = Found::new(EXAMPLES_PER_KIND);
    let mut outcomes = [0usize; 3];
    for p in puts {
        outcomes[match p.outcome {
            Outcome::Ok => 0,
            Outcome::Fail => 1,
            Outcome::Info => 2,
        }] += 1;
    }
    let acked: BTreeMap<i64, &PutOp> = puts
        .iter()
        .filter(|p| p.outcome == Outcome::Ok)
        .filter_map(|p| p.revision.map(|r| (r, p)))
        .collect();
    let by_value: HashMap<(&str, &str), &PutOp> = puts
        .iter()
        .map(|p| ((p.key.as_str(), p.value.as_str()), p))
        .collect();

    // 1. Order, per watcher; what each watcher received per revision (first receipt).
    let grouped: Vec<Groups> = logs.iter().map(group).collect();
    let mut received: Vec<BTreeMap<i64, (usize, &Events)>> = Vec::new();
    for (log, g) in logs.iter().zip(&grouped) {
        let mut seen: BTreeMap<i64, (usize, &Events)> = BTreeMap::new();
        let mut highest = i64::MIN;
        for (session, rev, events) in &g.groups {
            let (session, rev) = (*session, *rev);
            if let Some((first, before)) = seen.get(&rev) {
                found.problem(Problem {
                    kind: ProblemKind::Duplicate,
                    watcher: Some(g.process),
                    revision: rev,
                    expected: format!("revision {rev} once"),
                    got: format!("{} again", show(events)),
                    context: format!(
                        "first in {}: {}, again in {}",
                        session_text(log, *first),
                        show(before),
                        session_text(log, session)
                    ),
                });
                continue;
            }
            if rev < highest {
                found.problem(Problem {
                    kind: ProblemKind::Reorder,
                    watcher: Some(g.process),
                    revision: rev,
                    expected: format!("a revision after {highest}"),
                    got: show(events),
                    context: format!(
                        "received after revision {highest}, in {}",
                        session_text(log, session)
                    ),
                });
            }
            highest = highest.max(rev);
            seen.insert(rev, (session, events));
        }
        received.push(seen);
    }

    // 2. Agreement: the common log, and who diverges from it.
    let mut variants: BTreeMap<i64, Vec<(&Events, Vec<i64>)>> = BTreeMap::new();
    for (g, seen) in grouped.iter().zip(&received) {
        for (&rev, &(_, events)) in seen {
            let list = variants.entry(rev).or_default();
            match list.iter_mut().find(|(e, _)| *e == events) {
                Some((_, who)) => who.push(g.process),
                None => list.push((events, vec![g.process])),
            }
        }
    }
    let mut common: BTreeMap<i64, Events> = BTreeMap::new();
    for (&rev, put) in &acked {
        common.insert(rev, vec![put_change(rev, put)]);
    }
    for (&rev, list) in &variants {
        let from_put = acked.get(&rev).map(|p| vec![put_change(rev, p)]);
        let (reference, source) = match from_put {
            Some(events) => (events, "the acknowledged put".to_string()),
            None => {
                let Some((events, who)) = list.iter().max_by_key(|(_, who)| who.len()) else {
                    continue;
                };
                ((*events).clone(), format!("watchers {who:?}"))
            }
        };
        for (events, who) in list {
            if **events != reference {
                for w in who {
                    found.problem(Problem {
                        kind: ProblemKind::Divergent,
                        watcher: Some(*w),
                        revision: rev,
                        expected: show(&reference),
                        got: show(events),
                        context: format!("the reference is from {source}"),
                    });
                }
            }
        }
        common.insert(rev, reference);
    }

    // 3. Gaps, per watcher, between its first start revision and the last revision received.
    for ((log, g), seen) in logs.iter().zip(&grouped).zip(&received) {
        let (Some(start), Some(&last)) = (
            log.sessions.first().map(|s| s.from),
            seen.keys().next_back(),
        ) else {
            continue;
        };
        let skipped = |rev: i64| log.skipped.iter().any(|&(a, b)| (a..b).contains(&rev));
        for (&rev, events) in common.range(start..=last) {
            if seen.contains_key(&rev) || skipped(rev) {
                continue;
            }
            let next = seen.range(rev..).next();
            let (got, context) = match next {
                Some((&next, &(session, _))) => {
                    (format!("revision {next} next"), session_text(log, session))
                }
                None => ("nothing".into(), String::new()),
            };
            found.problem(Problem {
                kind: ProblemKind::Gap,
                watcher: Some(g.process),
                revision: rev,
                expected: show(events),
                got,
                context,
            });
        }
    }

    // 4. The puts and the values in the log.
    for (&rev, put) in &acked {
        if !variants.contains_key(&rev) {
            found.problem(Problem {
                kind: ProblemKind::LostWrite,
                watcher: None,
                revision: rev,
                expected: format!(
                    "[{rev} :put {:?} {:?}] (acknowledged, process {}, :index {})",
                    put.key, put.value, put.process, put.index
                ),
                got: "nothing: no watcher received this revision".into(),
                context: String::new(),
            });
        }
    }
    let mut value_at: HashMap<(&str, &str), i64> = HashMap::new();
    for (&rev, list) in &variants {
        for (events, who) in list {
            for change in events.iter().filter(|c| c.kind == ChangeKind::Put) {
                let problem = |kind, expected: String, context: String| Problem {
                    kind,
                    watcher: who.first().copied(),
                    revision: rev,
                    expected,
                    got: change.to_string(),
                    context: format!("received by watchers {who:?}{context}"),
                };
                let key = (change.key.as_str(), change.value.as_str());
                match value_at.insert(key, rev) {
                    Some(other) if other != rev => found.problem(problem(
                        ProblemKind::DuplicateValue,
                        "each value at one revision".into(),
                        format!("; also at revision {other}"),
                    )),
                    _ => {}
                }
                match by_value.get(&key) {
                    None => found.problem(problem(
                        ProblemKind::UnknownValue,
                        "a value some writer put".into(),
                        String::new(),
                    )),
                    Some(p) if p.outcome == Outcome::Fail => found.problem(problem(
                        ProblemKind::FailedWriteSeen,
                        format!(
                            "no event for the failed put of process {} (:index {})",
                            p.process, p.index
                        ),
                        String::new(),
                    )),
                    Some(p) => match (p.outcome, p.revision) {
                        (Outcome::Ok, Some(r)) if r != rev => found.problem(problem(
                            ProblemKind::Misplaced,
                            format!("this value at revision {r}, its put's header revision"),
                            String::new(),
                        )),
                        _ => {}
                    },
                }
            }
        }
    }

    // 5. Catch-up with the final revision.
    let last_common = match options.final_revision {
        Some(fin) => common.range(..=fin).next_back().map(|(r, _)| *r),
        None => common.keys().next_back().copied(),
    };
    if let Some(target) = last_common {
        for (log, seen) in logs.iter().zip(&received) {
            let last = seen.keys().next_back().copied().unwrap_or(0);
            if last < target {
                let missing = common.range(last + 1..=target).count();
                found.problem(Problem {
                    kind: ProblemKind::NotCaughtUp,
                    watcher: Some(log.process),
                    revision: target,
                    expected: format!("every revision up to {target}"),
                    got: format!("revisions up to {last} ({missing} missing)"),
                    context: match log.done {
                        Some(r) => format!("it reported caught up at revision {r}"),
                        None => "it did not report caught up before the deadline".into(),
                    },
                });
            }
        }
    }

    // 6. Contiguity: every revision from the first to the final one is somewhere.
    if options.contiguous {
        let first = common
            .keys()
            .next()
            .copied()
            .into_iter()
            .chain(acked.keys().next().copied())
            .min();
        let last = common
            .keys()
            .next_back()
            .copied()
            .into_iter()
            .chain(options.final_revision)
            .max();
        if let (Some(first), Some(last)) = (first, last) {
            for rev in first..=last {
                if !common.contains_key(&rev) && !acked.contains_key(&rev) {
                    found.problem(Problem {
                        kind: ProblemKind::Unseen,
                        watcher: None,
                        revision: rev,
                        expected: "a put under the prefix (every revision of the run is one)"
                            .into(),
                        got: "nothing: no watcher received this revision".into(),
                        context: String::new(),
                    });
                }
            }
        }
    }

    let resumptions = logs
        .iter()
        .map(|l| l.sessions.len().saturating_sub(1))
        .sum();
    WatchReport {
        watchers: logs.len(),
        sessions: logs.iter().map(|l| l.sessions.len()).sum(),
        resumptions,
        events: logs.iter().map(|l| l.changes.len()).sum(),
        revisions: common.len(),
        last_revision: common.keys().next_back().copied().unwrap_or(0),
        puts: outcomes,
        puts_with_revision: acked.len(),
        counts: found.counts.into_iter().collect(),
        problems: found.examples,
        elapsed: started.elapsed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::watch_history::Session;

    const KEY: &str = "w/0";

    fn value(rev: i64) -> String {
        format!("v{rev}")
    }

    fn change(rev: i64) -> Change {
        Change {
            revision: rev,
            kind: ChangeKind::Put,
            key: KEY.into(),
            value: value(rev),
        }
    }

    /// Acknowledged puts at revisions 2..=last (value `v<rev>`).
    fn puts(last: i64) -> Vec<PutOp> {
        (2..=last)
            .map(|rev| PutOp {
                process: rev % 3,
                key: KEY.into(),
                value: value(rev),
                outcome: Outcome::Ok,
                revision: Some(rev),
                index: rev,
            })
            .collect()
    }

    /// A watcher whose streams start at `starts` and receive `revisions` (split among the
    /// streams at the start revisions).
    fn watcher(process: i64, starts: &[i64], revisions: &[i64]) -> WatcherLog {
        let sessions: Vec<Session> = starts
            .iter()
            .enumerate()
            .map(|(i, &from)| Session {
                node: (i % 3) as u64 + 1,
                from,
                index: 0,
            })
            .collect();
        let mut session = 0;
        let changes = revisions
            .iter()
            .map(|&rev| {
                while session + 1 < starts.len() && starts[session + 1] <= rev {
                    session += 1;
                }
                (session, change(rev))
            })
            .collect();
        WatcherLog {
            process,
            sessions,
            changes,
            skipped: Vec::new(),
            done: revisions.last().copied(),
        }
    }

    fn all(from: i64, to: i64) -> Vec<i64> {
        (from..=to).collect()
    }

    fn options() -> WatchCheckOptions {
        WatchCheckOptions {
            final_revision: Some(10),
            contiguous: true,
        }
    }

    /// Three watchers with resumptions that together saw revisions 2..=10 correctly.
    fn good() -> Vec<WatcherLog> {
        vec![
            watcher(10, &[1, 5, 8], &all(2, 10)),
            watcher(11, &[1], &all(2, 10)),
            watcher(12, &[1, 3], &all(2, 10)),
        ]
    }

    fn kinds(report: &WatchReport) -> Vec<ProblemKind> {
        report.counts.iter().map(|(k, _)| *k).collect()
    }

    #[test]
    fn correct_logs_pass() {
        let report = check_watch(&puts(10), &good(), options());
        assert!(report.valid(), "{:?}", report.problems);
        assert_eq!(report.watchers, 3);
        assert_eq!(report.sessions, 6);
        assert_eq!(report.resumptions, 3);
        assert_eq!(report.events, 27);
        assert_eq!((report.revisions, report.last_revision), (9, 10));
        assert_eq!(report.puts, [9, 0, 0]);
    }

    #[test]
    fn a_gap_after_a_resumption_is_caught() {
        let mut logs = good();
        // Resumed at 5 on another replica and lost revision 5 (the planted bug's shape).
        logs[0] = watcher(10, &[1, 5], &[2, 3, 4, 6, 7, 8, 9, 10]);
        let report = check_watch(&puts(10), &logs, options());
        assert_eq!(kinds(&report), vec![ProblemKind::Gap]);
        let p = &report.problems[0];
        assert_eq!((p.watcher, p.revision), (Some(10), 5));
        assert_eq!(p.expected, "[5 :put \"w/0\" \"v5\"]");
        assert_eq!(p.got, "revision 6 next");
        assert!(p.context.contains("stream 2 on replica 2 from revision 5"));
        assert!(p
            .to_string()
            .starts_with("gap: watcher 10, revision 5: expected"));
    }

    #[test]
    fn a_duplicate_across_a_resumption_is_caught() {
        let mut logs = good();
        // Resumed from 5 but was sent 4 again.
        let mut w = watcher(10, &[1, 4], &all(2, 10));
        w.changes.insert(3, (1, change(4)));
        w.changes[2].0 = 0;
        logs[0] = w;
        let report = check_watch(&puts(10), &logs, options());
        assert_eq!(kinds(&report), vec![ProblemKind::Duplicate]);
        assert_eq!(report.problems[0].revision, 4);
    }

    #[test]
    fn a_reorder_is_caught() {
        let mut logs = good();
        logs[1] = watcher(11, &[1], &[2, 3, 5, 4, 6, 7, 8, 9, 10]);
        let report = check_watch(&puts(10), &logs, options());
        assert_eq!(kinds(&report), vec![ProblemKind::Reorder]);
        let p = &report.problems[0];
        assert_eq!((p.watcher, p.revision), (Some(11), 4));
        assert!(p.context.contains("after revision 5"));
    }

    #[test]
    fn a_divergent_value_is_caught() {
        let mut logs = good();
        logs[2].changes[4].1.value = "v5".into(); // revision 6 carries revision 5's value
        let report = check_watch(&puts(10), &logs, options());
        assert!(report.has(ProblemKind::Divergent));
        let p = report
            .problems
            .iter()
            .find(|p| p.kind == ProblemKind::Divergent)
            .unwrap();
        assert_eq!((p.watcher, p.revision), (Some(12), 6));
        assert_eq!(p.expected, "[6 :put \"w/0\" \"v6\"]");
        assert_eq!(p.got, "[6 :put \"w/0\" \"v5\"]");
        // The same value at two revisions is also flagged.
        assert!(report.has(ProblemKind::DuplicateValue));
    }

    #[test]
    fn watchers_disagreeing_without_an_acknowledged_put_are_caught() {
        let mut ops = puts(10);
        ops[3].outcome = Outcome::Info; // revision 5: unknown outcome, no header
        ops[3].revision = None;
        let mut logs = good();
        logs[0].changes[3].1.value = "v5x".into();
        let report = check_watch(&ops, &logs, options());
        assert!(report.has(ProblemKind::Divergent));
        assert!(report.has(ProblemKind::UnknownValue));
        let p = &report.problems[0];
        assert_eq!((p.kind, p.watcher), (ProblemKind::Divergent, Some(10)));
        assert!(p.context.contains("watchers [11, 12]"));
    }

    #[test]
    fn an_event_for_a_failed_write_is_caught() {
        let mut ops = puts(10);
        ops.push(PutOp {
            process: 0,
            key: KEY.into(),
            value: "lost".into(),
            outcome: Outcome::Fail,
            revision: None,
            index: 99,
        });
        let mut logs = good();
        for log in &mut logs {
            let at = log.changes.len();
            let session = log.changes[at - 1].0;
            log.changes.push((
                session,
                Change {
                    revision: 11,
                    kind: ChangeKind::Put,
                    key: KEY.into(),
                    value: "lost".into(),
                },
            ));
        }
        let report = check_watch(&ops, &logs, options());
        assert_eq!(kinds(&report), vec![ProblemKind::FailedWriteSeen]);
        assert_eq!(report.problems[0].revision, 11);
    }

    #[test]
    fn lost_writes_unseen_revisions_and_laggards_are_caught() {
        // Nobody received revision 7, whose put was acknowledged; watcher 11 stops at 8.
        let mut logs = vec![
            watcher(10, &[1, 8], &[2, 3, 4, 5, 6, 8, 9, 10]),
            watcher(11, &[1], &[2, 3, 4, 5, 6, 8]),
        ];
        logs[1].done = None;
        let report = check_watch(&puts(10), &logs, options());
        assert_eq!(
            kinds(&report),
            vec![
                ProblemKind::Gap,
                ProblemKind::LostWrite,
                ProblemKind::NotCaughtUp
            ]
        );
        assert_eq!(report.counts[0], (ProblemKind::Gap, 2));
        let lagging = report
            .problems
            .iter()
            .find(|p| p.kind == ProblemKind::NotCaughtUp)
            .unwrap();
        assert_eq!(lagging.watcher, Some(11));
        assert!(lagging.got.contains("up to 8 (2 missing)"));
        // Without the acknowledgement, the hole is still a revision nobody saw.
        let mut ops = puts(10);
        ops[5].outcome = Outcome::Info;
        let report = check_watch(&ops, &logs[..1], options());
        assert_eq!(kinds(&report), vec![ProblemKind::Unseen]);
        assert_eq!(report.problems[0].revision, 7);
        // A final revision past every event received is a revision nobody saw.
        let report = check_watch(
            &puts(10),
            &good(),
            WatchCheckOptions {
                final_revision: Some(11),
                contiguous: true,
            },
        );
        assert_eq!(kinds(&report), vec![ProblemKind::Unseen]);
    }

    #[test]
    fn compaction_skips_are_not_gaps() {
        let mut logs = good();
        logs[0] = watcher(10, &[1, 7], &[2, 3, 7, 8, 9, 10]);
        assert_eq!(
            kinds(&check_watch(&puts(10), &logs, options())),
            vec![ProblemKind::Gap]
        );
        logs[0].skipped.push((4, 7));
        assert!(check_watch(&puts(10), &logs, options()).valid());
    }
}
