//! The history as it happens: every invocation and completion, and the nemesis' actions.
//!
//! Events get their `:index` and `:time` (nanoseconds since the recorder started, from the
//! monotonic clock) under one lock, so the order of the list, the indices and the times all
//! agree: the list is the real-time order the checker relies on. A client records its
//! invocation *before* sending the request and its completion *after* the reply arrived, so
//! every operation's true effect lies inside its recorded interval.

use std::sync::Mutex;
use std::time::Instant;

use crate::history::{Datum, Event, EventType, OpFn, Payload};
use crate::lock_history::{LockOp, LockRecord};
use crate::txn_history::{Mop, TxnEvent};
use crate::watch_history::{WatchOp, WatchRecord};

/// One line of the history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A client event, with the reason for a `:fail` or `:info` completion (Jepsen's
    /// `:error`).
    Op {
        /// The event.
        event: Event,
        /// Why the operation failed or is indeterminate; `None` for invocations and for
        /// definite answers (including a compare-and-swap that did not match).
        error: Option<String>,
    },
    /// A transaction event (`:f :txn`, the `--workload txn` shape), with its `:error`.
    Txn {
        /// The event.
        event: TxnEvent,
        /// Why the transaction failed or is indeterminate (`None` for a definite answer,
        /// including a compare that did not hold).
        error: Option<String>,
    },
    /// A watch-workload event (`--workload watch`): a put, or a watcher's stream start, events,
    /// stop or catch-up, with the reason for a `:fail` or `:info` put.
    Watch {
        /// The event.
        record: WatchRecord,
        /// Why the put failed or is indeterminate.
        error: Option<String>,
    },
    /// A lock-workload event (`--workload lock`): a grant, keepalive answer, acquisition,
    /// guarded increment, loss or release, with the reason for a `:fail` or `:info`.
    Lock {
        /// The event.
        record: LockRecord,
        /// Why the request failed or is indeterminate.
        error: Option<String>,
    },
    /// A nemesis action (`:process :nemesis`, `:type :info`).
    Nemesis {
        /// `:f`, such as `:start-partition` or `:stop-kill`.
        f: String,
        /// `:value`: what was done.
        value: String,
        /// `:time`.
        time: i64,
        /// `:index`.
        index: i64,
    },
}

impl Entry {
    /// The entry's `:time`.
    pub fn time(&self) -> i64 {
        match self {
            Entry::Op { event, .. } => event.time,
            Entry::Txn { event, .. } => event.time,
            Entry::Watch { record, .. } => record.time,
            Entry::Lock { record, .. } => record.time,
            Entry::Nemesis { time, .. } => *time,
        }
    }
}

/// Collects the history of one run; shared by every client and the nemesis.
#[derive(Debug)]
pub struct Recorder {
    start: Instant,
    entries: Mutex<Vec<Entry>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Recorder::new()
    }
}

impl Recorder {
    /// A recorder whose time zero is now.
    pub fn new() -> Recorder {
        Recorder {
            start: Instant::now(),
            entries: Mutex::new(Vec::new()),
        }
    }

    /// Nanoseconds since time zero.
    pub fn now_ns(&self) -> i64 {
        i64::try_from(self.start.elapsed().as_nanos()).unwrap_or(i64::MAX)
    }

    fn push(&self, make: impl FnOnce(i64, i64) -> Entry) -> i64 {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let index = entries.len() as i64;
        // Taken under the lock: times never go backwards along the list.
        let time = self.now_ns();
        entries.push(make(time, index));
        time
    }

    /// Records a client event on integer key `key`; returns its `:time`.
    pub fn op(
        &self,
        kind: EventType,
        f: OpFn,
        key: i64,
        value: Payload,
        process: i64,
        error: Option<String>,
    ) -> i64 {
        self.push(|time, index| Entry::Op {
            event: Event {
                kind,
                f,
                key: Some(Datum::Int(key)),
                value,
                process,
                time,
                index,
            },
            error,
        })
    }

    /// Records a transaction event; returns its `:time`.
    pub fn txn(&self, kind: EventType, mops: Vec<Mop>, process: i64, error: Option<String>) -> i64 {
        self.push(|time, index| Entry::Txn {
            event: TxnEvent {
                kind,
                mops,
                process,
                time,
                index,
            },
            error,
        })
    }

    /// Records a watch-workload event; returns its `:time`.
    pub fn watch(&self, op: WatchOp, process: i64, error: Option<String>) -> i64 {
        self.push(|time, index| Entry::Watch {
            record: WatchRecord {
                op,
                process,
                time,
                index,
            },
            error,
        })
    }

    /// Records a lock-workload event; returns its `:time`.
    pub fn lock(&self, op: LockOp, process: i64, error: Option<String>) -> i64 {
        self.push(|time, index| Entry::Lock {
            record: LockRecord {
                op,
                process,
                time,
                index,
            },
            error,
        })
    }

    /// Records a nemesis action; returns its `:time`.
    pub fn nemesis(&self, f: &str, value: &str) -> i64 {
        self.push(|time, index| Entry::Nemesis {
            f: f.to_string(),
            value: value.to_string(),
            time,
            index,
        })
    }

    /// A copy of the history so far.
    pub fn entries(&self) -> Vec<Entry> {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Number of entries so far.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// True before the first entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indices_and_times_follow_the_order_of_recording() {
        let recorder = Recorder::new();
        recorder.op(
            EventType::Invoke,
            OpFn::Write,
            1,
            Payload::Value(Some(Datum::Int(5))),
            0,
            None,
        );
        recorder.nemesis("start-kill", "kill 2");
        recorder.op(
            EventType::Info,
            OpFn::Write,
            1,
            Payload::Value(Some(Datum::Int(5))),
            0,
            Some("timeout".into()),
        );
        let entries = recorder.entries();
        assert_eq!(entries.len(), 3);
        assert!(entries.windows(2).all(|w| w[0].time() <= w[1].time()));
        match &entries[2] {
            Entry::Op { event, error } => {
                assert_eq!(event.index, 2);
                assert_eq!(event.key, Some(Datum::Int(1)));
                assert_eq!(error.as_deref(), Some("timeout"));
            }
            other => panic!("expected an op, got {other:?}"),
        }
    }
}
