//! Typed replies that are more than one frame: a key with its revisions, and `STATUS`.
//!
//! Simple replies (`+OK`, `:n`, bulk, nil) need no type; these two are arrays whose shape both
//! the server (which builds them) and clients (which read them) must agree on.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::kv::{AlarmMember, KeyValue};
use crate::types::{LogIndex, NodeId, Revision};

impl KeyValue {
    /// `[key, value, create_revision, mod_revision, version, lease]`
    pub fn to_frame(&self) -> Frame {
        Frame::Array(vec![
            Frame::Bulk(self.key.clone()),
            Frame::Bulk(self.value.clone()),
            Frame::Integer(self.create_revision),
            Frame::Integer(self.mod_revision),
            Frame::Integer(self.version),
            Frame::Integer(self.lease),
        ])
    }

    /// Reads the array [`KeyValue::to_frame`] writes (the lease may be missing).
    pub fn from_frame(frame: Frame) -> Result<KeyValue> {
        let bad = || Error::invalid("malformed key-value reply");
        let Frame::Array(items) = frame else {
            return Err(bad());
        };
        let mut it = items.into_iter();
        let mut bulk = || match it.next() {
            Some(Frame::Bulk(b)) => Ok(b),
            _ => Err(bad()),
        };
        let key = bulk()?;
        let value = bulk()?;
        let mut int = |optional: bool| match it.next() {
            Some(Frame::Integer(n)) => Ok(n),
            None if optional => Ok(0),
            _ => Err(bad()),
        };
        Ok(KeyValue {
            key,
            value,
            create_revision: int(false)?,
            mod_revision: int(false)?,
            version: int(false)?,
            lease: int(true)?,
        })
    }
}

/// What an error reply says about its request, by the error's first word (Redis' convention:
/// `-ERR ...`, `-WRONGTYPE ...`). This is the retry contract between replicas and clients.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// `ERR`: the request was refused and had no effect (bad syntax, a compacted revision,
    /// `NOSPACE`...). Retrying elsewhere does not help.
    Refused,
    /// `TIMEOUT`: not committed in time (no quorum reachable?). It may still take effect;
    /// another replica may do better.
    Timeout,
    /// `UNAVAILABLE`: the replica is shutting down. A write may or may not have been proposed;
    /// another replica may do better.
    Unavailable,
    /// `DUPLICATE`: a retried request that was applied long ago; it took effect, but its
    /// outcome is no longer remembered.
    Duplicate,
}

impl ErrorCode {
    /// Every code.
    pub const ALL: [ErrorCode; 4] = [
        ErrorCode::Refused,
        ErrorCode::Timeout,
        ErrorCode::Unavailable,
        ErrorCode::Duplicate,
    ];

    /// The first word of the error reply.
    pub fn word(self) -> &'static str {
        match self {
            ErrorCode::Refused => "ERR",
            ErrorCode::Timeout => "TIMEOUT",
            ErrorCode::Unavailable => "UNAVAILABLE",
            ErrorCode::Duplicate => "DUPLICATE",
        }
    }

    /// The code of an error reply's text (`ERR` for anything unknown).
    pub fn of(message: &str) -> ErrorCode {
        let word = message.split(' ').next().unwrap_or_default();
        ErrorCode::ALL
            .into_iter()
            .find(|c| c.word() == word)
            .unwrap_or(ErrorCode::Refused)
    }

    /// The error reply `<CODE> <message>`.
    pub fn reply(self, message: impl std::fmt::Display) -> Frame {
        Frame::Error(format!("{} {message}", self.word()))
    }

    /// Whether another replica might succeed where this one did not.
    pub fn is_retryable(self) -> bool {
        matches!(self, ErrorCode::Timeout | ErrorCode::Unavailable)
    }

    /// Whether the request certainly had no effect.
    pub fn had_no_effect(self) -> bool {
        self == ErrorCode::Refused
    }
}

/// A replica's report of itself, the reply to `STATUS`.
///
/// On the wire: a flat array of field names (bulk) and values (integers, or bulk text for
/// lists). Readers ignore unknown fields, so fields can be added.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusReply {
    /// This replica's id.
    pub id: NodeId,
    /// The leader this replica follows (0: none known).
    pub leader: NodeId,
    /// True when this replica is the leader in the accept phase.
    pub is_leader: bool,
    /// The ballot this replica promised, as `round.priority.pid`.
    pub ballot: String,
    /// Log entries known decided.
    pub decided_index: LogIndex,
    /// Log entries accepted locally.
    pub accepted_index: LogIndex,
    /// Log entries applied to the key-value state.
    pub applied_index: LogIndex,
    /// Log entries compacted away (covered by a snapshot).
    pub compacted_index: LogIndex,
    /// The store's revision.
    pub revision: Revision,
    /// Number of keys.
    pub keys: u64,
    /// Every replica of the cluster.
    pub members: Vec<NodeId>,
    /// Peers whose outgoing link is up now.
    pub connected_peers: Vec<NodeId>,
    /// Bytes of log storage on disk (0 for in-memory storage).
    pub wal_bytes: u64,
    /// fdatasync calls of the log storage since the replica started.
    pub fsyncs: u64,
    /// Log index covered by the latest state-machine snapshot (0: none).
    pub snapshot_index: LogIndex,
    /// Writes waiting to be committed at this replica.
    pub pending_writes: u64,
    /// Linearizable reads waiting for a read barrier at this replica.
    pub pending_reads: u64,
    /// The store's compacted revision (reads below it fail).
    pub compact_revision: u64,
    /// Estimated bytes of the MVCC store (what `--quota-backend-bytes` limits).
    pub db_size: u64,
    /// Raised alarms as `KIND:member,...` (e.g. `NOSPACE:1`); empty when none.
    pub alarms: String,
    /// The longest pass of the replica loop since it started, in microseconds (a pass handles
    /// the events that are ready, then proposes, syncs, sends and applies).
    pub longest_pass_us: u64,
    /// Where this replica serves etcd's gRPC API (`host:port`); empty when it does not.
    pub grpc_addr: String,
}

/// Formats alarms as [`StatusReply::alarms`] shows them.
pub fn alarm_list(alarms: &[AlarmMember]) -> String {
    let items: Vec<String> = alarms
        .iter()
        .map(|a| format!("{}:{}", a.alarm.name(), a.member_id))
        .collect();
    items.join(",")
}

fn join_ids(ids: &[NodeId]) -> Frame {
    let text: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
    Frame::Bulk(Bytes::from(text.join(",")))
}

fn split_ids(text: &[u8]) -> Result<Vec<NodeId>> {
    let text = std::str::from_utf8(text).map_err(|_| Error::invalid("malformed id list"))?;
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| Error::invalid("malformed id list")))
        .collect()
}

impl StatusReply {
    /// Field names and values in wire order.
    pub fn fields(&self) -> Vec<(&'static str, Frame)> {
        let int = |n: u64| Frame::Integer(n as i64);
        vec![
            ("id", int(self.id)),
            ("leader", int(self.leader)),
            ("is_leader", int(self.is_leader as u64)),
            ("ballot", Frame::Bulk(Bytes::from(self.ballot.clone()))),
            ("decided_index", int(self.decided_index as u64)),
            ("accepted_index", int(self.accepted_index as u64)),
            ("applied_index", int(self.applied_index as u64)),
            ("compacted_index", int(self.compacted_index as u64)),
            ("revision", int(self.revision)),
            ("keys", int(self.keys)),
            ("members", join_ids(&self.members)),
            ("connected_peers", join_ids(&self.connected_peers)),
            ("wal_bytes", int(self.wal_bytes)),
            ("fsyncs", int(self.fsyncs)),
            ("snapshot_index", int(self.snapshot_index as u64)),
            ("pending_writes", int(self.pending_writes)),
            ("pending_reads", int(self.pending_reads)),
            ("compact_revision", int(self.compact_revision)),
            ("db_size", int(self.db_size)),
            ("alarms", Frame::Bulk(Bytes::from(self.alarms.clone()))),
            ("longest_pass_us", int(self.longest_pass_us)),
            (
                "grpc_addr",
                Frame::Bulk(Bytes::from(self.grpc_addr.clone())),
            ),
        ]
    }

    /// The reply frame.
    pub fn to_frame(&self) -> Frame {
        let mut items = Vec::new();
        for (name, value) in self.fields() {
            items.push(Frame::Bulk(Bytes::from_static(name.as_bytes())));
            items.push(value);
        }
        Frame::Array(items)
    }

    /// Reads a `STATUS` reply; unknown fields are ignored.
    pub fn from_frame(frame: Frame) -> Result<StatusReply> {
        let bad = |what: &str| Error::invalid(format!("malformed status reply: {what}"));
        let Frame::Array(items) = frame else {
            return Err(bad("not an array"));
        };
        let mut out = StatusReply::default();
        let mut it = items.into_iter();
        while let (Some(name), Some(value)) = (it.next(), it.next()) {
            let Frame::Bulk(name) = name else {
                return Err(bad("field name"));
            };
            let int = || match &value {
                Frame::Integer(n) if *n >= 0 => Ok(*n as u64),
                _ => Err(bad("integer field")),
            };
            let text = || match &value {
                Frame::Bulk(b) => Ok(b.clone()),
                _ => Err(bad("text field")),
            };
            match &name[..] {
                b"id" => out.id = int()?,
                b"leader" => out.leader = int()?,
                b"is_leader" => out.is_leader = int()? != 0,
                b"ballot" => out.ballot = String::from_utf8_lossy(&text()?).into_owned(),
                b"decided_index" => out.decided_index = int()? as LogIndex,
                b"accepted_index" => out.accepted_index = int()? as LogIndex,
                b"applied_index" => out.applied_index = int()? as LogIndex,
                b"compacted_index" => out.compacted_index = int()? as LogIndex,
                b"revision" => out.revision = int()?,
                b"keys" => out.keys = int()?,
                b"members" => out.members = split_ids(&text()?)?,
                b"connected_peers" => out.connected_peers = split_ids(&text()?)?,
                b"wal_bytes" => out.wal_bytes = int()?,
                b"fsyncs" => out.fsyncs = int()?,
                b"snapshot_index" => out.snapshot_index = int()? as LogIndex,
                b"pending_writes" => out.pending_writes = int()?,
                b"pending_reads" => out.pending_reads = int()?,
                b"compact_revision" => out.compact_revision = int()?,
                b"db_size" => out.db_size = int()?,
                b"alarms" => out.alarms = String::from_utf8_lossy(&text()?).into_owned(),
                b"longest_pass_us" => out.longest_pass_us = int()?,
                b"grpc_addr" => out.grpc_addr = String::from_utf8_lossy(&text()?).into_owned(),
                _ => {}
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_roundtrips() {
        let kv = KeyValue {
            key: "k".into(),
            value: "v".into(),
            create_revision: 3,
            mod_revision: 9,
            version: 4,
            lease: 7,
        };
        assert_eq!(KeyValue::from_frame(kv.to_frame()).unwrap(), kv);
        assert!(KeyValue::from_frame(Frame::Null).is_err());
    }

    #[test]
    fn error_codes_roundtrip_through_their_first_word() {
        for code in ErrorCode::ALL {
            let Frame::Error(text) = code.reply("something happened") else {
                unreachable!()
            };
            assert_eq!(ErrorCode::of(&text), code);
        }
        assert_eq!(ErrorCode::of("WRONGTYPE x"), ErrorCode::Refused);
        assert!(ErrorCode::Timeout.is_retryable() && !ErrorCode::Refused.is_retryable());
        assert!(ErrorCode::Refused.had_no_effect() && !ErrorCode::Duplicate.had_no_effect());
    }

    #[test]
    fn status_roundtrips_and_ignores_unknown_fields() {
        let s = StatusReply {
            id: 2,
            leader: 1,
            is_leader: false,
            ballot: "3.0.1".into(),
            decided_index: 10,
            accepted_index: 11,
            applied_index: 10,
            compacted_index: 0,
            revision: 7,
            keys: 5,
            members: vec![1, 2, 3],
            connected_peers: vec![1, 3],
            wal_bytes: 1234,
            fsyncs: 99,
            snapshot_index: 8,
            pending_writes: 1,
            pending_reads: 2,
            compact_revision: 3,
            db_size: 4096,
            alarms: "NOSPACE:1".into(),
            longest_pass_us: 1500,
            grpc_addr: "127.0.0.1:2379".into(),
        };
        let Frame::Array(mut items) = s.to_frame() else {
            unreachable!()
        };
        items.push(Frame::bulk("future_field"));
        items.push(Frame::Integer(1));
        assert_eq!(StatusReply::from_frame(Frame::Array(items)).unwrap(), s);
    }
}
