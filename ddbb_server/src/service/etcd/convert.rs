//! Protobuf (`ddbb_proto::etcdserverpb`) ⇄ typed requests (`ddbb_libs::kv`): field for field,
//! since the typed model mirrors etcd's messages. Enum values outside etcd's are refused with
//! `InvalidArgument` rather than guessed.

use ddbb_libs::kv::{self, AlarmAction, AlarmMember, AlarmType};
use ddbb_proto::etcdserverpb as pb;
use ddbb_proto::mvccpb;
use tonic::Status;

fn bad_enum(what: &str, value: i32) -> Status {
    Status::invalid_argument(format!("etcdserver: unknown {what} {value}"))
}

/// A `RangeRequest`.
pub fn range_request(r: pb::RangeRequest) -> Result<kv::RangeRequest, Status> {
    let sort_order = match r.sort_order {
        0 => kv::SortOrder::None,
        1 => kv::SortOrder::Ascend,
        2 => kv::SortOrder::Descend,
        n => return Err(bad_enum("sort order", n)),
    };
    let sort_target = match r.sort_target {
        0 => kv::SortTarget::Key,
        1 => kv::SortTarget::Version,
        2 => kv::SortTarget::Create,
        3 => kv::SortTarget::Mod,
        4 => kv::SortTarget::Value,
        n => return Err(bad_enum("sort target", n)),
    };
    Ok(kv::RangeRequest {
        key: r.key,
        range_end: r.range_end,
        limit: r.limit,
        revision: r.revision,
        sort_order,
        sort_target,
        serializable: r.serializable,
        keys_only: r.keys_only,
        count_only: r.count_only,
        min_mod_revision: r.min_mod_revision,
        max_mod_revision: r.max_mod_revision,
        min_create_revision: r.min_create_revision,
        max_create_revision: r.max_create_revision,
    })
}

/// A `PutRequest`.
pub fn put_request(r: pb::PutRequest) -> kv::PutRequest {
    kv::PutRequest {
        key: r.key,
        value: r.value,
        lease: r.lease,
        prev_kv: r.prev_kv,
        ignore_value: r.ignore_value,
        ignore_lease: r.ignore_lease,
    }
}

/// A `DeleteRangeRequest`.
pub fn delete_request(r: pb::DeleteRangeRequest) -> kv::DeleteRangeRequest {
    kv::DeleteRangeRequest {
        key: r.key,
        range_end: r.range_end,
        prev_kv: r.prev_kv,
    }
}

fn compare(c: pb::Compare) -> Result<kv::Compare, Status> {
    use pb::compare::TargetUnion as P;
    let result = match c.result {
        0 => kv::CompareResult::Equal,
        1 => kv::CompareResult::Greater,
        2 => kv::CompareResult::Less,
        3 => kv::CompareResult::NotEqual,
        n => return Err(bad_enum("compare result", n)),
    };
    let target = match c.target {
        0 => kv::CompareTarget::Version,
        1 => kv::CompareTarget::Create,
        2 => kv::CompareTarget::Mod,
        3 => kv::CompareTarget::Value,
        4 => kv::CompareTarget::Lease,
        n => return Err(bad_enum("compare target", n)),
    };
    let target_union = c.target_union.map(|t| match t {
        P::Version(v) => kv::TargetUnion::Version(v),
        P::CreateRevision(v) => kv::TargetUnion::CreateRevision(v),
        P::ModRevision(v) => kv::TargetUnion::ModRevision(v),
        P::Value(v) => kv::TargetUnion::Value(v),
        P::Lease(v) => kv::TargetUnion::Lease(v),
    });
    Ok(kv::Compare {
        result,
        target,
        key: c.key,
        range_end: c.range_end,
        target_union,
    })
}

fn request_op(op: pb::RequestOp) -> Result<kv::RequestOp, Status> {
    use pb::request_op::Request as P;
    Ok(match op.request {
        Some(P::RequestRange(r)) => kv::RequestOp::Range(range_request(r)?),
        Some(P::RequestPut(r)) => kv::RequestOp::Put(put_request(r)),
        Some(P::RequestDeleteRange(r)) => kv::RequestOp::DeleteRange(delete_request(r)),
        Some(P::RequestTxn(r)) => kv::RequestOp::Txn(txn_request(r)?),
        None => {
            return Err(Status::invalid_argument(
                "etcdserver: empty request operation",
            ))
        }
    })
}

/// A `TxnRequest` (nested ones included; prost bounds the nesting depth while decoding).
pub fn txn_request(r: pb::TxnRequest) -> Result<kv::TxnRequest, Status> {
    let ops = |ops: Vec<pb::RequestOp>| -> Result<Vec<_>, Status> {
        ops.into_iter().map(request_op).collect()
    };
    Ok(kv::TxnRequest {
        compare: r
            .compare
            .into_iter()
            .map(compare)
            .collect::<Result<_, _>>()?,
        success: ops(r.success)?,
        failure: ops(r.failure)?,
    })
}

/// A `CompactionRequest`.
pub fn compaction_request(r: pb::CompactionRequest) -> kv::CompactionRequest {
    kv::CompactionRequest {
        revision: r.revision,
        physical: r.physical,
    }
}

/// An `AlarmRequest`.
pub fn alarm_request(r: &pb::AlarmRequest) -> Result<kv::AlarmRequest, Status> {
    let action = match r.action {
        0 => AlarmAction::Get,
        1 => AlarmAction::Activate,
        2 => AlarmAction::Deactivate,
        n => return Err(bad_enum("alarm action", n)),
    };
    let alarm = match r.alarm {
        0 => AlarmType::None,
        1 => AlarmType::NoSpace,
        2 => AlarmType::Corrupt,
        n => return Err(bad_enum("alarm type", n)),
    };
    Ok(kv::AlarmRequest {
        action,
        member_id: r.member_id,
        alarm,
    })
}

/// Raised alarms as `AlarmMember`s.
pub fn alarm_members(alarms: &[AlarmMember]) -> Vec<pb::AlarmMember> {
    alarms
        .iter()
        .map(|a| pb::AlarmMember {
            member_id: a.member_id,
            alarm: match a.alarm {
                AlarmType::None => pb::AlarmType::None,
                AlarmType::NoSpace => pb::AlarmType::Nospace,
                AlarmType::Corrupt => pb::AlarmType::Corrupt,
            } as i32,
        })
        .collect()
}

/// A `mvccpb.KeyValue`.
pub fn key_value(kv: kv::KeyValue) -> mvccpb::KeyValue {
    mvccpb::KeyValue {
        key: kv.key,
        create_revision: kv.create_revision,
        mod_revision: kv.mod_revision,
        version: kv.version,
        value: kv.value,
        lease: kv.lease,
    }
}

/// A `RangeResponse` with `header`.
pub fn range_response(
    r: kv::RangeResponse,
    header: Option<pb::ResponseHeader>,
) -> pb::RangeResponse {
    pb::RangeResponse {
        header,
        kvs: r.kvs.into_iter().map(key_value).collect(),
        more: r.more,
        count: r.count,
    }
}

/// A `PutResponse` with `header`.
pub fn put_response(r: kv::PutResponse, header: Option<pb::ResponseHeader>) -> pb::PutResponse {
    pb::PutResponse {
        header,
        prev_kv: r.prev_kv.map(key_value),
    }
}

/// A `DeleteRangeResponse` with `header`.
pub fn delete_response(
    r: kv::DeleteRangeResponse,
    header: Option<pb::ResponseHeader>,
) -> pb::DeleteRangeResponse {
    pb::DeleteRangeResponse {
        header,
        deleted: r.deleted,
        prev_kvs: r.prev_kvs.into_iter().map(key_value).collect(),
    }
}

/// A `TxnResponse` with `header`; the responses inside carry a header with only the revision
/// (as etcd's).
pub fn txn_response(
    r: kv::TxnResponse,
    header: Option<pb::ResponseHeader>,
    revision: i64,
) -> pb::TxnResponse {
    use pb::response_op::Response as P;
    let inner = || {
        Some(pb::ResponseHeader {
            revision,
            ..Default::default()
        })
    };
    let responses = r
        .responses
        .into_iter()
        .map(|op| pb::ResponseOp {
            response: Some(match op {
                kv::ResponseOp::Range(r) => P::ResponseRange(range_response(r, inner())),
                kv::ResponseOp::Put(r) => P::ResponsePut(put_response(r, inner())),
                kv::ResponseOp::DeleteRange(r) => {
                    P::ResponseDeleteRange(delete_response(r, inner()))
                }
                kv::ResponseOp::Txn(r) => P::ResponseTxn(txn_response(r, inner(), revision)),
            }),
        })
        .collect();
    pb::TxnResponse {
        header,
        succeeded: r.succeeded,
        responses,
    }
}

/// A `WatchCreateRequest` as the watch core takes it (unknown filter numbers are ignored, as
/// etcd does).
pub fn watch_create(r: pb::WatchCreateRequest) -> kv::WatchCreateRequest {
    let has = |f: pb::watch_create_request::FilterType| r.filters.contains(&(f as i32));
    kv::WatchCreateRequest {
        no_put: has(pb::watch_create_request::FilterType::Noput),
        no_delete: has(pb::watch_create_request::FilterType::Nodelete),
        key: r.key,
        range_end: r.range_end,
        start_revision: r.start_revision,
        progress_notify: r.progress_notify,
        prev_kv: r.prev_kv,
        watch_id: r.watch_id,
        fragment: r.fragment,
    }
}

/// A `mvccpb.Event`.
pub fn event(e: kv::Event) -> mvccpb::Event {
    mvccpb::Event {
        r#type: match e.kind {
            kv::EventKind::Put => mvccpb::event::EventType::Put,
            kv::EventKind::Delete => mvccpb::event::EventType::Delete,
        } as i32,
        kv: Some(key_value(e.kv)),
        prev_kv: e.prev_kv.map(key_value),
    }
}

/// A `WatchResponse` with `header`.
pub fn watch_response(
    r: kv::WatchResponse,
    header: Option<pb::ResponseHeader>,
) -> pb::WatchResponse {
    pb::WatchResponse {
        header,
        watch_id: r.watch_id,
        created: r.created,
        canceled: r.canceled,
        compact_revision: r.compact_revision,
        cancel_reason: r.cancel_reason,
        fragment: r.fragment,
        events: r.events.into_iter().map(event).collect(),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[test]
    fn txn_requests_convert_field_for_field() {
        let req = pb::TxnRequest {
            compare: vec![pb::Compare {
                result: 3,
                target: 2,
                key: Bytes::from("k"),
                range_end: Bytes::from("l"),
                target_union: Some(pb::compare::TargetUnion::ModRevision(7)),
            }],
            success: vec![pb::RequestOp {
                request: Some(pb::request_op::Request::RequestPut(pb::PutRequest {
                    key: Bytes::from("k"),
                    value: Bytes::from("v"),
                    prev_kv: true,
                    ..Default::default()
                })),
            }],
            failure: vec![pb::RequestOp {
                request: Some(pb::request_op::Request::RequestRange(pb::RangeRequest {
                    key: Bytes::from("k"),
                    sort_order: 2,
                    sort_target: 4,
                    ..Default::default()
                })),
            }],
        };
        let txn = txn_request(req).unwrap();
        assert_eq!(
            txn.compare[0],
            kv::Compare::modified("k", kv::CompareResult::NotEqual, 7).with_range_end("l")
        );
        assert!(matches!(&txn.success[0], kv::RequestOp::Put(p) if p.prev_kv && p.value == "v"));
        assert!(matches!(&txn.failure[0], kv::RequestOp::Range(r)
            if r.sort_order == kv::SortOrder::Descend && r.sort_target == kv::SortTarget::Value));
    }

    #[test]
    fn unknown_enum_values_are_refused() {
        let bad = pb::RangeRequest {
            key: Bytes::from("k"),
            sort_order: 9,
            ..Default::default()
        };
        assert_eq!(
            range_request(bad).unwrap_err().code(),
            tonic::Code::InvalidArgument
        );
        let empty_op = pb::TxnRequest {
            success: vec![pb::RequestOp { request: None }],
            ..Default::default()
        };
        assert!(txn_request(empty_op).is_err());
    }
}
