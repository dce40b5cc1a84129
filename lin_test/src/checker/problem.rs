//! One key's operations prepared for the search: filtered by outcome, cut at a history
//! position, values interned, unobservable optional writes dropped.

use std::collections::{HashMap, HashSet};

use crate::history::{Datum, Operation, Outcome};
use crate::model::{self, RegisterOp};

/// An interned register value: [`ABSENT`] or `i + 1` for `Problem::values[i]`.
pub(super) type State = u32;

/// The state of an absent key (the initial state).
pub(super) const ABSENT: State = 0;

/// Whether an operation must, or only may, be linearized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Need {
    /// It completed `:ok` inside the prefix: it took effect before its completion.
    Required,
    /// Indeterminate (`:info`, never completed, or completed after the cut): it may take
    /// effect at any time after its invocation, or never.
    Optional,
}

/// The operations of one key that the search must order, up to a cut.
pub(super) struct Problem<'a> {
    /// Kept operations, in invocation order.
    pub ops: Vec<&'a Operation>,
    /// `ops[i]` as a model operation on interned values.
    pub model_ops: Vec<RegisterOp<State>>,
    /// Whether `ops[i]` must be linearized.
    pub need: Vec<Need>,
    /// History position of the completion of required `ops[i]`; `usize::MAX` (+infinity) for
    /// optional ones.
    pub returns: Vec<usize>,
    /// Interned values, indexed by `State - 1`.
    values: Vec<Datum>,
}

impl<'a> Problem<'a> {
    /// Prepares the history prefix made of the events at positions `< cut`
    /// (`usize::MAX`: the whole history).
    ///
    /// In a prefix, an operation completed at or after the cut is still pending: it becomes
    /// optional if it is a mutation and is dropped if it is a read (its value is unknown).
    pub fn new(all: &[&'a Operation], cut: usize) -> Self {
        let mut interned: HashMap<Datum, State> = HashMap::new();
        let mut values = Vec::new();
        let mut intern = |d: Datum| {
            *interned.entry(d).or_insert_with_key(|d| {
                values.push(d.clone());
                values.len() as State
            })
        };
        let mut kept: Vec<Candidate<'a>> = Vec::new();
        for &op in all {
            if op.invoke.position >= cut {
                continue;
            }
            let completed = op.completion.filter(|c| c.position < cut);
            let model_op = RegisterOp::from_action(&op.action);
            let need = match (completed, op.outcome) {
                (Some(_), Outcome::Ok) => Need::Required,
                (Some(_), Outcome::Fail) => continue,
                // A read still pending or indeterminate returned nothing: it constrains nothing.
                _ if !model_op.is_mutation() => continue,
                _ => Need::Optional,
            };
            let returns = match (need, completed) {
                (Need::Required, Some(c)) => c.position,
                _ => usize::MAX,
            };
            kept.push(Candidate {
                op,
                model_op: model_op.map(&mut intern),
                need,
                returns,
            });
        }
        drop_unobservable(&mut kept);
        kept.sort_by_key(|c| c.op.invoke.position);
        Problem {
            ops: kept.iter().map(|c| c.op).collect(),
            model_ops: kept.iter().map(|c| c.model_op).collect(),
            need: kept.iter().map(|c| c.need).collect(),
            returns: kept.iter().map(|c| c.returns).collect(),
            values,
        }
    }

    /// Number of distinct states (values plus [`ABSENT`]).
    pub fn state_count(&self) -> usize {
        self.values.len() + 1
    }

    /// The value a state stands for.
    pub fn value(&self, state: State) -> Option<Datum> {
        match state {
            ABSENT => None,
            s => self.values.get(s as usize - 1).cloned(),
        }
    }
}

/// A kept operation while the problem is being built.
struct Candidate<'a> {
    op: &'a Operation,
    model_op: RegisterOp<State>,
    need: Need,
    returns: usize,
}

/// Steps the model on interned states.
pub(super) fn apply(op: &RegisterOp<State>, state: State) -> Option<State> {
    let to_model = |s: State| (s != ABSENT).then_some(s);
    model::step(&to_model(state), op).map(|s| s.unwrap_or(ABSENT))
}

/// The state `op` requires to take effect, if it requires one (reads and cas).
pub(super) fn required_state(op: &RegisterOp<State>) -> Option<State> {
    match op {
        RegisterOp::Read(v) | RegisterOp::Cas { expected: v, .. } => Some(v.unwrap_or(ABSENT)),
        RegisterOp::Write(_) | RegisterOp::Delete => None,
    }
}

/// The state `op` can move the register to from another state: `None` for observers (reads,
/// cas of a value to itself), which never change it.
pub(super) fn produced_state(op: &RegisterOp<State>) -> Option<State> {
    if op.is_observer() {
        return None;
    }
    match op {
        RegisterOp::Write(v) | RegisterOp::Cas { new: v, .. } => Some(v.unwrap_or(ABSENT)),
        RegisterOp::Delete => Some(ABSENT),
        RegisterOp::Read(_) => None,
    }
}

/// Removes optional mutations whose written value can never be observed.
///
/// Placing such an operation sets the register to a value that no later read returns and no
/// later cas expects, so the next operation that depends on the state cannot follow it; only a
/// write or delete can, and that overwrites it. Any linearization that places it stays valid
/// without it. Removing an optional cas removes the observation of its expected value, so this
/// repeats until nothing changes.
fn drop_unobservable(kept: &mut Vec<Candidate<'_>>) {
    loop {
        let observed: HashSet<State> = kept
            .iter()
            .filter_map(|c| required_state(&c.model_op))
            .collect();
        let before = kept.len();
        // Optional observers go too: they change nothing wherever they take effect.
        kept.retain(|c| {
            c.need == Need::Required
                || produced_state(&c.model_op).is_some_and(|v| observed.contains(&v))
        });
        if kept.len() == before {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{pair_operations, parse_events};

    fn ops(text: &str) -> Vec<Operation> {
        pair_operations(&parse_events(text).unwrap()).unwrap()
    }

    #[test]
    fn unobservable_info_writes_are_dropped_and_observed_ones_kept() {
        let all = ops("\
{:type :invoke, :f :write, :value 1, :process 0}
{:type :info, :f :write, :value 1, :process 0}
{:type :invoke, :f :write, :value 2, :process 1}
{:type :info, :f :write, :value 2, :process 1}
{:type :invoke, :f :cas, :value [3 4], :process 2}
{:type :info, :f :cas, :value [3 4], :process 2}
{:type :invoke, :f :cas, :value [2 3], :process 3}
{:type :invoke, :f :read, :value nil, :process 4}
{:type :ok, :f :read, :value 2, :process 4}");
        let refs: Vec<&Operation> = all.iter().collect();
        let problem = Problem::new(&refs, usize::MAX);
        let kept: Vec<i64> = problem.ops.iter().map(|op| op.process).collect();
        // Write 1 is never read; cas [3 4] writes 4, never read; once it is gone nobody
        // expects 3, so cas [2 3] goes too. Write 2 is read by process 4.
        assert_eq!(kept, vec![1, 4]);
        assert_eq!(problem.need, vec![Need::Optional, Need::Required]);
    }

    #[test]
    fn a_read_of_nil_observes_deletes() {
        let all = ops("\
{:type :invoke, :f :delete, :value [1 nil], :process 0}
{:type :info, :f :delete, :value [1 nil], :process 0}
{:type :invoke, :f :write, :value [1 nil], :process 1}
{:type :invoke, :f :read, :value [1 nil], :process 2}
{:type :ok, :f :read, :value [1 nil], :process 2}");
        let refs: Vec<&Operation> = all.iter().collect();
        assert_eq!(Problem::new(&refs, usize::MAX).ops.len(), 3);
        let without_read: Vec<&Operation> = all.iter().take(2).collect();
        assert_eq!(Problem::new(&without_read, usize::MAX).ops.len(), 0);
    }

    #[test]
    fn a_cut_makes_later_completions_pending() {
        let all = ops("\
{:type :invoke, :f :write, :value 1, :process 0}
{:type :invoke, :f :read, :value nil, :process 1}
{:type :invoke, :f :write, :value 2, :process 2}
{:type :ok, :f :read, :value 1, :process 1}
{:type :fail, :f :write, :value 2, :process 2}
{:type :ok, :f :write, :value 1, :process 0}
{:type :invoke, :f :write, :value 3, :process 3}");
        let refs: Vec<&Operation> = all.iter().collect();
        let whole = Problem::new(&refs, usize::MAX);
        assert_eq!(whole.need, vec![Need::Required, Need::Required]);
        assert_eq!(whole.returns, vec![5, 3]);
        // Cut before the read completes: the read is dropped, write 1 is pending (and
        // unobserved), the failed write 2 is still pending (and unobserved).
        assert!(Problem::new(&refs, 3).ops.is_empty());
        // Cut after the read: write 1 is optional but observed; write 2 pending and unobserved.
        let cut = Problem::new(&refs, 4);
        assert_eq!(cut.need, vec![Need::Optional, Need::Required]);
        assert_eq!(cut.returns, vec![usize::MAX, 3]);
    }

    #[test]
    fn produced_and_required_states() {
        let cas = RegisterOp::Cas {
            expected: Some(1),
            new: None,
        };
        assert_eq!(required_state(&cas), Some(1));
        assert_eq!(produced_state(&cas), Some(ABSENT));
        let same = RegisterOp::Cas {
            expected: Some(1),
            new: Some(1),
        };
        assert_eq!(produced_state(&same), None);
        assert_eq!(required_state(&RegisterOp::Read(None)), Some(ABSENT));
        assert_eq!(produced_state(&RegisterOp::Delete), Some(ABSENT));
        assert_eq!(required_state(&RegisterOp::Write(Some(2))), None);
        assert_eq!(apply(&RegisterOp::Read(None), ABSENT), Some(ABSENT));
        assert_eq!(apply(&RegisterOp::Write(Some(2)), ABSENT), Some(2));
    }
}
