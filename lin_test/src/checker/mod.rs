//! Linearizability checking: Wing–Gong–Lowe search with memoisation, one register at a time.
//!
//! A history of a key-value store is linearizable iff the sub-history of every key is
//! (P-compositionality), so operations are partitioned by key and the keys are checked
//! independently, in parallel.
//!
//! Semantics, as in Knossos and Porcupine:
//! - `:ok` operations take effect exactly once, between invocation and completion;
//! - `:fail` operations did not happen and are dropped (a failed read too);
//! - `:info` and never-completed operations may take effect at any time after their
//!   invocation, or never: their completion is placed at +infinity and the search may finish
//!   without them. An `:info` read returned nothing, so it constrains nothing and is dropped.
//!
//! Parts:
//! - `problem`: filters and interns one key's operations (optionally only a prefix of the
//!   history), and drops optional writes nobody could observe;
//! - `search`: the search itself, with its reductions;
//! - `memo`: the compact store of explored configurations.
//!
//! When a key is not linearizable, a second phase finds the smallest prefix of its history
//! that is not (prefixes are monotone, so a binary search over completion events finds it) and
//! a linearization of everything before that prefix's last event. This is independent of the
//! search's pruning, so the counterexample is precise.

pub mod append;
pub mod lock;
mod memo;
mod problem;
mod search;
pub mod watch;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::history::{Datum, Key, Operation, Outcome};
use problem::{apply, Problem, ABSENT};
use search::{search, Budget, Found};

/// What a checker found: every finding counted by kind, the first few of each kind kept as
/// examples (used by [`append`] and [`watch`]).
#[derive(Debug)]
pub(crate) struct Tally<K, T> {
    /// How many of each kind, sorted by kind.
    pub(crate) counts: BTreeMap<K, usize>,
    /// The first `keep` findings of each kind, in the order found.
    pub(crate) examples: Vec<T>,
    keep: usize,
}

impl<K: Ord + Copy, T> Tally<K, T> {
    /// Keeps `keep` examples per kind.
    pub(crate) fn new(keep: usize) -> Self {
        Tally {
            counts: BTreeMap::new(),
            examples: Vec::new(),
            keep,
        }
    }

    /// Counts a finding of `kind`; keeps it (built only then) if it is among the first few.
    pub(crate) fn add(&mut self, kind: K, example: impl FnOnce() -> T) {
        let n = self.counts.entry(kind).or_default();
        *n += 1;
        if *n <= self.keep {
            self.examples.push(example());
        }
    }
}

/// Default cap on the memory one key's search may spend on its memo.
pub const DEFAULT_MEMO_LIMIT_BYTES: usize = 1 << 30;

/// How many operations of a counterexample's linearization a report prints (the last ones
/// matter most).
const REPORT_TAIL: usize = 10;

/// Tunables for [`check_operations`] and [`check_key`].
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Give up on a key after this long and report [`Verdict::Unknown`]; `None` waits
    /// forever. Finding the smallest counterexample after a violation gets the same time again.
    pub timeout: Option<Duration>,
    /// Give up on a key when its memo would exceed this many bytes.
    pub memo_limit_bytes: usize,
    /// Keys checked at once; 0 means one per available core.
    pub threads: usize,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            timeout: None,
            memo_limit_bytes: DEFAULT_MEMO_LIMIT_BYTES,
            threads: 0,
        }
    }
}

/// The verdict for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Some order of the operations respects real time and the register's specification.
    Linearizable,
    /// No such order exists; the counterexample locates the problem.
    NotLinearizable(Box<Counterexample>),
    /// The search stopped before reaching a verdict.
    Unknown(Incomplete),
}

/// Why a search stopped without a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incomplete {
    /// The per-key timeout expired.
    Timeout(Duration),
    /// The memo reached [`CheckOptions::memo_limit_bytes`].
    MemoLimit(usize),
}

/// Where and why a key's history cannot be linearized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counterexample {
    /// The operation whose completion event ends the smallest prefix of the key's history that
    /// cannot be linearized. Usually an `:ok` operation no linearization can fit; if it is a
    /// `:fail`, the prefix breaks because that operation turned out not to have happened.
    pub stuck: Operation,
    /// A linearization of the history before that completion event, in order (indeterminate
    /// operations included where it placed them).
    pub linearized: Vec<Operation>,
    /// The register's value after `linearized` (`None`: absent).
    pub state: Option<Datum>,
    /// Operations that overlap `stuck` in real time and that `linearized` left out (they were
    /// still pending, or indeterminate); dropped ones (`:fail`, reads without a value) are
    /// not listed.
    pub concurrent: Vec<Operation>,
    /// False if the budget ran out while minimising: the prefix may not be the smallest, and
    /// `linearized` may be empty.
    pub minimal: bool,
}

/// The result for one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyReport {
    /// The key.
    pub key: Key,
    /// Operations on the key in the history, of every outcome.
    pub operations: usize,
    /// The verdict.
    pub verdict: Verdict,
    /// Time spent on this key.
    pub elapsed: Duration,
}

/// Checks every key of a history; reports come back sorted by key.
pub fn check_operations(ops: &[Operation], options: &CheckOptions) -> Vec<KeyReport> {
    let mut by_key: BTreeMap<&Key, Vec<&Operation>> = BTreeMap::new();
    for op in ops {
        by_key.entry(&op.key).or_default().push(op);
    }
    let keys: Vec<(&Key, Vec<&Operation>)> = by_key.into_iter().collect();
    let threads = match options.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(keys.len())
    .max(1);

    // Workers take keys in turn, so one slow key does not hold up the others.
    let next = AtomicUsize::new(0);
    let reports: Mutex<Vec<(usize, KeyReport)>> = Mutex::new(Vec::with_capacity(keys.len()));
    let work = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some((key, key_ops)) = keys.get(i) else {
            return;
        };
        let started = Instant::now();
        let verdict = check_key(key_ops, options);
        let report = KeyReport {
            key: (*key).clone(),
            operations: key_ops.len(),
            verdict,
            elapsed: started.elapsed(),
        };
        // A poisoned lock only means another worker panicked; keep collecting.
        match reports.lock() {
            Ok(mut r) => r.push((i, report)),
            Err(poisoned) => poisoned.into_inner().push((i, report)),
        }
    };
    if threads == 1 {
        work();
    } else {
        std::thread::scope(|scope| {
            for _ in 0..threads {
                scope.spawn(work);
            }
        });
    }
    let mut reports = reports.into_inner().unwrap_or_else(|p| p.into_inner());
    reports.sort_by_key(|(i, _)| *i);
    reports.into_iter().map(|(_, r)| r).collect()
}

/// Checks the operations of one key (the caller has partitioned them; keys are not looked at).
pub fn check_key(ops: &[&Operation], options: &CheckOptions) -> Verdict {
    let whole = Problem::new(ops, usize::MAX);
    match search(&whole, &budget(options)) {
        Found::Linearization(_) => Verdict::Linearizable,
        Found::Incomplete(why) => Verdict::Unknown(why),
        Found::None => match smallest_counterexample(ops, options) {
            Some(counterexample) => Verdict::NotLinearizable(Box::new(counterexample)),
            // No operation completed :ok or :fail, so none is required: placing nothing is
            // a linearization. The search cannot have refuted such a history.
            None => Verdict::Linearizable,
        },
    }
}

fn budget(options: &CheckOptions) -> Budget {
    Budget {
        deadline: options.timeout.map(|t| (Instant::now() + t, t)),
        memo_limit_bytes: options.memo_limit_bytes,
    }
}

/// Finds the smallest non-linearizable prefix of a key's history known to be non-linearizable;
/// `None` if the history has no `:ok` or `:fail` completion (it is then linearizable).
///
/// Only completions that add a constraint can end it: an `:ok` one (the operation becomes
/// required) or a `:fail` one (a pending operation is dropped). Extending a prefix never makes
/// it linearizable, so a binary search over those completions finds the first failing one.
fn smallest_counterexample(ops: &[&Operation], options: &CheckOptions) -> Option<Counterexample> {
    let budget = budget(options);
    let mut cuts: Vec<(usize, &Operation)> = ops
        .iter()
        .filter(|op| matches!(op.outcome, Outcome::Ok | Outcome::Fail))
        .filter_map(|op| op.completion.map(|c| (c.position, *op)))
        .collect();
    cuts.sort_by_key(|(position, _)| *position);
    let last = cuts.len().checked_sub(1)?;
    // Invariant: the prefix through `cuts[hi]` is not linearizable.
    let (mut lo, mut hi) = (0, last);
    let mut minimal = true;
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match search(&Problem::new(ops, cuts[mid].0 + 1), &budget) {
            Found::None => hi = mid,
            Found::Linearization(_) => lo = mid + 1,
            Found::Incomplete(_) => {
                minimal = false;
                break;
            }
        }
    }
    let (end, stuck) = cuts[hi];
    let before = Problem::new(ops, end);
    let order = match search(&before, &budget) {
        Found::Linearization(order) => order,
        Found::None | Found::Incomplete(_) => {
            minimal = false;
            Vec::new()
        }
    };
    let mut state = ABSENT;
    for &i in &order {
        state = apply(&before.model_ops[i], state).unwrap_or(state);
    }
    let mut placed = vec![false; before.ops.len()];
    for &i in &order {
        placed[i] = true;
    }
    let concurrent = (0..before.ops.len())
        .filter(|&i| !placed[i])
        .map(|i| before.ops[i])
        .filter(|op| op.invoke != stuck.invoke)
        .filter(|op| {
            op.completion
                .is_none_or(|c| c.position > stuck.invoke.position)
        })
        .cloned()
        .collect();
    Some(Counterexample {
        stuck: stuck.clone(),
        linearized: order.iter().map(|&i| before.ops[i].clone()).collect(),
        state: before.value(state),
        concurrent,
        minimal,
    })
}

impl fmt::Display for Incomplete {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Incomplete::Timeout(t) => write!(f, "timed out after {:.1} s", t.as_secs_f64()),
            Incomplete::MemoLimit(bytes) => {
                write!(f, "search memo exceeded {} MiB", bytes / (1024 * 1024))
            }
        }
    }
}

impl fmt::Display for KeyReport {
    /// `key K: linearizable: true|false|unknown`, then the counterexample on indented lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "key {}: linearizable: ", self.key)?;
        match &self.verdict {
            Verdict::Linearizable => f.write_str("true"),
            Verdict::Unknown(why) => write!(f, "unknown ({why})"),
            Verdict::NotLinearizable(cex) => write!(f, "false\n{cex}"),
        }
    }
}

impl fmt::Display for Counterexample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = self
            .stuck
            .completion
            .map_or_else(|| "?".to_string(), |c| c.index.to_string());
        write!(
            f,
            "  smallest non-linearizable prefix: the history up to :index {end}"
        )?;
        if !self.minimal {
            f.write_str(" (budget ran out while minimising: may not be the smallest)")?;
        }
        writeln!(f)?;
        writeln!(f, "  it ends with the completion of: {}", self.stuck)?;
        let shown = self.linearized.len().min(REPORT_TAIL);
        let state = self
            .state
            .as_ref()
            .map_or_else(|| "nil".to_string(), |d| d.to_string());
        write!(
            f,
            "  a linearization of the history before it ({} operations{}), leaving the register at {state}:",
            self.linearized.len(),
            if shown < self.linearized.len() {
                format!(", last {shown} shown")
            } else {
                String::new()
            },
        )?;
        for op in &self.linearized[self.linearized.len() - shown..] {
            write!(f, "\n    {op}")?;
        }
        if !self.concurrent.is_empty() {
            write!(f, "\n  concurrent operations it left out:")?;
            for op in &self.concurrent {
                write!(f, "\n    {op}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{pair_operations, parse_events};

    #[test]
    fn a_key_without_required_operations_is_linearizable() {
        let all = pair_operations(
            &parse_events("{:type :invoke, :f :write, :value 1, :process 0}").unwrap(),
        )
        .unwrap();
        let refs: Vec<&Operation> = all.iter().collect();
        assert_eq!(
            check_key(&refs, &CheckOptions::default()),
            Verdict::Linearizable
        );
        assert_eq!(
            check_key(&[], &CheckOptions::default()),
            Verdict::Linearizable
        );
    }
}
