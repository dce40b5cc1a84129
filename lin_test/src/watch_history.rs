//! Histories of the watch workload (`--workload watch`): writers' puts and watchers' streams.
//!
//! Writers put unique values to a few keys under a prefix; watchers watch the prefix and
//! record every event they receive, and every start and end of their streams. One line each,
//! in Jepsen's shape:
//!
//! ```text
//! {:type :invoke, :f :put, :value ["lin_test/watch/1" "17"], :process 0, :time 5, :index 0}
//! {:type :ok, :f :put, :value ["lin_test/watch/1" "17"], :revision 18, :process 0, :time 9, :index 1}
//! {:type :info, :f :watch-start, :value {:node 2, :from 18}, :process 6, :time 10, :index 2}
//! {:type :ok, :f :watch, :value [[18 :put "lin_test/watch/1" "17"]], :node 2, :revision 18, :process 6, :time 11, :index 3}
//! {:type :info, :f :watch-stop, :value {:node 2, :reason "resume elsewhere"}, :process 6, :time 12, :index 4}
//! {:type :ok, :f :watch-done, :value {:node 3, :revision 152}, :process 6, :time 13, :index 5}
//! ```
//!
//! `:revision` of a put is its response header's (the revision it created); that of a `:watch`
//! is the header's of the response (the replica's revision when it answered). A `:watch-stop`
//! after a compaction cancel carries `:compact-revision R` and the watcher resumes from `R`.
//! [`watcher_logs`] and [`puts`] turn the records into the checker's input
//! ([`crate::checker::watch`]).

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use ddbb_libs::NodeId;

use crate::edn::Value;
use crate::error::{Error, Result};
use crate::history::{Datum, EventType, Outcome};

/// Put or delete, as in etcd's `mvccpb.Event.EventType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChangeKind {
    /// A put.
    Put,
    /// A delete.
    Delete,
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChangeKind::Put => ":put",
            ChangeKind::Delete => ":delete",
        })
    }
}

/// One event a watcher received.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Change {
    /// The revision of the change (the event's `mod_revision`).
    pub revision: i64,
    /// Put or delete.
    pub kind: ChangeKind,
    /// The key.
    pub key: String,
    /// The value (empty for a delete).
    pub value: String,
}

impl fmt::Display for Change {
    /// `[18 :put "k" "v"]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{} {} {} {}]",
            self.revision,
            self.kind,
            Datum::Str(self.key.clone()),
            Datum::Str(self.value.clone())
        )
    }
}

/// What one line of a watch history records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchOp {
    /// A writer's put: invoked, or completed with a header revision when known.
    Put {
        /// `:invoke`, `:ok`, `:fail` or `:info`.
        kind: EventType,
        /// The key.
        key: String,
        /// The (unique) value.
        value: String,
        /// The revision the put created (`:ok` only).
        revision: Option<i64>,
    },
    /// A watcher opened a stream on `node` from revision `from`.
    Start {
        /// The replica.
        node: NodeId,
        /// The start revision asked for.
        from: i64,
    },
    /// A watcher received events.
    Events {
        /// The replica.
        node: NodeId,
        /// The response header's revision.
        header: i64,
        /// The events, in the order received.
        changes: Vec<Change>,
    },
    /// A watcher's stream ended.
    Stop {
        /// The replica.
        node: NodeId,
        /// Why (resumption, error, deadline).
        reason: String,
        /// The compacted revision of a compaction cancel (the watcher resumes there).
        compacted: Option<i64>,
    },
    /// A watcher caught up with the final revision after healing.
    Done {
        /// The replica.
        node: NodeId,
        /// The revision it caught up with.
        revision: i64,
    },
}

/// One line of a watch history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchRecord {
    /// What happened.
    pub op: WatchOp,
    /// The Jepsen process (a writer's changes after an `:info`; a watcher's never does).
    pub process: i64,
    /// `:time`.
    pub time: i64,
    /// `:index`.
    pub index: i64,
}

fn string(text: &str) -> Datum {
    Datum::Str(text.to_string())
}

impl fmt::Display for WatchRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tail = format!(
            ":process {}, :time {}, :index {}}}",
            self.process, self.time, self.index
        );
        match &self.op {
            WatchOp::Put {
                kind,
                key,
                value,
                revision,
            } => {
                write!(
                    f,
                    "{{:type {kind}, :f :put, :value [{} {}], ",
                    string(key),
                    string(value)
                )?;
                if let Some(r) = revision {
                    write!(f, ":revision {r}, ")?;
                }
                f.write_str(&tail)
            }
            WatchOp::Start { node, from } => write!(
                f,
                "{{:type :info, :f :watch-start, :value {{:node {node}, :from {from}}}, {tail}"
            ),
            WatchOp::Events {
                node,
                header,
                changes,
            } => {
                f.write_str("{:type :ok, :f :watch, :value [")?;
                for (i, c) in changes.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{c}")?;
                }
                write!(f, "], :node {node}, :revision {header}, {tail}")
            }
            WatchOp::Stop {
                node,
                reason,
                compacted,
            } => {
                write!(
                    f,
                    "{{:type :info, :f :watch-stop, :value {{:node {node}, :reason {}}}, ",
                    string(reason)
                )?;
                if let Some(c) = compacted {
                    write!(f, ":compact-revision {c}, ")?;
                }
                f.write_str(&tail)
            }
            WatchOp::Done { node, revision } => write!(
                f,
                "{{:type :ok, :f :watch-done, :value {{:node {node}, :revision {revision}}}, {tail}"
            ),
        }
    }
}

/// A writer's put, invocation paired with completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutOp {
    /// The Jepsen process.
    pub process: i64,
    /// The key.
    pub key: String,
    /// The value.
    pub value: String,
    /// How it ended (never completed: [`Outcome::Info`]).
    pub outcome: Outcome,
    /// The revision it created, when acknowledged with a header.
    pub revision: Option<i64>,
    /// The invocation's `:index`.
    pub index: i64,
}

/// One stream of a watcher.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The replica.
    pub node: NodeId,
    /// The start revision asked for.
    pub from: i64,
    /// The `:index` of its start.
    pub index: i64,
}

/// Everything one watcher received, across its streams.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WatcherLog {
    /// The watcher's process.
    pub process: i64,
    /// Its streams, in order.
    pub sessions: Vec<Session>,
    /// Every event received, in order, with the session it came in.
    pub changes: Vec<(usize, Change)>,
    /// Revisions it may legitimately have skipped: `[from, to)` ranges a compaction cancel
    /// made it jump over.
    pub skipped: Vec<(i64, i64)>,
    /// The revision it caught up with at the end, if it did.
    pub done: Option<i64>,
}

impl WatcherLog {
    /// The last revision received.
    pub fn last_revision(&self) -> Option<i64> {
        self.changes.last().map(|(_, c)| c.revision)
    }
}

/// True if `text` looks like a watch history (some event has `:f :watch...`).
pub fn is_watch_history(text: &str) -> bool {
    text.contains(":f :watch")
}

/// A parsed watch history: its records and the final revision the run read after healing
/// (`{:f :final-revision, :value "R", :process :nemesis}`), if any.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WatchHistory {
    /// The records, in order.
    pub records: Vec<WatchRecord>,
    /// The final revision.
    pub final_revision: Option<i64>,
}

fn int(form: &Value, name: &str) -> std::result::Result<i64, String> {
    match form.get_keyword(name) {
        Some(Value::Int(n)) => Ok(*n),
        other => Err(format!(":{name} must be an integer, found {other:?}")),
    }
}

fn text(value: Option<&Value>, what: &str) -> std::result::Result<String, String> {
    match value {
        Some(Value::Str(s)) => Ok(s.clone()),
        other => Err(format!("{what} must be a string, found {other:?}")),
    }
}

fn change_from_edn(value: &Value) -> std::result::Result<Change, String> {
    let Some([Value::Int(revision), Value::Keyword(kind), key, value]) = value.as_seq() else {
        return Err(format!(
            "an event must be [revision :put|:delete key value], found {value}"
        ));
    };
    let kind = match kind.as_str() {
        "put" => ChangeKind::Put,
        "delete" => ChangeKind::Delete,
        other => return Err(format!("unknown event type :{other}")),
    };
    Ok(Change {
        revision: *revision,
        kind,
        key: text(Some(key), "a key")?,
        value: text(Some(value), "a value")?,
    })
}

fn record_from_edn(form: &Value, ordinal: i64) -> std::result::Result<Option<WatchRecord>, String> {
    let Some(Value::Keyword(f)) = form.get_keyword("f") else {
        return Ok(None);
    };
    let process = match form.get_keyword("process") {
        Some(Value::Int(p)) => *p,
        _ => return Ok(None),
    };
    let value = form.get_keyword("value");
    let field = |name: &str| value.map_or(Err(format!("missing :{name}")), |v| int(v, name));
    let node = || field("node").map(|n| n.max(0) as NodeId);
    let op = match f.as_str() {
        "put" => {
            let kind = EventType::from_edn(form)?;
            let Some([key, v]) = value.and_then(Value::as_seq) else {
                return Err("a put's :value must be [key value]".into());
            };
            WatchOp::Put {
                kind,
                key: text(Some(key), "a key")?,
                value: text(Some(v), "a value")?,
                revision: int(form, "revision").ok(),
            }
        }
        "watch-start" => WatchOp::Start {
            node: node()?,
            from: field("from")?,
        },
        "watch" => WatchOp::Events {
            node: int(form, "node")?.max(0) as NodeId,
            header: int(form, "revision")?,
            changes: value
                .and_then(Value::as_seq)
                .ok_or("a watch's :value must be a vector of events")?
                .iter()
                .map(change_from_edn)
                .collect::<std::result::Result<_, _>>()?,
        },
        "watch-stop" => WatchOp::Stop {
            node: node()?,
            reason: text(value.and_then(|v| v.get_keyword("reason")), ":reason")?,
            compacted: int(form, "compact-revision").ok(),
        },
        "watch-done" => WatchOp::Done {
            node: node()?,
            revision: field("revision")?,
        },
        _ => return Ok(None),
    };
    let number = |name: &str| int(form, name).unwrap_or(ordinal);
    Ok(Some(WatchRecord {
        op,
        process,
        time: number("time"),
        index: number("index"),
    }))
}

/// Parses a watch history (one map per line); other events are skipped.
///
/// # Errors
/// [`Error::Syntax`] for malformed EDN, [`Error::InvalidEvent`] for a watch event that is not
/// well formed.
pub fn parse_watch_history(text: &str) -> Result<WatchHistory> {
    let mut history = WatchHistory::default();
    for (ordinal, (start, form)) in crate::edn::parse_all(text)?.into_iter().enumerate() {
        if let Some(Value::Keyword(f)) = form.get_keyword("f") {
            if f == "final-revision" {
                if let Some(Value::Str(r)) = form.get_keyword("value") {
                    history.final_revision = r.trim().parse().ok();
                }
                continue;
            }
        }
        let record =
            record_from_edn(&form, ordinal as i64).map_err(|message| Error::InvalidEvent {
                line: start.line,
                message,
            })?;
        history.records.extend(record);
    }
    Ok(history)
}

/// The writers' puts, paired by process.
pub fn puts(records: &[WatchRecord]) -> Vec<PutOp> {
    let mut ops: Vec<PutOp> = Vec::new();
    let mut open: HashMap<i64, usize> = HashMap::new();
    for r in records {
        let WatchOp::Put {
            kind,
            key,
            value,
            revision,
        } = &r.op
        else {
            continue;
        };
        if *kind == EventType::Invoke {
            open.insert(r.process, ops.len());
            ops.push(PutOp {
                process: r.process,
                key: key.clone(),
                value: value.clone(),
                outcome: Outcome::Info,
                revision: None,
                index: r.index,
            });
            continue;
        }
        if let Some(i) = open.remove(&r.process) {
            ops[i].outcome = match kind {
                EventType::Ok => Outcome::Ok,
                EventType::Fail => Outcome::Fail,
                EventType::Info | EventType::Invoke => Outcome::Info,
            };
            ops[i].revision = *revision;
        }
    }
    ops
}

/// Every watcher's log, by process.
pub fn watcher_logs(records: &[WatchRecord]) -> Vec<WatcherLog> {
    let mut logs: BTreeMap<i64, WatcherLog> = BTreeMap::new();
    for r in records {
        let log = || WatcherLog {
            process: r.process,
            ..WatcherLog::default()
        };
        match &r.op {
            WatchOp::Put { .. } => {}
            WatchOp::Start { node, from } => {
                let log = logs.entry(r.process).or_insert_with(log);
                log.sessions.push(Session {
                    node: *node,
                    from: *from,
                    index: r.index,
                });
            }
            WatchOp::Events { changes, .. } => {
                let log = logs.entry(r.process).or_insert_with(log);
                let session = log.sessions.len().saturating_sub(1);
                log.changes
                    .extend(changes.iter().map(|c| (session, c.clone())));
            }
            WatchOp::Stop {
                compacted: Some(to),
                ..
            } => {
                let log = logs.entry(r.process).or_insert_with(log);
                let from = log.last_revision().map_or_else(
                    || log.sessions.last().map_or(1, |s| s.from),
                    |last| last + 1,
                );
                log.skipped.push((from, *to));
            }
            WatchOp::Stop { .. } => {}
            WatchOp::Done { revision, .. } => {
                logs.entry(r.process).or_insert_with(log).done = Some(*revision);
            }
        }
    }
    logs.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(op: WatchOp, process: i64, index: i64) -> WatchRecord {
        WatchRecord {
            op,
            process,
            time: index * 10,
            index,
        }
    }

    fn put(kind: EventType, revision: Option<i64>) -> WatchOp {
        WatchOp::Put {
            kind,
            key: "w/1".into(),
            value: "17".into(),
            revision,
        }
    }

    fn change(revision: i64) -> Change {
        Change {
            revision,
            kind: ChangeKind::Put,
            key: "w/1".into(),
            value: "17".into(),
        }
    }

    #[test]
    fn records_are_jepsen_shaped() {
        let lines = [
            record(put(EventType::Invoke, None), 0, 0),
            record(put(EventType::Ok, Some(18)), 0, 1),
            record(WatchOp::Start { node: 2, from: 18 }, 6, 2),
            record(
                WatchOp::Events {
                    node: 2,
                    header: 18,
                    changes: vec![change(18)],
                },
                6,
                3,
            ),
            record(
                WatchOp::Stop {
                    node: 2,
                    reason: "resume elsewhere".into(),
                    compacted: None,
                },
                6,
                4,
            ),
            record(
                WatchOp::Done {
                    node: 3,
                    revision: 152,
                },
                6,
                5,
            ),
        ];
        let text: Vec<String> = lines.iter().map(ToString::to_string).collect();
        assert_eq!(
            text[1],
            "{:type :ok, :f :put, :value [\"w/1\" \"17\"], :revision 18, :process 0, :time 10, :index 1}"
        );
        assert_eq!(
            text[3],
            "{:type :ok, :f :watch, :value [[18 :put \"w/1\" \"17\"]], :node 2, :revision 18, :process 6, :time 30, :index 3}"
        );
        assert!(text[2].starts_with("{:type :info, :f :watch-start, :value {:node 2, :from 18}"));
        assert!(text[4].contains(":reason \"resume elsewhere\"}"));
        assert!(text[5].contains(":f :watch-done, :value {:node 3, :revision 152}"));
        let mut edn: String = text.iter().map(|l| format!("{l}\n")).collect();
        edn.push_str(
            "{:type :info, :f :final-revision, :value \"152\", :process :nemesis, :time 70, :index 6}\n",
        );
        let parsed = parse_watch_history(&edn).unwrap();
        assert_eq!(parsed.records, lines);
        assert_eq!(parsed.final_revision, Some(152));
        assert!(is_watch_history(&edn));
        assert!(parse_watch_history("{:type :ok, :f :watch, :value [[1 :get \"k\" \"v\"]], :node 1, :revision 1, :process 1}").is_err());
    }

    #[test]
    fn puts_pair_and_logs_concatenate_sessions() {
        let records = [
            record(put(EventType::Invoke, None), 0, 0),
            record(WatchOp::Start { node: 1, from: 1 }, 6, 1),
            record(put(EventType::Ok, Some(2)), 0, 2),
            record(
                WatchOp::Events {
                    node: 1,
                    header: 2,
                    changes: vec![change(2)],
                },
                6,
                3,
            ),
            record(
                WatchOp::Stop {
                    node: 1,
                    reason: "compacted".into(),
                    compacted: Some(9),
                },
                6,
                4,
            ),
            record(WatchOp::Start { node: 2, from: 9 }, 6, 5),
            record(
                WatchOp::Events {
                    node: 2,
                    header: 9,
                    changes: vec![change(9)],
                },
                6,
                6,
            ),
        ];
        let ops = puts(&records);
        assert_eq!(ops.len(), 1);
        assert_eq!((ops[0].outcome, ops[0].revision), (Outcome::Ok, Some(2)));
        let logs = watcher_logs(&records);
        assert_eq!(logs.len(), 1);
        assert_eq!(logs[0].sessions.len(), 2);
        assert_eq!(logs[0].changes, vec![(0, change(2)), (1, change(9))]);
        assert_eq!(logs[0].skipped, vec![(3, 9)]);
    }
}
