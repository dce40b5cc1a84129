//! [`MvccStore`]: every key's history, the current and compacted revisions, and the quota
//! size; reads at any retained revision, puts, deletes and compaction. Txns are in
//! [`super::txn`], the serde format in [`super::snapshot`].

use std::cmp::Ordering;
use std::sync::Arc;

use bytes::Bytes;
use imbl::OrdMap;

use super::history::{Change, ChangeKind, KeyHistory};
use super::{KvError, Revision};
use ddbb_libs::kv::{
    CompactionRequest, CompactionResponse, DeleteRangeRequest, DeleteRangeResponse, Event,
    EventKind, KeyRange, KeyValue, PutRequest, PutResponse, RangeRequest, RangeResponse, SortOrder,
    SortTarget,
};

/// Fixed bytes counted per stored change on top of its key and value, for the quota: roughly
/// what etcd's backend spends per revision (revision key, protobuf framing, index entry).
pub const CHANGE_OVERHEAD_BYTES: u64 = 64;

/// The result of a write: its response and the changes it made, in revision order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied<R> {
    /// The response to the request.
    pub response: R,
    /// One event per change, in revision order; empty when the request changed nothing.
    pub events: Vec<Event>,
}

/// The MVCC key-value store (see the module doc of [`super`]).
///
/// Cloning is O(1): keys live in a persistent ordered map whose nodes and per-key histories
/// are shared between clones; a write copies only the path to its key and that key's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MvccStore {
    pub(super) keys: OrdMap<Bytes, Arc<KeyHistory>>,
    /// Every retained change's key by its revision: what watchers and compaction scan by
    /// revision. Rebuilt from `keys` when a snapshot is loaded.
    pub(super) by_revision: OrdMap<Revision, Bytes>,
    /// The leases, by id (see [`super::lease`]).
    pub(super) leases: OrdMap<i64, super::lease::Lease>,
    pub(super) revision: i64,
    pub(super) compacted: i64,
    pub(super) size_bytes: u64,
    pub(super) changes: u64,
    /// Keys whose latest change is a put.
    pub(super) live: u64,
}

impl Default for MvccStore {
    fn default() -> Self {
        MvccStore::new()
    }
}

/// A write in progress: the main revision it gets if it changes anything, and its changes
/// so far (`sub` of the next change = number of changes so far).
pub(super) struct Write {
    pub(super) main: i64,
    pub(super) events: Vec<Event>,
}

impl Write {
    fn next_revision(&self) -> Revision {
        Revision::new(self.main, self.events.len() as i64)
    }
}

impl MvccStore {
    /// An empty store at revision 1, nothing compacted.
    pub fn new() -> MvccStore {
        MvccStore {
            keys: OrdMap::new(),
            by_revision: OrdMap::new(),
            leases: OrdMap::new(),
            revision: 1,
            compacted: 0,
            size_bytes: 0,
            changes: 0,
            live: 0,
        }
    }

    /// The current (main) revision: that of the last write that changed something, 1 before
    /// any. This is the `ResponseHeader.revision` of every response.
    pub fn revision(&self) -> i64 {
        self.revision
    }

    /// The revision of the last compaction; 0 before any. Reads below it fail.
    pub fn compacted_revision(&self) -> i64 {
        self.compacted
    }

    /// Estimated stored bytes over every retained revision: keys, values and
    /// [`CHANGE_OVERHEAD_BYTES`] per change (tombstones included). O(1).
    pub fn size_bytes(&self) -> u64 {
        self.size_bytes
    }

    /// Number of retained changes over all keys (puts and tombstones).
    pub fn change_count(&self) -> u64 {
        self.changes
    }

    /// Keys that exist now. O(1).
    pub fn live_key_count(&self) -> u64 {
        self.live
    }

    /// Keys that have a retained history (deleted ones included until compacted away).
    pub fn history_key_count(&self) -> usize {
        self.keys.len()
    }

    /// The current kv of `key`, if it exists.
    pub fn get(&self, key: &[u8]) -> Option<KeyValue> {
        let (key, history) = self.keys.get_key_value(key)?;
        history.latest()?.to_kv(key)
    }

    /// etcd's Range: the kvs of a key or range at `req.revision` (0 = current).
    pub fn range(&self, req: &RangeRequest) -> Result<RangeResponse, KvError> {
        if req.key.is_empty() {
            return Err(KvError::EmptyKey);
        }
        let rev = self.read_revision(req.revision)?;
        Ok(self.range_at(req, rev))
    }

    /// Resolves a requested read revision (0 or negative = current) against the current and
    /// compacted revisions: reading at the compacted revision itself is allowed.
    pub(super) fn read_revision(&self, requested: i64) -> Result<i64, KvError> {
        if requested <= 0 {
            return Ok(self.revision);
        }
        if requested > self.revision {
            return Err(KvError::FutureRev);
        }
        if requested < self.compacted {
            return Err(KvError::Compacted);
        }
        Ok(requested)
    }

    /// Every key of `range` with a kv at `rev`, in key order.
    pub(super) fn visible<'a>(
        &'a self,
        range: &KeyRange,
        rev: i64,
    ) -> Box<dyn Iterator<Item = (&'a Bytes, &'a Change)> + 'a> {
        let live = move |(k, h): (&'a Bytes, &'a Arc<KeyHistory>)| {
            h.at(rev)
                .filter(|c| matches!(c.kind, ChangeKind::Put { .. }))
                .map(|c| (k, c))
        };
        match range {
            _ if range.is_empty() => Box::new(std::iter::empty()),
            KeyRange::Single(key) => {
                Box::new(self.keys.get_key_value(key).and_then(live).into_iter())
            }
            _ => Box::new(self.keys.range(range.bounds()).filter_map(live)),
        }
    }

    /// Range at a resolved revision, following etcd's `applierV3backend.Range`: fetch, apply
    /// the revision filters, sort, then cut at `limit`.
    pub(super) fn range_at(&self, req: &RangeRequest, rev: i64) -> RangeResponse {
        let range = KeyRange::new(&req.key, &req.range_end);
        let filtered = req.min_mod_revision != 0
            || req.max_mod_revision != 0
            || req.min_create_revision != 0
            || req.max_create_revision != 0;
        let fetch = match usize::try_from(req.limit) {
            _ if req.count_only => 0,
            Ok(limit) if limit > 0 && req.sort_order == SortOrder::None && !filtered => {
                limit.saturating_add(1)
            }
            _ => usize::MAX,
        };
        let mut count = 0i64;
        let mut kvs = Vec::new();
        for (key, change) in self.visible(&range, rev) {
            count += 1;
            if kvs.len() < fetch {
                kvs.extend(change.to_kv(key));
            }
        }
        kvs.retain(|kv| passes_filters(req, kv));
        sort_kvs(&mut kvs, req.sort_order, req.sort_target);
        let mut more = false;
        if let Ok(limit) = usize::try_from(req.limit) {
            if limit > 0 && kvs.len() > limit {
                kvs.truncate(limit);
                more = true;
            }
        }
        if req.keys_only {
            kvs.iter_mut().for_each(|kv| kv.value = Bytes::new());
        }
        RangeResponse { kvs, more, count }
    }

    /// etcd's Put.
    pub fn put(&mut self, req: &PutRequest) -> Result<Applied<PutResponse>, KvError> {
        check_put_request(req)?;
        self.check_put_state(req)?;
        let mut write = self.begin();
        let response = self.put_in(&mut write, req);
        Ok(self.finish(write, response))
    }

    /// etcd's DeleteRange; deleting nothing changes nothing (no new revision).
    pub fn delete_range(
        &mut self,
        req: &DeleteRangeRequest,
    ) -> Result<Applied<DeleteRangeResponse>, KvError> {
        if req.key.is_empty() {
            return Err(KvError::EmptyKey);
        }
        let mut write = self.begin();
        let response = self.delete_in(&mut write, req);
        Ok(self.finish(write, response))
    }

    /// etcd's Compact: drops every change below `req.revision` except what a read at
    /// `req.revision` still needs (each key's newest change at or below it, unless that is a
    /// tombstone). Fails when `req.revision` is not above the last compaction or is above the
    /// current revision.
    pub fn compact(&mut self, req: &CompactionRequest) -> Result<CompactionResponse, KvError> {
        let rev = req.revision;
        if rev <= self.compacted {
            return Err(KvError::Compacted);
        }
        if rev > self.revision {
            return Err(KvError::FutureRev);
        }
        // Only a key changed since the last compaction can have something to drop: every
        // older change still retained is its key's newest one at or below that compaction.
        let mut touched: Vec<Bytes> = self
            .by_revision
            .range(
                Revision::new(self.compacted.saturating_add(1), 0)
                    ..Revision::new(rev.saturating_add(1), 0),
            )
            .map(|(_, key)| key.clone())
            .collect();
        touched.sort_unstable();
        touched.dedup();
        for key in touched {
            let n = self.keys.get(&key).map_or(0, |h| h.compactable(rev));
            if n > 0 {
                self.drop_oldest(&key, n);
            }
        }
        self.compacted = rev;
        Ok(CompactionResponse {})
    }

    fn drop_oldest(&mut self, key: &Bytes, n: usize) {
        let Some(history) = self.keys.get_mut(key) else {
            return;
        };
        let history = Arc::make_mut(history);
        for change in history.drop_oldest(n) {
            self.by_revision.remove(&change.revision);
            self.size_bytes = self
                .size_bytes
                .saturating_sub(change.payload_bytes(key) + CHANGE_OVERHEAD_BYTES);
            self.changes = self.changes.saturating_sub(1);
        }
        if history.is_empty() {
            self.keys.remove(key);
        }
    }

    /// Starts a write that will get the next main revision if it changes anything.
    pub(super) fn begin(&self) -> Write {
        Write {
            main: self.revision.saturating_add(1),
            events: Vec::new(),
        }
    }

    /// Ends a write: the revision moves on only if something changed.
    pub(super) fn finish<R>(&mut self, write: Write, response: R) -> Applied<R> {
        if !write.events.is_empty() {
            self.revision = write.main;
        }
        for event in &write.events {
            match (event.kind, &event.prev_kv) {
                (EventKind::Put, None) => self.live += 1,
                (EventKind::Delete, Some(_)) => self.live = self.live.saturating_sub(1),
                _ => {}
            }
        }
        Applied {
            response,
            events: write.events,
        }
    }

    /// The check etcd makes against the state before a put (`checkRequestPut`):
    /// `ignore_value`/`ignore_lease` need the key to exist.
    pub(super) fn check_put_state(&self, req: &PutRequest) -> Result<(), KvError> {
        if (req.ignore_value || req.ignore_lease) && self.get(&req.key).is_none() {
            return Err(KvError::KeyNotFound);
        }
        if !req.ignore_lease && req.lease != 0 && !self.leases.contains_key(&req.lease) {
            return Err(KvError::LeaseNotFound);
        }
        Ok(())
    }

    /// A put inside a write whose checks passed.
    pub(super) fn put_in(&mut self, write: &mut Write, req: &PutRequest) -> PutResponse {
        let prev = self.get(&req.key);
        let (value, lease) = match &prev {
            Some(p) if req.ignore_value || req.ignore_lease => (
                if req.ignore_value {
                    p.value.clone()
                } else {
                    req.value.clone()
                },
                if req.ignore_lease { p.lease } else { req.lease },
            ),
            _ => (req.value.clone(), req.lease),
        };
        let revision = write.next_revision();
        let (create_revision, version) = match &prev {
            Some(p) => (p.create_revision, p.version.saturating_add(1)),
            None => (revision.main, 1),
        };
        let kind = ChangeKind::Put {
            value,
            create_revision,
            version,
            lease,
        };
        let change = Change { revision, kind };
        let kv = change.to_kv(&req.key).unwrap_or_default();
        self.record(&req.key, change);
        self.attach(&req.key, prev.as_ref().map_or(0, |p| p.lease), lease);
        write.events.push(Event {
            kind: EventKind::Put,
            kv,
            prev_kv: prev.clone(),
        });
        PutResponse {
            prev_kv: prev.filter(|_| req.prev_kv),
        }
    }

    /// A delete inside a write.
    pub(super) fn delete_in(
        &mut self,
        write: &mut Write,
        req: &DeleteRangeRequest,
    ) -> DeleteRangeResponse {
        let range = KeyRange::new(&req.key, &req.range_end);
        let doomed: Vec<KeyValue> = self
            .visible(&range, write.main)
            .filter_map(|(key, change)| change.to_kv(key))
            .collect();
        for prev in &doomed {
            let revision = write.next_revision();
            let kind = ChangeKind::Tombstone;
            self.record(&prev.key, Change { revision, kind });
            self.attach(&prev.key, prev.lease, 0);
            let kv = KeyValue {
                key: prev.key.clone(),
                mod_revision: revision.main,
                ..Default::default()
            };
            let prev_kv = Some(prev.clone());
            let kind = EventKind::Delete;
            write.events.push(Event { kind, kv, prev_kv });
        }
        DeleteRangeResponse {
            deleted: doomed.len() as i64,
            prev_kvs: if req.prev_kv { doomed } else { Vec::new() },
        }
    }

    /// Appends a change to `key`'s history (copying that history if a clone shares it).
    fn record(&mut self, key: &Bytes, change: Change) {
        let bytes = change.payload_bytes(key) + CHANGE_OVERHEAD_BYTES;
        let history = self.keys.entry(key.clone()).or_default();
        let revision = change.revision;
        if Arc::make_mut(history).push(change) {
            self.by_revision.insert(revision, key.clone());
            self.size_bytes = self.size_bytes.saturating_add(bytes);
            self.changes += 1;
        }
    }
}

/// etcd's request checks of a put that need no state (`checkPutRequest`).
pub(super) fn check_put_request(req: &PutRequest) -> Result<(), KvError> {
    if req.key.is_empty() {
        return Err(KvError::EmptyKey);
    }
    if req.ignore_value && !req.value.is_empty() {
        return Err(KvError::ValueProvided);
    }
    if req.ignore_lease && req.lease != 0 {
        return Err(KvError::LeaseProvided);
    }
    Ok(())
}

fn passes_filters(req: &RangeRequest, kv: &KeyValue) -> bool {
    (req.max_mod_revision == 0 || kv.mod_revision <= req.max_mod_revision)
        && (req.min_mod_revision == 0 || kv.mod_revision >= req.min_mod_revision)
        && (req.max_create_revision == 0 || kv.create_revision <= req.max_create_revision)
        && (req.min_create_revision == 0 || kv.create_revision >= req.min_create_revision)
}

/// Sorts as etcd: a target other than the key with order NONE sorts ascending; the key
/// ascending is the natural order already. The sort is stable, so ties stay in key order
/// (etcd's sort is not stable: its order among ties is unspecified).
fn sort_kvs(kvs: &mut [KeyValue], order: SortOrder, target: SortTarget) {
    let order = match (order, target) {
        (SortOrder::None, SortTarget::Key) | (SortOrder::Ascend, SortTarget::Key) => return,
        (SortOrder::None, _) => SortOrder::Ascend,
        (order, _) => order,
    };
    let by = |a: &KeyValue, b: &KeyValue| -> Ordering {
        match target {
            SortTarget::Key => a.key.cmp(&b.key),
            SortTarget::Version => a.version.cmp(&b.version),
            SortTarget::Create => a.create_revision.cmp(&b.create_revision),
            SortTarget::Mod => a.mod_revision.cmp(&b.mod_revision),
            SortTarget::Value => a.value.cmp(&b.value),
        }
    };
    match order {
        SortOrder::Descend => kvs.sort_by(|a, b| by(b, a)),
        _ => kvs.sort_by(by),
    }
}
