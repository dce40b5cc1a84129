//! One key's history: its changes in revision order, as etcd's `keyIndex`.
//!
//! etcd groups a key's revisions into *generations*: a put on an absent key starts one (its
//! revision becomes the generation's `create_revision`), each put adds to it, and a delete ends
//! it with a tombstone. Here every change records the generation's `create_revision` and the
//! key's `version` within it, so the list of changes is the list of generations laid end to
//! end: a tombstone separates two generations.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::{KeyValue, Revision};

/// What one change did to the key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeKind {
    /// A put: the key's state after it.
    Put {
        /// The value.
        value: Bytes,
        /// Revision of the put that started this generation.
        create_revision: i64,
        /// Puts in this generation so far, this one included.
        version: i64,
        /// Lease attached; 0 for none.
        lease: i64,
    },
    /// A delete: ends the generation.
    Tombstone,
}

/// One change of a key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// When.
    pub revision: Revision,
    /// What.
    pub kind: ChangeKind,
}

impl Change {
    /// The key's kv right after this change; `None` for a tombstone.
    pub fn to_kv(&self, key: &Bytes) -> Option<KeyValue> {
        match &self.kind {
            ChangeKind::Put {
                value,
                create_revision,
                version,
                lease,
            } => Some(KeyValue {
                key: key.clone(),
                create_revision: *create_revision,
                mod_revision: self.revision.main,
                version: *version,
                value: value.clone(),
                lease: *lease,
            }),
            ChangeKind::Tombstone => None,
        }
    }

    /// Bytes this change accounts for in the quota (key and value; the caller adds the fixed
    /// overhead).
    pub fn payload_bytes(&self, key: &[u8]) -> u64 {
        let value = match &self.kind {
            ChangeKind::Put { value, .. } => value.len(),
            ChangeKind::Tombstone => 0,
        };
        (key.len() + value) as u64
    }
}

/// A key's changes, oldest first, revisions strictly increasing. Never empty while stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KeyHistory {
    changes: Vec<Change>,
}

impl KeyHistory {
    /// The changes, oldest first.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }

    /// Appends a change; `false` (and nothing appended) when its revision is not above the
    /// newest one.
    pub fn push(&mut self, change: Change) -> bool {
        if self
            .changes
            .last()
            .is_some_and(|c| c.revision >= change.revision)
        {
            return false;
        }
        self.changes.push(change);
        true
    }

    /// The newest change at or below main revision `rev`.
    pub fn at(&self, rev: i64) -> Option<&Change> {
        let after = self.changes.partition_point(|c| c.revision.main <= rev);
        after.checked_sub(1).and_then(|i| self.changes.get(i))
    }

    /// The change made at exactly `revision`, and the one before it (if still retained).
    pub fn change_at(&self, revision: Revision) -> Option<(Option<&Change>, &Change)> {
        let i = self
            .changes
            .binary_search_by(|c| c.revision.cmp(&revision))
            .ok()?;
        let before = i.checked_sub(1).and_then(|j| self.changes.get(j));
        Some((before, self.changes.get(i)?))
    }

    /// The newest change.
    pub fn latest(&self) -> Option<&Change> {
        self.changes.last()
    }

    /// How many leading changes a compaction at `rev` drops: every change below the newest one
    /// at or below `rev`, and that one too when it is a tombstone.
    pub fn compactable(&self, rev: i64) -> usize {
        let upto = self.changes.partition_point(|c| c.revision.main <= rev);
        match upto.checked_sub(1).and_then(|i| self.changes.get(i)) {
            Some(Change {
                kind: ChangeKind::Tombstone,
                ..
            }) => upto,
            Some(_) => upto - 1,
            None => 0,
        }
    }

    /// Drops the first `n` changes (see [`KeyHistory::compactable`]) and returns them.
    pub fn drop_oldest(&mut self, n: usize) -> Vec<Change> {
        let n = n.min(self.changes.len());
        let dropped = self.changes.drain(..n).collect();
        self.changes.shrink_to_fit();
        dropped
    }

    /// Whether no change is left.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }

    /// Number of changes.
    pub fn len(&self) -> usize {
        self.changes.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(main: i64, create: i64, version: i64) -> Change {
        Change {
            revision: Revision::new(main, 0),
            kind: ChangeKind::Put {
                value: Bytes::from_static(b"v"),
                create_revision: create,
                version,
                lease: 0,
            },
        }
    }

    fn tomb(main: i64) -> Change {
        Change {
            revision: Revision::new(main, 0),
            kind: ChangeKind::Tombstone,
        }
    }

    fn history() -> KeyHistory {
        // Generation 1: puts at 2, 3, deleted at 4; generation 2: put at 6.
        let mut h = KeyHistory::default();
        for c in [put(2, 2, 1), put(3, 2, 2), tomb(4), put(6, 6, 1)] {
            assert!(h.push(c));
        }
        h
    }

    #[test]
    fn at_finds_the_newest_change_at_or_below() {
        let h = history();
        assert!(h.at(1).is_none());
        assert_eq!(h.at(3).map(|c| c.revision.main), Some(3));
        assert_eq!(h.at(5).map(|c| c.revision.main), Some(4));
        assert_eq!(h.at(100).map(|c| c.revision.main), Some(6));
        assert!(!history().push(put(6, 6, 1)), "revisions must increase");
    }

    #[test]
    fn compaction_keeps_what_reads_at_the_revision_need() {
        let h = history();
        assert_eq!(h.compactable(1), 0);
        assert_eq!(h.compactable(2), 0);
        assert_eq!(h.compactable(3), 1);
        assert_eq!(h.compactable(4), 3, "a tombstone goes with its generation");
        assert_eq!(h.compactable(5), 3);
        assert_eq!(h.compactable(7), 3);
        let mut h = history();
        assert_eq!(h.drop_oldest(3).len(), 3);
        assert_eq!(h.len(), 1);
    }
}
