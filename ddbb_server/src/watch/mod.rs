//! Watch: ordered, exactly-once change streams from any revision, served by every replica from
//! what it applied.
//!
//! - [`feed`]: [`StoreFeed`], the store the loop publishes after each pass (only while someone
//!   watches);
//! - [`set`]: [`WatchSet`], one stream's watches and the pure logic that turns stores into
//!   responses (history replay, live events, filters, compaction cancels, progress);
//! - [`session`]: the task that runs one stream for either protocol.
//!
//! The protocol adapters (`service::etcd::watch` for gRPC, the RESP `WATCHKV` command) run one
//! task per stream: parse requests into the [`WatchSet`], poll it with the newest store when
//! they have sent what they had, render the responses. Nothing is buffered per watch beyond one
//! poll's output, so a client that stops reading holds only its position; it is fed from the
//! MVCC history when it reads again, or cancelled with `compact_revision` if that history was
//! compacted meanwhile.

pub mod feed;
pub mod session;
pub mod set;

#[cfg(test)]
mod tests;

pub use feed::StoreFeed;
pub use session::{SessionConfig, WatchCommand, WatchSource};
pub use set::{WatchLimits, WatchSet};
