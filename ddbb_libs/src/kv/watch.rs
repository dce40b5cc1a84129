//! Watch requests and responses (`etcdserverpb.WatchCreateRequest` / `WatchResponse`), shared
//! by the replica's watch core, its gRPC and RESP adapters and the client library.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::Event;

/// The watch id etcd uses for "none": the id of a refused create, and of a progress response
/// that is for every watch of the stream.
pub const NO_WATCH_ID: i64 = -1;

/// Creates a watch (`WatchCreateRequest`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchCreateRequest {
    /// First key (empty: `\0`, the smallest key, as etcd).
    pub key: Bytes,
    /// Range end as in a Range request (empty: the single key; `[0]`: every key `>= key`).
    pub range_end: Bytes,
    /// First revision to report; 0 = the next change after now.
    pub start_revision: i64,
    /// Send an empty response with the current revision now and then when idle.
    pub progress_notify: bool,
    /// Drop PUT events (etcd's `NOPUT` filter).
    pub no_put: bool,
    /// Drop DELETE events (etcd's `NODELETE` filter).
    pub no_delete: bool,
    /// Attach each event's previous kv.
    pub prev_kv: bool,
    /// The id the client wants (0: the stream picks the next free one; etcd 3.4 treats 0 as
    /// "pick" too).
    pub watch_id: i64,
    /// Split responses bigger than the request size limit into fragments.
    pub fragment: bool,
}

/// One response on a watch stream (`WatchResponse`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchResponse {
    /// The watch this is for ([`NO_WATCH_ID`]: the stream as a whole).
    pub watch_id: i64,
    /// The store revision it reflects (etcd's header revision).
    pub revision: i64,
    /// The answer to a create.
    pub created: bool,
    /// The watch ended (cancelled by the client, compacted, or refused at create).
    pub canceled: bool,
    /// Set when the watch was cancelled because its next revision was compacted.
    pub compact_revision: i64,
    /// Why the watch was cancelled or refused.
    pub cancel_reason: String,
    /// Events, in revision order.
    pub events: Vec<Event>,
    /// More fragments of the same response follow.
    pub fragment: bool,
}

impl WatchResponse {
    /// A response for `watch_id` at `revision` with nothing else set.
    pub fn new(watch_id: i64, revision: i64) -> WatchResponse {
        WatchResponse {
            watch_id,
            revision,
            ..WatchResponse::default()
        }
    }

    /// True for a progress notification: no events, not a create or cancel.
    pub fn is_progress(&self) -> bool {
        self.events.is_empty() && !self.created && !self.canceled
    }
}
