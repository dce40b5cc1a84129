//! The workload: logical clients doing reads, writes, compare-and-swaps and deletes on a few
//! keys, each with one operation outstanding, recorded as Jepsen histories.
//!
//! - Keys are integers `0..keys` (the server key is the decimal number); values are decimal
//!   numbers from one counter shared by every client, so every write is unique.
//! - A compare-and-swap expects the last value any client saw for the key (so many succeed);
//!   while nothing is known about a key, a write is done instead.
//! - Client `c` is bound to replica `c % nodes + 1` for the whole run, as Jepsen binds its
//!   clients to nodes: availability is measured per replica, and a replica cut off from the
//!   others keeps being asked (the unsafe-read mode is caught that way).
//! - After an operation ends `:info` its client continues as process `p + clients`.
//!
//! How replies become outcomes (see [`classify`]): a read that fails in any way is `:fail`
//! (reads have no effect); a write, CAS or delete is `:fail` only when it certainly did not
//! happen (never sent, or rejected at parsing), `:info` when it may have (timeout, lost
//! connection, replica shutting down, any unexpected reply). `CAS` answering `:0` is `:fail`.

use std::str::FromStr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use ddbb_libs::Frame;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use crate::client::{Client, Response};
use crate::history::{Datum, EventType, OpFn, Payload};
use crate::recorder::Recorder;
use ddbb_libs::shutdown::Shutdown;

/// How many final reads of one key a client attempts before giving up on it.
const FINAL_READ_ATTEMPTS: usize = 5;

/// Relative weights of the operation kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    /// Weight of linearizable reads.
    pub read: u32,
    /// Weight of writes (`SET`).
    pub write: u32,
    /// Weight of compare-and-swaps.
    pub cas: u32,
    /// Weight of deletes.
    pub delete: u32,
}

impl Default for Mix {
    fn default() -> Self {
        Mix {
            read: 50,
            write: 25,
            cas: 20,
            delete: 5,
        }
    }
}

impl FromStr for Mix {
    type Err = String;

    /// `read=50,write=25,cas=20,delete=5`; kinds left out get weight 0.
    fn from_str(text: &str) -> Result<Mix, String> {
        let mut mix = Mix {
            read: 0,
            write: 0,
            cas: 0,
            delete: 0,
        };
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, weight) = item
                .split_once('=')
                .ok_or_else(|| format!("'{item}' is not KIND=WEIGHT"))?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| format!("weight '{weight}' is not a number"))?;
            match name.trim() {
                "read" | "r" => mix.read = weight,
                "write" | "w" => mix.write = weight,
                "cas" | "c" => mix.cas = weight,
                "delete" | "d" => mix.delete = weight,
                other => return Err(format!("unknown operation kind '{other}'")),
            }
        }
        if mix.read + mix.write + mix.cas + mix.delete == 0 {
            return Err("the mix needs at least one positive weight".into());
        }
        Ok(mix)
    }
}

impl std::fmt::Display for Mix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "read={},write={},cas={},delete={}",
            self.read, self.write, self.cas, self.delete
        )
    }
}

/// Shape of the workload.
#[derive(Debug, Clone)]
pub struct WorkloadConfig {
    /// Number of keys, named `0..keys`.
    pub keys: usize,
    /// Number of logical clients.
    pub clients: usize,
    /// Target operations per second over all clients (0: as fast as replies come).
    pub rate: f64,
    /// Operation mix.
    pub mix: Mix,
    /// Seed of the clients' random choices.
    pub seed: u64,
    /// How long a client waits for a reply before the operation is indeterminate.
    pub op_timeout: Duration,
}

/// One operation a client is about to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `GET k`.
    Read(i64),
    /// `SET k v`.
    Write(i64, i64),
    /// `CAS k expected new`.
    Cas(i64, i64, i64),
    /// `DEL k`.
    Delete(i64),
}

impl Op {
    /// The key.
    pub fn key(&self) -> i64 {
        match *self {
            Op::Read(k) | Op::Write(k, _) | Op::Cas(k, _, _) | Op::Delete(k) => k,
        }
    }

    /// Jepsen's `:f`.
    pub fn f(&self) -> OpFn {
        match self {
            Op::Read(_) => OpFn::Read,
            Op::Write(..) => OpFn::Write,
            Op::Cas(..) => OpFn::Cas,
            Op::Delete(_) => OpFn::Delete,
        }
    }

    /// The `:value` (without the key) of the invocation.
    pub fn invoke_payload(&self) -> Payload {
        match *self {
            Op::Read(_) | Op::Delete(_) => Payload::Value(None),
            Op::Write(_, v) => Payload::Value(Some(Datum::Int(v))),
            Op::Cas(_, old, new) => Payload::Cas {
                expected: Some(Datum::Int(old)),
                new: Some(Datum::Int(new)),
            },
        }
    }

    /// The request words.
    pub fn words(&self) -> Vec<Bytes> {
        let text = |n: i64| Bytes::from(n.to_string());
        match *self {
            Op::Read(k) => vec![Bytes::from_static(b"GET"), text(k)],
            Op::Write(k, v) => vec![Bytes::from_static(b"SET"), text(k), text(v)],
            Op::Cas(k, old, new) => vec![Bytes::from_static(b"CAS"), text(k), text(old), text(new)],
            Op::Delete(k) => vec![Bytes::from_static(b"DEL"), text(k)],
        }
    }
}

/// How an operation ended: the completion's `:type`, `:value` and `:error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// `:ok`, `:fail` or `:info`.
    pub kind: EventType,
    /// The completion's `:value` without the key.
    pub payload: Payload,
    /// Why it failed or is indeterminate.
    pub error: Option<String>,
}

/// Whether an error reply means the request certainly had no effect (`-ERR`); `-TIMEOUT`,
/// `-UNAVAILABLE` and `-DUPLICATE` leave it open or say it happened.
pub(crate) fn definite_failure(message: &str) -> bool {
    ddbb_libs::ErrorCode::of(message).had_no_effect()
}

/// Turns the response to `op` into its completion (see the module docs for the rules).
pub fn classify(op: &Op, response: Response) -> Completion {
    let same = op.invoke_payload();
    let done = |kind, payload, error: Option<String>| Completion {
        kind,
        payload,
        error,
    };
    if let Op::Read(_) = op {
        return match response {
            Response::Reply(Frame::Bulk(b)) => {
                let text = String::from_utf8_lossy(&b);
                let value = match text.parse::<i64>() {
                    Ok(n) => Datum::Int(n),
                    // Never written by this workload: recorded as is, the checker will object.
                    Err(_) => Datum::Str(text.into_owned()),
                };
                done(EventType::Ok, Payload::Value(Some(value)), None)
            }
            Response::Reply(Frame::Null) => done(EventType::Ok, Payload::Value(None), None),
            Response::Reply(Frame::Error(e)) => done(EventType::Fail, same, Some(e)),
            Response::Reply(other) => done(
                EventType::Fail,
                same,
                Some(format!("unexpected reply {other:?}")),
            ),
            Response::NotSent(e) | Response::Lost(e) => done(EventType::Fail, same, Some(e)),
        };
    }
    match (op, response) {
        (Op::Write(..), Response::Reply(Frame::Simple(s))) if s == "OK" => {
            done(EventType::Ok, same, None)
        }
        (Op::Cas(..), Response::Reply(Frame::Integer(1))) => done(EventType::Ok, same, None),
        (Op::Cas(..), Response::Reply(Frame::Integer(0))) => done(EventType::Fail, same, None),
        (Op::Delete(_), Response::Reply(Frame::Integer(n))) => {
            done(EventType::Ok, Payload::Value(Some(Datum::Int(n))), None)
        }
        (_, Response::Reply(Frame::Error(e))) => {
            let kind = if definite_failure(&e) {
                EventType::Fail
            } else {
                EventType::Info
            };
            done(kind, same, Some(e))
        }
        (_, Response::Reply(other)) => done(
            EventType::Info,
            same,
            Some(format!("unexpected reply {other:?}")),
        ),
        (_, Response::NotSent(e)) => done(EventType::Fail, same, Some(e)),
        (_, Response::Lost(e)) => done(EventType::Info, same, Some(e)),
    }
}

/// Paces one client: a random wait averaging clients/rate between operations, so the whole
/// workload averages `rate` operations per second when replies are fast (0: no wait).
pub(crate) struct Pacer {
    mean: Duration,
}

impl Pacer {
    pub(crate) fn new(clients: usize, rate: f64) -> Pacer {
        let mean = if rate > 0.0 {
            Duration::from_secs_f64(clients as f64 / rate)
        } else {
            Duration::ZERO
        };
        Pacer { mean }
    }

    /// Waits before the next operation (never past `until`); false if the run was stopped.
    pub(crate) async fn pause(
        &self,
        rng: &mut StdRng,
        until: Instant,
        stop: &mut Shutdown,
    ) -> bool {
        if self.mean.is_zero() {
            // Always yield, so a replica that fails fast cannot starve the runtime.
            tokio::task::yield_now().await;
            return true;
        }
        let wait = self.mean.mul_f64(rng.gen_range(0.0..2.0));
        stop.sleep_until((Instant::now() + wait).min(until)).await
    }
}

/// The shared state of the workload: the value counter and what clients last saw per key.
#[derive(Debug)]
pub struct Workload {
    config: WorkloadConfig,
    next_value: AtomicI64,
    last_seen: Mutex<Vec<Option<i64>>>,
}

/// One logical client: its replica, its current process id, its random choices.
#[derive(Debug)]
pub struct Worker {
    /// The client's number, `0..clients`.
    pub client: usize,
    /// The current Jepsen process.
    pub process: i64,
    conn: Client,
    rng: StdRng,
}

impl Workload {
    /// A fresh workload.
    pub fn new(config: WorkloadConfig) -> Workload {
        let keys = config.keys.max(1);
        Workload {
            config,
            next_value: AtomicI64::new(1),
            last_seen: Mutex::new(vec![None; keys]),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &WorkloadConfig {
        &self.config
    }

    /// Logical client `client`, talking to the replica at `addr`.
    pub fn worker(&self, client: usize, addr: std::net::SocketAddr) -> Worker {
        Worker {
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

    fn last_seen(&self) -> std::sync::MutexGuard<'_, Vec<Option<i64>>> {
        self.last_seen.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Picks the next operation by the mix.
    pub fn next_op(&self, rng: &mut StdRng) -> Op {
        let keys = self.config.keys.max(1);
        let key = rng.gen_range(0..keys) as i64;
        let m = self.config.mix;
        let total = m.read + m.write + m.cas + m.delete;
        let mut pick = rng.gen_range(0..total.max(1));
        let fresh = || self.next_value.fetch_add(1, Ordering::Relaxed);
        if pick < m.read {
            return Op::Read(key);
        }
        pick -= m.read;
        if pick < m.write {
            return Op::Write(key, fresh());
        }
        pick -= m.write;
        if pick < m.cas {
            let expected = self.last_seen()[key as usize];
            return match expected {
                Some(old) => Op::Cas(key, old, fresh()),
                None => Op::Write(key, fresh()),
            };
        }
        Op::Delete(key)
    }

    fn observe(&self, op: &Op, completion: &Completion) {
        if completion.kind != EventType::Ok {
            return;
        }
        let seen = match (op, &completion.payload) {
            (Op::Read(_), Payload::Value(Some(Datum::Int(v)))) => Some(*v),
            (Op::Read(_), Payload::Value(None)) | (Op::Delete(_), _) => None,
            (Op::Write(_, v), _) | (Op::Cas(_, _, v), _) => Some(*v),
            _ => return,
        };
        if let Some(slot) = self.last_seen().get_mut(op.key() as usize) {
            *slot = seen;
        }
    }

    /// Does `op` as `worker`, recording its invocation and completion.
    pub async fn perform(&self, worker: &mut Worker, recorder: &Recorder, op: Op) -> Completion {
        let (f, key) = (op.f(), op.key());
        recorder.op(
            EventType::Invoke,
            f,
            key,
            op.invoke_payload(),
            worker.process,
            None,
        );
        let response = worker.conn.call(&op.words()).await;
        let completion = classify(&op, response);
        recorder.op(
            completion.kind,
            f,
            key,
            completion.payload.clone(),
            worker.process,
            completion.error.clone(),
        );
        self.observe(&op, &completion);
        if completion.kind == EventType::Info {
            worker.process += self.config.clients as i64;
        }
        completion
    }

    /// Runs `worker` until `until` (or a stop), pacing operations to the configured rate;
    /// gives the worker back (its process id may have changed) for the final reads.
    pub async fn run(
        &self,
        mut worker: Worker,
        recorder: &Recorder,
        until: Instant,
        mut stop: Shutdown,
    ) -> Worker {
        let pacer = Pacer::new(self.config.clients, self.config.rate);
        while Instant::now() < until && !stop.is_triggered() {
            let op = self.next_op(&mut worker.rng);
            self.perform(&mut worker, recorder, op).await;
            if !pacer.pause(&mut worker.rng, until, &mut stop).await {
                break;
            }
        }
        worker
    }

    /// The final phase: `worker` reads every key (in random order), retrying a failed read a
    /// few times.
    pub async fn final_reads(&self, mut worker: Worker, recorder: &Recorder, mut stop: Shutdown) {
        let mut keys: Vec<i64> = (0..self.config.keys.max(1) as i64).collect();
        for i in (1..keys.len()).rev() {
            keys.swap(i, worker.rng.gen_range(0..=i));
        }
        for key in keys {
            for attempt in 0..FINAL_READ_ATTEMPTS {
                if stop.is_triggered() {
                    return;
                }
                let done = self.perform(&mut worker, recorder, Op::Read(key)).await;
                if done.kind == EventType::Ok {
                    break;
                }
                let backoff = Duration::from_millis(100 << attempt);
                if !stop.sleep(backoff).await {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> Response {
        Response::Reply(Frame::Error(text.into()))
    }

    #[test]
    fn parses_the_mix() {
        let mix: Mix = "read=2, w=1".parse().unwrap();
        assert_eq!((mix.read, mix.write, mix.cas, mix.delete), (2, 1, 0, 0));
        assert_eq!(
            Mix::default().to_string().parse::<Mix>().unwrap(),
            Mix::default()
        );
        assert!("read=0".parse::<Mix>().is_err());
        assert!("incr=1".parse::<Mix>().is_err());
        assert!("read".parse::<Mix>().is_err());
    }

    #[test]
    fn reads_fail_whatever_goes_wrong() {
        let read = Op::Read(1);
        let ok = classify(&read, Response::Reply(Frame::Bulk(Bytes::from("7"))));
        assert_eq!(ok.kind, EventType::Ok);
        assert_eq!(ok.payload, Payload::Value(Some(Datum::Int(7))));
        assert_eq!(
            classify(&read, Response::Reply(Frame::Null)).payload,
            Payload::Value(None)
        );
        for response in [
            err("TIMEOUT the request was not committed in time"),
            Response::Lost("no reply".into()),
            Response::NotSent("refused".into()),
        ] {
            assert_eq!(classify(&read, response).kind, EventType::Fail);
        }
    }

    #[test]
    fn writes_are_indeterminate_unless_certainly_not_applied() {
        for op in [Op::Write(1, 2), Op::Cas(1, 2, 3), Op::Delete(1)] {
            assert_eq!(
                classify(&op, err("TIMEOUT not committed")).kind,
                EventType::Info
            );
            assert_eq!(
                classify(&op, err("UNAVAILABLE the replica is shutting down")).kind,
                EventType::Info
            );
            assert_eq!(
                classify(&op, Response::Lost("reset".into())).kind,
                EventType::Info
            );
            assert_eq!(
                classify(&op, Response::NotSent("refused".into())).kind,
                EventType::Fail
            );
            let rejected = classify(&op, err("ERR unknown command 'SET'"));
            assert_eq!(rejected.kind, EventType::Fail);
            assert!(rejected.error.unwrap().contains("unknown command"));
        }
        let write = Op::Write(1, 2);
        assert_eq!(
            classify(&write, Response::Reply(Frame::Simple("OK".into()))).kind,
            EventType::Ok
        );
        assert_eq!(
            classify(&write, Response::Reply(Frame::Null)).kind,
            EventType::Info
        );
        let cas = Op::Cas(1, 2, 3);
        assert_eq!(
            classify(&cas, Response::Reply(Frame::Integer(1))).kind,
            EventType::Ok
        );
        let mismatch = classify(&cas, Response::Reply(Frame::Integer(0)));
        assert_eq!((mismatch.kind, mismatch.error), (EventType::Fail, None));
        let del = classify(&Op::Delete(1), Response::Reply(Frame::Integer(1)));
        assert_eq!(del.kind, EventType::Ok);
    }

    #[test]
    fn values_are_unique_and_cas_expects_the_last_seen_value() {
        let workload = Workload::new(WorkloadConfig {
            keys: 1,
            clients: 1,
            rate: 0.0,
            mix: "cas=1".parse().unwrap(),
            seed: 1,
            op_timeout: Duration::from_secs(1),
        });
        let mut rng = StdRng::seed_from_u64(1);
        let first = workload.next_op(&mut rng);
        assert!(
            matches!(first, Op::Write(0, 1)),
            "nothing known yet: a write"
        );
        let ok = Completion {
            kind: EventType::Ok,
            payload: first.invoke_payload(),
            error: None,
        };
        workload.observe(&first, &ok);
        assert_eq!(workload.next_op(&mut rng), Op::Cas(0, 1, 2));
    }
}
