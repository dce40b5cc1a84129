//! The checker against a brute-force reference on thousands of small random histories.
//!
//! The reference is the definition, written as plainly as possible: try every order of every
//! subset of the operations that respects real time, with no memo and no pruning. Histories
//! use a tiny value domain and every outcome (`:ok`, `:fail`, `:info`, never completed), so
//! both verdicts are common. The smallest non-linearizable prefix is compared too.

use lin_test::history::{Action, Datum, Event, EventType, OpFn, Operation, Outcome, Payload};
use lin_test::model::{step, RegisterOp};
use lin_test::{check_operations, pair_operations, CheckOptions, Verdict};

/// SplitMix64, so the test needs no dependency and every case is reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }

    fn value(&mut self) -> Option<Datum> {
        match self.below(3) {
            0 => None,
            n => Some(Datum::Int(n as i64)),
        }
    }
}

/// A random single-register history of about `len` operations by 3 processes.
fn random_history(seed: u64, len: usize) -> Vec<Event> {
    let mut rng = Rng(seed);
    let mut events = Vec::new();
    // Per process: the invoked (f, value) still outstanding.
    let mut open: [Option<(OpFn, Payload)>; 3] = [None, None, None];
    let mut process_ids = [0i64, 1, 2];
    let mut invoked = 0;
    let push = |events: &mut Vec<Event>, kind, f, value, process| {
        let index = events.len() as i64;
        events.push(Event {
            kind,
            f,
            key: None,
            value,
            process,
            time: index,
            index,
        });
    };
    while invoked < len || open.iter().any(Option::is_some) {
        let p = rng.below(3) as usize;
        match open[p].take() {
            None if invoked < len => {
                let (f, value) = match rng.below(4) {
                    0 => (OpFn::Read, Payload::Value(None)),
                    1 => (OpFn::Write, Payload::Value(rng.value())),
                    2 => (
                        OpFn::Cas,
                        Payload::Cas {
                            expected: rng.value(),
                            new: rng.value(),
                        },
                    ),
                    _ => (OpFn::Delete, Payload::Value(None)),
                };
                push(
                    &mut events,
                    EventType::Invoke,
                    f,
                    value.clone(),
                    process_ids[p],
                );
                open[p] = Some((f, value));
                invoked += 1;
            }
            None => {}
            Some((f, value)) => {
                let roll = rng.below(20);
                if roll == 0 && invoked >= len {
                    // Leave it open for good.
                    continue;
                }
                let kind = match roll {
                    0..=12 => EventType::Ok,
                    13..=15 => EventType::Fail,
                    _ => EventType::Info,
                };
                let value = match (kind, f) {
                    (EventType::Ok, OpFn::Read) => Payload::Value(rng.value()),
                    _ => value,
                };
                push(&mut events, kind, f, value, process_ids[p]);
                if kind == EventType::Info {
                    process_ids[p] += 3;
                }
            }
        }
    }
    events
}

/// The prefix-truncated view of one operation for the reference: `None` if it drops out.
struct RefOp {
    model: RegisterOp<Datum>,
    required: bool,
    invoke: usize,
    /// +infinity (`usize::MAX`) unless required.
    complete: usize,
}

fn reference_ops(ops: &[Operation], cut: usize) -> Vec<RefOp> {
    let mut out = Vec::new();
    for op in ops.iter().filter(|op| op.invoke.position < cut) {
        let done = op.completion.filter(|c| c.position < cut);
        let is_read = matches!(op.action, Action::Read(_));
        let required = match (done, op.outcome) {
            (Some(_), Outcome::Ok) => true,
            (Some(_), Outcome::Fail) => continue,
            _ if is_read => continue,
            _ => false,
        };
        out.push(RefOp {
            model: RegisterOp::from_action(&op.action),
            required,
            invoke: op.invoke.position,
            complete: if required {
                done.map_or(usize::MAX, |c| c.position)
            } else {
                usize::MAX
            },
        });
    }
    out
}

/// Is there an order of some of `ops` (all required ones) that respects real time and the
/// register? Plain recursion over every choice of next operation.
fn reference_linearizable(ops: &[RefOp]) -> bool {
    fn go(ops: &[RefOp], placed: &mut Vec<bool>, state: &Option<Datum>) -> bool {
        if (0..ops.len()).all(|i| placed[i] || !ops[i].required) {
            return true;
        }
        for x in 0..ops.len() {
            if placed[x] {
                continue;
            }
            // X may go next only if no unplaced operation had to precede it in real time.
            let blocked =
                (0..ops.len()).any(|y| y != x && !placed[y] && ops[y].complete < ops[x].invoke);
            if blocked {
                continue;
            }
            if let Some(next) = step(state, &ops[x].model) {
                placed[x] = true;
                let found = go(ops, placed, &next);
                placed[x] = false;
                if found {
                    return true;
                }
            }
        }
        false
    }
    go(ops, &mut vec![false; ops.len()], &None)
}

/// The position of the completion ending the smallest non-linearizable prefix, found by
/// trying every prefix in turn.
fn reference_smallest_prefix_end(ops: &[Operation], events: usize) -> Option<usize> {
    (0..events).find(|&p| !reference_linearizable(&reference_ops(ops, p + 1)))
}

#[test]
fn checker_agrees_with_brute_force_on_random_histories() {
    let (mut linearizable, mut not) = (0, 0);
    for seed in 0..4000u64 {
        let len = 2 + (seed % 8) as usize;
        let events = random_history(seed, len);
        let ops = pair_operations(&events).expect("random histories pair up");
        let expected = reference_linearizable(&reference_ops(&ops, usize::MAX));
        let reports = check_operations(&ops, &CheckOptions::default());
        let verdict = reports
            .first()
            .map_or(Verdict::Linearizable, |r| r.verdict.clone());
        let history: String = events.iter().map(|e| format!("{e}\n")).collect();
        match verdict {
            Verdict::Linearizable => {
                assert!(
                    expected,
                    "seed {seed}: checker says linearizable\n{history}"
                );
                linearizable += 1;
            }
            Verdict::NotLinearizable(cex) => {
                assert!(
                    !expected,
                    "seed {seed}: checker says not linearizable\n{history}"
                );
                let end = reference_smallest_prefix_end(&ops, events.len());
                assert_eq!(
                    cex.stuck.completion.map(|c| c.position),
                    end,
                    "seed {seed}: smallest prefix differs\n{history}\n{cex}"
                );
                assert!(cex.minimal);
                not += 1;
            }
            Verdict::Unknown(why) => panic!("seed {seed}: {why}"),
        }
    }
    // Both verdicts must be well represented for the comparison to mean anything.
    eprintln!("{linearizable} vs {not}");
    assert!(linearizable > 500 && not > 500, "{linearizable} vs {not}");
}
