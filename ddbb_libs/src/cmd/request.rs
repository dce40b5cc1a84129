//! Commands as typed key-value requests: what the server hands to its replica loop.

use bytes::Bytes;

use super::{Alarm, Command, Del, DelTarget, KeyRange, Lease, Put, Range, RangeView};
use crate::error::{Error, Result};
use crate::kv::{
    AlarmAction, AlarmRequest, AlarmType, CompactionRequest, Compare, CompareResult,
    DeleteRangeRequest, LeaseGrantRequest, PutRequest, RangeRequest, RequestOp, TxnRequest,
    WriteRequest,
};
use crate::types::{Consistency, RequestId};

/// What a command asks of the store.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvRequest {
    /// A read, linearizable or serializable.
    Read(RangeRequest, Consistency),
    /// A write through the log, with the client's request id if it gave one.
    Write(Option<RequestId>, WriteRequest),
}

/// etcd's `[key, range_end)` for a RESP key range: an empty start is the lowest key (`\0`:
/// keys are never empty), no end is "every key from start" (`\0`).
fn etcd_range(range: &KeyRange) -> (Bytes, Bytes) {
    let key = if range.start.is_empty() {
        Bytes::from_static(&[0])
    } else {
        range.start.clone()
    };
    let end = range.end.clone().unwrap_or(Bytes::from_static(&[0]));
    (key, end)
}

fn range_request(r: &Range) -> RangeRequest {
    let (key, range_end) = etcd_range(&r.range);
    let (sort_target, sort_order) = r.sort.unwrap_or_default();
    let count_only = r.view == RangeView::CountOnly;
    RangeRequest {
        key,
        range_end,
        limit: if count_only {
            0
        } else {
            r.limit.map_or(0, |l| i64::try_from(l).unwrap_or(i64::MAX))
        },
        revision: r.revision,
        sort_order,
        sort_target,
        serializable: r.consistency == Consistency::Serializable,
        keys_only: r.view == RangeView::KeysOnly,
        count_only,
        min_mod_revision: r.filters[0],
        max_mod_revision: r.filters[1],
        min_create_revision: r.filters[2],
        max_create_revision: r.filters[3],
    }
}

fn put_request(p: &Put) -> WriteRequest {
    let put = PutRequest {
        key: p.key.clone(),
        value: p.value.clone(),
        lease: p.lease,
        prev_kv: p.prev_kv,
        ..Default::default()
    };
    match p.if_revision {
        None => WriteRequest::Put(put),
        Some(rev) => WriteRequest::Txn(TxnRequest {
            compare: vec![Compare::modified(
                p.key.clone(),
                CompareResult::Equal,
                i64::try_from(rev).unwrap_or(i64::MAX),
            )],
            success: vec![RequestOp::Put(put)],
            failure: Vec::new(),
        }),
    }
}

fn del_request(d: &Del) -> WriteRequest {
    let one = |key: &Bytes, range_end: Bytes| DeleteRangeRequest {
        key: key.clone(),
        range_end,
        prev_kv: d.prev_kv,
    };
    match &d.target {
        DelTarget::Keys(keys) if keys.len() == 1 => {
            WriteRequest::DeleteRange(one(&keys[0], Bytes::new()))
        }
        DelTarget::Keys(keys) => WriteRequest::Txn(TxnRequest {
            compare: Vec::new(),
            success: keys
                .iter()
                .map(|k| RequestOp::DeleteRange(one(k, Bytes::new())))
                .collect(),
            failure: Vec::new(),
        }),
        DelTarget::Range(range) => {
            let (key, end) = etcd_range(range);
            WriteRequest::DeleteRange(one(&key, end))
        }
    }
}

/// A command inside a `TXN` as a Txn operation.
fn request_op(command: &Command) -> Result<RequestOp> {
    match command.kv_request() {
        Some(KvRequest::Read(r, _)) => Ok(RequestOp::Range(r)),
        Some(KvRequest::Write(_, WriteRequest::Put(p))) => Ok(RequestOp::Put(p)),
        Some(KvRequest::Write(_, WriteRequest::DeleteRange(d))) => Ok(RequestOp::DeleteRange(d)),
        Some(KvRequest::Write(_, WriteRequest::Txn(t))) => Ok(RequestOp::Txn(t)),
        _ => Err(Error::invalid(
            "a TXN operation must be GET, RANGE, SET, PUT, DEL, DELRANGE, CAS or TXN",
        )),
    }
}

impl Command {
    /// The typed request, or `None` for commands the server answers by itself (`PING`,
    /// `STATUS`, `QUIT`, Redis housekeeping). A `TXN` whose operations are not all key-value
    /// operations cannot be built by the parser, so it never fails here.
    pub fn kv_request(&self) -> Option<KvRequest> {
        let write = |id: Option<RequestId>, w| Some(KvRequest::Write(id, w));
        match self {
            Command::Get(g) => Some(KvRequest::Read(
                RangeRequest {
                    revision: g.revision,
                    serializable: g.consistency == Consistency::Serializable,
                    ..RangeRequest::key(g.key.clone())
                },
                g.consistency,
            )),
            Command::Range(r) => Some(KvRequest::Read(range_request(r), r.consistency)),
            Command::Put(p) => write(p.request, put_request(p)),
            Command::Del(d) => write(d.request, del_request(d)),
            Command::Cas(c) => write(
                c.request,
                WriteRequest::Txn(TxnRequest {
                    compare: vec![Compare::value(
                        c.key.clone(),
                        CompareResult::Equal,
                        c.expected.clone(),
                    )],
                    success: vec![RequestOp::Put(PutRequest::new(
                        c.key.clone(),
                        c.new.clone(),
                    ))],
                    failure: Vec::new(),
                }),
            ),
            Command::Txn(t) => {
                let ops = |cs: &[Command]| cs.iter().map(request_op).collect::<Result<Vec<_>>>();
                let txn = TxnRequest {
                    compare: t.compare.clone(),
                    success: ops(&t.success).ok()?,
                    failure: ops(&t.failure).ok()?,
                };
                write(t.request, WriteRequest::Txn(txn))
            }
            Command::Compact(c) => write(
                c.request,
                WriteRequest::Compact(CompactionRequest {
                    revision: c.revision,
                    physical: c.physical,
                }),
            ),
            Command::Alarm(a) => write(
                None,
                WriteRequest::Alarm(AlarmRequest {
                    action: match a {
                        Alarm::List => AlarmAction::Get,
                        Alarm::Disarm => AlarmAction::Deactivate,
                    },
                    member_id: 0,
                    alarm: AlarmType::None,
                }),
            ),
            Command::Lease(Lease::Grant { ttl, id }) => write(
                None,
                WriteRequest::LeaseGrant(LeaseGrantRequest { ttl: *ttl, id: *id }),
            ),
            Command::Lease(Lease::Revoke(id)) => write(None, WriteRequest::LeaseRevoke(*id)),
            Command::Lease(Lease::KeepAlive(id)) => write(None, WriteRequest::LeaseKeepAlive(*id)),
            Command::Lease(Lease::TimeToLive { .. } | Lease::List)
            | Command::Expire(_)
            | Command::Ttl(_)
            | Command::Ping(_)
            | Command::Status(_)
            | Command::Compat(_)
            | Command::WatchKv(_)
            | Command::Unwatch(_)
            | Command::WatchProgress
            | Command::Quit => None,
        }
    }
}
