//! The register workload: clients doing linearizable reads, serializable reads, puts, CAS and
//! deletes with unique values on a few keys, one operation in flight each, recorded as a
//! lin_test (Jepsen) history with virtual times.

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use ddbb_libs::kv::{
    Compare, CompareResult, DeleteRangeRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
    WriteRequest, WriteResponse,
};
use ddbb_libs::{Consistency, RequestId};
use ddbb_server::replica::{Request, Response};
use lin_test::history::{Datum, EventType, OpFn, Payload};
use lin_test::Event;
use rand::rngs::StdRng;
use rand::Rng;
use tokio::sync::oneshot;

/// One operation a client chose.
#[derive(Clone, Debug)]
pub enum OpKind {
    Read,
    /// A serializable read: not part of the linearizability check; its value must be one
    /// that was written (or none).
    LocalRead,
    Write(i64),
    Cas(Option<i64>, i64),
    Delete,
}

/// An operation waiting for its reply.
pub struct Pending {
    pub process: i64,
    pub client: usize,
    pub key: i64,
    pub kind: OpKind,
    pub node: u64,
    pub rx: oneshot::Receiver<Response>,
}

/// What came back for an operation.
pub enum Reply {
    Ok(Option<i64>),
    Fail,
    Info,
}

/// Clients, the recorded history and the values written so far.
pub struct Workload {
    pub keys: i64,
    /// Next unique value.
    next_value: i64,
    /// Request ids: per-client sessions (as lin_test's clients send `REQID`).
    next_seq: BTreeMap<usize, u64>,
    /// Per client: its current Jepsen process (a new one after an `:info`).
    pub process: Vec<i64>,
    /// Last value each key was seen or written with, for CAS expectations.
    last_seen: BTreeMap<i64, Option<i64>>,
    /// Every value ever written per key (serializable reads must return one of them).
    pub written: BTreeMap<i64, BTreeSet<i64>>,
    /// Serializable reads `(key, value, time)`.
    pub local_reads: Vec<(i64, Option<i64>, u64)>,
    pub history: Vec<Event>,
}

impl Workload {
    pub fn new(keys: i64, clients: usize) -> Workload {
        Workload {
            keys,
            next_value: 1,
            next_seq: BTreeMap::new(),
            // Clients, then one final reader per key.
            process: (0..clients as i64 + keys).collect(),
            last_seen: BTreeMap::new(),
            written: BTreeMap::new(),
            local_reads: Vec::new(),
            history: Vec::new(),
        }
    }

    /// Draws an operation for `client` on a random key.
    pub fn choose(&mut self, rng: &mut StdRng) -> (i64, OpKind) {
        let key = rng.gen_range(0..self.keys);
        let roll = rng.gen_range(0..100);
        let kind = if roll < 35 {
            OpKind::Read
        } else if roll < 45 {
            OpKind::LocalRead
        } else if roll < 75 {
            OpKind::Write(self.value())
        } else if roll < 95 {
            let expected = self.last_seen.get(&key).copied().flatten();
            OpKind::Cas(expected, self.value())
        } else {
            OpKind::Delete
        };
        (key, kind)
    }

    fn value(&mut self) -> i64 {
        self.next_value += 1;
        self.next_value - 1
    }

    /// The typed request for an operation, and the receiver of its reply.
    pub fn request(
        &mut self,
        client: usize,
        key: i64,
        kind: &OpKind,
    ) -> (Request, oneshot::Receiver<Response>) {
        let (reply, rx) = oneshot::channel();
        let k = key_bytes(key);
        let op = match kind {
            OpKind::Read | OpKind::LocalRead => {
                let consistency = if matches!(kind, OpKind::Read) {
                    Consistency::Linearizable
                } else {
                    Consistency::Serializable
                };
                let request = Request::Read {
                    query: RangeRequest::key(k),
                    consistency,
                    reply,
                };
                return (request, rx);
            }
            OpKind::Write(v) => WriteRequest::Put(PutRequest::new(k, v.to_string())),
            OpKind::Cas(expected, new) => {
                let compare = match expected {
                    Some(e) => Compare::value(k.clone(), CompareResult::Equal, e.to_string()),
                    // "absent": version 0
                    None => Compare::version(k.clone(), CompareResult::Equal, 0),
                };
                WriteRequest::Txn(TxnRequest {
                    compare: vec![compare],
                    success: vec![RequestOp::Put(PutRequest::new(k, new.to_string()))],
                    failure: vec![],
                })
            }
            OpKind::Delete => WriteRequest::DeleteRange(DeleteRangeRequest::key(k)),
        };
        let seq = self.next_seq.entry(client).or_insert(0);
        *seq += 1;
        let request = Request::Write {
            id: Some(RequestId {
                client: 1_000 + client as u64,
                seq: *seq,
            }),
            op,
            reply,
        };
        (request, rx)
    }

    /// Records the invocation (serializable reads are kept aside).
    pub fn invoke(&mut self, process: i64, key: i64, kind: &OpKind, time: u64) {
        if let OpKind::Write(v) | OpKind::Cas(_, v) = kind {
            self.written.entry(key).or_default().insert(*v);
        }
        if matches!(kind, OpKind::LocalRead) {
            return;
        }
        let (f, value) = shape(kind, None);
        self.push(EventType::Invoke, f, key, value, process, time);
    }

    /// Records the completion; returns whether the client must take a new process id.
    pub fn complete(&mut self, op: &Pending, reply: Reply, time: u64) -> bool {
        if matches!(op.kind, OpKind::LocalRead) {
            if let Reply::Ok(v) = reply {
                self.local_reads.push((op.key, v, time));
            }
            return false;
        }
        let (kind, read, new_process) = match reply {
            Reply::Ok(v) => (EventType::Ok, v, false),
            Reply::Fail => (EventType::Fail, None, false),
            Reply::Info => (EventType::Info, None, true),
        };
        match (&op.kind, kind) {
            (OpKind::Read, EventType::Ok) => {
                self.last_seen.insert(op.key, read);
            }
            (OpKind::Write(v) | OpKind::Cas(_, v), EventType::Ok) => {
                self.last_seen.insert(op.key, Some(*v));
            }
            (OpKind::Delete, EventType::Ok) => {
                self.last_seen.insert(op.key, None);
            }
            _ => {}
        }
        let (f, value) = shape(&op.kind, read);
        self.push(kind, f, op.key, value, op.process, time);
        if new_process {
            self.process[op.client] += self.process.len() as i64;
        }
        new_process
    }

    fn push(&mut self, kind: EventType, f: OpFn, key: i64, value: Payload, process: i64, t: u64) {
        let index = self.history.len() as i64;
        self.history.push(Event {
            kind,
            f,
            key: Some(Datum::Int(key)),
            value,
            process,
            time: t as i64 * 1_000,
            index,
        });
    }
}

/// `:f` and `:value` of an operation (`read`: the value a read returned).
fn shape(kind: &OpKind, read: Option<i64>) -> (OpFn, Payload) {
    let d = |v: Option<i64>| v.map(Datum::Int);
    match kind {
        OpKind::Read | OpKind::LocalRead => (OpFn::Read, Payload::Value(d(read))),
        OpKind::Write(v) => (OpFn::Write, Payload::Value(d(Some(*v)))),
        OpKind::Cas(e, n) => (
            OpFn::Cas,
            Payload::Cas {
                expected: d(*e),
                new: d(Some(*n)),
            },
        ),
        OpKind::Delete => (OpFn::Delete, Payload::Value(None)),
    }
}

pub fn key_bytes(key: i64) -> Bytes {
    Bytes::from(format!("k{key}"))
}

/// Turns a reply into an outcome.
pub fn outcome(kind: &OpKind, response: Response) -> Reply {
    match response {
        Response::Read(read) => match read.result {
            Ok(range) => Reply::Ok(
                range
                    .kvs
                    .first()
                    .and_then(|kv| std::str::from_utf8(&kv.value).ok()?.parse().ok()),
            ),
            Err(_) => Reply::Fail,
        },
        Response::Write(write) => match (kind, write.result) {
            (OpKind::Cas(..), Ok(WriteResponse::Txn(t))) if !t.succeeded => Reply::Fail,
            (_, Ok(_)) => Reply::Ok(None),
            // Refused before the log, or applied as a no-op: nothing changed.
            (_, Err(_)) => Reply::Fail,
        },
        Response::Status(_) | Response::State(_) | Response::Lease(..) => Reply::Fail,
    }
}
