//! Random linearizable histories, for tests and benchmarks of the checker.
//!
//! A simulation of clients on a multi-key register store: each logical client runs one
//! operation at a time, and a scheduler picks a random client at every step to move its
//! operation one phase on: invoke, take effect on the simulated store, complete. Every
//! operation therefore takes effect at a random point inside its own interval while others
//! overlap it, so the history is linearizable by construction. Some operations time out
//! (`:info`), before or after taking effect; the client then continues as a new Jepsen
//! process, as Jepsen does. Written values are unique.

use crate::history::{Datum, Event, EventType, OpFn, Payload};

/// Shape of a generated history.
#[derive(Debug, Clone)]
pub struct GeneratorConfig {
    /// Number of keys (named `0..keys`).
    pub keys: usize,
    /// Number of concurrent logical clients.
    pub processes: usize,
    /// Number of operations invoked.
    pub operations: usize,
    /// Chance, in thousandths, that an operation times out and completes `:info`.
    pub info_per_mille: u32,
    /// Seed of the pseudo-random choices; the same config yields the same history.
    pub seed: u64,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            keys: 4,
            processes: 5,
            operations: 200,
            info_per_mille: 20,
            seed: 0,
        }
    }
}

/// An operation in flight, as the simulated client sees it.
#[derive(Clone)]
struct Pending {
    f: OpFn,
    key: i64,
    value: Payload,
    /// Set once the operation has taken effect: its `:ok`/`:fail` completion.
    outcome: Option<(EventType, Payload)>,
    /// Whether the client will give up on it (`:info`).
    times_out: bool,
}

/// Generates a linearizable multi-key history (`:value [k ...]` shape).
pub fn linearizable_history(config: &GeneratorConfig) -> Vec<Event> {
    let mut rng = Rng(config.seed);
    let keys = config.keys.max(1);
    let clients = config.processes.max(1);
    let mut store: Vec<Option<i64>> = vec![None; keys];
    let mut written: Vec<Vec<i64>> = vec![Vec::new(); keys];
    let mut next_value = 1_i64;
    let mut process: Vec<i64> = (0..clients as i64).collect();
    let mut pending: Vec<Option<Pending>> = vec![None; clients];
    let mut invoked = 0;
    let mut in_flight = 0;
    let mut events: Vec<Event> = Vec::with_capacity(config.operations * 2);
    while invoked < config.operations || in_flight > 0 {
        let c = rng.below(clients);
        match pending[c].take() {
            None if invoked < config.operations => {
                let key = rng.below(keys) as i64;
                let (f, value) = match rng.below(100) {
                    0..=39 => (OpFn::Read, Payload::Value(None)),
                    40..=64 => {
                        next_value += 1;
                        (OpFn::Write, Payload::Value(Some(Datum::Int(next_value))))
                    }
                    65..=89 => {
                        next_value += 1;
                        let k = key as usize;
                        // Expect the current value half the time, else an older one, so that
                        // both outcomes of cas are common.
                        let expected = if rng.below(2) == 0 || written[k].is_empty() {
                            store[k]
                        } else {
                            Some(written[k][rng.below(written[k].len())])
                        };
                        let payload = Payload::Cas {
                            expected: expected.map(Datum::Int),
                            new: Some(Datum::Int(next_value)),
                        };
                        (OpFn::Cas, payload)
                    }
                    _ => (OpFn::Delete, Payload::Value(None)),
                };
                emit(
                    &mut events,
                    EventType::Invoke,
                    f,
                    key,
                    value.clone(),
                    process[c],
                );
                let times_out = rng.below(1000) < config.info_per_mille as usize;
                pending[c] = Some(Pending {
                    f,
                    key,
                    value,
                    outcome: None,
                    times_out,
                });
                invoked += 1;
                in_flight += 1;
            }
            None => {}
            Some(mut op) => {
                let gives_up_now = op.times_out && op.outcome.is_none() && rng.below(2) == 0;
                if op.outcome.is_none() && !gives_up_now {
                    // The effect point: apply to the store.
                    let k = op.key as usize;
                    op.outcome = Some(match (&op.f, &op.value) {
                        (OpFn::Read, _) => {
                            (EventType::Ok, Payload::Value(store[k].map(Datum::Int)))
                        }
                        (OpFn::Write, Payload::Value(Some(Datum::Int(v)))) => {
                            store[k] = Some(*v);
                            written[k].push(*v);
                            (EventType::Ok, op.value.clone())
                        }
                        (OpFn::Cas, Payload::Cas { expected, new }) => {
                            let expected = expected.as_ref().and_then(as_int);
                            if store[k] == expected {
                                store[k] = new.as_ref().and_then(as_int);
                                written[k].extend(store[k]);
                                (EventType::Ok, op.value.clone())
                            } else {
                                (EventType::Fail, op.value.clone())
                            }
                        }
                        _ => {
                            store[k] = None;
                            (EventType::Ok, Payload::Value(None))
                        }
                    });
                    pending[c] = Some(op);
                    continue;
                }
                let (kind, value) = match (op.times_out, op.outcome) {
                    (false, Some(outcome)) => outcome,
                    _ => (EventType::Info, op.value.clone()),
                };
                emit(&mut events, kind, op.f, op.key, value, process[c]);
                if kind == EventType::Info {
                    // Jepsen retires a process whose operation is indeterminate.
                    process[c] += clients as i64;
                }
                in_flight -= 1;
            }
        }
    }
    events
}

/// Appends an event of the multi-key shape, numbering it by its position.
fn emit(events: &mut Vec<Event>, kind: EventType, f: OpFn, key: i64, value: Payload, process: i64) {
    let index = events.len() as i64;
    events.push(Event {
        kind,
        f,
        key: Some(Datum::Int(key)),
        value,
        process,
        // Nanosecond-like timestamps that grow with the event index.
        time: index * 1_000 + (index % 7) * 13,
        index,
    });
}

/// Changes the value returned by one `:ok` read (chosen by `seed`) to one no operation ever
/// wrote, which makes any history non-linearizable; returns the position of the changed event,
/// or `None` if the history has no `:ok` read.
pub fn corrupt_a_read(events: &mut [Event], seed: u64) -> Option<usize> {
    let reads: Vec<usize> = (0..events.len())
        .filter(|&i| events[i].kind == EventType::Ok && events[i].f == OpFn::Read)
        .collect();
    if reads.is_empty() {
        return None;
    }
    let mut rng = Rng(seed);
    let at = reads[rng.below(reads.len())];
    // Generated values are positive, so a negative one was never written.
    events[at].value = Payload::Value(Some(Datum::Int(-1)));
    Some(at)
}

fn as_int(d: &Datum) -> Option<i64> {
    match d {
        Datum::Int(n) => Some(*n),
        Datum::Str(_) => None,
    }
}

/// A SplitMix64 pseudo-random generator: tiny, seedable and good enough for simulations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`); the modulo bias is irrelevant here.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{pair_operations, Outcome};

    #[test]
    fn generates_a_well_formed_history_of_the_requested_size() {
        let config = GeneratorConfig {
            keys: 3,
            processes: 6,
            operations: 500,
            info_per_mille: 50,
            seed: 7,
        };
        let events = linearizable_history(&config);
        let ops = pair_operations(&events).unwrap();
        assert_eq!(ops.len(), 500);
        assert!(ops.iter().all(|op| op.completion.is_some()));
        assert!(ops.iter().any(|op| op.outcome == Outcome::Info));
        assert!(ops.iter().any(|op| op.outcome == Outcome::Fail));
        assert_eq!(
            events,
            linearizable_history(&config),
            "deterministic per seed"
        );
    }

    #[test]
    fn corrupting_changes_one_ok_read() {
        let mut events = linearizable_history(&GeneratorConfig::default());
        let original = events.clone();
        let at = corrupt_a_read(&mut events, 1).unwrap();
        assert_eq!(events[at].f, OpFn::Read);
        assert_ne!(events[at], original[at]);
        let changed = (0..events.len())
            .filter(|&i| events[i] != original[i])
            .count();
        assert_eq!(changed, 1);
    }
}
