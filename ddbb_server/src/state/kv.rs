//! The key-value store and how each write changes it.

use std::collections::BTreeMap;
use std::ops::Bound;

use bytes::Bytes;
use ddbb_libs::cmd::KeyRange;
use ddbb_libs::{KeyValue, LogIndex, Revision};
use serde::{Deserialize, Serialize};

use super::SessionTable;
use crate::entry::{LogEntry, WriteCommand, WriteOp};

/// A stored value with etcd's metadata.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Value {
    /// The bytes.
    pub data: Bytes,
    /// Revision of the write that created the key.
    pub create_revision: Revision,
    /// Revision of the last write to the key.
    pub mod_revision: Revision,
    /// Writes since creation (1 after creation).
    pub version: u64,
}

/// What a write did. Also cached per request id to answer duplicates.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// A put: `Some(revision)` written, `None` when its `IFREV` guard failed.
    Put {
        /// The revision of the write.
        revision: Option<Revision>,
    },
    /// A delete: how many keys were removed.
    Deleted {
        /// Keys removed.
        count: u64,
    },
    /// A compare-and-swap: whether it swapped.
    Cas {
        /// True when the value matched and was replaced.
        swapped: bool,
    },
    /// A duplicate of a request so old that its outcome is no longer remembered.
    Expired,
}

/// The replicated state: keys, revision, client sessions, and how far the log was applied.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KvState {
    data: BTreeMap<Bytes, Value>,
    revision: Revision,
    sessions: SessionTable,
    applied_index: LogIndex,
}

impl KvState {
    /// An empty store at revision 0.
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies the decided entry at log position `index` (the next one after
    /// [`KvState::applied_index`]). Returns each command's id and outcome, in order.
    pub fn apply(&mut self, index: LogIndex, entry: &LogEntry) -> Vec<(WriteCommand, Outcome)> {
        let outcomes = entry
            .commands
            .iter()
            .map(|command| (command.clone(), self.apply_command(index, command)))
            .collect();
        self.finish_entry(index, entry);
        outcomes
    }

    /// Applies a whole entry when nobody waits for its outcomes (snapshot folding, replay).
    pub fn apply_silently(&mut self, index: LogIndex, entry: &LogEntry) {
        for command in &entry.commands {
            self.apply_command(index, command);
        }
        self.finish_entry(index, entry);
    }

    /// Applies one command of the entry at `index` (unless it is a duplicate); the caller
    /// applies all of them in order, then calls [`KvState::finish_entry`].
    pub fn apply_command(&mut self, index: LogIndex, command: &WriteCommand) -> Outcome {
        match self.sessions.duplicate(command.id) {
            Some(earlier) => earlier,
            None => {
                let outcome = self.apply_op(&command.op);
                self.sessions.record(command.id, outcome.clone(), index);
                outcome
            }
        }
    }

    /// Completes the entry at `index` after its commands: raises the origin's session floor
    /// and marks the entry applied.
    pub fn finish_entry(&mut self, index: LogIndex, entry: &LogEntry) {
        if let Some(floor) = entry.session_floor {
            self.sessions.raise_floor(floor, index);
        }
        self.applied_index = index + 1;
    }

    fn apply_op(&mut self, op: &WriteOp) -> Outcome {
        match op {
            WriteOp::Put {
                key,
                value,
                if_revision,
            } => {
                if let Some(expected) = if_revision {
                    if self.mod_revision(key) != *expected {
                        return Outcome::Put { revision: None };
                    }
                }
                Outcome::Put {
                    revision: Some(self.put(key, value)),
                }
            }
            WriteOp::Delete { keys } => {
                let count = keys
                    .iter()
                    .filter(|k| self.data.remove(&k[..]).is_some())
                    .count() as u64;
                self.bump_if(count > 0);
                Outcome::Deleted { count }
            }
            WriteOp::DeleteRange { start, end } => {
                let doomed: Vec<Bytes> = self
                    .data
                    .range::<[u8], _>(bounds(start, end.as_deref()))
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in &doomed {
                    self.data.remove(k);
                }
                self.bump_if(!doomed.is_empty());
                Outcome::Deleted {
                    count: doomed.len() as u64,
                }
            }
            WriteOp::Cas { key, expected, new } => {
                let matches = self.data.get(&key[..]).is_some_and(|v| v.data == *expected);
                if matches {
                    self.put(key, new);
                }
                Outcome::Cas { swapped: matches }
            }
        }
    }

    fn put(&mut self, key: &Bytes, value: &Bytes) -> Revision {
        self.revision += 1;
        let revision = self.revision;
        match self.data.get_mut(&key[..]) {
            Some(v) => {
                v.data = value.clone();
                v.mod_revision = revision;
                v.version += 1;
            }
            None => {
                self.data.insert(
                    key.clone(),
                    Value {
                        data: value.clone(),
                        create_revision: revision,
                        mod_revision: revision,
                        version: 1,
                    },
                );
            }
        }
        revision
    }

    fn bump_if(&mut self, changed: bool) {
        if changed {
            self.revision += 1;
        }
    }

    fn mod_revision(&self, key: &[u8]) -> Revision {
        self.data.get(key).map_or(0, |v| v.mod_revision)
    }

    /// The remembered outcome if the write `id` was applied already.
    pub fn duplicate(&self, id: ddbb_libs::RequestId) -> Option<Outcome> {
        self.sessions.duplicate(id)
    }

    /// Marks a log entry that carries no state change (a no-op) as applied.
    pub fn skip(&mut self, index: LogIndex) {
        self.applied_index = index + 1;
    }

    /// The value of `key`.
    pub fn get(&self, key: &[u8]) -> Option<&Value> {
        self.data.get(key)
    }

    /// Keys in `range` in order, at most `limit` of them.
    pub fn range<'a>(
        &'a self,
        range: &'a KeyRange,
        limit: Option<u64>,
    ) -> impl Iterator<Item = (&'a Bytes, &'a Value)> + 'a {
        let limit = limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
        self.data
            .range::<[u8], _>(bounds(&range.start, range.end.as_deref()))
            .take(limit)
    }

    /// A key with its metadata, as replies carry it.
    pub fn key_value(key: &Bytes, value: &Value) -> KeyValue {
        KeyValue {
            key: key.clone(),
            value: value.data.clone(),
            create_revision: value.create_revision,
            mod_revision: value.mod_revision,
            version: value.version,
        }
    }

    /// The store's revision: the number of applied writes that changed something.
    pub fn revision(&self) -> Revision {
        self.revision
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True when no key is stored.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Number of log entries applied (the next index to apply).
    pub fn applied_index(&self) -> LogIndex {
        self.applied_index
    }

    /// Number of client sessions remembered.
    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }
}

/// Range bounds `[start, end)` over byte-slice keys.
fn bounds<'a>(start: &'a [u8], end: Option<&'a [u8]>) -> (Bound<&'a [u8]>, Bound<&'a [u8]>) {
    let upper = match end {
        Some(end) if end <= start => Bound::Excluded(start), // empty range, never inverted
        Some(end) => Bound::Excluded(end),
        None => Bound::Unbounded,
    };
    (Bound::Included(start), upper)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddbb_libs::RequestId;

    fn cmd(seq: u64, op: WriteOp) -> WriteCommand {
        WriteCommand {
            id: RequestId { client: 1, seq },
            op,
        }
    }

    fn put(k: &str, v: &str) -> WriteOp {
        WriteOp::Put {
            key: Bytes::copy_from_slice(k.as_bytes()),
            value: Bytes::copy_from_slice(v.as_bytes()),
            if_revision: None,
        }
    }

    fn apply_one(s: &mut KvState, seq: u64, op: WriteOp) -> Outcome {
        let entry = LogEntry {
            origin: 1,
            commands: vec![cmd(seq, op)],
            ..Default::default()
        };
        let idx = s.applied_index();
        s.apply(idx, &entry).remove(0).1
    }

    #[test]
    fn put_tracks_revisions_and_versions() {
        let mut s = KvState::new();
        assert_eq!(
            apply_one(&mut s, 1, put("a", "1")),
            Outcome::Put { revision: Some(1) }
        );
        assert_eq!(
            apply_one(&mut s, 2, put("b", "1")),
            Outcome::Put { revision: Some(2) }
        );
        assert_eq!(
            apply_one(&mut s, 3, put("a", "2")),
            Outcome::Put { revision: Some(3) }
        );
        let a = s.get(b"a").unwrap();
        assert_eq!((a.create_revision, a.mod_revision, a.version), (1, 3, 2));
        assert_eq!(&a.data[..], b"2");
        assert_eq!(s.revision(), 3);
        assert_eq!(s.applied_index(), 3);
    }

    #[test]
    fn if_revision_guards_a_put() {
        let mut s = KvState::new();
        let guarded = |rev| WriteOp::Put {
            key: "k".into(),
            value: "v".into(),
            if_revision: Some(rev),
        };
        assert_eq!(
            apply_one(&mut s, 1, guarded(5)),
            Outcome::Put { revision: None }
        );
        assert_eq!(
            apply_one(&mut s, 2, guarded(0)),
            Outcome::Put { revision: Some(1) }
        );
        assert_eq!(
            apply_one(&mut s, 3, guarded(0)),
            Outcome::Put { revision: None }
        );
        assert_eq!(
            apply_one(&mut s, 4, guarded(1)),
            Outcome::Put { revision: Some(2) }
        );
        assert_eq!(s.revision(), 2);
    }

    #[test]
    fn delete_counts_and_recreate_resets_version() {
        let mut s = KvState::new();
        apply_one(&mut s, 1, put("a", "1"));
        apply_one(&mut s, 2, put("a", "2"));
        let del = WriteOp::Delete {
            keys: vec!["a".into(), "zz".into()],
        };
        assert_eq!(
            apply_one(&mut s, 3, del.clone()),
            Outcome::Deleted { count: 1 }
        );
        assert_eq!(s.revision(), 3);
        assert_eq!(apply_one(&mut s, 4, del), Outcome::Deleted { count: 0 });
        assert_eq!(s.revision(), 3, "a no-op delete does not bump the revision");
        apply_one(&mut s, 5, put("a", "3"));
        let a = s.get(b"a").unwrap();
        assert_eq!((a.create_revision, a.version), (4, 1));
    }

    #[test]
    fn delete_range_and_range_reads() {
        let mut s = KvState::new();
        for (i, k) in ["a/1", "a/2", "a/3", "b/1"].iter().enumerate() {
            apply_one(&mut s, i as u64, put(k, "x"));
        }
        let prefix = KeyRange::prefix("a/".into());
        let keys: Vec<_> = s.range(&prefix, None).map(|(k, _)| k.clone()).collect();
        assert_eq!(keys, vec!["a/1", "a/2", "a/3"]);
        assert_eq!(s.range(&prefix, Some(2)).count(), 2);
        let all = KeyRange::prefix(Bytes::new());
        assert_eq!(s.range(&all, None).count(), 4);
        let inverted = KeyRange {
            start: "b".into(),
            end: Some("a".into()),
        };
        assert_eq!(s.range(&inverted, None).count(), 0);
        let del = WriteOp::DeleteRange {
            start: "a/2".into(),
            end: None,
        };
        assert_eq!(apply_one(&mut s, 10, del), Outcome::Deleted { count: 3 });
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn cas_swaps_only_on_match() {
        let mut s = KvState::new();
        let cas = |e: &str, n: &str| WriteOp::Cas {
            key: "k".into(),
            expected: Bytes::copy_from_slice(e.as_bytes()),
            new: Bytes::copy_from_slice(n.as_bytes()),
        };
        assert_eq!(
            apply_one(&mut s, 1, cas("", "1")),
            Outcome::Cas { swapped: false },
            "absent key never matches"
        );
        apply_one(&mut s, 2, put("k", "1"));
        assert_eq!(
            apply_one(&mut s, 3, cas("2", "3")),
            Outcome::Cas { swapped: false }
        );
        assert_eq!(s.revision(), 1);
        assert_eq!(
            apply_one(&mut s, 4, cas("1", "2")),
            Outcome::Cas { swapped: true }
        );
        assert_eq!(&s.get(b"k").unwrap().data[..], b"2");
        assert_eq!(s.revision(), 2);
    }

    #[test]
    fn a_repeated_request_is_applied_once() {
        let mut s = KvState::new();
        let first = apply_one(&mut s, 7, put("k", "1"));
        apply_one(&mut s, 8, put("k", "2"));
        // The retry of seq 7 arrives after seq 8: it must not overwrite "2".
        let again = apply_one(&mut s, 7, put("k", "1"));
        assert_eq!(first, again);
        assert_eq!(&s.get(b"k").unwrap().data[..], b"2");
        assert_eq!(s.revision(), 2);
    }

    #[test]
    fn session_floor_in_an_entry_expires_old_requests() {
        let mut s = KvState::new();
        apply_one(&mut s, 1, put("k", "1"));
        let entry = LogEntry {
            origin: 1,
            session_floor: Some(RequestId { client: 1, seq: 5 }),
            ..Default::default()
        };
        s.apply(s.applied_index(), &entry);
        assert_eq!(apply_one(&mut s, 1, put("k", "x")), Outcome::Expired);
        assert_eq!(apply_one(&mut s, 3, put("k", "y")), Outcome::Expired);
        assert_eq!(&s.get(b"k").unwrap().data[..], b"1");
    }

    #[test]
    fn a_batch_applies_in_order() {
        let mut s = KvState::new();
        let entry = LogEntry {
            origin: 2,
            commands: vec![
                cmd(1, put("k", "1")),
                cmd(2, put("k", "2")),
                cmd(1, put("k", "3")),
            ],
            barriers: vec![],
            session_floor: None,
        };
        let out = s.apply(0, &entry);
        assert_eq!(out.len(), 3);
        assert_eq!(
            out[2].1,
            Outcome::Put { revision: Some(1) },
            "duplicate in one batch"
        );
        assert_eq!(&s.get(b"k").unwrap().data[..], b"2");
        assert_eq!(s.applied_index(), 1);
    }
}
