//! [`WatchSet`]: the watches of one stream and what each is owed, pure and deterministic.
//!
//! A watch is a key range and `next`, the first revision it has not been sent. Whenever the
//! caller shows it a newer store, [`WatchSet::poll`] turns the store's changes in
//! `next..=store.revision()` into responses, so every event reaches every watch exactly once
//! and in revision order, whether the watch is live or far behind: there is no event buffer to
//! overflow, only `next`. Watches with the same `next` are served by one scan of the revision
//! index; each poll stops at a revision boundary once it has produced [`WatchLimits::budget_bytes`]
//! or covered [`WatchLimits::batch_revisions`] revisions of a group, and the rest waits for the
//! next poll (the caller polls again once it has sent what it got; a reader that stops reading
//! therefore costs nothing but its `next`).

use std::collections::{BTreeMap, BTreeSet};

use ddbb_libs::kv::{Event, EventKind, KeyRange, WatchCreateRequest, WatchResponse, NO_WATCH_ID};

use crate::state::mvcc::MvccStore;

/// etcd's refusal of a watch whose range is empty.
pub const EMPTY_RANGE: &str = "mvcc: watcher range is empty";
/// etcd's refusal of a watch id already in use on the stream.
pub const DUPLICATE_ID: &str = "mvcc: duplicate watch ID provided on the WatchStream";
/// DDBB's refusal of a watch past [`WatchLimits::max_watches`].
pub const TOO_MANY: &str = "etcdserver: too many watches on one stream";

/// Bounds of one stream's work and memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WatchLimits {
    /// Watches per stream.
    pub max_watches: usize,
    /// Revisions one group covers per poll (etcd's `watchBatchMaxRevs` is 1000).
    pub batch_revisions: i64,
    /// Bytes of events one poll produces before it stops at a revision boundary.
    pub budget_bytes: usize,
    /// A watch that asked for fragments gets responses split at about this size (etcd splits
    /// at `--max-request-bytes`).
    pub fragment_bytes: usize,
    /// UNSAFE, for tests of lin_test's watch checker only: a watch that resumes from a start
    /// revision loses the first event it is owed.
    pub unsafe_drop_resumed_event: bool,
}

impl Default for WatchLimits {
    fn default() -> Self {
        WatchLimits {
            max_watches: 100_000,
            batch_revisions: 1000,
            budget_bytes: 2 << 20,
            fragment_bytes: 3 << 19,
            unsafe_drop_resumed_event: false,
        }
    }
}

/// One watch.
#[derive(Clone, Debug)]
struct Watch {
    range: KeyRange,
    /// The first revision not yet sent.
    next: i64,
    no_put: bool,
    no_delete: bool,
    prev_kv: bool,
    progress_notify: bool,
    fragment: bool,
    /// Events were sent since the last periodic progress notification.
    sent_since_tick: bool,
    /// The planted bug of [`WatchLimits::unsafe_drop_resumed_event`] is still to strike.
    drop_next: bool,
}

impl Watch {
    fn wants(&self, event: &Event) -> bool {
        let filtered = match event.kind {
            EventKind::Put => self.no_put,
            EventKind::Delete => self.no_delete,
        };
        !filtered && self.range.contains(&event.kv.key)
    }
}

/// The watches of one stream (see the module doc).
#[derive(Debug)]
pub struct WatchSet {
    watches: BTreeMap<i64, Watch>,
    next_id: i64,
    limits: WatchLimits,
    /// The revision of the newest store polled.
    seen: i64,
    /// An on-demand progress request waits until every watch has caught up.
    progress_requested: bool,
}

impl WatchSet {
    /// No watches yet.
    pub fn new(limits: WatchLimits) -> WatchSet {
        WatchSet {
            watches: BTreeMap::new(),
            next_id: 0,
            limits,
            seen: 0,
            progress_requested: false,
        }
    }

    /// Number of watches.
    pub fn len(&self) -> usize {
        self.watches.len()
    }

    /// True when there is no watch.
    pub fn is_empty(&self) -> bool {
        self.watches.is_empty()
    }

    /// Whether the watch asked for fragmented responses.
    pub fn fragments(&self, id: i64) -> bool {
        self.watches.get(&id).is_some_and(|w| w.fragment)
    }

    /// Creates a watch; `now` is the replica's current revision (a start revision of 0 means
    /// `now + 1`). Returns the `created` response (also `canceled`, with etcd's reason, when
    /// the watch is refused).
    pub fn create(&mut self, req: &WatchCreateRequest, now: i64) -> WatchResponse {
        let mut response = WatchResponse {
            created: true,
            ..WatchResponse::new(NO_WATCH_ID, now)
        };
        let key = if req.key.is_empty() {
            bytes::Bytes::from_static(&[0])
        } else {
            req.key.clone()
        };
        let range = KeyRange::new(&key, &req.range_end);
        let refusal = if range.is_empty() {
            Some(EMPTY_RANGE)
        } else if self.watches.len() >= self.limits.max_watches {
            Some(TOO_MANY)
        } else if req.watch_id != 0 && self.watches.contains_key(&req.watch_id) {
            Some(DUPLICATE_ID)
        } else {
            None
        };
        if let Some(reason) = refusal {
            response.canceled = true;
            response.cancel_reason = reason.to_string();
            return response;
        }
        let id = if req.watch_id != 0 {
            req.watch_id
        } else {
            while self.watches.contains_key(&self.next_id) {
                self.next_id += 1;
            }
            self.next_id
        };
        if req.watch_id == 0 {
            self.next_id += 1;
        }
        let next = if req.start_revision > 0 {
            req.start_revision
        } else {
            now.saturating_add(1)
        };
        self.watches.insert(
            id,
            Watch {
                range,
                next,
                no_put: req.no_put,
                no_delete: req.no_delete,
                prev_kv: req.prev_kv,
                progress_notify: req.progress_notify,
                fragment: req.fragment,
                sent_since_tick: false,
                drop_next: self.limits.unsafe_drop_resumed_event && req.start_revision > 0,
            },
        );
        response.watch_id = id;
        response
    }

    /// Cancels watch `id`: the `canceled` response, or `None` if there is no such watch (etcd
    /// answers nothing then).
    pub fn cancel(&mut self, id: i64, now: i64) -> Option<WatchResponse> {
        self.watches.remove(&id)?;
        Some(WatchResponse {
            canceled: true,
            ..WatchResponse::new(id, now)
        })
    }

    /// An on-demand progress request: answered by the next [`WatchSet::poll`] after which every
    /// watch has been sent everything up to the store's revision.
    pub fn request_progress(&mut self) {
        self.progress_requested = true;
    }

    /// True when some watch is owed events up to `revision` (the caller should poll again
    /// without waiting for a newer store).
    pub fn behind(&self, revision: i64) -> bool {
        self.watches.values().any(|w| w.next <= revision)
    }

    /// Produces what the watches are owed by `store` (events, compaction cancels, a requested
    /// progress response), within the limits, appending to `out`.
    pub fn poll(&mut self, store: &MvccStore, out: &mut Vec<WatchResponse>) {
        let revision = store.revision();
        self.seen = self.seen.max(revision);
        self.cancel_compacted(store, out);
        let mut budget = self.limits.budget_bytes;
        let groups: BTreeSet<i64> = self
            .watches
            .values()
            .map(|w| w.next)
            .filter(|next| *next <= revision)
            .collect();
        for next in groups {
            if budget == 0 {
                break;
            }
            self.serve_group(store, next, &mut budget, out);
        }
        if self.progress_requested && !self.behind(revision) {
            self.progress_requested = false;
            out.push(WatchResponse::new(NO_WATCH_ID, revision));
        }
    }

    /// A periodic progress tick: every `progress_notify` watch that is caught up and was sent
    /// no events since the last tick gets an empty response at the newest revision polled.
    pub fn progress_tick(&mut self, out: &mut Vec<WatchResponse>) {
        let seen = self.seen;
        for (id, watch) in &mut self.watches {
            if watch.progress_notify && !watch.sent_since_tick && watch.next > seen {
                out.push(WatchResponse::new(*id, seen));
            }
            watch.sent_since_tick = false;
        }
    }

    /// Watches whose next revision was compacted away end with `compact_revision` (etcd: a
    /// watch may still start at the compacted revision itself).
    fn cancel_compacted(&mut self, store: &MvccStore, out: &mut Vec<WatchResponse>) {
        let compacted = store.compacted_revision();
        let doomed: Vec<i64> = self
            .watches
            .iter()
            .filter(|(_, w)| w.next < compacted)
            .map(|(id, _)| *id)
            .collect();
        for id in doomed {
            self.watches.remove(&id);
            // etcd's compaction notice carries no header revision (it is 0).
            out.push(WatchResponse {
                canceled: true,
                compact_revision: compacted,
                ..WatchResponse::new(id, 0)
            });
        }
    }

    /// Serves the watches whose next revision is `next` from one scan of the store's changes.
    fn serve_group(
        &mut self,
        store: &MvccStore,
        next: i64,
        budget: &mut usize,
        out: &mut Vec<WatchResponse>,
    ) {
        let revision = store.revision();
        let last = revision.min(next.saturating_add(self.limits.batch_revisions - 1));
        let ids: Vec<i64> = self
            .watches
            .iter()
            .filter(|(_, w)| w.next == next)
            .map(|(id, _)| *id)
            .collect();
        let mut owed: BTreeMap<i64, Vec<Event>> = BTreeMap::new();
        let mut reached = last;
        let mut current = None;
        for (rev, key) in store.changes_between(next, last) {
            if current != Some(rev.main) {
                // Stop only between revisions: one revision's events go out together.
                if *budget == 0 {
                    reached = rev.main - 1;
                    break;
                }
                current = Some(rev.main);
            }
            let Some(event) = store.event_at(key, rev) else {
                continue;
            };
            for id in &ids {
                let Some(watch) = self.watches.get_mut(id) else {
                    continue;
                };
                if watch.wants(&event) && std::mem::take(&mut watch.drop_next) {
                    continue;
                }
                if watch.wants(&event) {
                    let mut event = event.clone();
                    if !watch.prev_kv {
                        event.prev_kv = None;
                    }
                    *budget = budget.saturating_sub(event_bytes(&event));
                    owed.entry(*id).or_default().push(event);
                }
            }
        }
        for id in ids {
            let Some(watch) = self.watches.get_mut(&id) else {
                continue;
            };
            watch.next = reached.saturating_add(1);
            if let Some(events) = owed.remove(&id) {
                watch.sent_since_tick = true;
                let response = WatchResponse {
                    events,
                    ..WatchResponse::new(id, revision)
                };
                if watch.fragment {
                    fragment(response, self.limits.fragment_bytes, out);
                } else {
                    out.push(response);
                }
            }
        }
    }
}

/// Splits `response` as etcd's `sendFragments` does: consecutive events up to about `limit`
/// bytes per piece (at least one event each), every piece but the last marked `fragment`.
fn fragment(response: WatchResponse, limit: usize, out: &mut Vec<WatchResponse>) {
    let mut piece = WatchResponse {
        events: Vec::new(),
        ..response.clone()
    };
    let mut size = 0;
    for event in response.events {
        let bytes = event_bytes(&event);
        if !piece.events.is_empty() && size + bytes > limit {
            let full = std::mem::replace(
                &mut piece,
                WatchResponse {
                    events: Vec::new(),
                    ..WatchResponse::new(response.watch_id, response.revision)
                },
            );
            out.push(WatchResponse {
                fragment: true,
                ..full
            });
            size = 0;
        }
        size += bytes;
        piece.events.push(event);
    }
    out.push(piece);
}

/// What an event weighs against the budget.
fn event_bytes(event: &Event) -> usize {
    let kv = |kv: &ddbb_libs::kv::KeyValue| kv.key.len() + kv.value.len() + 48;
    kv(&event.kv) + event.prev_kv.as_ref().map_or(0, kv)
}
