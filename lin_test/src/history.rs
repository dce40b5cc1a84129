//! Jepsen operation events: parsing from EDN, writing back, and pairing into operations.
//!
//! An event is one line of a Jepsen history:
//! `{:type :invoke|:ok|:fail|:info, :f :read|:write|:cas|:delete, :value V, :process P, :time T, :index I}`.
//! Two shapes of `:value` are accepted, decided per event by the shape of the value:
//!
//! | `:f`      | single register (Jepsen's etcd test) | multi-key (DDBB)        |
//! |-----------|--------------------------------------|-------------------------|
//! | `:read`   | `nil` / `v`                          | `[k nil]` / `[k v]`     |
//! | `:write`  | `v`                                  | `[k v]`                 |
//! | `:cas`    | `[old new]`                          | `[k [old new]]`         |
//! | `:delete` | `nil`                                | `[k nil]` (or `[k n]`)  |
//!
//! Keys and values are integers or strings ([`Datum`]); `nil` means absent.
//!
//! Events whose `:process` is not an integer (Jepsen's `:nemesis`) are not client operations
//! and are skipped. Other map entries (`:error`, `:node`, ...) are ignored. A missing `:index`
//! or `:time` defaults to the event's ordinal in the file. The file may also be one vector of
//! event maps (Knossos' test data style). Line order is real-time order.

use std::collections::HashMap;
use std::fmt;
use std::io::{self, Write};
use std::path::Path;

use crate::edn::{Reader, Value};
use crate::error::{Error, Result};

/// A scalar key or register value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Datum {
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
}

/// Which register an operation touches.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// The one register of a single-register history (plain `:value` shape).
    Single,
    /// A named key of a multi-key history (`:value [k ...]` shape).
    Named(Datum),
}

/// The `:type` of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EventType {
    /// The operation started.
    Invoke,
    /// The operation completed and took effect.
    Ok,
    /// The operation certainly did not take effect.
    Fail,
    /// Unknown whether the operation took effect (e.g. a timeout).
    Info,
}

/// The `:f` of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpFn {
    /// Read the register.
    Read,
    /// Overwrite the register.
    Write,
    /// Compare-and-swap on the value.
    Cas,
    /// Remove the key (the register becomes absent).
    Delete,
}

/// The payload of `:value` once the key, if any, is split off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// A single value: the value read or written, `nil` for none (or a delete count).
    Value(Option<Datum>),
    /// The `[expected new]` pair of a compare-and-swap.
    Cas {
        /// The value the register must hold for the swap to happen.
        expected: Option<Datum>,
        /// The value written when it does.
        new: Option<Datum>,
    },
}

/// One line of a history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// `:type`.
    pub kind: EventType,
    /// `:f`.
    pub f: OpFn,
    /// The key of a multi-key event, `None` for the single-register shape.
    pub key: Option<Datum>,
    /// `:value` without the key.
    pub value: Payload,
    /// `:process`.
    pub process: i64,
    /// `:time` (nanoseconds in Jepsen; only written back, ordering comes from line order).
    pub time: i64,
    /// `:index`.
    pub index: i64,
}

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Completed with `:ok`: it took effect between invocation and completion.
    Ok,
    /// Completed with `:fail`: it did not take effect.
    Fail,
    /// Completed with `:info`, or never completed: it may take effect any time after its
    /// invocation, or never.
    Info,
}

/// What an operation did, with the values that matter to the register model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// A read; the value is the one returned (meaningful only for [`Outcome::Ok`]).
    Read(Option<Datum>),
    /// A write of a value (`None` writes absence).
    Write(Option<Datum>),
    /// A compare-and-swap.
    Cas {
        /// Required current value.
        expected: Option<Datum>,
        /// Value written on success.
        new: Option<Datum>,
    },
    /// A delete: the key becomes absent.
    Delete,
}

/// Where an event sits in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRef {
    /// 0-based position in the event list (real-time order).
    pub position: usize,
    /// The event's `:index`.
    pub index: i64,
    /// The event's `:time`.
    pub time: i64,
}

/// An invocation paired with its completion, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// The Jepsen process that ran it.
    pub process: i64,
    /// The register it touched.
    pub key: Key,
    /// What it did.
    pub action: Action,
    /// How it ended; never-completed operations are [`Outcome::Info`].
    pub outcome: Outcome,
    /// The invocation event.
    pub invoke: EventRef,
    /// The completion event; `None` if it never completed.
    pub completion: Option<EventRef>,
}

/// Parses a history from EDN text.
///
/// # Errors
/// [`Error::Syntax`] for malformed EDN, [`Error::InvalidEvent`] for a form that is not an event.
pub fn parse_events(text: &str) -> Result<Vec<Event>> {
    let mut reader = Reader::new(text);
    reader.skip_blank()?;
    let mut events = Vec::new();
    if matches!(reader.peek(), Some('[' | '(')) {
        // One collection of events: element positions are not tracked, so errors name the
        // element's ordinal and the collection's line.
        let Some((start, form)) = reader.next_form()? else {
            return Ok(events);
        };
        if reader.next_form()?.is_some() {
            return Err(reader.error("expected only one collection of events"));
        }
        for (ordinal, item) in form.as_seq().unwrap_or_default().iter().enumerate() {
            let event = event_from_edn(item, ordinal).map_err(|message| Error::InvalidEvent {
                line: start.line,
                message: format!("element {ordinal}: {message}"),
            })?;
            events.extend(event);
        }
        return Ok(events);
    }
    let mut ordinal = 0;
    while let Some((start, form)) = reader.next_form()? {
        let event = event_from_edn(&form, ordinal).map_err(|message| Error::InvalidEvent {
            line: start.line,
            message,
        })?;
        events.extend(event);
        ordinal += 1;
    }
    Ok(events)
}

/// Reads and parses a history file.
///
/// # Errors
/// [`Error::Io`] if the file cannot be read, else as [`parse_events`].
pub fn read_events(path: &Path) -> Result<Vec<Event>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_events(&text)
}

/// Writes events as EDN, one map per line, in Jepsen's key order.
///
/// # Errors
/// Whatever `out` returns.
pub fn write_events<W: Write>(events: &[Event], mut out: W) -> io::Result<()> {
    for event in events {
        writeln!(out, "{event}")?;
    }
    out.flush()
}

/// Converts one EDN form into an event; `Ok(None)` for non-client events (such as the nemesis).
///
/// `ordinal` is the form's position in the file, the default for a missing `:index`/`:time`.
fn event_from_edn(form: &Value, ordinal: usize) -> Result<Option<Event>, String> {
    if !matches!(form, Value::Map(_)) {
        return Err("an event must be a map".to_string());
    }
    let process = match form.get_keyword("process") {
        Some(Value::Int(p)) => *p,
        Some(_) => return Ok(None),
        None => return Err("missing :process".to_string()),
    };
    let kind = EventType::from_edn(form)?;
    let f = match form.get_keyword("f") {
        Some(Value::Keyword(f)) => match f.as_str() {
            "read" => OpFn::Read,
            "write" => OpFn::Write,
            "cas" => OpFn::Cas,
            "delete" => OpFn::Delete,
            other => return Err(format!("unsupported :f :{other}")),
        },
        Some(other) => return Err(format!(":f must be a keyword, found {other}")),
        None => return Err("missing :f".to_string()),
    };
    let value = form.get_keyword("value").unwrap_or(&Value::Nil);
    let (key, value) = split_value(f, value)?;
    let ordinal = i64::try_from(ordinal).unwrap_or(i64::MAX);
    let integer_or_ordinal = |name: &str| match form.get_keyword(name) {
        None => Ok(ordinal),
        Some(Value::Int(n)) => Ok(*n),
        Some(other) => Err(format!(":{name} must be an integer, found {other}")),
    };
    Ok(Some(Event {
        kind,
        f,
        key,
        value,
        process,
        time: integer_or_ordinal("time")?,
        index: integer_or_ordinal("index")?,
    }))
}

/// Splits `:value` into its key (multi-key shape) and payload, by the shape of the value.
fn split_value(f: OpFn, value: &Value) -> Result<(Option<Datum>, Payload), String> {
    let pair = |v: &Value| match v.as_seq() {
        Some([a, b]) => Some((a.clone(), b.clone())),
        _ => None,
    };
    match f {
        OpFn::Cas => {
            if matches!(value, Value::Nil) {
                // Only meaningful on completions, where the invocation's value is used.
                return Ok((None, Payload::Value(None)));
            }
            let Some((first, second)) = pair(value) else {
                return Err(format!(
                    "a cas :value must be [old new] or [k [old new]], found {value}"
                ));
            };
            match pair(&second) {
                Some((expected, new)) => {
                    let key = key_datum(&first)?;
                    Ok((Some(key), cas_payload(&expected, &new)?))
                }
                None => Ok((None, cas_payload(&first, &second)?)),
            }
        }
        OpFn::Read | OpFn::Write | OpFn::Delete => match pair(value) {
            Some((k, v)) => Ok((Some(key_datum(&k)?), Payload::Value(datum(&v)?))),
            None => Ok((None, Payload::Value(datum(value)?))),
        },
    }
}

fn cas_payload(expected: &Value, new: &Value) -> Result<Payload, String> {
    Ok(Payload::Cas {
        expected: datum(expected)?,
        new: datum(new)?,
    })
}

fn datum(value: &Value) -> Result<Option<Datum>, String> {
    match value {
        Value::Nil => Ok(None),
        Value::Int(n) => Ok(Some(Datum::Int(*n))),
        Value::Str(s) => Ok(Some(Datum::Str(s.clone()))),
        other => Err(format!(
            "register values must be integers, strings or nil, found {other}"
        )),
    }
}

fn key_datum(value: &Value) -> Result<Datum, String> {
    match datum(value) {
        Ok(Some(key)) => Ok(key),
        Ok(None) => Err("a key cannot be nil".to_string()),
        Err(_) => Err(format!("keys must be integers or strings, found {value}")),
    }
}

/// Pairs each invocation with the next completion of the same process.
///
/// Operations come out in invocation order. Completions of writes, cas and deletes carry no
/// new information (Jepsen repeats the invoked value), so the invocation's value is used; a
/// read's value comes from its `:ok` completion.
///
/// # Errors
/// [`Error::InvalidHistory`] if a process invokes twice without completing, a completion has
/// no invocation, its `:f` differs, or an `:ok` completion names another key or lacks a value
/// the model needs.
pub fn pair_operations(events: &[Event]) -> Result<Vec<Operation>> {
    let mut ops: Vec<Operation> = Vec::new();
    // process -> index in `ops` of its outstanding invocation
    let mut outstanding: HashMap<i64, usize> = HashMap::new();
    for (position, event) in events.iter().enumerate() {
        let invalid = |message: String| Error::InvalidHistory {
            index: event.index,
            message,
        };
        let at = EventRef {
            position,
            index: event.index,
            time: event.time,
        };
        if event.kind == EventType::Invoke {
            if let Some(&previous) = outstanding.get(&event.process) {
                return Err(invalid(format!(
                    "process {} invokes again before completing the operation invoked at :index {}",
                    event.process, ops[previous].invoke.index
                )));
            }
            outstanding.insert(event.process, ops.len());
            ops.push(Operation {
                process: event.process,
                key: key_of(event),
                action: invoked_action(event).map_err(invalid)?,
                outcome: Outcome::Info,
                invoke: at,
                completion: None,
            });
            continue;
        }
        let Some(slot) = outstanding.remove(&event.process) else {
            return Err(invalid(format!(
                "process {} completes an operation it never invoked",
                event.process
            )));
        };
        let op = &mut ops[slot];
        if event.f != function_of(&op.action) {
            return Err(invalid(format!(
                "completion :f {:?} does not match the invocation's {:?} (:index {})",
                event.f,
                function_of(&op.action),
                op.invoke.index
            )));
        }
        op.completion = Some(at);
        op.outcome = match event.kind {
            EventType::Ok => Outcome::Ok,
            EventType::Fail => Outcome::Fail,
            EventType::Info | EventType::Invoke => Outcome::Info,
        };
        if op.outcome != Outcome::Ok {
            continue;
        }
        // An unkeyed completion is tolerated on writes (the invocation holds the key), but a
        // completion naming another key is a broken history.
        if event.key.is_some() && key_of(event) != op.key {
            return Err(invalid(format!(
                "completion key {} differs from the invocation's {}",
                key_of(event),
                op.key
            )));
        }
        if let Action::Read(read) = &mut op.action {
            if key_of(event) != op.key {
                return Err(invalid(format!(
                    "read completion key {} differs from the invocation's {}",
                    key_of(event),
                    op.key
                )));
            }
            // `split_value` only builds `Payload::Cas` for `:f :cas`, never for a read.
            if let Payload::Value(v) = &event.value {
                *read = v.clone();
            }
        }
    }
    Ok(ops)
}

fn key_of(event: &Event) -> Key {
    match &event.key {
        Some(k) => Key::Named(k.clone()),
        None => Key::Single,
    }
}

fn function_of(action: &Action) -> OpFn {
    match action {
        Action::Read(_) => OpFn::Read,
        Action::Write(_) => OpFn::Write,
        Action::Cas { .. } => OpFn::Cas,
        Action::Delete => OpFn::Delete,
    }
}

fn invoked_action(event: &Event) -> Result<Action, String> {
    Ok(match (event.f, &event.value) {
        (OpFn::Read, _) => Action::Read(None),
        (OpFn::Delete, _) => Action::Delete,
        (OpFn::Write, Payload::Value(v)) => Action::Write(v.clone()),
        (OpFn::Cas, Payload::Cas { expected, new }) => Action::Cas {
            expected: expected.clone(),
            new: new.clone(),
        },
        (OpFn::Cas, Payload::Value(_)) => {
            return Err("a cas invocation needs [expected new] as its value".to_string())
        }
        (OpFn::Write, Payload::Cas { .. }) => {
            return Err("a write invocation needs a single value".to_string())
        }
    })
}

impl fmt::Display for Datum {
    /// EDN form: integers bare, strings quoted and escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Datum::Int(n) => write!(f, "{n}"),
            Datum::Str(s) => {
                f.write_str("\"")?;
                for c in s.chars() {
                    match c {
                        '"' => f.write_str("\\\"")?,
                        '\\' => f.write_str("\\\\")?,
                        '\n' => f.write_str("\\n")?,
                        '\r' => f.write_str("\\r")?,
                        '\t' => f.write_str("\\t")?,
                        c if c.is_control() => write!(f, "\\u{:04x}", c as u32)?,
                        c => write!(f, "{c}")?,
                    }
                }
                f.write_str("\"")
            }
        }
    }
}

impl fmt::Display for Key {
    /// `register` for the single register, else the key in EDN form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Single => f.write_str("register"),
            Key::Named(k) => write!(f, "{k}"),
        }
    }
}

/// `nil` or the datum, in EDN form.
struct Edn<'a>(&'a Option<Datum>);

impl fmt::Display for Edn<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(d) => write!(f, "{d}"),
            None => f.write_str("nil"),
        }
    }
}

impl fmt::Display for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Payload::Value(v) => write!(f, "{}", Edn(v)),
            Payload::Cas { expected, new } => write!(f, "[{} {}]", Edn(expected), Edn(new)),
        }
    }
}

impl EventType {
    /// The `:type` of an event map.
    ///
    /// # Errors
    /// A message when it is missing, not a keyword, or not one of Jepsen's four.
    pub fn from_edn(form: &Value) -> Result<EventType, String> {
        match form.get_keyword("type") {
            Some(Value::Keyword(t)) => match t.as_str() {
                "invoke" => Ok(EventType::Invoke),
                "ok" => Ok(EventType::Ok),
                "fail" => Ok(EventType::Fail),
                "info" => Ok(EventType::Info),
                other => Err(format!("unknown :type :{other}")),
            },
            Some(other) => Err(format!(":type must be a keyword, found {other}")),
            None => Err("missing :type".to_string()),
        }
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventType::Invoke => ":invoke",
            EventType::Ok => ":ok",
            EventType::Fail => ":fail",
            EventType::Info => ":info",
        })
    }
}

impl fmt::Display for OpFn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            OpFn::Read => ":read",
            OpFn::Write => ":write",
            OpFn::Cas => ":cas",
            OpFn::Delete => ":delete",
        })
    }
}

impl fmt::Display for Event {
    /// Jepsen's shape: `{:type :ok, :f :cas, :value [k [1 2]], :process 3, :time 7, :index 9}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{:type {}, :f {}, :value ", self.kind, self.f)?;
        match &self.key {
            Some(k) => write!(f, "[{k} {}]", self.value)?,
            None => write!(f, "{}", self.value)?,
        }
        write!(
            f,
            ", :process {}, :time {}, :index {}}}",
            self.process, self.time, self.index
        )
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Outcome::Ok => ":ok",
            Outcome::Fail => ":fail",
            Outcome::Info => ":info",
        })
    }
}

impl fmt::Display for Operation {
    /// One line for reports, e.g. `process 3 :read => 4 (:ok, :index 17..19)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "process {} ", self.process)?;
        match &self.action {
            Action::Read(v) if self.outcome == Outcome::Ok => write!(f, ":read => {}", Edn(v))?,
            Action::Read(_) => f.write_str(":read")?,
            Action::Write(v) => write!(f, ":write {}", Edn(v))?,
            Action::Cas { expected, new } => write!(f, ":cas [{} {}]", Edn(expected), Edn(new))?,
            Action::Delete => f.write_str(":delete")?,
        }
        let outcome = match (self.outcome, &self.completion) {
            (Outcome::Info, None) => "open".to_string(),
            (outcome, _) => outcome.to_string(),
        };
        write!(f, " ({outcome}, :index {}..", self.invoke.index)?;
        match &self.completion {
            Some(c) => write!(f, "{})", c.index),
            None => f.write_str(")"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(n: i64) -> Option<Datum> {
        Some(Datum::Int(n))
    }

    #[test]
    fn parses_the_single_register_shape() {
        let text = "\
{:type :invoke, :f :read, :value nil, :process 0, :time 0, :index 0}
{:type :ok, :f :read, :value 3, :process 0, :time 5, :index 1}
{:type :invoke, :f :cas, :value [1 4], :process 2, :time 6, :index 2}
{:type :info, :f :cas, :value [1 4], :process 2, :time 7, :index 3}
";
        let events = parse_events(text).unwrap();
        assert_eq!(events.len(), 4);
        assert_eq!(events[1].key, None);
        assert_eq!(events[1].value, Payload::Value(int(3)));
        assert_eq!(
            events[2].value,
            Payload::Cas {
                expected: int(1),
                new: int(4)
            }
        );
        let ops = pair_operations(&events).unwrap();
        assert_eq!(ops.len(), 2);
        assert_eq!(ops[0].key, Key::Single);
        assert_eq!(ops[0].action, Action::Read(int(3)));
        assert_eq!(ops[0].outcome, Outcome::Ok);
        assert_eq!(ops[1].outcome, Outcome::Info);
        assert_eq!(ops[1].completion.map(|c| c.index), Some(3));
    }

    #[test]
    fn parses_the_multi_key_shape_with_string_keys_and_values() {
        let text = r#"
{:type :invoke, :f :read, :value ["a" nil], :process 0, :time 0, :index 0}
{:type :invoke, :f :write, :value [7 "x y"], :process 1, :time 1, :index 1}
{:type :invoke, :f :cas, :value [7 ["x y" "z"]], :process 2, :time 2, :index 2}
{:type :invoke, :f :delete, :value [7 nil], :process 3, :time 3, :index 3}
{:type :ok, :f :read, :value ["a" 5], :process 0, :time 4, :index 4}
{:type :ok, :f :delete, :value [7 1], :process 3, :time 5, :index 5}
"#;
        let ops = pair_operations(&parse_events(text).unwrap()).unwrap();
        assert_eq!(ops.len(), 4);
        assert_eq!(ops[0].key, Key::Named(Datum::Str("a".into())));
        assert_eq!(ops[0].action, Action::Read(int(5)));
        assert_eq!(ops[1].key, Key::Named(Datum::Int(7)));
        assert_eq!(ops[1].action, Action::Write(Some(Datum::Str("x y".into()))));
        assert_eq!(
            ops[2].action,
            Action::Cas {
                expected: Some(Datum::Str("x y".into())),
                new: Some(Datum::Str("z".into()))
            }
        );
        assert_eq!(ops[2].completion, None, "never completed: open");
        assert_eq!(ops[2].outcome, Outcome::Info);
        assert_eq!(ops[3].action, Action::Delete);
        assert_eq!(ops[3].outcome, Outcome::Ok);
    }

    #[test]
    fn skips_nemesis_events_and_ignores_extra_fields() {
        let text = "\
{:type :info, :f :start, :value nil, :process :nemesis, :time 0, :index 0}
{:type :invoke, :f :write, :value 1, :process 0, :time 1, :index 1}
{:type :info, :f :write, :value 1, :process 0, :time 2, :index 2, :error :timeout}
";
        let events = parse_events(text).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].index, 1);
    }

    #[test]
    fn accepts_a_vector_of_events_and_defaults_missing_index_and_time() {
        let text = "[{:type :invoke, :f :write, :value 1, :process 0}\n \
                    {:type :ok, :f :write, :value 1, :process 0}]";
        let events = parse_events(text).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!((events[1].index, events[1].time), (1, 1));
    }

    #[test]
    fn round_trips_through_the_writer() {
        let text = r#"{:type :invoke, :f :cas, :value [3 [1 2]], :process 3, :time 123456789, :index 17}
{:type :ok, :f :cas, :value [3 [1 2]], :process 3, :time 123456790, :index 18}
{:type :invoke, :f :read, :value ["k\"q" nil], :process 1, :time 5, :index 19}
{:type :ok, :f :read, :value ["k\"q" "v\n"], :process 1, :time 6, :index 20}
{:type :invoke, :f :write, :value -4, :process 2, :time 7, :index 21}
{:type :fail, :f :write, :value -4, :process 2, :time 8, :index 22}
{:type :invoke, :f :cas, :value [nil 9], :process 4, :time 9, :index 23}
{:type :info, :f :cas, :value [nil 9], :process 4, :time 10, :index 24}
{:type :invoke, :f :delete, :value [3 nil], :process 5, :time 11, :index 25}
"#;
        let events = parse_events(text).unwrap();
        let mut out = Vec::new();
        write_events(&events, &mut out).unwrap();
        let written = String::from_utf8(out).unwrap();
        assert_eq!(written, text, "the writer reproduces Jepsen's exact shape");
        assert_eq!(parse_events(&written).unwrap(), events);
    }

    fn invalid_event(text: &str) -> String {
        match parse_events(text) {
            Err(Error::InvalidEvent { message, .. }) => message,
            other => panic!("expected an invalid event for {text:?}, got {other:?}"),
        }
    }

    #[test]
    fn rejects_malformed_events() {
        assert!(invalid_event("[1 2]").contains("must be a map"));
        assert!(invalid_event("{:type :ok, :f :read}").contains(":process"));
        assert!(invalid_event("{:f :read, :process 1}").contains(":type"));
        assert!(invalid_event("{:type :ok, :process 1}").contains(":f"));
        assert!(invalid_event("{:type :done, :f :read, :process 1}").contains(":type"));
        assert!(invalid_event("{:type :ok, :f :incr, :process 1}").contains(":f"));
        assert!(invalid_event("{:type :ok, :f :write, :value 1.5, :process 1}").contains("values"));
        assert!(invalid_event("{:type :ok, :f :cas, :value 1, :process 1}").contains("cas"));
        assert!(invalid_event("{:type :ok, :f :read, :value [nil 1], :process 1}").contains("nil"));
        assert!(invalid_event("{:type :ok, :f :read, :process 1, :time :x}").contains(":time"));
        match parse_events("{:type :ok, :f :read, :process 1}\n{:type :ok :f}") {
            Err(Error::Syntax { line: 2, .. }) => {}
            other => panic!("expected a syntax error on line 2, got {other:?}"),
        }
        match parse_events("\n\n{:type :ok, :f :read}") {
            Err(Error::InvalidEvent { line: 3, .. }) => {}
            other => panic!("expected an invalid event on line 3, got {other:?}"),
        }
    }

    fn invalid_history(text: &str) -> String {
        let events = parse_events(text).unwrap();
        match pair_operations(&events) {
            Err(Error::InvalidHistory { message, .. }) => message,
            other => panic!("expected an invalid history, got {other:?}"),
        }
    }

    #[test]
    fn rejects_histories_that_do_not_pair_up() {
        assert!(invalid_history(
            "{:type :invoke, :f :read, :process 1}\n{:type :invoke, :f :read, :process 1}"
        )
        .contains("invokes again"));
        assert!(invalid_history("{:type :ok, :f :read, :process 1}").contains("never invoked"));
        assert!(invalid_history(
            "{:type :invoke, :f :read, :process 1}\n{:type :ok, :f :write, :value 1, :process 1}"
        )
        .contains("does not match"));
        assert!(invalid_history(
            "{:type :invoke, :f :read, :value [1 nil], :process 1}\n\
             {:type :ok, :f :read, :value [2 5], :process 1}"
        )
        .contains("differs"));
        assert!(invalid_history(
            "{:type :invoke, :f :read, :value [1 nil], :process 1}\n\
             {:type :ok, :f :read, :value 5, :process 1}"
        )
        .contains("differs"));
        assert!(
            invalid_history("{:type :invoke, :f :cas, :value nil, :process 1}")
                .contains("cas invocation")
        );
    }

    #[test]
    fn operations_display_for_reports() {
        let text = "\
{:type :invoke, :f :read, :value nil, :process 0, :time 0, :index 0}
{:type :ok, :f :read, :value 3, :process 0, :time 5, :index 1}
{:type :invoke, :f :write, :value 4, :process 1, :time 6, :index 2}
";
        let ops = pair_operations(&parse_events(text).unwrap()).unwrap();
        assert_eq!(
            ops[0].to_string(),
            "process 0 :read => 3 (:ok, :index 0..1)"
        );
        assert_eq!(ops[1].to_string(), "process 1 :write 4 (open, :index 2..)");
    }
}
