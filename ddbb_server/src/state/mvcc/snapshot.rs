//! The store's serde format: a format version, then the store as a flat list of changes.
//!
//! Encoded as a 2-tuple `(format_version: u32, body)`, so a decoder reads the version first
//! and refuses one it does not know ([`KvError::UnknownSnapshotFormat`]) before touching the
//! body, in self-describing formats and in bincode alike. Body version 2:
//! `{ revision, compacted, records, leases }`, where `records` lists every retained change as
//! `{ key, revision, kind }`, sorted by key, then revision, and `leases` every lease as
//! `(id, granted ttl, keepalives applied)` (the keys attached to a lease are those whose latest change is a put
//! naming it). Version 1 (before leases) had no `leases` and is still read. Decoding checks
//! the order and the revision bounds ([`KvError::CorruptSnapshot`]) and recomputes the size
//! accounting and the indexes.
//!
//! Encoding streams from the store (no intermediate copy), so the replica can clone the store
//! in O(1) on its loop and encode the clone on another task.

use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use imbl::OrdMap;
use serde::de::{self, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, SerializeTuple};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::history::{Change, ChangeKind, KeyHistory};
use super::store::CHANGE_OVERHEAD_BYTES;
use super::{KvError, MvccStore, Revision};

/// The snapshot format this build writes (it also reads version 1).
pub const SNAPSHOT_FORMAT_VERSION: u32 = 2;

#[derive(Serialize)]
struct BodyRef<'a> {
    revision: i64,
    compacted: i64,
    records: RecordsRef<'a>,
    leases: Vec<(i64, i64, u64)>,
}

struct RecordsRef<'a>(&'a OrdMap<Bytes, Arc<KeyHistory>>);

#[derive(Serialize)]
struct RecordRef<'a> {
    key: &'a Bytes,
    revision: Revision,
    kind: &'a ChangeKind,
}

#[derive(Deserialize)]
struct BodyV1 {
    revision: i64,
    compacted: i64,
    records: Vec<Record>,
}

#[derive(Deserialize)]
struct BodyV2 {
    revision: i64,
    compacted: i64,
    records: Vec<Record>,
    leases: Vec<(i64, i64, u64)>,
}

#[derive(Deserialize)]
struct Record {
    key: Bytes,
    revision: Revision,
    kind: ChangeKind,
}

impl Serialize for RecordsRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let len = self.0.values().map(|h| h.len()).sum();
        let mut seq = serializer.serialize_seq(Some(len))?;
        for (key, history) in self.0.iter() {
            for change in history.changes() {
                seq.serialize_element(&RecordRef {
                    key,
                    revision: change.revision,
                    kind: &change.kind,
                })?;
            }
        }
        seq.end()
    }
}

impl Serialize for MvccStore {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut tuple = serializer.serialize_tuple(2)?;
        tuple.serialize_element(&SNAPSHOT_FORMAT_VERSION)?;
        tuple.serialize_element(&BodyRef {
            revision: self.revision,
            compacted: self.compacted,
            records: RecordsRef(&self.keys),
            leases: self
                .leases()
                .map(|(id, l)| (id, l.ttl, l.renewals))
                .collect(),
        })?;
        tuple.end()
    }
}

impl<'de> Deserialize<'de> for MvccStore {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_tuple(2, StoreVisitor)
    }
}

struct StoreVisitor;

impl<'de> Visitor<'de> for StoreVisitor {
    type Value = MvccStore;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an MVCC store snapshot: (format version, body)")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<MvccStore, A::Error> {
        let version: u32 = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(0, &self))?;
        let missing = || de::Error::invalid_length(1, &self);
        let body = match version {
            1 => {
                let v1: BodyV1 = seq.next_element()?.ok_or_else(missing)?;
                BodyV2 {
                    revision: v1.revision,
                    compacted: v1.compacted,
                    records: v1.records,
                    leases: Vec::new(),
                }
            }
            SNAPSHOT_FORMAT_VERSION => seq.next_element()?.ok_or_else(missing)?,
            found => {
                return Err(de::Error::custom(KvError::UnknownSnapshotFormat {
                    found,
                    supported: SNAPSHOT_FORMAT_VERSION,
                }))
            }
        };
        MvccStore::from_body(body).map_err(de::Error::custom)
    }
}

impl MvccStore {
    fn from_body(body: BodyV2) -> Result<MvccStore, KvError> {
        let corrupt = |what: &str| Err(KvError::CorruptSnapshot(what.to_string()));
        if body.revision < 1 || body.compacted < 0 || body.compacted > body.revision {
            return corrupt("compacted and current revisions out of order");
        }
        let mut store = MvccStore::new();
        store.revision = body.revision;
        store.compacted = body.compacted;
        let mut current: Option<(Bytes, KeyHistory)> = None;
        for record in body.records {
            if record.key.is_empty() {
                return corrupt("empty key");
            }
            if record.revision.main < 1 || record.revision.main > body.revision {
                return corrupt("change revision out of range");
            }
            if let ChangeKind::Put { version, .. } = &record.kind {
                if *version < 1 {
                    return corrupt("put with a version below 1");
                }
            }
            let change = Change {
                revision: record.revision,
                kind: record.kind,
            };
            let bytes = change.payload_bytes(&record.key) + CHANGE_OVERHEAD_BYTES;
            if store
                .by_revision
                .insert(change.revision, record.key.clone())
                .is_some()
            {
                return corrupt("two changes at one revision");
            }
            match &mut current {
                Some((key, history)) if *key == record.key => {
                    if !history.push(change) {
                        return corrupt("changes of a key out of revision order");
                    }
                }
                _ => {
                    if let Some((key, history)) = current.take() {
                        if key >= record.key {
                            return corrupt("keys out of order");
                        }
                        store.keys.insert(key, Arc::new(history));
                    }
                    let mut history = KeyHistory::default();
                    history.push(change);
                    current = Some((record.key, history));
                }
            }
            store.size_bytes = store.size_bytes.saturating_add(bytes);
            store.changes += 1;
        }
        if let Some((key, history)) = current {
            store.keys.insert(key, Arc::new(history));
        }
        store.live = store
            .keys
            .iter()
            .filter(|(key, history)| history.latest().and_then(|c| c.to_kv(key)).is_some())
            .count() as u64;
        for (id, ttl, renewals) in body.leases {
            let lease = super::lease::Lease {
                ttl,
                keys: imbl::OrdSet::new(),
                renewals,
            };
            if id == 0 || store.leases.insert(id, lease).is_some() {
                return corrupt("a lease id twice, or 0");
            }
        }
        let attached: Vec<(Bytes, i64)> = store
            .keys
            .iter()
            .filter_map(|(key, h)| h.latest()?.to_kv(key).map(|kv| (key.clone(), kv.lease)))
            .filter(|(_, lease)| *lease != 0)
            .collect();
        for (key, lease) in attached {
            store.attach(&key, 0, lease);
        }
        Ok(store)
    }
}
