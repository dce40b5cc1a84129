//! `COMPACT rev [PHYSICAL]` and `ALARM LIST|DISARM`

use bytes::Bytes;

use super::args::{keyword, push_request_id};
use super::put::parse_request_id;
use super::Args;
use crate::error::{Error, Result};
use crate::types::RequestId;

/// Drops the history below a revision on every replica (etcd's Compact).
///
/// # Format
/// `COMPACT rev [PHYSICAL] [REQID client seq]` → `+OK`, or
/// `-ERR etcdserver: mvcc: required revision has been compacted` when `rev` is not above the
/// last compaction. `PHYSICAL` is accepted for etcd's sake: compaction is always complete
/// when the reply comes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compact {
    /// Keep what a read at this revision needs; drop everything older.
    pub revision: i64,
    /// etcd's `physical` flag (no effect).
    pub physical: bool,
    /// Optional request id for exactly-once retries.
    pub request: Option<RequestId>,
}

impl Compact {
    pub(crate) fn parse(args: &mut Args) -> Result<Compact> {
        if args.remaining() == 0 {
            return Err(args.arity_error());
        }
        let mut c = Compact {
            revision: args.next_i64()?,
            physical: false,
            request: None,
        };
        while args.remaining() > 0 {
            match keyword(&args.next_bytes()?).as_str() {
                "PHYSICAL" => c.physical = true,
                "REQID" if c.request.is_none() => c.request = Some(parse_request_id(args)?),
                _ => return Err(Error::invalid("syntax error")),
            }
        }
        Ok(c)
    }

    pub(crate) fn words(&self) -> Vec<Bytes> {
        let mut w = vec![
            Bytes::from_static(b"COMPACT"),
            Bytes::from(self.revision.to_string()),
        ];
        if self.physical {
            w.push(Bytes::from_static(b"PHYSICAL"));
        }
        push_request_id(&mut w, &self.request);
        w
    }
}

/// Lists or clears the cluster's alarms (etcd's `alarm list` / `alarm disarm`).
///
/// # Format
/// `ALARM LIST` / `ALARM DISARM` → an array of `[member_id, alarm]` pairs (`alarm`: `NOSPACE`
/// or `CORRUPT`): the alarms raised, or, after `DISARM`, those still raised (none). Both go
/// through the log, so they are linearizable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alarm {
    /// `ALARM LIST`.
    List,
    /// `ALARM DISARM`: clear every alarm.
    Disarm,
}

impl Alarm {
    pub(crate) fn parse(args: &mut Args) -> Result<Alarm> {
        if args.remaining() != 1 {
            return Err(args.arity_error());
        }
        match keyword(&args.next_bytes()?).as_str() {
            "LIST" => Ok(Alarm::List),
            "DISARM" => Ok(Alarm::Disarm),
            _ => Err(Error::invalid("ALARM takes LIST or DISARM")),
        }
    }

    pub(crate) fn words(&self) -> Vec<Bytes> {
        let action: &'static [u8] = match self {
            Alarm::List => b"LIST",
            Alarm::Disarm => b"DISARM",
        };
        vec![Bytes::from_static(b"ALARM"), Bytes::from_static(action)]
    }
}
