//! The history in the three file formats of a run directory.
//!
//! - `history.edn`: Jepsen's shape, one map per line, client and nemesis events in real-time
//!   order; failed and indeterminate completions carry Jepsen's `:error`.
//! - `keys/key-K.edn`: one key's client events with a plain `:value`, re-indexed from 0, for
//!   tools that check one register (Knossos' `cas-register`). A delete is written as
//!   `:f :write, :value nil`, which is the same register operation, so those tools need no
//!   delete support.
//! - `history.jsonl`: the same events as JSON, one object per line.

use std::fmt::Write as _;

use serde_json::{json, Value as Json};

use crate::history::{Datum, Event, OpFn, Payload};
use crate::lock_history::Field;
use crate::recorder::Entry;
use crate::txn_history::Mop;
use crate::watch_history::{Change, WatchOp, WatchRecord};

/// The EDN text of one string (quoted and escaped as EDN reads it).
fn edn_string(text: &str) -> String {
    Datum::Str(text.to_string()).to_string()
}

/// `history.edn`: every entry, one per line.
pub fn history_edn(entries: &[Entry]) -> String {
    let mut out = String::new();
    for entry in entries {
        match entry {
            Entry::Op { event, error } => {
                push_with_error(&mut out, &event.to_string(), error.as_deref());
            }
            Entry::Txn { event, error } => {
                push_with_error(&mut out, &event.to_string(), error.as_deref());
            }
            Entry::Watch { record, error } => {
                push_with_error(&mut out, &record.to_string(), error.as_deref());
            }
            Entry::Lock { record, error } => {
                push_with_error(&mut out, &record.to_string(), error.as_deref());
            }
            Entry::Nemesis {
                f,
                value,
                time,
                index,
            } => {
                let _ = writeln!(
                    out,
                    "{{:type :info, :f :{f}, :value {}, :process :nemesis, :time {time}, :index {index}}}",
                    edn_string(value)
                );
            }
        }
    }
    out
}

/// One event line, with Jepsen's `:error` just before the closing brace.
fn push_with_error(out: &mut String, line: &str, error: Option<&str>) {
    match error {
        Some(error) => {
            let _ = writeln!(
                out,
                "{}, :error {}}}",
                &line[..line.len() - 1],
                edn_string(error)
            );
        }
        None => {
            let _ = writeln!(out, "{line}");
        }
    }
}

/// The client events of `entries`, in order.
pub fn client_events(entries: &[Entry]) -> Vec<Event> {
    entries
        .iter()
        .filter_map(|e| match e {
            Entry::Op { event, .. } => Some(event.clone()),
            Entry::Txn { .. }
            | Entry::Watch { .. }
            | Entry::Lock { .. }
            | Entry::Nemesis { .. } => None,
        })
        .collect()
}

/// The keys that appear in `entries`, sorted.
pub fn keys(entries: &[Entry]) -> Vec<Datum> {
    let mut keys: Vec<Datum> = client_events(entries)
        .into_iter()
        .filter_map(|e| e.key)
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// `keys/key-K.edn`: the register history of one key.
pub fn register_edn(entries: &[Entry], key: &Datum) -> String {
    let mut out = String::new();
    let events = client_events(entries)
        .into_iter()
        .filter(|e| e.key.as_ref() == Some(key));
    for (index, mut event) in events.enumerate() {
        event.key = None;
        event.index = index as i64;
        if event.f == OpFn::Delete {
            event.f = OpFn::Write;
            event.value = Payload::Value(None);
        }
        let _ = writeln!(out, "{event}");
    }
    out
}

fn datum_json(datum: &Option<Datum>) -> Json {
    match datum {
        None => Json::Null,
        Some(Datum::Int(n)) => json!(n),
        Some(Datum::Str(s)) => json!(s),
    }
}

/// `history.jsonl`: every entry as one JSON object per line.
pub fn history_jsonl(entries: &[Entry]) -> String {
    let mut out = String::new();
    for entry in entries {
        let object = match entry {
            Entry::Op { event, error } => {
                let value = match &event.value {
                    Payload::Value(v) => datum_json(v),
                    Payload::Cas { expected, new } => {
                        json!([datum_json(expected), datum_json(new)])
                    }
                };
                let mut object = json!({
                    "type": event.kind.to_string().trim_start_matches(':'),
                    "f": event.f.to_string().trim_start_matches(':'),
                    "key": event.key.as_ref().map_or(Json::Null, |k| datum_json(&Some(k.clone()))),
                    "value": value,
                    "process": event.process,
                    "time": event.time,
                    "index": event.index,
                });
                if let (Some(error), Some(map)) = (error, object.as_object_mut()) {
                    map.insert("error".into(), json!(error));
                }
                object
            }
            Entry::Txn { event, error } => {
                let mops: Vec<Json> = event
                    .mops
                    .iter()
                    .map(|m| match m {
                        Mop::Append(k, v) => json!(["append", k, v]),
                        Mop::Read(k, list) => json!(["r", k, list]),
                    })
                    .collect();
                let mut object = json!({
                    "type": event.kind.to_string().trim_start_matches(':'),
                    "f": "txn",
                    "value": mops,
                    "process": event.process,
                    "time": event.time,
                    "index": event.index,
                });
                if let (Some(error), Some(map)) = (error, object.as_object_mut()) {
                    map.insert("error".into(), json!(error));
                }
                object
            }
            Entry::Lock { record, error } => {
                let (kind, f, fields) = record.op.parts();
                let value: serde_json::Map<String, Json> = fields
                    .into_iter()
                    .map(|(k, v)| {
                        let v = match v {
                            Field::Int(n) => json!(n),
                            Field::Str(s) => json!(s),
                            Field::Bool(b) => json!(b),
                        };
                        (k.to_string(), v)
                    })
                    .collect();
                let mut object = json!({
                    "type": kind.to_string().trim_start_matches(':'),
                    "f": f,
                    "value": value,
                    "process": record.process,
                    "time": record.time,
                    "index": record.index,
                });
                if let (Some(error), Some(map)) = (error, object.as_object_mut()) {
                    map.insert("error".into(), json!(error));
                }
                object
            }
            Entry::Watch { record, error } => {
                let mut object = watch_json(record);
                if let (Some(error), Some(map)) = (error, object.as_object_mut()) {
                    map.insert("error".into(), json!(error));
                }
                object
            }
            Entry::Nemesis {
                f,
                value,
                time,
                index,
            } => json!({
                "type": "info",
                "f": f,
                "value": value,
                "process": "nemesis",
                "time": time,
                "index": index,
            }),
        };
        let _ = writeln!(out, "{object}");
    }
    out
}

/// One watch-workload record as JSON (the fields of its EDN line).
fn watch_json(record: &WatchRecord) -> Json {
    let changes = |changes: &[Change]| -> Vec<Json> {
        changes
            .iter()
            .map(|c| {
                json!([
                    c.revision,
                    c.kind.to_string().trim_start_matches(':'),
                    c.key,
                    c.value
                ])
            })
            .collect()
    };
    let (kind, f, mut object) = match &record.op {
        WatchOp::Put {
            kind,
            key,
            value,
            revision,
        } => (
            kind.to_string(),
            "put",
            json!({"value": [key, value], "revision": revision}),
        ),
        WatchOp::Start { node, from } => (
            ":info".into(),
            "watch-start",
            json!({"value": {"node": node, "from": from}}),
        ),
        WatchOp::Events {
            node,
            header,
            changes: c,
        } => (
            ":ok".into(),
            "watch",
            json!({"value": changes(c), "node": node, "revision": header}),
        ),
        WatchOp::Stop {
            node,
            reason,
            compacted,
        } => (
            ":info".into(),
            "watch-stop",
            json!({"value": {"node": node, "reason": reason}, "compact-revision": compacted}),
        ),
        WatchOp::Done { node, revision } => (
            ":ok".into(),
            "watch-done",
            json!({"value": {"node": node, "revision": revision}}),
        ),
    };
    if let Some(map) = object.as_object_mut() {
        map.insert("type".into(), json!(kind.trim_start_matches(':')));
        map.insert("f".into(), json!(f));
        map.insert("process".into(), json!(record.process));
        map.insert("time".into(), json!(record.time));
        map.insert("index".into(), json!(record.index));
    }
    object
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{pair_operations, parse_events, EventType};
    use crate::recorder::Recorder;

    fn sample() -> Vec<Entry> {
        let r = Recorder::new();
        let v = |n| Payload::Value(Some(Datum::Int(n)));
        r.op(EventType::Invoke, OpFn::Write, 1, v(5), 0, None);
        r.nemesis("start-kill", "kill-leader: kill -9 replica \"2\"");
        r.op(EventType::Ok, OpFn::Write, 1, v(5), 0, None);
        r.op(
            EventType::Invoke,
            OpFn::Delete,
            1,
            Payload::Value(None),
            1,
            None,
        );
        r.op(
            EventType::Info,
            OpFn::Delete,
            1,
            Payload::Value(None),
            1,
            Some("timeout".into()),
        );
        r.op(
            EventType::Invoke,
            OpFn::Read,
            2,
            Payload::Value(None),
            2,
            None,
        );
        r.op(EventType::Ok, OpFn::Read, 2, Payload::Value(None), 2, None);
        r.entries()
    }

    #[test]
    fn the_edn_history_is_jepsen_shaped_and_reads_back() {
        let edn = history_edn(&sample());
        let lines: Vec<&str> = edn.lines().collect();
        assert_eq!(lines.len(), 7);
        assert!(lines[0].starts_with("{:type :invoke, :f :write, :value [1 5], :process 0, :time "));
        assert!(lines[0].ends_with(", :index 0}"));
        assert!(lines[1].starts_with("{:type :info, :f :start-kill, :value \"kill-leader: kill -9 replica \\\"2\\\"\", :process :nemesis"));
        assert!(lines[4].ends_with(", :index 4, :error \"timeout\"}"));
        let events = parse_events(&edn).unwrap();
        assert_eq!(events.len(), 6, "nemesis events are skipped by the reader");
        assert_eq!(pair_operations(&events).unwrap().len(), 3);
    }

    #[test]
    fn register_files_are_plain_and_turn_deletes_into_nil_writes() {
        let entries = sample();
        assert_eq!(keys(&entries), vec![Datum::Int(1), Datum::Int(2)]);
        let one = register_edn(&entries, &Datum::Int(1));
        let lines: Vec<&str> = one.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("{:type :invoke, :f :write, :value 5, :process 0"));
        assert!(lines[0].ends_with(":index 0}"));
        assert!(lines[2].starts_with("{:type :invoke, :f :write, :value nil, :process 1"));
        assert!(lines[3].ends_with(":index 3}"));
        assert_eq!(parse_events(&one).unwrap().len(), 4);
    }

    #[test]
    fn json_lines_carry_every_field() {
        let jsonl = history_jsonl(&sample());
        let objects: Vec<Json> = jsonl
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(objects.len(), 7);
        assert_eq!(objects[0]["type"], "invoke");
        assert_eq!(objects[0]["f"], "write");
        assert_eq!(objects[0]["key"], 1);
        assert_eq!(objects[0]["value"], 5);
        assert_eq!(objects[1]["process"], "nemesis");
        assert_eq!(objects[4]["error"], "timeout");
        assert_eq!(objects[6]["value"], Json::Null);
    }
}
