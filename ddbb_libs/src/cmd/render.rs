//! Typed responses as RESP replies, and back: the reply format of each command lives here, so
//! the server (which renders) and clients (which parse) agree.

use bytes::Bytes;

use super::{Command, PutReply, RangeView};
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::kv::{
    AlarmMember, KeyValue, KvError, RangeResponse, ResponseOp, WriteOutcome, WriteResponse,
};
use crate::reply::ErrorCode;

/// A refused request as a RESP error (`-ERR <etcd's text>`; a forgotten duplicate is
/// `-DUPLICATE ...`: it did take effect).
pub fn render_error(e: &KvError) -> Frame {
    match e {
        KvError::Expired => ErrorCode::Duplicate.reply(e),
        _ => ErrorCode::Refused.reply(e),
    }
}

fn kv_or_nil(kv: Option<&KeyValue>) -> Frame {
    kv.map_or(Frame::Null, KeyValue::to_frame)
}

fn kvs(list: &[KeyValue]) -> Frame {
    Frame::Array(list.iter().map(KeyValue::to_frame).collect())
}

fn render_range(view: RangeView, r: &RangeResponse) -> Frame {
    let mut items = Vec::new();
    match view {
        RangeView::CountOnly => return Frame::Integer(r.count),
        RangeView::Pairs => {
            for kv in &r.kvs {
                items.push(Frame::Bulk(kv.key.clone()));
                items.push(Frame::Bulk(kv.value.clone()));
            }
        }
        RangeView::KeysOnly => items.extend(r.kvs.iter().map(|kv| Frame::Bulk(kv.key.clone()))),
        RangeView::WithRevisions => items.extend(r.kvs.iter().map(KeyValue::to_frame)),
    }
    Frame::Array(items)
}

fn render_alarms(alarms: &[AlarmMember]) -> Frame {
    Frame::Array(
        alarms
            .iter()
            .map(|a| {
                Frame::Array(vec![
                    Frame::Integer(a.member_id as i64),
                    Frame::Bulk(Bytes::from_static(a.alarm.name().as_bytes())),
                ])
            })
            .collect(),
    )
}

/// `status` alone, or `[status, extra]` when the client asked for previous kvs.
fn with_prev(status: Frame, prev: Option<Frame>) -> Frame {
    match prev {
        Some(prev) => Frame::Array(vec![status, prev]),
        None => status,
    }
}

impl Command {
    /// The reply to a read command (`GET`, `RANGE`) from its response.
    pub fn render_read(&self, r: &RangeResponse) -> Frame {
        match self {
            Command::Get(_) => r
                .kvs
                .first()
                .map_or(Frame::Null, |kv| Frame::Bulk(kv.value.clone())),
            Command::Range(range) => render_range(range.view, r),
            _ => Frame::err("internal error: not a read command"),
        }
    }

    /// The reply to a write command from what it came to.
    pub fn render_write(&self, outcome: &WriteOutcome) -> Frame {
        if let Command::Expire(_) = self {
            // The put that moved the key to its new lease.
            return match &outcome.result {
                Ok(_) => Frame::Integer(1),
                Err(KvError::KeyNotFound) => Frame::Integer(0),
                Err(e) => render_error(e),
            };
        }
        let response = match &outcome.result {
            Ok(r) => r,
            Err(e) => return render_error(e),
        };
        let op = match response {
            WriteResponse::Compact(_) => return Frame::Simple("OK".into()),
            WriteResponse::Alarm(alarms) => return render_alarms(alarms),
            WriteResponse::LeaseRevoke => return Frame::Simple("OK".into()),
            WriteResponse::LeaseExpired(revoked) => return Frame::Integer(i64::from(*revoked)),
            WriteResponse::LeaseGrant(g) => {
                return Frame::Array(vec![Frame::Integer(g.id), Frame::Integer(g.ttl)])
            }
            WriteResponse::LeaseKeepAlive(k) => {
                return Frame::Array(vec![Frame::Integer(k.id), Frame::Integer(k.ttl)])
            }
            WriteResponse::Put(p) => ResponseOp::Put(p.clone()),
            WriteResponse::DeleteRange(d) => ResponseOp::DeleteRange(d.clone()),
            WriteResponse::Txn(t) => ResponseOp::Txn(t.clone()),
        };
        self.render_op(&op, outcome.revision)
    }

    /// The reply of this command (inside a `TXN` or alone) to its operation's response;
    /// `revision` is the revision after the write.
    fn render_op(&self, op: &ResponseOp, revision: i64) -> Frame {
        match (self, op) {
            (Command::Get(_) | Command::Range(_), ResponseOp::Range(r)) => self.render_read(r),
            (Command::Put(p), _) => {
                // A plain put answers Put; one with IFREV answers a Txn around it.
                let (written, prev) = match op {
                    ResponseOp::Put(r) => (true, r.prev_kv.as_ref()),
                    ResponseOp::Txn(t) => match t.responses.first() {
                        Some(ResponseOp::Put(r)) if t.succeeded => (true, r.prev_kv.as_ref()),
                        _ => (false, None),
                    },
                    _ => (false, None),
                };
                let status = match (p.reply, written) {
                    (PutReply::Ok, true) => Frame::Simple("OK".into()),
                    (PutReply::Ok, false) => Frame::Null,
                    (PutReply::Revision, true) => Frame::Integer(revision),
                    (PutReply::Revision, false) => Frame::Integer(0),
                };
                with_prev(status, p.prev_kv.then(|| kv_or_nil(prev)))
            }
            (Command::Del(d), _) => {
                let mut deleted = 0;
                let mut prev = Vec::new();
                let mut add = |r: &ResponseOp| {
                    if let ResponseOp::DeleteRange(r) = r {
                        deleted += r.deleted;
                        prev.extend(r.prev_kvs.iter().cloned());
                    }
                };
                match op {
                    ResponseOp::Txn(t) => t.responses.iter().for_each(&mut add),
                    other => add(other),
                }
                with_prev(Frame::Integer(deleted), d.prev_kv.then(|| kvs(&prev)))
            }
            (Command::Cas(_), ResponseOp::Txn(t)) => Frame::Integer(t.succeeded as i64),
            (Command::Txn(txn), ResponseOp::Txn(t)) => {
                let branch = if t.succeeded {
                    &txn.success
                } else {
                    &txn.failure
                };
                let replies = branch
                    .iter()
                    .zip(&t.responses)
                    .map(|(c, r)| c.render_op(r, revision))
                    .collect();
                Frame::Array(vec![
                    Frame::Integer(t.succeeded as i64),
                    Frame::Integer(revision),
                    Frame::Array(replies),
                ])
            }
            _ => Frame::err("internal error: response does not match the command"),
        }
    }
}

/// A `TXN` reply, as clients read it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TxnReply {
    /// Whether every compare held.
    pub succeeded: bool,
    /// The store revision after the transaction.
    pub revision: i64,
    /// The replies of the operations that ran, in order, each shaped as its command's.
    pub replies: Vec<Frame>,
}

impl TxnReply {
    /// Reads a `TXN` reply (an error reply is an `Err` with its text).
    pub fn from_frame(frame: Frame) -> Result<TxnReply> {
        let bad = || Error::invalid("malformed TXN reply");
        let items = match frame {
            Frame::Array(items) if items.len() == 3 => items,
            Frame::Error(e) => return Err(Error::invalid(e)),
            _ => return Err(bad()),
        };
        let mut it = items.into_iter();
        match (it.next(), it.next(), it.next()) {
            (Some(Frame::Integer(ok)), Some(Frame::Integer(revision)), Some(Frame::Array(r))) => {
                Ok(TxnReply {
                    succeeded: ok != 0,
                    revision,
                    replies: r,
                })
            }
            _ => Err(bad()),
        }
    }
}

/// Reads an array of kvs (`RANGE ... REVS`, `PREVKV` lists).
pub fn parse_kvs(frame: Frame) -> Result<Vec<KeyValue>> {
    match frame {
        Frame::Array(items) => items.into_iter().map(KeyValue::from_frame).collect(),
        _ => Err(Error::invalid("expected an array of key-values")),
    }
}
