//! [`StoreFeed`]: the replica's MVCC store as of its latest pass, for watchers.

use std::sync::Arc;

use tokio::sync::watch;

use crate::state::mvcc::MvccStore;

/// The store the replica loop publishes at the end of each pass, only while some watcher
/// holds a receiver: publishing is O(1) (the store is a persistent map), but the next writes
/// then copy the paths they change instead of updating them in place, so nobody pays for it
/// when nobody watches. Every published store is a state this replica applied, so whatever a
/// watcher reads from it was decided.
#[derive(Clone, Debug)]
pub struct StoreFeed(Arc<watch::Sender<Option<MvccStore>>>);

impl Default for StoreFeed {
    fn default() -> Self {
        StoreFeed::new()
    }
}

impl StoreFeed {
    /// A feed with nothing published.
    pub fn new() -> StoreFeed {
        StoreFeed(Arc::new(watch::Sender::new(None)))
    }

    /// A receiver; the store arrives (or is refreshed) by the end of the loop's next pass.
    pub fn subscribe(&self) -> watch::Receiver<Option<MvccStore>> {
        self.0.subscribe()
    }

    /// Called by the loop after each pass: publishes `store` if someone watches and it moved
    /// on; drops the published copy once nobody watches.
    pub fn publish(&self, store: &MvccStore) {
        if self.0.receiver_count() == 0 {
            if self.0.borrow().is_some() {
                self.0.send_replace(None);
            }
            return;
        }
        self.0.send_if_modified(|published| {
            let stale = published.as_ref().is_none_or(|p| {
                p.revision() != store.revision()
                    || p.compacted_revision() != store.compacted_revision()
            });
            if stale {
                *published = Some(store.clone());
            }
            stale
        });
    }
}
