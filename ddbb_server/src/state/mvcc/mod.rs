//! The MVCC core: etcd's multi-version key-value model, pure and deterministic.
//!
//! No I/O, no clock, no OmniPaxos: the replica feeds decided requests in log order and gets
//! typed responses plus the [`Event`]s each write produced; every replica that applies the same
//! requests in the same order reaches the same [`MvccStore`].
//!
//! - [`revision`]: [`Revision`] `(main, sub)`; the store starts at main revision 1, the first
//!   write gets 2, `sub` numbers the changes inside one write request or Txn.
//! - requests and responses ([`ddbb_libs::kv`], shared with clients) mirror etcd's
//!   `etcdserverpb` messages field for field (a gRPC or RESP adapter only maps).
//! - [`history`]: one key's changes over time (etcd's `keyIndex`: generations ended by
//!   tombstones).
//! - [`store`]: [`MvccStore`]: `range`, `put`, `delete_range`, `compact`, size accounting.
//! - [`lease`]: leases (id, granted TTL, attached keys); revoking deletes the keys in one
//!   revision.
//! - [`txn`]: `txn` with etcd's compare rules and request checks ([`validate_txn`]).
//! - [`events`]: the changes between two revisions as watch events (a revision index).
//! - [`hash`]: [`hash_kv`], etcd's `HashKV` checksum of the history up to a revision.
//! - [`snapshot`]: the store's serde format (a versioned flat list of changes).
//!
//! How a caller (the replica) uses it:
//! - a write (`put`, `delete_range`, `txn`) returns [`Applied`]: the response and the events, in
//!   revision order. A write that changes nothing (delete of absent keys, a Txn whose chosen
//!   branch only read) leaves [`MvccStore::revision`] alone. An error leaves the store
//!   untouched (all checks run before the first change).
//! - the etcd `ResponseHeader.revision` of any response is [`MvccStore::revision`] read right
//!   after the call.
//! - `store.clone()` is O(1) (a persistent map with structural sharing): take it on the loop,
//!   encode it elsewhere.

pub mod events;
pub mod hash;
pub mod history;
pub mod lease;
pub mod revision;
pub mod snapshot;
pub mod store;
pub mod txn;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

pub use ddbb_libs::kv::KvError;
pub use ddbb_libs::kv::{
    prefix_end, CompactionRequest, CompactionResponse, Compare, CompareResult, CompareTarget,
    DeleteRangeRequest, DeleteRangeResponse, Event, EventKind, KeyRange, KeyValue, PutRequest,
    PutResponse, RangeRequest, RangeResponse, RequestOp, ResponseOp, SortOrder, SortTarget,
    TargetUnion, TxnRequest, TxnResponse,
};
pub use hash::{hash_kv, KvHash};
pub use revision::Revision;
pub use snapshot::SNAPSHOT_FORMAT_VERSION;
pub use store::{Applied, MvccStore, CHANGE_OVERHEAD_BYTES};
pub use txn::{validate_txn, DEFAULT_MAX_TXN_OPS};
