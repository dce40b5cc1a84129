//! The checker of the lock workload (`--workload lock`): pure, over [`LockRecord`]s.
//!
//! **Guarded writes** (failures). Every successful guarded increment wrote `read + 1` at a
//! known revision, with its token. Ordered by those revisions:
//! - tokens never go backwards (`token-regression`), and no two writes share a revision;
//! - no write lands between another's read and write (`interleaved`: the later one read a
//!   counter that the earlier one was about to change, so one increment is lost);
//! - each read saw the previous successful write: a read at or after that write's revision
//!   with an older counter is a `stale-read`, one at that revision with another value a
//!   `wrong-value`, and a counter changed by a write no client acknowledged must be explained
//!   by an indeterminate (`:info`) increment that wrote that value (`unexplained-write`);
//! - the counter read after healing lies between the successful increments and those plus
//!   the indeterminate ones (`lost-increment` below, `phantom-increment` above).
//!
//! **Lease lifetimes** (failures). A grant or keepalive sent at `s` and answered with TTL `T`
//! promises the lease lives until at least `s + T` (the server counts the TTL from when it
//! applies the keepalive, later than `s`, by the leader's clock, and a new leader restarts
//! the countdown). A lease seen gone earlier than that (minus a margin) without its client
//! having released it is an `early-expiry`. It is seen gone when a keepalive answers TTL 0,
//! when a guarded write finds the lock key gone, or when another client acquires the lock
//! with a later token (its key is the oldest, so the older key was deleted by then).
//!
//! **Unguarded overlaps** (a warning, not a failure): the intervals in which clients
//! *believed* they held the lock (from the acquisition's completion to the first of losing
//! it, releasing it, or the end of the history). They overlap when a holder is cut off from
//! its lease (a paused or killed replica, a partition) and cannot learn that the lease
//! expired: that is what fencing is for, and the guarded writes must stay correct anyway.
//!
//! Why fencing hides an early expiry from the guarded checks: the guarded write compares the
//! lock key's create revision with the token, in the same transaction as the write. The lowest
//! create revision under the prefix is unique at every revision, and a holder's key stays the
//! lowest for as long as it exists, so at any revision at most one client's compare can hold,
//! whenever and however leases expire. An expiry by a follower's fast clock only makes
//! stale holders' writes fail; the lease-lifetime check and the overlaps are what expose it.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::time::{Duration, Instant};

use crate::history::EventType;
use crate::lock_history::{CounterRead, LockOp, LockRecord};

use super::Tally;

/// Examples kept per problem kind.
const EXAMPLES: usize = 5;
/// Overlap examples kept (the longest).
const OVERLAP_EXAMPLES: usize = 5;

/// Tunables of [`check_lock`].
#[derive(Debug, Clone, Copy)]
pub struct LockCheckOptions {
    /// Tolerance of the lease-lifetime check: a loss seen this long before the promised end
    /// is not yet early (the server's tick, timer granularity).
    pub expiry_margin: Duration,
}

impl Default for LockCheckOptions {
    fn default() -> Self {
        LockCheckOptions {
            expiry_margin: Duration::from_millis(100),
        }
    }
}

/// Kinds of problems, in report order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProblemKind {
    /// Two successful guarded writes at one revision.
    DuplicateRevision,
    /// A successful guarded write with a smaller token than the one before it.
    TokenRegression,
    /// A successful guarded write between another's read and write.
    Interleaved,
    /// A read at or after the previous successful write's revision that missed it.
    StaleRead,
    /// A read of the previous write's revision with another value.
    WrongValue,
    /// The counter changed by a write no client can account for.
    UnexplainedWrite,
    /// The final counter is below the successful increments.
    LostIncrement,
    /// The final counter is above the successful plus indeterminate increments.
    PhantomIncrement,
    /// A lease seen gone before the TTL promised by a keepalive had passed.
    EarlyExpiry,
}

impl fmt::Display for ProblemKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProblemKind::DuplicateRevision => "duplicate-revision",
            ProblemKind::TokenRegression => "token-regression",
            ProblemKind::Interleaved => "interleaved",
            ProblemKind::StaleRead => "stale-read",
            ProblemKind::WrongValue => "wrong-value",
            ProblemKind::UnexplainedWrite => "unexplained-write",
            ProblemKind::LostIncrement => "lost-increment",
            ProblemKind::PhantomIncrement => "phantom-increment",
            ProblemKind::EarlyExpiry => "early-expiry",
        })
    }
}

/// One problem, with what shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Its kind.
    pub kind: ProblemKind,
    /// What happened, with leases, tokens, revisions and times.
    pub detail: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.detail)
    }
}

/// Two believed-holding intervals that overlap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlap {
    /// The earlier holder's lease and token.
    pub first: (i64, i64),
    /// The later holder's lease and token.
    pub second: (i64, i64),
    /// When the later one acquired (ns).
    pub start: i64,
    /// How long both believed they held the lock (ns).
    pub length: i64,
}

impl fmt::Display for Overlap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "lease {:x} (token {}) still believed it held the lock when lease {:x} (token {}) \
             acquired it at {:.3} s, for {:.3} s",
            self.first.0,
            self.first.1,
            self.second.0,
            self.second.1,
            secs(self.start),
            secs(self.length)
        )
    }
}

/// Unguarded overlaps of believed-holding intervals (a warning).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overlaps {
    /// Overlapping pairs.
    pub pairs: usize,
    /// Holding intervals that overlap another.
    pub intervals: usize,
    /// Sum of the overlapping lengths (ns).
    pub total: i64,
    /// The longest overlaps, longest first.
    pub longest: Vec<Overlap>,
}

/// What [`check_lock`] found.
#[derive(Debug, Clone, Default)]
pub struct LockReport {
    /// Leases granted.
    pub leases: usize,
    /// Acquisitions by outcome: `[ok, fail, info]`.
    pub acquisitions: [usize; 3],
    /// Guarded increments by outcome: `[ok, fail, info]`.
    pub increments: [usize; 3],
    /// Failed increments whose compare found the lock key gone: stale holders stopped by the
    /// fencing compare.
    pub fenced: usize,
    /// Keepalives answered.
    pub keepalives: usize,
    /// Times a client learned it had lost the lock while believing it held it.
    pub lost: usize,
    /// The counter read after healing.
    pub final_counter: Option<i64>,
    /// Problems by kind (sorted).
    pub counts: Vec<(ProblemKind, usize)>,
    /// A few examples per kind.
    pub problems: Vec<Problem>,
    /// The unguarded overlaps.
    pub overlaps: Overlaps,
    /// Time spent checking.
    pub elapsed: Duration,
}

impl LockReport {
    /// True when no problem was found (overlaps are only a warning).
    pub fn valid(&self) -> bool {
        self.counts.is_empty()
    }

    /// Whether a problem of this kind was found.
    pub fn has(&self, kind: ProblemKind) -> bool {
        self.counts.iter().any(|(k, n)| *k == kind && *n > 0)
    }

    /// `interleaved x1, early-expiry x3` (empty when valid).
    pub fn problem_list(&self) -> String {
        self.counts
            .iter()
            .map(|(k, n)| format!("{k} x{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn secs(ns: i64) -> f64 {
    ns as f64 / 1e9
}

fn column(kind: EventType) -> Option<usize> {
    match kind {
        EventType::Ok => Some(0),
        EventType::Fail => Some(1),
        EventType::Info => Some(2),
        EventType::Invoke => None,
    }
}

/// A successful guarded increment.
#[derive(Debug, Clone, Copy)]
struct Write {
    lease: i64,
    token: i64,
    read: CounterRead,
    revision: i64,
}

/// What one lease's round did, gathered from its events.
#[derive(Debug, Default, Clone)]
struct Round {
    token: Option<i64>,
    /// When the acquisition completed `:ok`.
    acquired: Option<i64>,
    /// When the client stopped believing (loss or release invocation).
    believed_until: Option<i64>,
    /// First release invocation.
    released: Option<i64>,
    /// The latest promised end of the lease (`sent + ttl`), and when that promise was sent.
    promised: Option<(i64, i64)>,
    /// When its grant was sent (it cannot have been seen gone before).
    born: Option<i64>,
    /// The first time the lease was seen gone, and how.
    gone: Option<(i64, String)>,
}

impl Round {
    fn promise(&mut self, sent: i64, ttl: i64) {
        let end = sent.saturating_add(ttl.saturating_mul(1_000_000_000));
        if self.promised.is_none_or(|(e, _)| end > e) {
            self.promised = Some((end, sent));
        }
    }

    fn seen_gone(&mut self, at: i64, how: impl FnOnce() -> String) {
        if self.gone.as_ref().is_none_or(|(t, _)| at < *t) {
            self.gone = Some((at, how()));
        }
    }

    fn stop_believing(&mut self, at: i64) {
        if self.acquired.is_some() && self.believed_until.is_none() {
            self.believed_until = Some(at);
        }
    }
}

/// Checks a lock history; see the module documentation for what is checked.
pub fn check_lock(records: &[LockRecord], options: LockCheckOptions) -> LockReport {
    let started = Instant::now();
    let mut report = LockReport::default();
    let mut found: Tally<ProblemKind, Problem> = Tally::new(EXAMPLES);
    let mut problem = |kind: ProblemKind, detail: String| {
        found.add(kind, || Problem { kind, detail });
    };
    let mut rounds: BTreeMap<i64, Round> = BTreeMap::new();
    let mut writes: Vec<Write> = Vec::new();
    // Values written by indeterminate increments that got as far as reading.
    let mut maybe_written: HashMap<i64, usize> = HashMap::new();
    let mut setup_revision: Option<i64> = None;
    let mut final_read: Option<(i64, i64)> = None;
    // Acquisitions by completion time, for the "someone acquired after me" observation.
    let mut acquired: Vec<(i64, i64, i64)> = Vec::new(); // (time, lease, token)
    let end = records.last().map_or(0, |r| r.time);
    for r in records {
        match &r.op {
            LockOp::Setup { revision } => setup_revision = Some(*revision),
            LockOp::Final { counter, revision } => final_read = Some((*counter, *revision)),
            LockOp::Grant {
                kind: EventType::Ok,
                lease: Some(lease),
                ttl,
                sent,
            } => {
                report.leases += 1;
                let round = rounds.entry(*lease).or_default();
                let sent = sent.unwrap_or(r.time);
                round.born = Some(round.born.map_or(sent, |b| b.min(sent)));
                round.promise(sent, *ttl);
            }
            LockOp::Grant { .. } => {}
            LockOp::KeepAlive { lease, ttl, sent } => {
                report.keepalives += 1;
                let round = rounds.entry(*lease).or_default();
                if *ttl > 0 {
                    round.promise(*sent, *ttl);
                } else {
                    round.seen_gone(r.time, || "a keepalive answered TTL 0".to_string());
                }
            }
            LockOp::Enqueued { lease, token } => {
                rounds.entry(*lease).or_default().token = Some(*token);
            }
            LockOp::Acquire {
                kind, lease, token, ..
            } => {
                if let Some(c) = column(*kind) {
                    report.acquisitions[c] += 1;
                }
                let round = rounds.entry(*lease).or_default();
                if *kind == EventType::Ok {
                    round.acquired = Some(r.time);
                    if let Some(t) = token {
                        round.token = Some(*t);
                        acquired.push((r.time, *lease, *t));
                    }
                }
            }
            LockOp::Incr {
                kind,
                lease,
                token,
                read,
                revision,
                held,
            } => {
                let Some(c) = column(*kind) else { continue };
                report.increments[c] += 1;
                match (kind, read, revision) {
                    (EventType::Ok, Some(read), Some(revision)) => writes.push(Write {
                        lease: *lease,
                        token: *token,
                        read: *read,
                        revision: *revision,
                    }),
                    (EventType::Info, Some(read), _) => {
                        *maybe_written.entry(read.value + 1).or_default() += 1;
                    }
                    _ => {}
                }
                if *held == Some(false) {
                    report.fenced += 1;
                    rounds.entry(*lease).or_default().seen_gone(r.time, || {
                        format!("the guarded write of token {token} found the lock key gone")
                    });
                }
            }
            LockOp::Lost { lease, .. } => {
                let round = rounds.entry(*lease).or_default();
                if round.acquired.is_some() && round.believed_until.is_none() {
                    report.lost += 1;
                }
                round.stop_believing(r.time);
            }
            LockOp::Release { kind, lease, .. } => {
                let round = rounds.entry(*lease).or_default();
                if *kind == EventType::Invoke {
                    round.stop_believing(r.time);
                    round.released.get_or_insert(r.time);
                }
            }
        }
    }

    // A later token acquiring means every older lock key was gone by then.
    acquired.sort_unstable();
    let tokens: Vec<(i64, i64)> = rounds
        .iter()
        .filter_map(|(lease, round)| round.token.map(|t| (t, *lease)))
        .collect();
    for &(time, winner, token) in &acquired {
        for &(older, lease) in tokens.iter().filter(|(t, _)| *t < token) {
            if let Some(round) = rounds.get_mut(&lease) {
                round.seen_gone(time, || {
                    format!(
                        "lease {winner:x} acquired the lock with token {token} over token {older}"
                    )
                });
            }
        }
    }

    lease_lifetimes(&rounds, options, &mut problem);
    guarded_writes(&mut writes, setup_revision, &maybe_written, &mut problem);
    report.final_counter = final_read.map(|(c, _)| c);
    if let Some((counter, revision)) = final_read {
        let [ok, _, info] = report.increments;
        let (ok, info) = (ok as i64, info as i64);
        if counter < ok {
            problem(
                ProblemKind::LostIncrement,
                format!(
                    "the counter read {counter} at revision {revision} after healing, but \
                     {ok} guarded increments succeeded: {} lost",
                    ok - counter
                ),
            );
        } else if counter > ok + info {
            problem(
                ProblemKind::PhantomIncrement,
                format!(
                    "the counter read {counter} at revision {revision} after healing, more \
                     than the {ok} successful plus {info} indeterminate increments"
                ),
            );
        }
    }
    report.overlaps = overlaps(&rounds, end);
    report.counts = found.counts.into_iter().collect();
    report.problems = found.examples;
    report.elapsed = started.elapsed();
    report
}

/// Early expiries: a lease seen gone before its promised end, not released by its client.
fn lease_lifetimes(
    rounds: &BTreeMap<i64, Round>,
    options: LockCheckOptions,
    problem: &mut impl FnMut(ProblemKind, String),
) {
    let margin = i64::try_from(options.expiry_margin.as_nanos()).unwrap_or(i64::MAX);
    for (lease, round) in rounds {
        let (Some((end, sent)), Some((at, how))) = (round.promised, &round.gone) else {
            continue;
        };
        if round.released.is_some_and(|r| r <= *at) || round.born.is_some_and(|b| *at < b) {
            continue;
        }
        if at.saturating_add(margin) < end {
            problem(
                ProblemKind::EarlyExpiry,
                format!(
                    "lease {lease:x}{}: a grant or keepalive sent at {:.3} s promised it until \
                     {:.3} s, yet by {:.3} s {how} ({:.3} s early)",
                    round
                        .token
                        .map_or(String::new(), |t| format!(" (token {t})")),
                    secs(sent),
                    secs(end),
                    secs(*at),
                    secs(end - at)
                ),
            );
        }
    }
}

/// The chain of successful guarded writes, in revision order.
fn guarded_writes(
    writes: &mut [Write],
    setup_revision: Option<i64>,
    maybe_written: &HashMap<i64, usize>,
    problem: &mut impl FnMut(ProblemKind, String),
) {
    writes.sort_by_key(|w| w.revision);
    let describe = |w: &Write| {
        format!(
            "lease {:x} token {} (read {} at mod revision {}, revision {}; wrote {} at {})",
            w.lease,
            w.token,
            w.read.value,
            w.read.mod_revision,
            w.read.revision,
            w.read.value + 1,
            w.revision
        )
    };
    // The previous successful write: (revision, value written); the setup's to begin with.
    let mut previous: Option<(i64, i64, Option<Write>)> = setup_revision.map(|r| (r, 0, None));
    for w in writes.iter() {
        if let Some((revision, value, write)) = previous {
            let before = write.as_ref().map_or("the setup".to_string(), describe);
            if let Some(p) = &write {
                if p.revision == w.revision {
                    problem(
                        ProblemKind::DuplicateRevision,
                        format!("{} and {}", describe(p), describe(w)),
                    );
                }
                if w.token < p.token {
                    problem(
                        ProblemKind::TokenRegression,
                        format!("{} after {}", describe(w), describe(p)),
                    );
                }
            }
            if revision > w.read.revision && revision < w.revision {
                problem(
                    ProblemKind::Interleaved,
                    format!(
                        "{before} wrote between the read and the write of {}",
                        describe(w)
                    ),
                );
            } else if w.read.mod_revision < revision && revision <= w.read.revision {
                problem(
                    ProblemKind::StaleRead,
                    format!("{} missed {before}", describe(w)),
                );
            } else if w.read.mod_revision == revision && w.read.value != value {
                problem(
                    ProblemKind::WrongValue,
                    format!(
                        "{} read another value than {before} wrote ({value})",
                        describe(w)
                    ),
                );
            } else if w.read.mod_revision > revision
                && w.read.mod_revision < w.revision
                && !maybe_written.contains_key(&w.read.value)
            {
                problem(
                    ProblemKind::UnexplainedWrite,
                    format!(
                        "{} read a counter written after {before} by no acknowledged or \
                         indeterminate increment",
                        describe(w)
                    ),
                );
            }
        }
        previous = Some((w.revision, w.read.value + 1, Some(*w)));
    }
}

/// Overlapping believed-holding intervals.
fn overlaps(rounds: &BTreeMap<i64, Round>, end: i64) -> Overlaps {
    let mut intervals: Vec<(i64, i64, i64, i64)> = rounds
        .iter()
        .filter_map(|(lease, r)| {
            let start = r.acquired?;
            Some((start, r.believed_until.unwrap_or(end), *lease, r.token?))
        })
        .collect();
    intervals.sort_unstable();
    let mut result = Overlaps::default();
    let mut involved = vec![false; intervals.len()];
    let mut all: Vec<Overlap> = Vec::new();
    for i in 0..intervals.len() {
        let (_, end_i, lease_i, token_i) = intervals[i];
        for j in i + 1..intervals.len() {
            let (start_j, end_j, lease_j, token_j) = intervals[j];
            if start_j >= end_i {
                break;
            }
            let length = end_i.min(end_j) - start_j;
            if length <= 0 {
                continue;
            }
            involved[i] = true;
            involved[j] = true;
            result.pairs += 1;
            result.total += length;
            all.push(Overlap {
                first: (lease_i, token_i),
                second: (lease_j, token_j),
                start: start_j,
                length,
            });
        }
    }
    result.intervals = involved.iter().filter(|x| **x).count();
    all.sort_by_key(|o| std::cmp::Reverse(o.length));
    all.truncate(OVERLAP_EXAMPLES);
    result.longest = all;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000_000;

    /// Builds a history in real-time order; times in milliseconds.
    struct Builder {
        records: Vec<LockRecord>,
    }

    impl Builder {
        fn new(setup_revision: i64) -> Builder {
            let mut b = Builder {
                records: Vec::new(),
            };
            b.push(
                0,
                LockOp::Setup {
                    revision: setup_revision,
                },
            );
            b
        }

        fn push(&mut self, ms: i64, op: LockOp) -> &mut Builder {
            let index = self.records.len() as i64;
            assert!(self.records.last().is_none_or(|r| r.time <= ms * MS));
            self.records.push(LockRecord {
                op,
                process: 0,
                time: ms * MS,
                index,
            });
            self
        }

        /// A grant sent at `ms` (TTL 2 s) and the lock key created with `token`.
        fn enqueue(&mut self, ms: i64, lease: i64, token: i64) -> &mut Builder {
            self.push(
                ms,
                LockOp::Grant {
                    kind: EventType::Ok,
                    lease: Some(lease),
                    ttl: 2,
                    sent: Some(ms * MS),
                },
            )
            .push(ms, LockOp::Enqueued { lease, token })
        }

        fn acquired(&mut self, ms: i64, lease: i64, token: i64) -> &mut Builder {
            self.push(
                ms,
                LockOp::Acquire {
                    kind: EventType::Ok,
                    lease,
                    node: None,
                    token: Some(token),
                    revision: Some(token),
                },
            )
        }

        fn incr(
            &mut self,
            ms: i64,
            (lease, token): (i64, i64),
            kind: EventType,
            (value, mod_revision, read_revision): (i64, i64, i64),
            revision: Option<i64>,
        ) -> &mut Builder {
            self.push(
                ms,
                LockOp::Incr {
                    kind,
                    lease,
                    token,
                    read: Some(CounterRead {
                        value,
                        mod_revision,
                        fence: 0,
                        revision: read_revision,
                    }),
                    revision,
                    held: None,
                },
            )
        }

        fn release(&mut self, ms: i64, lease: i64) -> &mut Builder {
            self.push(
                ms,
                LockOp::Release {
                    kind: EventType::Invoke,
                    lease,
                    token: None,
                },
            )
        }

        fn keepalive(&mut self, ms: i64, lease: i64, ttl: i64, sent_ms: i64) -> &mut Builder {
            self.push(
                ms,
                LockOp::KeepAlive {
                    lease,
                    ttl,
                    sent: sent_ms * MS,
                },
            )
        }

        fn finish(&mut self, ms: i64, counter: i64) -> LockReport {
            self.push(
                ms,
                LockOp::Final {
                    counter,
                    revision: 1000,
                },
            );
            check_lock(&self.records, LockCheckOptions::default())
        }
    }

    /// Two clients taking turns, each incrementing once: a (token 2) then b (token 4).
    fn valid_history() -> Builder {
        let mut b = Builder::new(1);
        b.enqueue(0, 0xa, 2)
            .acquired(5, 0xa, 2)
            .enqueue(10, 0xb, 4)
            .incr(20, (0xa, 2), EventType::Ok, (0, 1, 4), Some(5))
            .release(30, 0xa)
            .acquired(40, 0xb, 4)
            .incr(50, (0xb, 4), EventType::Ok, (1, 5, 7), Some(8))
            .release(60, 0xb);
        b
    }

    #[test]
    fn a_valid_history_passes() {
        let report = valid_history().finish(100, 2);
        assert!(report.valid(), "{:?}", report.problems);
        assert_eq!(report.increments, [2, 0, 0]);
        assert_eq!(report.acquisitions, [2, 0, 0]);
        assert_eq!(report.leases, 2);
        assert_eq!(report.overlaps.pairs, 0);
        assert_eq!(report.final_counter, Some(2));
    }

    #[test]
    fn indeterminate_increments_count_as_maybe() {
        let next = |b: &mut Builder| {
            b.enqueue(70, 0xc, 10)
                .acquired(71, 0xc, 10)
                .incr(80, (0xc, 10), EventType::Info, (2, 8, 10), None)
                .release(90, 0xc);
        };
        let mut b = valid_history();
        next(&mut b);
        // It read the indeterminate increment's value at a revision no ack explains.
        b.enqueue(100, 0xd, 12).acquired(101, 0xd, 12).incr(
            120,
            (0xd, 12),
            EventType::Ok,
            (3, 11, 12),
            Some(13),
        );
        let report = b.finish(200, 4);
        assert!(report.valid(), "{:?}", report.problems);
        for (counter, valid) in [(2, true), (3, true), (4, false), (1, false)] {
            let mut b = valid_history();
            next(&mut b);
            let report = b.finish(200, counter);
            assert_eq!(
                report.valid(),
                valid,
                "final {counter}: {:?}",
                report.problems
            );
        }
        let mut b = valid_history();
        next(&mut b);
        assert!(b.finish(200, 4).has(ProblemKind::PhantomIncrement));
        let mut b = valid_history();
        next(&mut b);
        assert!(b.finish(200, 1).has(ProblemKind::LostIncrement));
    }

    #[test]
    fn interleaved_writes_and_the_lost_increment_are_caught() {
        // a (token 2) reads 0 at revision 4, b (token 3) writes 1 at revision 5, a writes 1
        // at revision 6.
        let mut b = Builder::new(1);
        b.enqueue(0, 0xa, 2)
            .enqueue(1, 0xb, 3)
            .acquired(5, 0xa, 2)
            .acquired(6, 0xb, 3)
            .incr(20, (0xb, 3), EventType::Ok, (0, 1, 4), Some(5))
            .incr(30, (0xa, 2), EventType::Ok, (0, 1, 4), Some(6));
        let report = b.finish(100, 1);
        for kind in [
            ProblemKind::Interleaved,
            ProblemKind::TokenRegression,
            ProblemKind::LostIncrement,
        ] {
            assert!(report.has(kind), "{kind}: {:?}", report.problems);
        }
        assert_eq!(report.overlaps.pairs, 1, "both believed they held the lock");
        let interleaved = report
            .problems
            .iter()
            .find(|p| p.kind == ProblemKind::Interleaved)
            .map(ToString::to_string)
            .unwrap_or_default();
        assert_eq!(
            interleaved,
            "interleaved: lease b token 3 (read 0 at mod revision 1, revision 4; wrote 1 at 5) \
             wrote between the read and the write of lease a token 2 (read 0 at mod revision \
             1, revision 4; wrote 1 at 6)"
        );
    }

    #[test]
    fn a_token_going_backwards_is_caught() {
        let mut b = valid_history();
        b.enqueue(70, 0xc, 3).acquired(71, 0xc, 3).incr(
            80,
            (0xc, 3),
            EventType::Ok,
            (2, 8, 9),
            Some(10),
        );
        let report = b.finish(100, 3);
        assert_eq!(report.problem_list(), "token-regression x1");
    }

    #[test]
    fn stale_reads_wrong_values_and_unexplained_writes_are_caught() {
        let cases = [
            ((1, 5, 10), 3, ProblemKind::StaleRead),
            ((5, 8, 10), 6, ProblemKind::WrongValue),
            ((5, 9, 10), 6, ProblemKind::UnexplainedWrite),
        ];
        for (read, counter, kind) in cases {
            let mut b = valid_history();
            b.enqueue(70, 0xc, 9).acquired(71, 0xc, 9).incr(
                80,
                (0xc, 9),
                EventType::Ok,
                read,
                Some(11),
            );
            let report = b.finish(100, counter);
            assert!(report.has(kind), "{kind}: {:?}", report.problems);
        }
    }

    #[test]
    fn early_expiry_is_caught_and_a_late_one_is_not() {
        // The keepalive sent at 1 s promised 3 s; the one at 1.5 s answered TTL 0.
        let mut b = Builder::new(1);
        b.enqueue(0, 0xb, 2)
            .acquired(1, 0xb, 2)
            .keepalive(1_100, 0xb, 2, 1_000)
            .keepalive(1_510, 0xb, 0, 1_500);
        let report = b.finish(2_000, 0);
        assert_eq!(report.problem_list(), "early-expiry x1");
        assert!(report.problems[0].detail.contains("answered TTL 0"));
        let mut b = Builder::new(1);
        b.enqueue(0, 0xb, 2)
            .acquired(1, 0xb, 2)
            .keepalive(1_100, 0xb, 2, 1_000)
            .keepalive(3_510, 0xb, 0, 3_500);
        assert!(b.finish(4_000, 0).valid());
    }

    #[test]
    fn another_acquisition_shows_an_early_expiry_and_an_overlap() {
        // a holds token 2 and keeps its lease alive; b (token 4) acquires at 1.2 s, so a's
        // key was deleted although a's keepalive at 1 s promised 3 s. a learns at 1.5 s,
        // when the fencing compare rejects its write.
        let build = |release_first: bool| {
            let mut b = Builder::new(1);
            b.enqueue(0, 0xa, 2)
                .acquired(1, 0xa, 2)
                .enqueue(10, 0xb, 4)
                .keepalive(1_001, 0xa, 2, 1_000);
            if release_first {
                b.release(1_100, 0xa);
            }
            b.acquired(1_200, 0xb, 4)
                .incr(1_300, (0xb, 4), EventType::Ok, (0, 1, 6), Some(7))
                .push(
                    1_500,
                    LockOp::Incr {
                        kind: EventType::Fail,
                        lease: 0xa,
                        token: 2,
                        read: None,
                        revision: None,
                        held: Some(false),
                    },
                )
                .push(
                    1_501,
                    LockOp::Lost {
                        lease: 0xa,
                        token: Some(2),
                        why: "fenced".into(),
                    },
                );
            b.finish(2_000, 1)
        };
        let report = build(false);
        assert_eq!(report.problem_list(), "early-expiry x1");
        assert!(
            report.problems[0]
                .detail
                .contains("lease b acquired the lock with token 4 over token 2"),
            "{}",
            report.problems[0]
        );
        assert_eq!((report.fenced, report.lost), (1, 1));
        assert_eq!(report.overlaps.pairs, 1);
        assert_eq!(report.overlaps.total, 301 * MS);
        // Had a released before b acquired, nothing would be early or overlap.
        let report = build(true);
        assert!(report.valid(), "{:?}", report.problems);
        assert_eq!(report.overlaps.pairs, 0);
    }
}
