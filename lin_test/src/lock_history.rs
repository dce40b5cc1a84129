//! Histories of the lock workload (`--workload lock`): leases, lock acquisitions, guarded
//! increments and releases.
//!
//! Every event names the lease of the acquisition round it belongs to (one lease per round,
//! one lock key `lin_test/lock/<lease hex>` per lease), so events are linked by lease, not by
//! process. Times are the recorder's (monotonic nanoseconds); `:sent` of a grant or keepalive
//! is the time its request was about to be sent. One line each, in Jepsen's shape:
//!
//! ```text
//! {:type :ok, :f :setup, :value {:counter 0, :revision 3}, :process 0, :time 1, :index 0}
//! {:type :invoke, :f :grant, :value {:ttl 2}, :process 0, :time 5, :index 1}
//! {:type :ok, :f :grant, :value {:lease 7, :ttl 2, :sent 5}, :process 0, :time 9, :index 2}
//! {:type :invoke, :f :acquire, :value {:lease 7, :node 1}, :process 0, :time 10, :index 3}
//! {:type :info, :f :enqueued, :value {:lease 7, :token 12}, :process 0, :time 12, :index 4}
//! {:type :ok, :f :acquire, :value {:lease 7, :token 12, :revision 14}, :process 0, :time 13, :index 5}
//! {:type :ok, :f :keepalive, :value {:lease 7, :ttl 2, :sent 14}, :process 0, :time 15, :index 6}
//! {:type :invoke, :f :incr, :value {:lease 7, :token 12}, :process 0, :time 16, :index 7}
//! {:type :ok, :f :incr, :value {:lease 7, :token 12, :read 3, :read-mod 11, :fence 9, :read-revision 14, :revision 15}, :process 0, :time 18, :index 8}
//! {:type :info, :f :lost, :value {:lease 7, :token 12, :why "keepalive: lease gone"}, :process 0, :time 19, :index 9}
//! {:type :invoke, :f :release, :value {:lease 7, :token 12}, :process 0, :time 20, :index 10}
//! {:type :ok, :f :release, :value {:lease 7, :token 12}, :process 0, :time 21, :index 11}
//! {:type :ok, :f :final, :value {:counter 1, :revision 40}, :process 0, :time 90, :index 12}
//! ```
//!
//! A failed `:incr` carries `:held`: whether the lock key still existed with the token (false:
//! the fencing compare rejected a holder that had lost the lock).

use std::fmt;

use ddbb_libs::NodeId;

use crate::edn::Value;
use crate::error::{Error, Result};
use crate::history::{Datum, EventType};

/// Where the lock keys live: `lin_test/lock/<lease hex>`.
pub const LOCK_PREFIX: &str = "lin_test/lock/";
/// The guarded counter.
pub const COUNTER_KEY: &str = "lin_test/lock-counter";
/// The fence: the token of the last guarded write, zero-padded so that byte order is numeric
/// order (etcd compares values as bytes).
pub const FENCE_KEY: &str = "lin_test/lock-fence";

/// A token as the fence key stores it: 20 decimal digits.
pub fn fence_value(token: i64) -> String {
    format!("{:020}", token.max(0))
}

/// The lock key of `lease`.
pub fn lock_key(lease: i64) -> String {
    format!("{LOCK_PREFIX}{lease:x}")
}

/// What a guarded increment read, in one read-only transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CounterRead {
    /// The counter's value.
    pub value: i64,
    /// The counter's mod revision.
    pub mod_revision: i64,
    /// The fence's value (a token).
    pub fence: i64,
    /// The revision of the read (its response header).
    pub revision: i64,
}

/// What one line of a lock history records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockOp {
    /// The counter and the fence were initialised (before the clients started).
    Setup {
        /// The revision of the initialising write.
        revision: i64,
    },
    /// A lease grant: invoked (`lease` None), or granted.
    Grant {
        /// `:invoke`, `:ok`, `:fail` or `:info`.
        kind: EventType,
        /// The lease granted.
        lease: Option<i64>,
        /// The TTL asked for, or granted (seconds).
        ttl: i64,
        /// When the request was sent (completions only).
        sent: Option<i64>,
    },
    /// A keepalive answer: the lease lives `ttl` seconds from `sent` (0: the lease is gone).
    KeepAlive {
        /// The lease.
        lease: i64,
        /// The TTL answered.
        ttl: i64,
        /// When the keepalive was sent.
        sent: i64,
    },
    /// An acquisition, from putting the lock key to holding the lock.
    Acquire {
        /// `:invoke`, `:ok` (holding), `:fail` (not holding) or `:info`.
        kind: EventType,
        /// The round's lease.
        lease: i64,
        /// The replica asked (invocations).
        node: Option<NodeId>,
        /// The fencing token (the lock key's create revision).
        token: Option<i64>,
        /// The revision at which the key was seen to be the oldest under the prefix.
        revision: Option<i64>,
    },
    /// The lock key was created: its create revision is the token.
    Enqueued {
        /// The lease.
        lease: i64,
        /// The token.
        token: i64,
    },
    /// A guarded read-modify-write of the counter.
    Incr {
        /// `:invoke`, `:ok`, `:fail` (not applied) or `:info`.
        kind: EventType,
        /// The lease.
        lease: i64,
        /// The token it is guarded by.
        token: i64,
        /// What it read (completions that got that far).
        read: Option<CounterRead>,
        /// The revision of the write (`:ok`).
        revision: Option<i64>,
        /// For a compare that failed: whether the lock key still had the token.
        held: Option<bool>,
    },
    /// The client stopped believing it holds the lock, and why.
    Lost {
        /// The lease.
        lease: i64,
        /// The token.
        token: Option<i64>,
        /// Why.
        why: String,
    },
    /// A release: the lease is revoked, which deletes the lock key.
    Release {
        /// `:invoke`, `:ok`, `:fail` or `:info`.
        kind: EventType,
        /// The lease.
        lease: i64,
        /// The token, if the lock key was created.
        token: Option<i64>,
    },
    /// The counter read after healing.
    Final {
        /// Its value.
        counter: i64,
        /// The revision of the read.
        revision: i64,
    },
}

/// One line of a lock history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockRecord {
    /// What happened.
    pub op: LockOp,
    /// The Jepsen process.
    pub process: i64,
    /// `:time`.
    pub time: i64,
    /// `:index`.
    pub index: i64,
}

/// A field of an event's `:value` map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
    /// A boolean.
    Bool(bool),
}

impl fmt::Display for Field {
    /// EDN.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Field::Int(n) => write!(f, "{n}"),
            Field::Str(s) => write!(f, "{}", Datum::Str(s.clone())),
            Field::Bool(b) => write!(f, "{b}"),
        }
    }
}

fn int(n: i64) -> Option<Field> {
    Some(Field::Int(n))
}

fn opt(n: Option<i64>) -> Option<Field> {
    n.map(Field::Int)
}

/// An event's `:value` map: named fields, absent ones skipped.
pub type Fields = Vec<(&'static str, Field)>;

fn fields(pairs: Vec<(&'static str, Option<Field>)>) -> Fields {
    pairs
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
}

impl LockOp {
    /// `:type`, `:f` and the fields of `:value`.
    pub fn parts(&self) -> (EventType, &'static str, Fields) {
        match self {
            LockOp::Setup { revision } => (
                EventType::Ok,
                "setup",
                fields(vec![("counter", int(0)), ("revision", int(*revision))]),
            ),
            LockOp::Grant {
                kind,
                lease,
                ttl,
                sent,
            } => (
                *kind,
                "grant",
                fields(vec![
                    ("lease", opt(*lease)),
                    ("ttl", int(*ttl)),
                    ("sent", opt(*sent)),
                ]),
            ),
            LockOp::KeepAlive { lease, ttl, sent } => (
                EventType::Ok,
                "keepalive",
                fields(vec![
                    ("lease", int(*lease)),
                    ("ttl", int(*ttl)),
                    ("sent", int(*sent)),
                ]),
            ),
            LockOp::Acquire {
                kind,
                lease,
                node,
                token,
                revision,
            } => (
                *kind,
                "acquire",
                fields(vec![
                    ("lease", int(*lease)),
                    ("node", node.map(|n| Field::Int(n as i64))),
                    ("token", opt(*token)),
                    ("revision", opt(*revision)),
                ]),
            ),
            LockOp::Enqueued { lease, token } => (
                EventType::Info,
                "enqueued",
                fields(vec![("lease", int(*lease)), ("token", int(*token))]),
            ),
            LockOp::Incr {
                kind,
                lease,
                token,
                read,
                revision,
                held,
            } => (
                *kind,
                "incr",
                fields(vec![
                    ("lease", int(*lease)),
                    ("token", int(*token)),
                    ("read", read.map(|r| Field::Int(r.value))),
                    ("read-mod", read.map(|r| Field::Int(r.mod_revision))),
                    ("fence", read.map(|r| Field::Int(r.fence))),
                    ("read-revision", read.map(|r| Field::Int(r.revision))),
                    ("revision", opt(*revision)),
                    ("held", held.map(Field::Bool)),
                ]),
            ),
            LockOp::Lost { lease, token, why } => (
                EventType::Info,
                "lost",
                fields(vec![
                    ("lease", int(*lease)),
                    ("token", opt(*token)),
                    ("why", Some(Field::Str(why.clone()))),
                ]),
            ),
            LockOp::Release { kind, lease, token } => (
                *kind,
                "release",
                fields(vec![("lease", int(*lease)), ("token", opt(*token))]),
            ),
            LockOp::Final { counter, revision } => (
                EventType::Ok,
                "final",
                fields(vec![
                    ("counter", int(*counter)),
                    ("revision", int(*revision)),
                ]),
            ),
        }
    }

    /// The client holding `token` under `lease` stopped believing it holds the lock.
    pub fn lost(lease: i64, token: i64, why: String) -> LockOp {
        LockOp::Lost {
            lease,
            token: Some(token),
            why,
        }
    }

    /// The lease the event belongs to, if any.
    pub fn lease(&self) -> Option<i64> {
        match self {
            LockOp::Setup { .. } | LockOp::Final { .. } => None,
            LockOp::Grant { lease, .. } => *lease,
            LockOp::KeepAlive { lease, .. }
            | LockOp::Acquire { lease, .. }
            | LockOp::Enqueued { lease, .. }
            | LockOp::Incr { lease, .. }
            | LockOp::Lost { lease, .. }
            | LockOp::Release { lease, .. } => Some(*lease),
        }
    }

    /// The event's `:type` (the availability table counts completions of client requests).
    pub fn kind(&self) -> EventType {
        self.parts().0
    }

    /// True for completions of requests a client waited for (grant, acquire, incr, release).
    pub fn is_request_completion(&self) -> bool {
        match self {
            LockOp::Grant { kind, .. }
            | LockOp::Acquire { kind, .. }
            | LockOp::Incr { kind, .. }
            | LockOp::Release { kind, .. } => *kind != EventType::Invoke,
            _ => false,
        }
    }
}

impl fmt::Display for LockRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, name, fields) = self.op.parts();
        let value: Vec<String> = fields.iter().map(|(k, v)| format!(":{k} {v}")).collect();
        write!(
            f,
            "{{:type {kind}, :f :{name}, :value {{{}}}, :process {}, :time {}, :index {}}}",
            value.join(", "),
            self.process,
            self.time,
            self.index
        )
    }
}

/// True if `text` looks like a lock history (some event has `:f :acquire`).
pub fn is_lock_history(text: &str) -> bool {
    text.contains(":f :acquire")
}

/// One record from its EDN map, or `None` for other events (the nemesis').
fn record_from_edn(form: &Value, ordinal: i64) -> std::result::Result<Option<LockRecord>, String> {
    let Some(Value::Keyword(f)) = form.get_keyword("f") else {
        return Ok(None);
    };
    let Some(Value::Int(process)) = form.get_keyword("process") else {
        return Ok(None);
    };
    let value = form.get_keyword("value");
    let get = |name: &str| value.and_then(|v| v.get_keyword(name));
    let opt = |name: &str| match get(name) {
        Some(Value::Int(n)) => Ok(Some(*n)),
        None | Some(Value::Nil) => Ok(None),
        Some(other) => Err(format!(":{name} must be an integer, found {other}")),
    };
    let need = |name: &str| opt(name)?.ok_or_else(|| format!("missing :{name}"));
    let kind = || EventType::from_edn(form);
    let op = match f.as_str() {
        "setup" => LockOp::Setup {
            revision: need("revision")?,
        },
        "grant" => LockOp::Grant {
            kind: kind()?,
            lease: opt("lease")?,
            ttl: need("ttl")?,
            sent: opt("sent")?,
        },
        "keepalive" => LockOp::KeepAlive {
            lease: need("lease")?,
            ttl: need("ttl")?,
            sent: need("sent")?,
        },
        "acquire" => LockOp::Acquire {
            kind: kind()?,
            lease: need("lease")?,
            node: opt("node")?.map(|n| n.max(0) as NodeId),
            token: opt("token")?,
            revision: opt("revision")?,
        },
        "enqueued" => LockOp::Enqueued {
            lease: need("lease")?,
            token: need("token")?,
        },
        "incr" => {
            let read = match opt("read")? {
                Some(value) => Some(CounterRead {
                    value,
                    mod_revision: need("read-mod")?,
                    fence: need("fence")?,
                    revision: need("read-revision")?,
                }),
                None => None,
            };
            LockOp::Incr {
                kind: kind()?,
                lease: need("lease")?,
                token: need("token")?,
                read,
                revision: opt("revision")?,
                held: match get("held") {
                    Some(Value::Bool(b)) => Some(*b),
                    _ => None,
                },
            }
        }
        "lost" => LockOp::Lost {
            lease: need("lease")?,
            token: opt("token")?,
            why: match get("why") {
                Some(Value::Str(s)) => s.clone(),
                _ => String::new(),
            },
        },
        "release" => LockOp::Release {
            kind: kind()?,
            lease: need("lease")?,
            token: opt("token")?,
        },
        "final" => LockOp::Final {
            counter: need("counter")?,
            revision: need("revision")?,
        },
        _ => return Ok(None),
    };
    let number = |name: &str| match form.get_keyword(name) {
        Some(Value::Int(n)) => *n,
        _ => ordinal,
    };
    Ok(Some(LockRecord {
        op,
        process: *process,
        time: number("time"),
        index: number("index"),
    }))
}

/// Parses a lock history (one map per line); other events are skipped.
///
/// # Errors
/// [`Error::Syntax`] for malformed EDN, [`Error::InvalidEvent`] for a lock event that is not
/// well formed.
pub fn parse_lock_history(text: &str) -> Result<Vec<LockRecord>> {
    let mut records = Vec::new();
    for (ordinal, (start, form)) in crate::edn::parse_all(text)?.into_iter().enumerate() {
        let record =
            record_from_edn(&form, ordinal as i64).map_err(|message| Error::InvalidEvent {
                line: start.line,
                message,
            })?;
        records.extend(record);
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_have_jepsens_shape() {
        let record = LockRecord {
            op: LockOp::Incr {
                kind: EventType::Ok,
                lease: 7,
                token: 12,
                read: Some(CounterRead {
                    value: 3,
                    mod_revision: 11,
                    fence: 9,
                    revision: 14,
                }),
                revision: Some(15),
                held: None,
            },
            process: 0,
            time: 18,
            index: 8,
        };
        assert_eq!(
            record.to_string(),
            "{:type :ok, :f :incr, :value {:lease 7, :token 12, :read 3, :read-mod 11, \
             :fence 9, :read-revision 14, :revision 15}, :process 0, :time 18, :index 8}"
        );
        assert_eq!(fence_value(42), "00000000000000000042");
        assert!(fence_value(9) < fence_value(10));
        assert_eq!(lock_key(255), "lin_test/lock/ff");
    }

    #[test]
    fn every_record_reads_back() {
        let ops = vec![
            LockOp::Setup { revision: 3 },
            LockOp::Grant {
                kind: EventType::Invoke,
                lease: None,
                ttl: 2,
                sent: None,
            },
            LockOp::Grant {
                kind: EventType::Ok,
                lease: Some(7),
                ttl: 2,
                sent: Some(5),
            },
            LockOp::KeepAlive {
                lease: 7,
                ttl: 0,
                sent: 14,
            },
            LockOp::Acquire {
                kind: EventType::Invoke,
                lease: 7,
                node: Some(2),
                token: None,
                revision: None,
            },
            LockOp::Enqueued {
                lease: 7,
                token: 12,
            },
            LockOp::Acquire {
                kind: EventType::Ok,
                lease: 7,
                node: None,
                token: Some(12),
                revision: Some(14),
            },
            LockOp::Incr {
                kind: EventType::Fail,
                lease: 7,
                token: 12,
                read: Some(CounterRead {
                    value: 3,
                    mod_revision: 11,
                    fence: 9,
                    revision: 14,
                }),
                revision: None,
                held: Some(false),
            },
            LockOp::Lost {
                lease: 7,
                token: Some(12),
                why: "a \"quoted\" reason".into(),
            },
            LockOp::Release {
                kind: EventType::Info,
                lease: 7,
                token: Some(12),
            },
            LockOp::Final {
                counter: 1,
                revision: 40,
            },
        ];
        let records: Vec<LockRecord> = ops
            .into_iter()
            .enumerate()
            .map(|(i, op)| LockRecord {
                op,
                process: 1,
                time: i as i64 * 10,
                index: i as i64,
            })
            .collect();
        let text: String = records.iter().map(|r| format!("{r}\n")).collect();
        assert!(is_lock_history(&text));
        assert_eq!(parse_lock_history(&text).expect("parses"), records);
        let nemesis = "{:type :info, :f :start-kill, :value \"kill 2\", :process :nemesis, :time 1, :index 0}";
        assert_eq!(parse_lock_history(nemesis).expect("parses"), Vec::new());
    }
}
