//! The key-value data model shared by replicas and clients: requests, responses, events and
//! errors, mirroring etcd's `etcdserverpb`/`mvccpb` messages field for
//! field, so the gRPC adapter only maps. Enum variants are declared in the protobuf order, so
//! their discriminants match the protobuf numbers.
//!
//! Key ranges follow etcd: `range_end` empty is the single key `key`; `range_end == [0]` is
//! every key `>= key`; `key == [0]` with `range_end == [0]` is every key; otherwise the keys in
//! `[key, range_end)` (none when `range_end <= key`). [`prefix_end`] gives the `range_end` of a
//! prefix.

mod error;
mod lease;
mod watch;
mod write;

pub use error::KvError;
pub use lease::{
    LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveResponse, LeaseTimeToLiveResponse,
    MAX_LEASE_TTL,
};
pub use watch::{WatchCreateRequest, WatchResponse, NO_WATCH_ID};
pub use write::{
    AlarmAction, AlarmMember, AlarmRequest, AlarmType, WriteOutcome, WriteRequest, WriteResponse,
};

use std::ops::Bound;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

/// A key with its metadata at some revision (`mvccpb.KeyValue`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyValue {
    /// The key.
    pub key: Bytes,
    /// Main revision of the put that created this generation of the key.
    pub create_revision: i64,
    /// Main revision of the last change to the key.
    pub mod_revision: i64,
    /// Puts since creation: 1 on create, +1 per put; a delete resets it.
    pub version: i64,
    /// The value (empty with `keys_only`).
    pub value: Bytes,
    /// The lease the key is attached to; 0 for none.
    pub lease: i64,
}

/// Sort direction of a Range (`RangeRequest.SortOrder`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortOrder {
    /// No sorting (results come in key order).
    #[default]
    None,
    /// Lowest first.
    Ascend,
    /// Highest first.
    Descend,
}

/// What a Range sorts by (`RangeRequest.SortTarget`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SortTarget {
    /// The key.
    #[default]
    Key,
    /// `version`.
    Version,
    /// `create_revision`.
    Create,
    /// `mod_revision`.
    Mod,
    /// The value.
    Value,
}

/// `etcdserverpb.RangeRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeRequest {
    /// First key (or the only key).
    pub key: Bytes,
    /// End of the range; see the module doc.
    pub range_end: Bytes,
    /// At most this many kvs; 0 = no limit.
    pub limit: i64,
    /// Read at this revision; 0 (or negative) = current.
    pub revision: i64,
    /// Sort direction.
    pub sort_order: SortOrder,
    /// Sort key.
    pub sort_target: SortTarget,
    /// Serializable read (a replica concern; the store ignores it).
    pub serializable: bool,
    /// Return keys without values.
    pub keys_only: bool,
    /// Return only the count.
    pub count_only: bool,
    /// Only kvs with `mod_revision >=` this (0 = no filter).
    pub min_mod_revision: i64,
    /// Only kvs with `mod_revision <=` this (0 = no filter).
    pub max_mod_revision: i64,
    /// Only kvs with `create_revision >=` this (0 = no filter).
    pub min_create_revision: i64,
    /// Only kvs with `create_revision <=` this (0 = no filter).
    pub max_create_revision: i64,
}

impl RangeRequest {
    /// A read of the single key `key` at the current revision.
    pub fn key(key: impl Into<Bytes>) -> RangeRequest {
        RangeRequest {
            key: key.into(),
            ..Default::default()
        }
    }

    /// A read of `[key, range_end)` at the current revision.
    pub fn range(key: impl Into<Bytes>, range_end: impl Into<Bytes>) -> RangeRequest {
        RangeRequest {
            key: key.into(),
            range_end: range_end.into(),
            ..Default::default()
        }
    }

    /// A read of every key at the current revision.
    pub fn all() -> RangeRequest {
        RangeRequest::range(vec![0u8], vec![0u8])
    }
}

/// `etcdserverpb.RangeResponse` (without the header).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeResponse {
    /// The kvs (empty with `count_only`).
    pub kvs: Vec<KeyValue>,
    /// True when `limit` cut the result short.
    pub more: bool,
    /// Keys in the range at that revision (before `limit` and the revision filters).
    pub count: i64,
}

/// `etcdserverpb.PutRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutRequest {
    /// The key.
    pub key: Bytes,
    /// The value.
    pub value: Bytes,
    /// Lease to attach; 0 detaches.
    pub lease: i64,
    /// Return the previous kv.
    pub prev_kv: bool,
    /// Keep the current value (the key must exist; `value` must be empty).
    pub ignore_value: bool,
    /// Keep the current lease (the key must exist; `lease` must be 0).
    pub ignore_lease: bool,
}

impl PutRequest {
    /// A plain put of `value` under `key`.
    pub fn new(key: impl Into<Bytes>, value: impl Into<Bytes>) -> PutRequest {
        PutRequest {
            key: key.into(),
            value: value.into(),
            ..Default::default()
        }
    }
}

/// `etcdserverpb.PutResponse` (without the header).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutResponse {
    /// The kv before the put, when asked and the key existed.
    pub prev_kv: Option<KeyValue>,
}

/// `etcdserverpb.DeleteRangeRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteRangeRequest {
    /// First key (or the only key).
    pub key: Bytes,
    /// End of the range; see the module doc.
    pub range_end: Bytes,
    /// Return the deleted kvs.
    pub prev_kv: bool,
}

impl DeleteRangeRequest {
    /// A delete of the single key `key`.
    pub fn key(key: impl Into<Bytes>) -> DeleteRangeRequest {
        DeleteRangeRequest {
            key: key.into(),
            ..Default::default()
        }
    }

    /// A delete of `[key, range_end)`.
    pub fn range(key: impl Into<Bytes>, range_end: impl Into<Bytes>) -> DeleteRangeRequest {
        DeleteRangeRequest {
            key: key.into(),
            range_end: range_end.into(),
            ..Default::default()
        }
    }
}

/// `etcdserverpb.DeleteRangeResponse` (without the header).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteRangeResponse {
    /// Keys deleted.
    pub deleted: i64,
    /// The deleted kvs, when asked.
    pub prev_kvs: Vec<KeyValue>,
}

/// `Compare.CompareResult`: how the key's field compares with the target value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareResult {
    /// `=`.
    #[default]
    Equal,
    /// `>`.
    Greater,
    /// `<`.
    Less,
    /// `!=`.
    NotEqual,
}

/// `Compare.CompareTarget`: which field is compared.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareTarget {
    /// `version`.
    #[default]
    Version,
    /// `create_revision`.
    Create,
    /// `mod_revision`.
    Mod,
    /// The value.
    Value,
    /// The lease.
    Lease,
}

/// `Compare.target_union`: the value compared against. A variant that does not match
/// `Compare::target` (or `None`) counts as zero / the empty value, as in etcd.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TargetUnion {
    /// For [`CompareTarget::Version`].
    Version(i64),
    /// For [`CompareTarget::Create`].
    CreateRevision(i64),
    /// For [`CompareTarget::Mod`].
    ModRevision(i64),
    /// For [`CompareTarget::Value`].
    Value(Bytes),
    /// For [`CompareTarget::Lease`].
    Lease(i64),
}

/// `etcdserverpb.Compare`: one condition of a Txn, on a key or (with `range_end`) on every key
/// of a range. An absent key has version, create and mod revision and lease 0; a value
/// compare on absent keys is false.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Compare {
    /// The comparison.
    pub result: CompareResult,
    /// The field compared.
    pub target: CompareTarget,
    /// The key (first key of a range).
    pub key: Bytes,
    /// End of the range; see the module doc.
    pub range_end: Bytes,
    /// The value compared against.
    pub target_union: Option<TargetUnion>,
}

impl Compare {
    fn new(key: impl Into<Bytes>, result: CompareResult, target: TargetUnion) -> Compare {
        let kind = match target {
            TargetUnion::Version(_) => CompareTarget::Version,
            TargetUnion::CreateRevision(_) => CompareTarget::Create,
            TargetUnion::ModRevision(_) => CompareTarget::Mod,
            TargetUnion::Value(_) => CompareTarget::Value,
            TargetUnion::Lease(_) => CompareTarget::Lease,
        };
        Compare {
            result,
            target: kind,
            key: key.into(),
            range_end: Bytes::new(),
            target_union: Some(target),
        }
    }

    /// `version(key) <result> version`.
    pub fn version(key: impl Into<Bytes>, result: CompareResult, version: i64) -> Compare {
        Compare::new(key, result, TargetUnion::Version(version))
    }

    /// `create_revision(key) <result> revision`.
    pub fn create(key: impl Into<Bytes>, result: CompareResult, revision: i64) -> Compare {
        Compare::new(key, result, TargetUnion::CreateRevision(revision))
    }

    /// `mod_revision(key) <result> revision`.
    pub fn modified(key: impl Into<Bytes>, result: CompareResult, revision: i64) -> Compare {
        Compare::new(key, result, TargetUnion::ModRevision(revision))
    }

    /// `value(key) <result> value`.
    pub fn value(key: impl Into<Bytes>, result: CompareResult, value: impl Into<Bytes>) -> Compare {
        Compare::new(key, result, TargetUnion::Value(value.into()))
    }

    /// `lease(key) <result> lease`.
    pub fn lease(key: impl Into<Bytes>, result: CompareResult, lease: i64) -> Compare {
        Compare::new(key, result, TargetUnion::Lease(lease))
    }

    /// The same compare over `[key, range_end)`.
    pub fn with_range_end(mut self, range_end: impl Into<Bytes>) -> Compare {
        self.range_end = range_end.into();
        self
    }
}

/// `etcdserverpb.RequestOp`: one operation of a Txn branch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RequestOp {
    /// A read.
    Range(RangeRequest),
    /// A put.
    Put(PutRequest),
    /// A delete.
    DeleteRange(DeleteRangeRequest),
    /// A nested Txn.
    Txn(TxnRequest),
}

/// `etcdserverpb.ResponseOp`: the answer to one [`RequestOp`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseOp {
    /// To a read.
    Range(RangeResponse),
    /// To a put.
    Put(PutResponse),
    /// To a delete.
    DeleteRange(DeleteRangeResponse),
    /// To a nested Txn.
    Txn(TxnResponse),
}

/// `etcdserverpb.TxnRequest`: if every compare holds run `success`, else `failure`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnRequest {
    /// Conditions, all evaluated on the state before the Txn.
    pub compare: Vec<Compare>,
    /// Operations run when every compare holds.
    pub success: Vec<RequestOp>,
    /// Operations run otherwise.
    pub failure: Vec<RequestOp>,
}

/// `etcdserverpb.TxnResponse` (without the header).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnResponse {
    /// Whether every compare held (`success` ran).
    pub succeeded: bool,
    /// One response per operation of the branch that ran.
    pub responses: Vec<ResponseOp>,
}

/// `etcdserverpb.CompactionRequest`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactionRequest {
    /// Compact the history below this revision.
    pub revision: i64,
    /// etcd: wait until the compaction is physically applied. Compaction here is always done
    /// when the call returns, so the store ignores it.
    pub physical: bool,
}

/// `etcdserverpb.CompactionResponse` (it only has the header).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactionResponse {}

/// What a change did (`mvccpb.Event.EventType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// A put.
    Put,
    /// A delete.
    Delete,
}

/// One change, as watchers see it (`mvccpb.Event`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Put or delete.
    pub kind: EventKind,
    /// A put: the new kv. A delete: the key with `mod_revision` = the delete's revision and
    /// every other field zero or empty (as etcd).
    pub kv: KeyValue,
    /// The kv before the change (always filled when the key existed; the caller drops it
    /// for watchers that did not ask).
    pub prev_kv: Option<KeyValue>,
}

/// Returns the `range_end` that selects every key starting with `prefix`: the prefix with
/// trailing `0xff` bytes dropped and its last byte incremented; `[0]` (every key `>= prefix`)
/// when the prefix is empty or all `0xff`.
pub fn prefix_end(prefix: &[u8]) -> Bytes {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return Bytes::from(end);
        }
    }
    Bytes::from_static(&[0])
}

/// A `(key, range_end)` pair decoded with etcd's conventions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeyRange {
    /// Exactly this key.
    Single(Bytes),
    /// Every key `>=` this one.
    From(Bytes),
    /// Keys in `[start, end)`; empty when `end <= start`.
    Between(Bytes, Bytes),
}

impl KeyRange {
    /// Decodes `key` and `range_end` as etcd does.
    pub fn new(key: &Bytes, range_end: &Bytes) -> KeyRange {
        match &range_end[..] {
            [] => KeyRange::Single(key.clone()),
            [0] => KeyRange::From(key.clone()),
            _ => KeyRange::Between(key.clone(), range_end.clone()),
        }
    }

    /// Whether `key` is in the range.
    pub fn contains(&self, key: &[u8]) -> bool {
        match self {
            KeyRange::Single(k) => key == &k[..],
            KeyRange::From(start) => key >= &start[..],
            KeyRange::Between(start, end) => key >= &start[..] && key < &end[..],
        }
    }

    /// Whether the range holds no key at all.
    pub fn is_empty(&self) -> bool {
        matches!(self, KeyRange::Between(start, end) if end <= start)
    }

    /// The range as map bounds; callers check [`KeyRange::is_empty`] first (a reversed
    /// `Between` is not a valid range for an ordered map).
    pub fn bounds(&self) -> (Bound<Bytes>, Bound<Bytes>) {
        match self {
            KeyRange::Single(k) => (Bound::Included(k.clone()), Bound::Included(k.clone())),
            KeyRange::From(start) => (Bound::Included(start.clone()), Bound::Unbounded),
            KeyRange::Between(start, end) => {
                (Bound::Included(start.clone()), Bound::Excluded(end.clone()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_increments_the_last_byte_below_0xff() {
        assert_eq!(prefix_end(b"abc"), Bytes::from_static(b"abd"));
        assert_eq!(prefix_end(b"a\xff"), Bytes::from_static(b"b"));
        assert_eq!(prefix_end(b"\xff\xff"), Bytes::from_static(&[0]));
        assert_eq!(prefix_end(b""), Bytes::from_static(&[0]));
    }

    #[test]
    fn key_ranges_follow_etcd_conventions() {
        let r = |k: &'static [u8], e: &'static [u8]| {
            KeyRange::new(&Bytes::from_static(k), &Bytes::from_static(e))
        };
        assert!(r(b"a", b"").contains(b"a") && !r(b"a", b"").contains(b"ab"));
        assert!(r(b"b", &[0]).contains(b"zzz") && !r(b"b", &[0]).contains(b"a"));
        assert!(r(&[0], &[0]).contains(b"\x01") && r(&[0], &[0]).contains(&[0]));
        assert!(r(b"a", b"c").contains(b"b") && !r(b"a", b"c").contains(b"c"));
        assert!(r(b"c", b"a").is_empty() && r(b"a", b"a").is_empty());
        assert!(!r(b"a", b"b").is_empty());
    }
}
