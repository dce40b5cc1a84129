//! Reading the history by revision: the events a watcher is owed.
//!
//! A watcher that is behind (it started at an old revision, or did not read for a while) is
//! fed from the store rather than from buffers: every retained change is indexed by its
//! revision, so the changes between two revisions are one ordered scan, and each one is turned
//! back into the [`Event`] the write produced when it was applied.

use bytes::Bytes;

use super::history::ChangeKind;
use super::{Event, EventKind, KeyValue, MvccStore, Revision};

impl MvccStore {
    /// The retained changes with a main revision in `from..=to`, in revision order, as
    /// `(revision, key)`.
    pub fn changes_between(&self, from: i64, to: i64) -> impl Iterator<Item = (Revision, &Bytes)> {
        let start = Revision::new(from.max(0), 0);
        let end = Revision::new(to.max(from).saturating_add(1), 0);
        let range = if to < from { start..start } else { start..end };
        self.by_revision.range(range).map(|(r, k)| (*r, k))
    }

    /// The event of the change to `key` at `revision`: the kv after it (for a delete, the key
    /// and the delete's revision only, as etcd), and the kv before it when that is still
    /// retained. `None` if no such change is retained.
    pub fn event_at(&self, key: &Bytes, revision: Revision) -> Option<Event> {
        let history = self.keys.get(key)?;
        let (before, change) = history.change_at(revision)?;
        let (kind, kv) = match change.kind {
            ChangeKind::Put { .. } => (EventKind::Put, change.to_kv(key)?),
            ChangeKind::Tombstone => (
                EventKind::Delete,
                KeyValue {
                    key: key.clone(),
                    mod_revision: revision.main,
                    ..Default::default()
                },
            ),
        };
        let prev_kv = before.and_then(|c| c.to_kv(key));
        Some(Event { kind, kv, prev_kv })
    }

    /// Every retained event with a main revision in `from..=to`, in revision order.
    pub fn events_between(&self, from: i64, to: i64) -> Vec<Event> {
        self.changes_between(from, to)
            .filter_map(|(revision, key)| self.event_at(key, revision))
            .collect()
    }
}
