//! An Elle-style checker for list-append transaction histories (pure, no I/O).
//!
//! Every append writes a value unique to its key, and a read returns the whole list, so a read
//! tells exactly which appends came before it and in what order. From that:
//!
//! 1. **Version order per key**: the longest list read; every other list read must be a prefix
//!    of it, or the store showed two incompatible orders (`incompatible-order`).
//! 2. **Non-cycle anomalies**: a read of a value appended by a `:fail` transaction (G1a,
//!    aborted read), a read whose last element was not the appender's last append to that key
//!    (G1b, intermediate read), the same element twice in a list (`duplicate-elements`), an
//!    element nobody appended (`garbage-read`), a transaction whose read disagrees with its own
//!    earlier read and appends (`internal`), and, for strict serializability, an `:ok` append
//!    missing from a read that began after the append's transaction completed
//!    (`lost-append`, a realtime anomaly).
//! 3. **Dependency graph** over the transactions that took effect (`:ok`, and `:info` ones
//!    whose appends were seen): `ww` (appender of version i to appender of version i+1),
//!    `wr` (appender of a read's last element to the reader), `rw` (a reader to the appender
//!    of the next version after what it read), and `rt` (T1 completed before T2 was invoked,
//!    kept small by linking each invocation only to the frontier of latest completions).
//! 4. **Cycles**: strongly connected components (Tarjan), then in each the weakest concrete
//!    cycle: G0 (ww only), G1c (ww and wr), G-single (exactly one rw), G2 (any), and the same
//!    with realtime edges (`G0-realtime`, ...) when a cycle needs one.
//!
//! `:info` transactions may or may not have happened: their appends may show up (and then
//! count), their reads are unknown. `:fail` transactions did not happen. Any non-realtime
//! anomaly means "not serializable"; realtime-only ones mean "serializable, not strict".

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::time::{Duration, Instant};

use super::Tally;
use crate::history::Outcome;
use crate::txn_history::{Mop, Txn};

/// Examples kept per anomaly kind (all are counted).
const EXAMPLES_PER_KIND: usize = 3;
/// `rw` edges tried per component when looking for a G-single cycle.
const MAX_RW_TRIES: usize = 400;

/// Edge types (bit flags).
const WW: u8 = 1;
const WR: u8 = 2;
const RW: u8 = 4;
const RT: u8 = 8;

/// The kinds of anomaly the checker reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AnomalyKind {
    /// A cycle of write-write dependencies.
    G0,
    /// A cycle of write-write and write-read dependencies.
    G1c,
    /// A cycle with exactly one read-write anti-dependency.
    GSingle,
    /// A cycle with several anti-dependencies.
    G2,
    /// G0 once realtime order is added.
    G0Realtime,
    /// G1c once realtime order is added.
    G1cRealtime,
    /// G-single once realtime order is added.
    GSingleRealtime,
    /// G2 once realtime order is added.
    G2Realtime,
    /// A value appended by a failed transaction was read.
    G1a,
    /// A read saw a transaction's intermediate state of a key.
    G1b,
    /// A transaction's read disagrees with its own earlier read and appends.
    Internal,
    /// A list read holds an element twice.
    DuplicateElements,
    /// Two lists read from one key are not prefixes of one another.
    IncompatibleOrder,
    /// A list read holds an element no transaction appended.
    GarbageRead,
    /// Two transactions appended the same element to one key (the history is unusable there).
    DuplicateAppends,
    /// An acknowledged append missing from a read that started after it completed.
    LostAppend,
}

impl AnomalyKind {
    /// Whether the anomaly only violates strict (realtime) serializability.
    pub fn realtime_only(self) -> bool {
        matches!(
            self,
            AnomalyKind::G0Realtime
                | AnomalyKind::G1cRealtime
                | AnomalyKind::GSingleRealtime
                | AnomalyKind::G2Realtime
                | AnomalyKind::LostAppend
        )
    }

    /// Elle's name.
    pub fn name(self) -> &'static str {
        match self {
            AnomalyKind::G0 => "G0",
            AnomalyKind::G1c => "G1c",
            AnomalyKind::GSingle => "G-single",
            AnomalyKind::G2 => "G2",
            AnomalyKind::G0Realtime => "G0-realtime",
            AnomalyKind::G1cRealtime => "G1c-realtime",
            AnomalyKind::GSingleRealtime => "G-single-realtime",
            AnomalyKind::G2Realtime => "G2-realtime",
            AnomalyKind::G1a => "G1a",
            AnomalyKind::G1b => "G1b",
            AnomalyKind::Internal => "internal",
            AnomalyKind::DuplicateElements => "duplicate-elements",
            AnomalyKind::IncompatibleOrder => "incompatible-order",
            AnomalyKind::GarbageRead => "garbage-read",
            AnomalyKind::DuplicateAppends => "duplicate-appends",
            AnomalyKind::LostAppend => "lost-append",
        }
    }
}

impl fmt::Display for AnomalyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One dependency in a reported cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The transaction the edge leaves.
    pub from: Txn,
    /// `ww`, `wr`, `rw` or `rt`.
    pub edge: &'static str,
    /// The key that made the edge (`None` for realtime).
    pub key: Option<i64>,
}

/// One anomaly found, with the transactions that show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anomaly {
    /// What kind.
    pub kind: AnomalyKind,
    /// One line of explanation.
    pub explanation: String,
    /// The transactions involved (for cycles: every step of the cycle, in order, the last
    /// edge leading back to the first transaction).
    pub txns: Vec<Txn>,
    /// For cycles: the edges, `cycle[i]` leaving `txns[i]`.
    pub cycle: Vec<Step>,
}

/// The checker's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxnVerdict {
    /// No anomaly at all.
    StrictSerializable,
    /// Only realtime anomalies: some serial order explains every read, but not one that
    /// respects realtime.
    SerializableNotStrict,
    /// Some anomaly rules out every serial order.
    NotSerializable,
}

/// What the checker found.
#[derive(Debug, Clone)]
pub struct AppendReport {
    /// Transactions by outcome: `[ok, fail, info]` (never-completed ones count as info).
    pub outcomes: [usize; 3],
    /// Keys read or appended.
    pub keys: usize,
    /// Dependency edges by type: `[ww, wr, rw, rt]`.
    pub edges: [usize; 4],
    /// Non-trivial strongly connected components of the dependency graph.
    pub cycles: usize,
    /// How many anomalies of each kind (sorted by kind).
    pub counts: Vec<(AnomalyKind, usize)>,
    /// Up to a few examples per kind.
    pub anomalies: Vec<Anomaly>,
    /// The verdict.
    pub verdict: TxnVerdict,
    /// Time spent checking.
    pub elapsed: Duration,
}

impl AppendReport {
    /// Whether an anomaly of this kind was found.
    pub fn has(&self, kind: AnomalyKind) -> bool {
        self.counts.iter().any(|(k, n)| *k == kind && *n > 0)
    }

    /// `G-single x3, G1c x1` (empty when there is none).
    pub fn anomaly_list(&self) -> String {
        self.counts
            .iter()
            .map(|(k, n)| format!("{k} x{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Collects anomalies: counts all, keeps a few examples per kind.
struct Found(Tally<AnomalyKind, Anomaly>);

impl Found {
    fn add(&mut self, kind: AnomalyKind, explanation: String, txns: Vec<Txn>, cycle: Vec<Step>) {
        self.0.add(kind, || Anomaly {
            kind,
            explanation,
            txns,
            cycle,
        });
    }
}

/// An edge's types and, per type, the key that made it.
#[derive(Clone, Copy, Default)]
struct EdgeInfo {
    mask: u8,
    keys: [i64; 4],
}

struct Graph {
    /// Successors with their edge info, per node.
    adj: Vec<Vec<(usize, EdgeInfo)>>,
}

fn bit_index(bit: u8) -> usize {
    bit.trailing_zeros() as usize
}

/// Checks a list-append history for strict serializability.
pub fn check_append(txns: &[Txn]) -> AppendReport {
    let started = Instant::now();
    let mut found = Found(Tally::new(EXAMPLES_PER_KIND));
    let mut outcomes = [0usize; 3];
    for t in txns {
        outcomes[match t.outcome {
            Outcome::Ok => 0,
            Outcome::Fail => 1,
            Outcome::Info => 2,
        }] += 1;
    }
    let node = |i: usize| txns[i].outcome != Outcome::Fail;

    // Who appended what.
    let mut appender: HashMap<(i64, i64), usize> = HashMap::new();
    for (i, t) in txns.iter().enumerate() {
        for m in &t.mops {
            if let Mop::Append(k, v) = m {
                if let Some(&other) = appender.get(&(*k, *v)) {
                    if other != i {
                        found.add(
                            AnomalyKind::DuplicateAppends,
                            format!("element {v} appended to key {k} by two transactions"),
                            vec![txns[other].clone(), t.clone()],
                            Vec::new(),
                        );
                    }
                    continue;
                }
                appender.insert((*k, *v), i);
            }
        }
    }

    // Reads of committed transactions: (txn, key, list).
    let mut reads: Vec<(usize, i64, &[i64])> = Vec::new();
    let mut keys: Vec<i64> = appender.keys().map(|(k, _)| *k).collect();
    for (i, t) in txns.iter().enumerate() {
        for m in &t.mops {
            if let Mop::Read(k, list) = m {
                keys.push(*k);
                if t.outcome == Outcome::Ok {
                    reads.push((i, *k, list.as_deref().unwrap_or(&[])));
                }
            }
        }
        if t.outcome == Outcome::Ok {
            internal_consistency(t, &mut found);
        }
    }
    keys.sort_unstable();
    keys.dedup();

    // Version orders: the longest list read per key; the others must be its prefixes.
    let mut longest: HashMap<i64, &[i64]> = HashMap::new();
    for &(_, k, list) in &reads {
        let entry = longest.entry(k).or_insert(list);
        if list.len() > entry.len() {
            *entry = list;
        }
    }
    let mut compatible = vec![true; reads.len()];
    let mut reported_keys = std::collections::HashSet::new();
    for (r, &(i, k, list)) in reads.iter().enumerate() {
        let order = longest[&k];
        if !order.starts_with(list) {
            compatible[r] = false;
            if reported_keys.insert(k) {
                let other = reads
                    .iter()
                    .find(|(_, k2, l)| *k2 == k && *l == order)
                    .map(|(j, _, _)| txns[*j].clone());
                found.add(
                    AnomalyKind::IncompatibleOrder,
                    format!(
                        "key {k} read as {} and as {}: neither is a prefix of the other",
                        short(list),
                        short(order)
                    ),
                    std::iter::once(txns[i].clone()).chain(other).collect(),
                    Vec::new(),
                );
            }
        }
    }
    // Per-read checks. A compatible read is a prefix of its key's longest list, so checking
    // the elements of the longest list (once) covers it; incompatible reads are checked whole.
    let mut checked_longest = std::collections::HashSet::new();
    for (r, &(i, k, list)) in reads.iter().enumerate() {
        let whole =
            !compatible[r] || (list.len() == longest[&k].len() && checked_longest.insert(k));
        if !whole {
            if let Some(&last) = list.last() {
                g1b(txns, &appender, i, k, list, last, &mut found);
            }
            continue;
        }
        let mut seen = std::collections::HashSet::new();
        for &e in list {
            if !seen.insert(e) {
                found.add(
                    AnomalyKind::DuplicateElements,
                    format!("key {k} read as {}: {e} appears twice", short(list)),
                    vec![txns[i].clone()],
                    Vec::new(),
                );
                break;
            }
        }
        for &e in list {
            match appender.get(&(k, e)) {
                None => found.add(
                    AnomalyKind::GarbageRead,
                    format!("key {k} read as {}: nobody appended {e}", short(list)),
                    vec![txns[i].clone()],
                    Vec::new(),
                ),
                Some(&a) if txns[a].outcome == Outcome::Fail => found.add(
                    AnomalyKind::G1a,
                    format!(
                        "key {k} read as {}: {e} was appended by a failed transaction",
                        short(list)
                    ),
                    vec![txns[i].clone(), txns[a].clone()],
                    Vec::new(),
                ),
                Some(_) => {}
            }
        }
        if let Some(&last) = list.last() {
            g1b(txns, &appender, i, k, list, last, &mut found);
        }
    }

    let position: HashMap<(i64, i64), usize> = longest
        .iter()
        .flat_map(|(&k, order)| order.iter().enumerate().map(move |(p, &v)| ((k, v), p)))
        .collect();

    // Lost appends: an :ok append missing from a read invoked after its txn completed.
    lost_appends(txns, &reads, &compatible, &position, &mut found);

    // The dependency graph.
    let mut edges: HashMap<(usize, usize), EdgeInfo> = HashMap::new();
    let mut add = |a: usize, b: usize, bit: u8, key: i64| {
        if a == b || !node(a) || !node(b) {
            return;
        }
        let e = edges.entry((a, b)).or_default();
        if e.mask & bit == 0 {
            e.mask |= bit;
            e.keys[bit_index(bit)] = key;
        }
    };
    for (&k, order) in &longest {
        for pair in order.windows(2) {
            if let (Some(&a), Some(&b)) = (appender.get(&(k, pair[0])), appender.get(&(k, pair[1])))
            {
                add(a, b, WW, k);
            }
        }
    }
    for (r, &(i, k, list)) in reads.iter().enumerate() {
        if !compatible[r] {
            continue;
        }
        if let Some(&a) = list.last().and_then(|last| appender.get(&(k, *last))) {
            add(a, i, WR, k);
        }
        if let Some(&b) = longest[&k]
            .get(list.len())
            .and_then(|next| appender.get(&(k, *next)))
        {
            add(i, b, RW, k);
        }
    }
    realtime_edges(txns, &mut add);
    let mut counts = [0usize; 4];
    let mut adj: Vec<Vec<(usize, EdgeInfo)>> = vec![Vec::new(); txns.len()];
    let mut sorted: Vec<((usize, usize), EdgeInfo)> = edges.into_iter().collect();
    sorted.sort_unstable_by_key(|(ab, _)| *ab);
    for ((a, b), info) in sorted {
        for (bit, count) in [WW, WR, RW, RT].into_iter().zip(counts.iter_mut()) {
            if info.mask & bit != 0 {
                *count += 1;
            }
        }
        adj[a].push((b, info));
    }
    let graph = Graph { adj };

    // Cycles.
    let everyone = vec![true; txns.len()];
    let all: Vec<usize> = (0..txns.len()).collect();
    let sccs = tarjan(&graph, RT | WW | WR | RW, &everyone, &all);
    let mut member = vec![false; txns.len()];
    for scc in &sccs {
        explain_scc(&graph, scc, &mut member, txns, &mut found);
    }

    let counts_by_kind: Vec<(AnomalyKind, usize)> = found.0.counts.into_iter().collect();
    let verdict = if counts_by_kind.is_empty() {
        TxnVerdict::StrictSerializable
    } else if counts_by_kind.iter().all(|(k, _)| k.realtime_only()) {
        TxnVerdict::SerializableNotStrict
    } else {
        TxnVerdict::NotSerializable
    };
    let mut anomalies = found.0.examples;
    anomalies.sort_by_key(|a| a.kind);
    AppendReport {
        outcomes,
        keys: keys.len(),
        edges: counts,
        cycles: sccs.len(),
        counts: counts_by_kind,
        anomalies,
        verdict,
        elapsed: started.elapsed(),
    }
}

/// A list for messages: whole when short, else its length and last elements.
fn short(list: &[i64]) -> String {
    const SHOWN: usize = 8;
    let tail = &list[list.len().saturating_sub(SHOWN)..];
    let items: Vec<String> = tail.iter().map(i64::to_string).collect();
    if tail.len() == list.len() {
        format!("[{}]", items.join(" "))
    } else {
        format!("[... {}] ({} elements)", items.join(" "), list.len())
    }
}

/// G1b: `list`'s last element was not its appender's last append to `k`.
fn g1b(
    txns: &[Txn],
    appender: &HashMap<(i64, i64), usize>,
    reader: usize,
    k: i64,
    list: &[i64],
    last: i64,
    found: &mut Found,
) {
    let Some(&a) = appender.get(&(k, last)) else {
        return;
    };
    let later = txns[a]
        .mops
        .iter()
        .skip_while(|m| **m != Mop::Append(k, last))
        .skip(1)
        .any(|m| matches!(m, Mop::Append(k2, _) if *k2 == k));
    if a != reader && later {
        found.add(
            AnomalyKind::G1b,
            format!(
                "key {k} read as {}: {last} was not the last append of its transaction to key {k}",
                short(list)
            ),
            vec![txns[reader].clone(), txns[a].clone()],
            Vec::new(),
        );
    }
}

/// A committed transaction's reads must agree with its own earlier reads and appends.
fn internal_consistency(t: &Txn, found: &mut Found) {
    // Per key: the list last read (if any) and the appends since.
    let mut state: HashMap<i64, (Option<Vec<i64>>, Vec<i64>)> = HashMap::new();
    for m in &t.mops {
        match m {
            Mop::Append(k, v) => state.entry(*k).or_default().1.push(*v),
            Mop::Read(k, list) => {
                let list = list.clone().unwrap_or_default();
                let (known, own) = state.entry(*k).or_default();
                let ok = match known {
                    Some(before) => {
                        list.len() == before.len() + own.len()
                            && list.starts_with(before)
                            && list.ends_with(own)
                    }
                    None => list.ends_with(own),
                };
                if !ok {
                    let expected = match known {
                        Some(before) => short(&[before.as_slice(), own].concat()),
                        None => format!("a list ending with {}", short(own)),
                    };
                    found.add(
                        AnomalyKind::Internal,
                        format!("key {k} read as {}, but the transaction's own operations imply {expected}", short(&list)),
                        vec![t.clone()],
                        Vec::new(),
                    );
                }
                *known = Some(list);
                own.clear();
            }
        }
    }
}

fn lost_appends(
    txns: &[Txn],
    reads: &[(usize, i64, &[i64])],
    compatible: &[bool],
    position: &HashMap<(i64, i64), usize>,
    found: &mut Found,
) {
    // Per key: compatible reads by invocation position, with the suffix minimum of lengths.
    let mut by_key: HashMap<i64, Vec<(usize, usize, usize)>> = HashMap::new();
    for (r, &(i, k, list)) in reads.iter().enumerate() {
        if compatible[r] {
            by_key
                .entry(k)
                .or_default()
                .push((txns[i].invoke.position, list.len(), i));
        }
    }
    let mut suffix_min: HashMap<i64, Vec<(usize, usize)>> = HashMap::new();
    for (k, list) in &mut by_key {
        list.sort_unstable();
        let mut mins = vec![(usize::MAX, usize::MAX); list.len() + 1];
        for j in (0..list.len()).rev() {
            mins[j] = mins[j + 1].min((list[j].1, list[j].2));
        }
        suffix_min.insert(*k, mins);
    }
    for (w, t) in txns.iter().enumerate() {
        let (Outcome::Ok, Some(done)) = (t.outcome, t.completion) else {
            continue;
        };
        for m in &t.mops {
            let Mop::Append(k, v) = m else { continue };
            let Some(list) = by_key.get(k) else { continue };
            let start = list.partition_point(|(invoked, _, _)| *invoked <= done.position);
            let (shortest, reader) = suffix_min[k][start];
            if reader == usize::MAX || reader == w {
                continue;
            }
            let needed = position.get(&(*k, *v)).map_or(usize::MAX, |p| p + 1);
            if shortest < needed {
                found.add(
                    AnomalyKind::LostAppend,
                    format!("the append of {v} to key {k} was acknowledged, yet a read of key {k} invoked later did not see it"),
                    vec![t.clone(), txns[reader].clone()],
                    Vec::new(),
                );
            }
        }
    }
}

/// Realtime edges to each invocation from the frontier of latest completions (transitively
/// equivalent to every "completed before invoked" pair).
fn realtime_edges(txns: &[Txn], add: &mut impl FnMut(usize, usize, u8, i64)) {
    let mut events: Vec<(usize, bool, usize)> = Vec::new();
    for (i, t) in txns.iter().enumerate() {
        if t.outcome == Outcome::Fail {
            continue;
        }
        events.push((t.invoke.position, false, i));
        if let (Outcome::Ok, Some(c)) = (t.outcome, t.completion) {
            events.push((c.position, true, i));
        }
    }
    events.sort_unstable();
    let mut frontier: Vec<usize> = Vec::new();
    let mut preds: HashMap<usize, Vec<usize>> = HashMap::new();
    for (_, completes, i) in events {
        if completes {
            let before = preds.remove(&i).unwrap_or_default();
            frontier.retain(|f| !before.contains(f));
            frontier.push(i);
        } else {
            for &f in &frontier {
                add(f, i, RT, 0);
            }
            preds.insert(i, frontier.clone());
        }
    }
}

/// Strongly connected components (more than one node) of the subgraph of `member` nodes
/// and `mask` edges, searched from `roots` (every member node must be among them or
/// reachable from them); iterative Tarjan. Components come out largest first.
fn tarjan(graph: &Graph, mask: u8, member: &[bool], roots: &[usize]) -> Vec<Vec<usize>> {
    // Maps keep the cost proportional to the component, not to the whole graph.
    let mut index: HashMap<usize, usize> = HashMap::new();
    let mut low: HashMap<usize, usize> = HashMap::new();
    let mut on_stack: std::collections::HashSet<usize> = std::collections::HashSet::new();
    let mut stack = Vec::new();
    let mut out = Vec::new();
    for &root in roots {
        if !member[root] || index.contains_key(&root) {
            continue;
        }
        let mut work: Vec<(usize, usize)> = vec![(root, 0)];
        let next = index.len();
        index.insert(root, next);
        low.insert(root, next);
        stack.push(root);
        on_stack.insert(root);
        while let Some(&mut (v, ref mut at)) = work.last_mut() {
            let succ = &graph.adj[v];
            if *at < succ.len() {
                let (w, info) = succ[*at];
                *at += 1;
                if info.mask & mask == 0 || !member[w] {
                    continue;
                }
                match index.get(&w) {
                    None => {
                        let next = index.len();
                        index.insert(w, next);
                        low.insert(w, next);
                        stack.push(w);
                        on_stack.insert(w);
                        work.push((w, 0));
                    }
                    Some(&iw) if on_stack.contains(&w) => {
                        let lv = low[&v].min(iw);
                        low.insert(v, lv);
                    }
                    Some(_) => {}
                }
                continue;
            }
            work.pop();
            if let Some(&(parent, _)) = work.last() {
                let lp = low[&parent].min(low[&v]);
                low.insert(parent, lp);
            }
            if low[&v] == index[&v] {
                let mut scc = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack.remove(&w);
                    scc.push(w);
                    if w == v {
                        break;
                    }
                }
                if scc.len() > 1 {
                    scc.sort_unstable();
                    out.push(scc);
                }
            }
        }
    }
    out.sort_by_key(|scc| std::cmp::Reverse(scc.len()));
    out
}

/// A shortest path `from -> ... -> to` (at least one edge) over `mask` edges within `member`;
/// the nodes from `from` to `to` inclusive.
fn bfs_path(
    graph: &Graph,
    mask: u8,
    member: &[bool],
    from: usize,
    to: usize,
) -> Option<Vec<usize>> {
    let mut parent: HashMap<usize, usize> = HashMap::new();
    let mut queue = VecDeque::new();
    for &(w, info) in &graph.adj[from] {
        if info.mask & mask != 0 && member[w] && !parent.contains_key(&w) {
            parent.insert(w, from);
            queue.push_back(w);
        }
    }
    while let Some(v) = queue.pop_front() {
        if v == to {
            let mut path = vec![to];
            let mut at = to;
            loop {
                at = parent[&at];
                path.push(at);
                if at == from {
                    break;
                }
            }
            path.reverse();
            return Some(path);
        }
        for &(w, info) in &graph.adj[v] {
            if info.mask & mask != 0 && member[w] && !parent.contains_key(&w) {
                parent.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    None
}

fn edge(graph: &Graph, a: usize, b: usize) -> EdgeInfo {
    graph.adj[a]
        .iter()
        .find(|(w, _)| *w == b)
        .map_or_else(EdgeInfo::default, |(_, e)| *e)
}

/// Finds the weakest concrete cycle in one component and records it.
fn explain_scc(graph: &Graph, scc: &[usize], member: &mut [bool], txns: &[Txn], found: &mut Found) {
    for &v in scc {
        member[v] = true;
    }
    explain_members(graph, scc, member, txns, found);
    for &v in scc {
        member[v] = false;
    }
}

fn explain_members(graph: &Graph, scc: &[usize], member: &[bool], txns: &[Txn], found: &mut Found) {
    let classes: [(AnomalyKind, u8, bool); 8] = [
        (AnomalyKind::G0, WW, false),
        (AnomalyKind::G1c, WW | WR, false),
        (AnomalyKind::GSingle, WW | WR, true),
        (AnomalyKind::G2, WW | WR | RW, false),
        (AnomalyKind::G0Realtime, WW | RT, false),
        (AnomalyKind::G1cRealtime, WW | WR | RT, false),
        (AnomalyKind::GSingleRealtime, WW | WR | RT, true),
        (AnomalyKind::G2Realtime, WW | WR | RW | RT, false),
    ];
    for (kind, mask, one_rw) in classes {
        let cycle = if one_rw {
            let mut tries = 0;
            let mut result = None;
            'outer: for &a in scc {
                for &(b, info) in &graph.adj[a] {
                    if info.mask & RW == 0 || !member[b] {
                        continue;
                    }
                    tries += 1;
                    if tries > MAX_RW_TRIES {
                        break 'outer;
                    }
                    if let Some(path) = bfs_path(graph, mask, member, b, a) {
                        // a -rw-> b -> ... -> a
                        let mut nodes = vec![a];
                        nodes.extend(&path[..path.len() - 1]);
                        result = Some((nodes, Some(0)));
                        break 'outer;
                    }
                }
            }
            result
        } else {
            tarjan(graph, mask, member, scc).first().and_then(|sub| {
                let start = sub[0];
                bfs_path(graph, mask, member, start, start)
                    .map(|path| (path[..path.len() - 1].to_vec(), None))
            })
        };
        let Some((nodes, rw_at)) = cycle else {
            continue;
        };
        let mut steps = Vec::new();
        for (i, &a) in nodes.iter().enumerate() {
            let b = nodes[(i + 1) % nodes.len()];
            let info = edge(graph, a, b);
            let allowed = if rw_at == Some(i) { RW } else { mask };
            // Name the most telling type the class allows: ww, then wr, rw, rt.
            let bit = [WW, WR, RW, RT]
                .into_iter()
                .find(|bit| info.mask & allowed & bit != 0)
                .unwrap_or(RT);
            steps.push(Step {
                from: txns[a].clone(),
                edge: match bit {
                    WW => "ww",
                    WR => "wr",
                    RW => "rw",
                    _ => "rt",
                },
                key: (bit != RT).then_some(info.keys[bit_index(bit)]),
            });
        }
        found.add(
            kind,
            format!(
                "a cycle of {} transactions in a component of {}",
                nodes.len(),
                scc.len()
            ),
            nodes.iter().map(|&v| txns[v].clone()).collect(),
            steps,
        );
        return;
    }
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.explanation)?;
        if self.cycle.is_empty() {
            for t in &self.txns {
                write!(f, "\n    {t}")?;
            }
            return Ok(());
        }
        for step in &self.cycle {
            write!(f, "\n    {}", step.from)?;
            match step.key {
                Some(k) => write!(f, "\n      -{} (key {k})->", step.edge)?,
                None => write!(f, "\n      -{}->", step.edge)?,
            }
        }
        write!(f, " (back to the first)")
    }
}

impl fmt::Display for TxnVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TxnVerdict::StrictSerializable => "strict serializable",
            TxnVerdict::SerializableNotStrict => "serializable but NOT strict serializable",
            TxnVerdict::NotSerializable => "NOT serializable",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn_history::{pair_txns, parse_txn_events};

    fn check(text: &str) -> AppendReport {
        check_append(&pair_txns(&parse_txn_events(text).unwrap()).unwrap())
    }

    #[test]
    fn a_serial_history_is_strict_serializable() {
        let r = check(
            "\
{:type :invoke, :f :txn, :value [[:append 1 1] [:r 2 nil]], :process 0}
{:type :ok, :f :txn, :value [[:append 1 1] [:r 2 nil]], :process 0}
{:type :invoke, :f :txn, :value [[:r 1 nil] [:append 2 1] [:r 2 nil]], :process 1}
{:type :ok, :f :txn, :value [[:r 1 [1]] [:append 2 1] [:r 2 [1]]], :process 1}
{:type :invoke, :f :txn, :value [[:r 1 nil] [:r 2 nil]], :process 0}
{:type :ok, :f :txn, :value [[:r 1 [1]] [:r 2 [1]]], :process 0}",
        );
        assert_eq!(r.verdict, TxnVerdict::StrictSerializable, "{r:?}");
        assert_eq!(r.edges[1], 3, "three wr edges");
    }

    #[test]
    fn tarjan_finds_components() {
        let e = |b, mask| (b, EdgeInfo { mask, keys: [0; 4] });
        let graph = Graph {
            adj: vec![
                vec![e(1, WW)],
                vec![e(2, WW)],
                vec![e(0, RW)],
                vec![e(0, WW)],
            ],
        };
        let all = vec![true; 4];
        let roots = [0, 1, 2, 3];
        assert_eq!(tarjan(&graph, WW | RW, &all, &roots), vec![vec![0, 1, 2]]);
        assert!(tarjan(&graph, WW, &all, &roots).is_empty());
        assert_eq!(
            bfs_path(&graph, WW | RW, &all, 0, 0),
            Some(vec![0, 1, 2, 0])
        );
    }
}
