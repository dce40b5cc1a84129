//! `--workload txn`: Jepsen's etcd `append` workload adapted to DDBB.
//!
//! Each client runs transactions of 2 to 4 micro-operations over a few keys: reads
//! `[:r k nil]` and appends `[:append k v]` (values unique: one counter for every client, at
//! most one append per key per transaction). A key holds its list as space-separated decimal
//! numbers (`"3 8 11"`); an absent key is the empty list. As Jepsen's etcd client does, a
//! transaction with appends takes two `TXN`s, with optimistic concurrency:
//!
//! 1. **read phase**: `TXN THEN 4 RANGE k k\0 REVS ...`, one range per key touched, giving each
//!    key's current list and `mod_revision` (0 when absent);
//! 2. **commit**: `TXN IF MOD k = <rev> ... THEN ...`, one compare per key touched, then the
//!    micro-operations in order: `SET k <list with v appended>` for an append, `GET k` for a
//!    read (a read after the transaction's own append sees it, as in etcd).
//!
//! The completion records the lists the commit's `GET`s returned. A read-only transaction is
//! one `TXN` of `GET`s without compares. Outcomes: a compare that did not hold, a failed read
//! phase, an error proving the request was refused, or a request never sent is `:fail` (no
//! retry); a timeout, a lost connection or any other error on the commit is `:info`. As in the
//! register workload, client `c` is bound to replica `c % nodes + 1`, and after an `:info`
//! continues as process `p + clients`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use ddbb_libs::cmd::{parse_kvs, TxnReply};
use ddbb_libs::Frame;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use crate::client::{Client, Response};
use crate::history::EventType;
use crate::recorder::Recorder;
use crate::txn_history::Mop;
use crate::workload::{definite_failure, Pacer};
use ddbb_libs::shutdown::Shutdown;

/// How many final reads a client attempts before giving up.
const FINAL_READ_ATTEMPTS: usize = 5;

/// Shape of the transaction workload.
#[derive(Debug, Clone)]
pub struct TxnWorkloadConfig {
    /// Number of keys, named `0..keys`.
    pub keys: usize,
    /// Number of logical clients.
    pub clients: usize,
    /// Target transactions per second over all clients (0: as fast as replies come).
    pub rate: f64,
    /// Fewest micro-operations per transaction.
    pub min_mops: usize,
    /// Most micro-operations per transaction.
    pub max_mops: usize,
    /// Seed of the clients' random choices.
    pub seed: u64,
    /// How long a client waits for one reply.
    pub op_timeout: Duration,
}

/// The shared state: the element counter.
#[derive(Debug)]
pub struct TxnWorkload {
    config: TxnWorkloadConfig,
    next_value: AtomicI64,
}

/// One logical client.
#[derive(Debug)]
pub struct TxnWorker {
    /// The client's number.
    pub client: usize,
    /// The current Jepsen process.
    pub process: i64,
    conn: Client,
    rng: StdRng,
}

/// How a transaction ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnCompletion {
    /// `:ok`, `:fail` or `:info`.
    pub kind: EventType,
    /// The micro-operations, with the lists read when `:ok`.
    pub mops: Vec<Mop>,
    /// Why it failed or is indeterminate (`None` for a compare that did not hold).
    pub error: Option<String>,
}

fn word(text: impl Into<String>) -> Bytes {
    Bytes::from(text.into())
}

fn key_bytes(k: i64) -> Bytes {
    word(k.to_string())
}

/// The stored form of a list: `"3 8 11"`.
pub fn encode_list(list: &[i64]) -> String {
    list.iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads the stored form of a list.
///
/// # Errors
/// A message naming the bad element.
pub fn decode_list(bytes: &[u8]) -> Result<Vec<i64>, String> {
    let text = String::from_utf8_lossy(bytes);
    text.split_whitespace()
        .map(|e| {
            e.parse::<i64>()
                .map_err(|_| format!("stored list {text:?} holds {e:?}, not a number"))
        })
        .collect()
}

/// The keys a transaction touches, in first-use order.
fn touched(mops: &[Mop]) -> Vec<i64> {
    let mut keys = Vec::new();
    for m in mops {
        if !keys.contains(&m.key()) {
            keys.push(m.key());
        }
    }
    keys
}

/// `TXN THEN 4 RANGE k k\0 REVS ...`: every key's list and mod revision.
pub fn read_phase_words(keys: &[i64]) -> Vec<Bytes> {
    let mut w = vec![word("TXN")];
    for &k in keys {
        let mut end = k.to_string().into_bytes();
        end.push(0);
        w.extend([
            word("THEN"),
            word("4"),
            word("RANGE"),
            key_bytes(k),
            Bytes::from(end),
            word("REVS"),
        ]);
    }
    w
}

/// The commit: compares on every touched key's mod revision, then the micro-operations.
/// `current` holds each touched key's `(list, mod_revision)` from the read phase.
pub fn commit_words(mops: &[Mop], current: &HashMap<i64, (Vec<i64>, i64)>) -> Vec<Bytes> {
    let mut w = vec![word("TXN")];
    for k in touched(mops) {
        let rev = current.get(&k).map_or(0, |(_, rev)| *rev);
        w.extend([
            word("IF"),
            word("MOD"),
            key_bytes(k),
            word("="),
            word(rev.to_string()),
        ]);
    }
    for m in mops {
        match m {
            Mop::Read(k, _) => w.extend([word("THEN"), word("2"), word("GET"), key_bytes(*k)]),
            Mop::Append(k, v) => {
                let mut list = current.get(k).map(|(l, _)| l.clone()).unwrap_or_default();
                list.push(*v);
                w.extend([
                    word("THEN"),
                    word("3"),
                    word("SET"),
                    key_bytes(*k),
                    word(encode_list(&list)),
                ]);
            }
        }
    }
    w
}

/// Reads the read phase's reply: per key, its list and mod revision.
///
/// # Errors
/// A message when the reply is not what `RANGE ... REVS` gives.
pub fn parse_read_phase(
    keys: &[i64],
    frame: Frame,
) -> Result<HashMap<i64, (Vec<i64>, i64)>, String> {
    let reply = TxnReply::from_frame(frame).map_err(|e| e.to_string())?;
    if !reply.succeeded || reply.replies.len() != keys.len() {
        return Err("unexpected read-phase reply".into());
    }
    let mut current = HashMap::new();
    for (&k, range) in keys.iter().zip(reply.replies) {
        let kvs = parse_kvs(range).map_err(|e| e.to_string())?;
        let entry = match kvs.first() {
            Some(kv) => (decode_list(&kv.value)?, kv.mod_revision),
            None => (Vec::new(), 0),
        };
        current.insert(k, entry);
    }
    Ok(current)
}

/// Turns a commit's (or read-only transaction's) response into the completion.
pub fn classify_commit(mops: &[Mop], response: Response) -> TxnCompletion {
    let done = |kind, mops: Vec<Mop>, error| TxnCompletion { kind, mops, error };
    let same = mops.to_vec();
    let read_only = mops.iter().all(|m| matches!(m, Mop::Read(..)));
    // A read-only transaction has no effect whatever happened to it.
    let unknown = if read_only {
        EventType::Fail
    } else {
        EventType::Info
    };
    match response {
        Response::NotSent(e) => done(EventType::Fail, same, Some(e)),
        Response::Lost(e) => done(unknown, same, Some(e)),
        Response::Reply(Frame::Error(e)) => {
            let kind = if definite_failure(&e) {
                EventType::Fail
            } else {
                unknown
            };
            done(kind, same, Some(e))
        }
        Response::Reply(frame) => {
            let reply = match TxnReply::from_frame(frame) {
                Ok(r) => r,
                Err(e) => return done(unknown, same, Some(format!("unexpected reply: {e}"))),
            };
            if !reply.succeeded {
                return done(EventType::Fail, same, None);
            }
            if reply.replies.len() != mops.len() {
                return done(
                    unknown,
                    same,
                    Some(format!(
                        "{} replies to {} operations",
                        reply.replies.len(),
                        mops.len()
                    )),
                );
            }
            let mut filled = Vec::with_capacity(mops.len());
            for (m, r) in mops.iter().zip(reply.replies) {
                filled.push(match (m, r) {
                    (Mop::Read(k, _), Frame::Null) => Mop::Read(*k, Some(Vec::new())),
                    (Mop::Read(k, _), Frame::Bulk(b)) => match decode_list(&b) {
                        Ok(list) => Mop::Read(*k, Some(list)),
                        Err(e) => return done(unknown, same, Some(e)),
                    },
                    (Mop::Append(..), Frame::Simple(s)) if s == "OK" => m.clone(),
                    (_, other) => {
                        return done(unknown, same, Some(format!("unexpected reply {other:?}")))
                    }
                });
            }
            done(EventType::Ok, filled, None)
        }
    }
}

impl TxnWorkload {
    /// A fresh workload.
    pub fn new(config: TxnWorkloadConfig) -> TxnWorkload {
        TxnWorkload {
            config,
            next_value: AtomicI64::new(1),
        }
    }

    /// Logical client `client`, talking to the replica at `addr`.
    pub fn worker(&self, client: usize, addr: std::net::SocketAddr) -> TxnWorker {
        TxnWorker {
            client,
            process: client as i64,
            conn: Client::new(addr, self.config.op_timeout),
            rng: StdRng::seed_from_u64(
                self.config
                    .seed
                    .wrapping_add((client as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            ),
        }
    }

    /// A random transaction: reads and appends, at most one append per key.
    pub fn next_txn(&self, rng: &mut StdRng) -> Vec<Mop> {
        let keys = self.config.keys.max(1) as i64;
        let low = self.config.min_mops.max(1);
        let n = rng.gen_range(low..=self.config.max_mops.max(low));
        let mut mops: Vec<Mop> = Vec::with_capacity(n);
        for _ in 0..n {
            let k = rng.gen_range(0..keys);
            let appended = mops
                .iter()
                .any(|m| matches!(m, Mop::Append(k2, _) if *k2 == k));
            if rng.gen_bool(0.5) && !appended {
                mops.push(Mop::Append(
                    k,
                    self.next_value.fetch_add(1, Ordering::Relaxed),
                ));
            } else {
                mops.push(Mop::Read(k, None));
            }
        }
        mops
    }

    /// Runs `mops` as `worker` (read phase and commit), recording invocation and completion.
    pub async fn perform(
        &self,
        worker: &mut TxnWorker,
        recorder: &Recorder,
        mops: Vec<Mop>,
    ) -> TxnCompletion {
        recorder.txn(EventType::Invoke, mops.clone(), worker.process, None);
        let completion = self.execute(worker, &mops).await;
        recorder.txn(
            completion.kind,
            completion.mops.clone(),
            worker.process,
            completion.error.clone(),
        );
        if completion.kind == EventType::Info {
            worker.process += self.config.clients as i64;
        }
        completion
    }

    async fn execute(&self, worker: &mut TxnWorker, mops: &[Mop]) -> TxnCompletion {
        let read_only = mops.iter().all(|m| matches!(m, Mop::Read(..)));
        if read_only {
            let mut w = vec![word("TXN")];
            for m in mops {
                w.extend([word("THEN"), word("2"), word("GET"), key_bytes(m.key())]);
            }
            return classify_commit(mops, worker.conn.call(&w).await);
        }
        let keys = touched(mops);
        let fail = |why: String| TxnCompletion {
            kind: EventType::Fail,
            mops: mops.to_vec(),
            error: Some(format!("read phase: {why}")),
        };
        let current = match worker.conn.call(&read_phase_words(&keys)).await {
            Response::Reply(frame) => match parse_read_phase(&keys, frame) {
                Ok(current) => current,
                Err(e) => return fail(e),
            },
            Response::NotSent(e) | Response::Lost(e) => return fail(e),
        };
        let response = worker.conn.call(&commit_words(mops, &current)).await;
        classify_commit(mops, response)
    }

    /// Runs `worker` until `until` (or a stop), paced to the configured rate.
    pub async fn run(
        &self,
        mut worker: TxnWorker,
        recorder: &Recorder,
        until: Instant,
        mut stop: Shutdown,
    ) -> TxnWorker {
        let pacer = Pacer::new(self.config.clients, self.config.rate);
        while Instant::now() < until && !stop.is_triggered() {
            let mops = self.next_txn(&mut worker.rng);
            self.perform(&mut worker, recorder, mops).await;
            if !pacer.pause(&mut worker.rng, until, &mut stop).await {
                break;
            }
        }
        worker
    }

    /// The final phase: one read-only transaction of every key, retried a few times.
    pub async fn final_reads(
        &self,
        mut worker: TxnWorker,
        recorder: &Recorder,
        mut stop: Shutdown,
    ) {
        let mops: Vec<Mop> = (0..self.config.keys.max(1) as i64)
            .map(|k| Mop::Read(k, None))
            .collect();
        for attempt in 0..FINAL_READ_ATTEMPTS {
            if stop.is_triggered() {
                return;
            }
            let done = self.perform(&mut worker, recorder, mops.clone()).await;
            if done.kind == EventType::Ok {
                return;
            }
            if !stop.sleep(Duration::from_millis(100 << attempt)).await {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(words: &[Bytes]) -> String {
        words
            .iter()
            .map(|w| String::from_utf8_lossy(w).replace('\0', "\\0"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn lists_round_trip() {
        assert_eq!(encode_list(&[3, 8, 11]), "3 8 11");
        assert_eq!(decode_list(b"3 8 11").unwrap(), vec![3, 8, 11]);
        assert_eq!(decode_list(b"").unwrap(), Vec::<i64>::new());
        assert!(decode_list(b"3 x").is_err());
    }

    #[test]
    fn the_two_phases_are_guarded_by_mod_revisions() {
        let mops = vec![Mop::Append(1, 7), Mop::Read(2, None), Mop::Read(1, None)];
        assert_eq!(
            text(&read_phase_words(&touched(&mops))),
            "TXN THEN 4 RANGE 1 1\\0 REVS THEN 4 RANGE 2 2\\0 REVS"
        );
        let current = HashMap::from([(1, (vec![3, 5], 12)), (2, (Vec::new(), 0))]);
        assert_eq!(
            text(&commit_words(&mops, &current)),
            "TXN IF MOD 1 = 12 IF MOD 2 = 0 THEN 3 SET 1 3 5 7 THEN 2 GET 2 THEN 2 GET 1"
        );
    }

    #[test]
    fn commit_replies_become_completions() {
        let mops = vec![Mop::Append(1, 7), Mop::Read(2, None), Mop::Read(1, None)];
        let ok = Frame::Array(vec![
            Frame::Integer(1),
            Frame::Integer(14),
            Frame::Array(vec![
                Frame::Simple("OK".into()),
                Frame::Null,
                Frame::Bulk(Bytes::from_static(b"3 5 7")),
            ]),
        ]);
        let done = classify_commit(&mops, Response::Reply(ok));
        assert_eq!(done.kind, EventType::Ok);
        assert_eq!(done.mops[1], Mop::Read(2, Some(vec![])));
        assert_eq!(done.mops[2], Mop::Read(1, Some(vec![3, 5, 7])));
        let refused = Frame::Array(vec![
            Frame::Integer(0),
            Frame::Integer(14),
            Frame::Array(vec![]),
        ]);
        let done = classify_commit(&mops, Response::Reply(refused));
        assert_eq!((done.kind, done.error), (EventType::Fail, None));
        let lost = classify_commit(&mops, Response::Lost("timeout".into()));
        assert_eq!(lost.kind, EventType::Info);
        let read_only = classify_commit(&mops[1..], Response::Lost("timeout".into()));
        assert_eq!(read_only.kind, EventType::Fail);
        let err = classify_commit(
            &mops,
            Response::Reply(Frame::Error("TIMEOUT not committed".into())),
        );
        assert_eq!(err.kind, EventType::Info);
    }

    #[test]
    fn transactions_append_each_key_at_most_once() {
        let workload = TxnWorkload::new(TxnWorkloadConfig {
            keys: 2,
            clients: 1,
            rate: 0.0,
            min_mops: 2,
            max_mops: 4,
            seed: 1,
            op_timeout: Duration::from_secs(1),
        });
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..200 {
            let mops = workload.next_txn(&mut rng);
            assert!((2..=4).contains(&mops.len()));
            for k in 0..2 {
                let appends = mops
                    .iter()
                    .filter(|m| matches!(m, Mop::Append(k2, _) if *k2 == k))
                    .count();
                assert!(appends <= 1);
            }
        }
    }
}
