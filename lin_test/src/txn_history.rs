//! Transaction histories in the shape of Jepsen's list-append workload (Elle's `append`).
//!
//! An event is one line of a Jepsen history with `:f :txn` and a vector of micro-operations:
//!
//! ```text
//! {:type :invoke, :f :txn, :value [[:append 3 1] [:r 4 nil]], :process 0, :time 5, :index 0}
//! {:type :ok, :f :txn, :value [[:append 3 1] [:r 4 [1 2]]], :process 0, :time 9, :index 1}
//! ```
//!
//! `[:append k v]` appends `v` to the list stored at key `k`; `[:r k l]` reads it (`nil` on the
//! invocation, the list read on an `:ok` completion; `nil` read means the empty list). Keys and
//! elements are integers. Events with a non-integer `:process` (the nemesis) or another `:f`
//! are skipped.

use std::collections::HashMap;
use std::fmt;

use crate::edn::{Reader, Value};
use crate::error::{Error, Result};
use crate::history::{EventRef, EventType, Outcome};

/// One micro-operation of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Mop {
    /// `[:r k l]`: the list read (`None` on invocations, or when not known).
    Read(i64, Option<Vec<i64>>),
    /// `[:append k v]`.
    Append(i64, i64),
}

impl Mop {
    /// The key.
    pub fn key(&self) -> i64 {
        match self {
            Mop::Read(k, _) | Mop::Append(k, _) => *k,
        }
    }
}

/// One `:f :txn` line of a history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnEvent {
    /// `:type`.
    pub kind: EventType,
    /// `:value`.
    pub mops: Vec<Mop>,
    /// `:process`.
    pub process: i64,
    /// `:time`.
    pub time: i64,
    /// `:index`.
    pub index: i64,
}

/// An invocation paired with its completion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txn {
    /// The Jepsen process.
    pub process: i64,
    /// The micro-operations: those of the `:ok` completion (with the lists read) when there is
    /// one, else those of the invocation.
    pub mops: Vec<Mop>,
    /// How it ended; never-completed transactions are [`Outcome::Info`].
    pub outcome: Outcome,
    /// The invocation.
    pub invoke: EventRef,
    /// The completion, if any.
    pub completion: Option<EventRef>,
}

/// Writes a list of elements as EDN (`[1 2 3]`).
struct List<'a>(&'a [i64]);

impl fmt::Display for List<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{v}")?;
        }
        f.write_str("]")
    }
}

impl fmt::Display for Mop {
    /// `[:append 3 1]`, `[:r 4 [1 2]]`, `[:r 4 nil]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mop::Append(k, v) => write!(f, "[:append {k} {v}]"),
            Mop::Read(k, None) => write!(f, "[:r {k} nil]"),
            Mop::Read(k, Some(list)) => write!(f, "[:r {k} {}]", List(list)),
        }
    }
}

/// The `:value` of a transaction: `[[:append 3 1] [:r 4 nil]]`.
pub struct Mops<'a>(pub &'a [Mop]);

impl fmt::Display for Mops<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{m}")?;
        }
        f.write_str("]")
    }
}

impl fmt::Display for TxnEvent {
    /// Jepsen's shape: `{:type :ok, :f :txn, :value [...], :process 3, :time 7, :index 9}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{{:type {}, :f :txn, :value {}, :process {}, :time {}, :index {}}}",
            self.kind,
            Mops(&self.mops),
            self.process,
            self.time,
            self.index
        )
    }
}

/// Lists read longer than this are shown by their last elements in reports.
const SHOWN_ELEMENTS: usize = 6;

impl fmt::Display for Txn {
    /// `process 3 [[:append 1 4] [:r 2 [1]]] (:ok, :index 17..19)`; long lists read are
    /// shortened to their last elements: `[:r 2 [... 8 9] (40 elements)]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "process {} [", self.process)?;
        for (i, m) in self.mops.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            match m {
                Mop::Read(k, Some(list)) if list.len() > SHOWN_ELEMENTS => {
                    let tail = &list[list.len() - SHOWN_ELEMENTS..];
                    let items: Vec<String> = tail.iter().map(i64::to_string).collect();
                    write!(
                        f,
                        "[:r {k} [... {}] ({} elements)]",
                        items.join(" "),
                        list.len()
                    )?;
                }
                other => write!(f, "{other}")?,
            }
        }
        f.write_str("] (")?;
        match &self.completion {
            Some(c) => write!(
                f,
                "{}, :index {}..{})",
                self.outcome, self.invoke.index, c.index
            ),
            None => write!(f, "open, :index {}..)", self.invoke.index),
        }
    }
}

fn int(value: &Value, what: &str) -> Result<i64, String> {
    match value {
        Value::Int(n) => Ok(*n),
        other => Err(format!("{what} must be an integer, found {other}")),
    }
}

fn mop_from_edn(value: &Value) -> Result<Mop, String> {
    let Some([f, k, v]) = value.as_seq() else {
        return Err(format!("a micro-operation must be [f k v], found {value}"));
    };
    let key = int(k, "a key")?;
    match f {
        Value::Keyword(name) if name == "append" => Ok(Mop::Append(key, int(v, "an element")?)),
        Value::Keyword(name) if name == "r" => match v {
            Value::Nil => Ok(Mop::Read(key, None)),
            other => match other.as_seq() {
                Some(items) => Ok(Mop::Read(
                    key,
                    Some(
                        items
                            .iter()
                            .map(|i| int(i, "an element"))
                            .collect::<Result<_, _>>()?,
                    ),
                )),
                None => Err(format!("a read must return a list or nil, found {other}")),
            },
        },
        other => Err(format!("unsupported micro-operation {other}")),
    }
}

fn event_from_edn(form: &Value, ordinal: usize) -> Result<Option<TxnEvent>, String> {
    if !matches!(form, Value::Map(_)) {
        return Err("an event must be a map".to_string());
    }
    let process = match form.get_keyword("process") {
        Some(Value::Int(p)) => *p,
        Some(_) => return Ok(None),
        None => return Err("missing :process".to_string()),
    };
    match form.get_keyword("f") {
        Some(Value::Keyword(f)) if f == "txn" => {}
        _ => return Ok(None),
    }
    let kind = EventType::from_edn(form)?;
    let mops = match form.get_keyword("value") {
        None | Some(Value::Nil) => Vec::new(),
        Some(v) => v
            .as_seq()
            .ok_or_else(|| format!("a txn :value must be a vector, found {v}"))?
            .iter()
            .map(mop_from_edn)
            .collect::<Result<_, _>>()?,
    };
    let ordinal = i64::try_from(ordinal).unwrap_or(i64::MAX);
    let number = |name: &str| match form.get_keyword(name) {
        Some(Value::Int(n)) => *n,
        _ => ordinal,
    };
    Ok(Some(TxnEvent {
        kind,
        mops,
        process,
        time: number("time"),
        index: number("index"),
    }))
}

/// True if `text` looks like a transaction history (some event has `:f :txn`).
pub fn is_txn_history(text: &str) -> bool {
    text.contains(":f :txn")
}

/// Parses the `:f :txn` events of a history (one map per line, or one vector of maps).
///
/// # Errors
/// [`Error::Syntax`] for malformed EDN, [`Error::InvalidEvent`] for a txn event that is not
/// well formed.
pub fn parse_txn_events(text: &str) -> Result<Vec<TxnEvent>> {
    let mut reader = Reader::new(text);
    reader.skip_blank()?;
    let mut forms = Vec::new();
    if matches!(reader.peek(), Some('[' | '(')) {
        if let Some((start, form)) = reader.next_form()? {
            for item in form.as_seq().unwrap_or_default() {
                forms.push((start.line, item.clone()));
            }
        }
    } else {
        while let Some((start, form)) = reader.next_form()? {
            forms.push((start.line, form));
        }
    }
    let mut events = Vec::new();
    for (ordinal, (line, form)) in forms.iter().enumerate() {
        let event = event_from_edn(form, ordinal).map_err(|message| Error::InvalidEvent {
            line: *line,
            message,
        })?;
        events.extend(event);
    }
    Ok(events)
}

/// Pairs each invocation with the next completion of its process.
///
/// # Errors
/// [`Error::InvalidHistory`] if a process invokes twice without completing, or completes
/// what it never invoked.
pub fn pair_txns(events: &[TxnEvent]) -> Result<Vec<Txn>> {
    let mut txns: Vec<Txn> = Vec::new();
    let mut outstanding: HashMap<i64, usize> = HashMap::new();
    for (position, event) in events.iter().enumerate() {
        let at = EventRef {
            position,
            index: event.index,
            time: event.time,
        };
        let invalid = |message: String| Error::InvalidHistory {
            index: event.index,
            message,
        };
        if event.kind == EventType::Invoke {
            if outstanding.insert(event.process, txns.len()).is_some() {
                return Err(invalid(format!(
                    "process {} invokes again before completing",
                    event.process
                )));
            }
            txns.push(Txn {
                process: event.process,
                mops: event.mops.clone(),
                outcome: Outcome::Info,
                invoke: at,
                completion: None,
            });
            continue;
        }
        let Some(slot) = outstanding.remove(&event.process) else {
            return Err(invalid(format!(
                "process {} completes a txn it never invoked",
                event.process
            )));
        };
        let txn = &mut txns[slot];
        txn.completion = Some(at);
        txn.outcome = match event.kind {
            EventType::Ok => Outcome::Ok,
            EventType::Fail => Outcome::Fail,
            EventType::Info | EventType::Invoke => Outcome::Info,
        };
        if txn.outcome == Outcome::Ok {
            if event.mops.len() != txn.mops.len() {
                return Err(invalid(
                    "the :ok completion has a different number of micro-operations".into(),
                ));
            }
            txn.mops = event.mops.clone();
        }
    }
    Ok(txns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_jepsen_append_events() {
        let text = "\
{:type :invoke, :f :txn, :value [[:append 3 1] [:r 4 nil]], :process 0, :time 5, :index 0}
{:type :ok, :f :txn, :value [[:append 3 1] [:r 4 [1 2]]], :process 0, :time 9, :index 1}
{:type :invoke, :f :txn, :value [[:r 3 nil]], :process 1, :time 10, :index 2}
{:type :info, :f :txn, :value [[:r 3 nil]], :process 1, :time 11, :index 3}
";
        let events = parse_txn_events(text).unwrap();
        let written: String = events.iter().map(|e| format!("{e}\n")).collect();
        assert_eq!(written, text);
        let txns = pair_txns(&events).unwrap();
        assert_eq!(txns.len(), 2);
        assert_eq!(txns[0].mops[1], Mop::Read(4, Some(vec![1, 2])));
        assert_eq!(txns[0].outcome, Outcome::Ok);
        assert_eq!(txns[1].outcome, Outcome::Info);
        assert!(is_txn_history(text));
    }

    #[test]
    fn skips_nemesis_and_register_events_and_rejects_bad_mops() {
        let text = "\
{:type :info, :f :start, :value nil, :process :nemesis}
{:type :invoke, :f :read, :value [1 nil], :process 0}
{:type :invoke, :f :txn, :value [[:r 1 nil]], :process 1}";
        assert_eq!(parse_txn_events(text).unwrap().len(), 1);
        assert!(parse_txn_events("{:type :ok, :f :txn, :value [[:w 1 2]], :process 1}").is_err());
        assert!(pair_txns(&parse_txn_events("{:type :ok, :f :txn, :process 1}").unwrap()).is_err());
    }
}
