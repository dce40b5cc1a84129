//! The Wing–Gong–Lowe search for one key, with memoisation and three sound reductions.
//!
//! The calls and returns of the operations form a doubly linked list in real-time order
//! (index arrays, so that removing and restoring an operation is O(1)). A *candidate* is a
//! call that comes before the first remaining return: its operation may be linearized next.
//! The search places a candidate whose model step succeeds, removes its call and return from
//! the list, and starts over from the head; when it reaches a return whose operation is not
//! placed, nothing can be placed from this configuration, so it undoes the last placement and
//! tries the next candidate after it. Each configuration (placed set, state) is stored in the
//! [`Memo`] and never explored twice.
//!
//! Reductions, each of which keeps the verdict:
//! - *Forced observers.* An enabled required observer (a read of the current value, a cas of a
//!   value to itself) is placed without trying alternatives: every unplaced operation
//!   completes after the observer's invocation, and an observer changes no state wherever it
//!   takes effect, so any linearization from here stays valid with the observer moved first.
//!   Backtracking past a forced placement keeps backtracking.
//! - *Useless optional steps.* An optional operation that would leave the state unchanged is
//!   not placed: leaving it out is always at least as good.
//! - *Dead needs.* Placing an operation that moves the state away from `v` is refused when an
//!   unplaced required operation still needs `v` (reads it, or cas-es from it) and no unplaced
//!   operation can produce `v` again: that operation could never be placed.

use std::time::{Duration, Instant};

use super::memo::{mix, Bitset, ConfigKey, Memo};
use super::problem::{apply, produced_state, required_state, Need, Problem, State, ABSENT};
use super::Incomplete;

/// How often (in search steps) the budget is looked at; reading the clock every step would
/// cost more than the step.
const BUDGET_CHECK_INTERVAL: u32 = 1024;

/// Seed of the per-operation hashes; any constant works, a fixed one keeps runs reproducible.
const HASH_SEED: u64 = 0x1d8e_4e27_c47d_124f;

/// Mixed into the state before hashing, so that state 0 does not hash to 0.
const STATE_SALT: u64 = 0x6a09_e667_f3bc_c909;

/// "No node" in the entry list.
const NIL: u32 = u32::MAX;

/// Limits of one search.
#[derive(Debug, Clone, Copy)]
pub(super) struct Budget {
    /// When to give up, and the timeout it came from (for the report).
    pub deadline: Option<(Instant, Duration)>,
    /// Largest memo allowed, in bytes.
    pub memo_limit_bytes: usize,
}

/// What a search found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Found {
    /// A linearization: indices into `Problem::ops`, in order (optional ones included when
    /// placed).
    Linearization(Vec<usize>),
    /// No linearization exists.
    None,
    /// The budget ran out first.
    Incomplete(Incomplete),
}

/// Searches for a linearization of `problem`.
pub(super) fn search(problem: &Problem<'_>, budget: &Budget) -> Found {
    search_with_stats(problem, budget).0
}

/// [`search`], also returning how many configurations it stored.
fn search_with_stats(problem: &Problem<'_>, budget: &Budget) -> (Found, usize) {
    let mut search = Search::new(problem, *budget);
    let found = match search.run() {
        Ok(order) => Found::Linearization(order),
        Err(Stop::Refuted) => Found::None,
        Err(Stop::Incomplete(why)) => Found::Incomplete(why),
    };
    (found, search.memo.len())
}

/// Why a search ended without a linearization.
enum Stop {
    Refuted,
    Incomplete(Incomplete),
}

/// One placed operation, with what is needed to undo it.
struct Placement {
    call: u32,
    state_before: State,
    watermark_before: u32,
    high_before: u32,
    /// Placed without alternatives: backtracking past it keeps backtracking.
    forced: bool,
}

/// What [`Search::place_forced`] did.
enum Forced {
    /// Found no enabled required observer.
    Nothing,
    /// Placed one.
    Placed,
    /// Found one whose configuration was explored before, so this one is a dead end.
    Known,
}

/// The set of placed operations, kept in the form the memo stores.
struct PlacedSet {
    /// Per operation: its number among the required or among the optional operations.
    slot: Vec<u32>,
    /// Per operation: whether it is required.
    required: Vec<bool>,
    /// Per operation: a random 64-bit value; the set's hash is the XOR over its members.
    op_hash: Vec<u64>,
    placed_required: Bitset,
    placed_optional: Bitset,
    /// The first unplaced required slot; every slot below it is placed.
    watermark: u32,
    /// One more than the highest placed required slot (0 when none).
    high: u32,
    hash: u64,
}

impl PlacedSet {
    fn new(need: &[Need]) -> Self {
        let (mut required_count, mut optional_count) = (0u32, 0u32);
        let slot = need
            .iter()
            .map(|need| {
                let counter = match need {
                    Need::Required => &mut required_count,
                    Need::Optional => &mut optional_count,
                };
                *counter += 1;
                *counter - 1
            })
            .collect();
        let mut seed = HASH_SEED;
        let op_hash = need
            .iter()
            .map(|_| {
                seed = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
                mix(seed)
            })
            .collect();
        PlacedSet {
            slot,
            required: need.iter().map(|n| *n == Need::Required).collect(),
            op_hash,
            placed_required: Bitset::new(required_count as usize),
            placed_optional: Bitset::new(optional_count as usize),
            watermark: 0,
            high: 0,
            hash: 0,
        }
    }

    fn insert(&mut self, op: usize) {
        let slot = self.slot[op];
        if self.required[op] {
            self.placed_required.insert(slot);
            if slot == self.watermark {
                self.watermark = self.placed_required.first_absent_from(slot + 1);
            }
            self.high = self.high.max(slot + 1);
        } else {
            self.placed_optional.insert(slot);
        }
        self.hash ^= self.op_hash[op];
    }

    /// Removes `op`, restoring the watermark and high mark saved when it was inserted.
    fn remove(&mut self, op: usize, watermark: u32, high: u32) {
        if self.required[op] {
            self.placed_required.remove(self.slot[op]);
        } else {
            self.placed_optional.remove(self.slot[op]);
        }
        self.watermark = watermark;
        self.high = high;
        self.hash ^= self.op_hash[op];
    }

    /// The set with model state `state`, in the memo's compact form: the words of the
    /// required bitset below the watermark are all ones, so they are left out.
    fn key(&self, state: State) -> ConfigKey<'_> {
        let words = self.placed_required.words();
        let top = self.watermark.max(self.high.saturating_sub(1));
        let end = (top as usize / 64 + 1).min(words.len());
        let start = (self.watermark as usize / 64).min(end);
        ConfigKey {
            hash: self.hash ^ mix(u64::from(state) ^ STATE_SALT),
            state,
            watermark: self.watermark,
            required_words: &words[start..end],
            optional_words: self.placed_optional.words(),
        }
    }
}

/// The mutable state of one search.
struct Search<'p, 'a> {
    problem: &'p Problem<'a>,
    budget: Budget,

    // The entry list. Nodes `0..2n` are calls and returns in real-time order; node `2n` is
    // the head.
    node_op: Vec<u32>,
    is_call: Vec<bool>,
    return_node: Vec<u32>,
    next: Vec<u32>,
    prev: Vec<u32>,
    head: u32,

    placed: PlacedSet,
    memo: Memo,

    state: State,
    stack: Vec<Placement>,
    required_left: usize,
    /// Per state: unplaced operations that can move the register to it.
    producers: Vec<u32>,
    /// Per state: unplaced required operations that need the register in it.
    needers: Vec<u32>,
}

impl<'p, 'a> Search<'p, 'a> {
    fn new(problem: &'p Problem<'a>, budget: Budget) -> Self {
        let n = problem.ops.len();
        // (history position, is a return, op): positions are unique except the +infinity
        // returns of optional operations, which are then ordered by op.
        let mut events: Vec<(usize, bool, u32)> = Vec::with_capacity(2 * n);
        for (i, op) in problem.ops.iter().enumerate() {
            events.push((op.invoke.position, false, i as u32));
            events.push((problem.returns[i], true, i as u32));
        }
        events.sort_unstable();
        let nodes = events.len() as u32;
        let mut return_node = vec![NIL; n];
        for (node, &(_, is_return, op)) in events.iter().enumerate() {
            if is_return {
                return_node[op as usize] = node as u32;
            }
        }
        // Node i links to i + 1, the head to node 0.
        let mut next: Vec<u32> = (1..=nodes).collect();
        if let Some(last) = next.last_mut() {
            *last = NIL;
        }
        next.push(if nodes == 0 { NIL } else { 0 });
        let mut prev: Vec<u32> = (0..nodes).map(|i| i.wrapping_sub(1)).collect();
        if let Some(first) = prev.first_mut() {
            *first = nodes;
        }
        prev.push(NIL);

        let mut producers = vec![0; problem.state_count()];
        let mut needers = vec![0; problem.state_count()];
        for (i, op) in problem.model_ops.iter().enumerate() {
            if let Some(s) = produced_state(op) {
                producers[s as usize] += 1;
            }
            if let (Need::Required, Some(s)) = (problem.need[i], required_state(op)) {
                needers[s as usize] += 1;
            }
        }
        let placed = PlacedSet::new(&problem.need);
        let memo = Memo::new(placed.placed_optional.words().len());
        let required_left = problem
            .need
            .iter()
            .filter(|n| **n == Need::Required)
            .count();
        Search {
            problem,
            budget,
            node_op: events.iter().map(|e| e.2).collect(),
            is_call: events.iter().map(|e| !e.1).collect(),
            return_node,
            next,
            prev,
            head: nodes,
            placed,
            memo,
            state: ABSENT,
            stack: Vec::new(),
            required_left,
            producers,
            needers,
        }
    }

    fn run(&mut self) -> Result<Vec<usize>, Stop> {
        // A required operation that needs a value nobody can produce can never be placed.
        let hopeless = (0..self.needers.len())
            .any(|s| s as State != self.state && self.needers[s] > 0 && self.producers[s] == 0);
        if hopeless {
            return Err(Stop::Refuted);
        }
        // Steps until the budget is looked at next; 0 so that it is looked at on the first
        // step and a zero timeout answers at once.
        let mut until_budget_check: u32 = 0;
        // Where the scan of the current configuration's candidates stands. `None`: a fresh
        // configuration, to be scanned for a forced placement first.
        let mut resume: Option<u32> = None;
        loop {
            if self.required_left == 0 {
                return Ok(self
                    .stack
                    .iter()
                    .map(|p| self.node_op[p.call as usize] as usize)
                    .collect());
            }
            if until_budget_check == 0 {
                self.check_budget()?;
                until_budget_check = BUDGET_CHECK_INTERVAL;
            }
            until_budget_check -= 1;
            let node = match resume {
                Some(node) => node,
                None => match self.place_forced() {
                    Forced::Nothing => self.next[self.head as usize],
                    Forced::Placed => continue,
                    Forced::Known => {
                        resume = Some(self.backtrack()?);
                        continue;
                    }
                },
            };
            if node == NIL || !self.is_call[node as usize] {
                // The first remaining return (or, defensively, the end of the list): its
                // operation cannot be placed from this configuration. (Candidates are tried in
                // invocation order, optional ones included: an `:info` operation that took
                // effect mostly did so soon after its invocation, and trying required ones
                // first measured far slower on histories with many `:info` operations.)
                resume = Some(self.backtrack()?);
                continue;
            }
            let op = self.node_op[node as usize] as usize;
            let required = self.problem.need[op] == Need::Required;
            let useful = apply(&self.problem.model_ops[op], self.state)
                .filter(|&after| after != self.state || required);
            resume = match useful {
                Some(after) if self.place(node, after, false) => None,
                _ => Some(self.next[node as usize]),
            };
        }
    }

    /// Places the first enabled required observer among the candidates, if any.
    fn place_forced(&mut self) -> Forced {
        let mut node = self.next[self.head as usize];
        while node != NIL && self.is_call[node as usize] {
            let op = self.node_op[node as usize] as usize;
            let model_op = &self.problem.model_ops[op];
            if self.problem.need[op] == Need::Required
                && model_op.is_observer()
                && apply(model_op, self.state).is_some()
            {
                return if self.place(node, self.state, true) {
                    Forced::Placed
                } else {
                    Forced::Known
                };
            }
            node = self.next[node as usize];
        }
        Forced::Nothing
    }

    /// Places the operation of `call`, moving to state `after`, unless that kills a need or
    /// reaches a configuration explored before.
    fn place(&mut self, call: u32, after: State, forced: bool) -> bool {
        let op = self.node_op[call as usize] as usize;
        let before = self.state;
        self.count_out(op);
        let before_s = before as usize;
        if after != before && self.needers[before_s] > 0 && self.producers[before_s] == 0 {
            self.count_in(op);
            return false;
        }
        let placement = Placement {
            call,
            state_before: before,
            watermark_before: self.placed.watermark,
            high_before: self.placed.high,
            forced,
        };
        self.placed.insert(op);
        if !self.memo.insert(&self.placed.key(after)) {
            self.placed
                .remove(op, placement.watermark_before, placement.high_before);
            self.count_in(op);
            return false;
        }
        self.state = after;
        if self.problem.need[op] == Need::Required {
            self.required_left -= 1;
        }
        self.lift(call);
        self.stack.push(placement);
        true
    }

    /// Undoes placements up to and including the last one that has alternatives; returns
    /// the node to resume the scan from: the one after it.
    fn backtrack(&mut self) -> Result<u32, Stop> {
        loop {
            let top = self.stack.pop().ok_or(Stop::Refuted)?;
            let op = self.node_op[top.call as usize] as usize;
            self.unlift(top.call);
            if self.problem.need[op] == Need::Required {
                self.required_left += 1;
            }
            self.state = top.state_before;
            self.placed
                .remove(op, top.watermark_before, top.high_before);
            self.count_in(op);
            if !top.forced {
                return Ok(self.next[top.call as usize]);
            }
        }
    }

    /// Takes `op` out of the producer/needer counts (it is being placed).
    fn count_out(&mut self, op: usize) {
        let model_op = &self.problem.model_ops[op];
        if let Some(s) = produced_state(model_op) {
            self.producers[s as usize] -= 1;
        }
        if let (Need::Required, Some(s)) = (self.problem.need[op], required_state(model_op)) {
            self.needers[s as usize] -= 1;
        }
    }

    /// Puts `op` back into the producer/needer counts.
    fn count_in(&mut self, op: usize) {
        let model_op = &self.problem.model_ops[op];
        if let Some(s) = produced_state(model_op) {
            self.producers[s as usize] += 1;
        }
        if let (Need::Required, Some(s)) = (self.problem.need[op], required_state(model_op)) {
            self.needers[s as usize] += 1;
        }
    }

    fn check_budget(&self) -> Result<(), Stop> {
        if let Some((deadline, timeout)) = self.budget.deadline {
            if Instant::now() >= deadline {
                return Err(Stop::Incomplete(Incomplete::Timeout(timeout)));
            }
        }
        if self.memo.bytes() > self.budget.memo_limit_bytes {
            return Err(Stop::Incomplete(Incomplete::MemoLimit(
                self.budget.memo_limit_bytes,
            )));
        }
        Ok(())
    }

    /// Unlinks a call node and its return node.
    fn lift(&mut self, call: u32) {
        let ret = self.return_node[self.node_op[call as usize] as usize];
        self.unlink(call);
        self.unlink(ret);
    }

    /// Relinks what [`Search::lift`] removed, in reverse order.
    fn unlift(&mut self, call: u32) {
        let ret = self.return_node[self.node_op[call as usize] as usize];
        self.relink(ret);
        self.relink(call);
    }

    fn unlink(&mut self, node: u32) {
        let (p, n) = (self.prev[node as usize], self.next[node as usize]);
        self.next[p as usize] = n;
        if n != NIL {
            self.prev[n as usize] = p;
        }
    }

    fn relink(&mut self, node: u32) {
        let (p, n) = (self.prev[node as usize], self.next[node as usize]);
        self.next[p as usize] = node;
        if n != NIL {
            self.prev[n as usize] = node;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{pair_operations, parse_events, Operation};

    const UNLIMITED: Budget = Budget {
        deadline: None,
        memo_limit_bytes: usize::MAX,
    };

    fn explore(history: &str) -> (Found, usize) {
        let ops: Vec<Operation> = pair_operations(&parse_events(history).unwrap()).unwrap();
        let refs: Vec<&Operation> = ops.iter().collect();
        search_with_stats(&Problem::new(&refs, usize::MAX), &UNLIMITED)
    }

    #[test]
    fn concurrent_reads_are_placed_without_branching() {
        // A write, then 20 overlapping reads of its value: without forcing, every subset of
        // the reads would be a configuration of its own.
        let mut history = String::from(
            "{:type :invoke, :f :write, :value 1, :process 99}\n\
             {:type :ok, :f :write, :value 1, :process 99}\n",
        );
        for p in 0..20 {
            history += &format!("{{:type :invoke, :f :read, :value nil, :process {p}}}\n");
        }
        for p in 0..20 {
            history += &format!("{{:type :ok, :f :read, :value 1, :process {p}}}\n");
        }
        let (found, stored) = explore(&history);
        assert!(matches!(found, Found::Linearization(ref order) if order.len() == 21));
        assert_eq!(stored, 21, "one configuration per placement");
    }

    #[test]
    fn a_write_that_hides_a_needed_value_is_not_placed() {
        // Write 2 overlaps a read of 1 that completes last; placing write 2 first would leave
        // that read unplaceable, and the search must not wander down that path.
        let (found, stored) = explore(
            "\
{:type :invoke, :f :write, :value 1, :process 0}
{:type :ok, :f :write, :value 1, :process 0}
{:type :invoke, :f :write, :value 2, :process 1}
{:type :invoke, :f :read, :value nil, :process 2}
{:type :ok, :f :write, :value 2, :process 1}
{:type :ok, :f :read, :value 1, :process 2}",
        );
        assert!(matches!(found, Found::Linearization(_)));
        assert_eq!(stored, 3, "write 1, read 1, write 2: no dead end stored");
    }

    #[test]
    fn a_value_nobody_writes_refutes_at_once() {
        let (found, stored) = explore(
            "\
{:type :invoke, :f :write, :value 1, :process 0}
{:type :ok, :f :write, :value 1, :process 0}
{:type :invoke, :f :read, :value nil, :process 1}
{:type :ok, :f :read, :value 9, :process 1}",
        );
        assert_eq!(found, Found::None);
        assert_eq!(stored, 0);
    }

    #[test]
    fn an_exhausted_budget_is_reported() {
        let history = "{:type :invoke, :f :write, :value 1, :process 0}\n\
                       {:type :ok, :f :write, :value 1, :process 0}";
        let ops: Vec<Operation> = pair_operations(&parse_events(history).unwrap()).unwrap();
        let refs: Vec<&Operation> = ops.iter().collect();
        let problem = Problem::new(&refs, usize::MAX);
        let expired = Budget {
            deadline: Some((Instant::now(), Duration::ZERO)),
            memo_limit_bytes: usize::MAX,
        };
        assert_eq!(
            search(&problem, &expired),
            Found::Incomplete(Incomplete::Timeout(Duration::ZERO))
        );
        // The memo is looked at every `BUDGET_CHECK_INTERVAL` steps, so give it more work.
        let long: String = (0..2 * BUDGET_CHECK_INTERVAL)
            .map(|v| {
                format!(
                    "{{:type :invoke, :f :write, :value {v}, :process 0}}\n\
                     {{:type :ok, :f :write, :value {v}, :process 0}}\n"
                )
            })
            .collect();
        let ops: Vec<Operation> = pair_operations(&parse_events(&long).unwrap()).unwrap();
        let refs: Vec<&Operation> = ops.iter().collect();
        let tiny = Budget {
            deadline: None,
            memo_limit_bytes: 0,
        };
        assert!(matches!(
            search(&Problem::new(&refs, usize::MAX), &tiny),
            Found::Incomplete(Incomplete::MemoLimit(0))
        ));
    }
}
