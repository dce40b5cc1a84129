//! Per-client request tables that make retries and re-proposals exactly-once.
//!
//! Every write carries a [`RequestId`] `(client, seq)`. For each client the table remembers
//! which seqs were applied, with their outcomes, so a duplicate (a client retry after a
//! timeout, or a replica re-proposing a command whose first copy was only slow) returns the
//! first outcome instead of applying again.
//!
//! Seqs need not arrive in order (a pipelining client's batches can be decided out of order),
//! so the table keeps a set, not just the last seq. It stays small two ways:
//! - a *floor*: every seq below it counts as applied. A replica advances the floor of its own
//!   session with each entry it proposes (`LogEntry::session_floor`), because it knows which of
//!   its seqs are still unresolved;
//! - a window: at most [`SESSION_WINDOW`] outcomes per client; older ones are dropped and the
//!   floor rises past them. A duplicate below the floor gets [`KvError::Expired`].
//!
//! At most [`MAX_SESSIONS`] clients are kept; the least recently used are evicted first.
//! Everything is deterministic, so every replica keeps the same table.

use std::collections::BTreeMap;

use imbl::OrdMap;

use ddbb_libs::{LogIndex, RequestId};
use serde::{Deserialize, Serialize};

use ddbb_libs::kv::{KvError, WriteOutcome as Outcome};

/// Outcomes remembered per client. A client with more writes than this in flight at once
/// could see a retry answered `Expired`.
pub const SESSION_WINDOW: usize = 4096;
/// Clients remembered at most; beyond that the least recently used tenth is evicted.
pub const MAX_SESSIONS: usize = 100_000;

/// The outcome of a duplicate whose first outcome is forgotten.
fn expired() -> Outcome {
    Outcome {
        revision: 0,
        result: Err(KvError::Expired),
    }
}

/// One client's applied requests.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Session {
    /// Every seq below this counts as applied.
    floor: u64,
    /// Applied seqs at or above the floor, with their outcomes.
    applied: BTreeMap<u64, Outcome>,
    /// Log index of the last entry that touched the session, for eviction.
    last_used: LogIndex,
}

/// Every client's session, in a persistent map: cloning the table for a snapshot is O(1), and
/// a session is copied only when it is next written.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionTable {
    sessions: OrdMap<u64, Session>,
}

impl SessionTable {
    /// The earlier outcome if `id` was applied already.
    pub fn duplicate(&self, id: RequestId) -> Option<Outcome> {
        let session = self.sessions.get(&id.client)?;
        if id.seq < session.floor {
            return Some(
                session
                    .applied
                    .get(&id.seq)
                    .cloned()
                    .unwrap_or_else(expired),
            );
        }
        session.applied.get(&id.seq).cloned()
    }

    /// Records that `id` was applied at `index` with `outcome`.
    pub fn record(&mut self, id: RequestId, outcome: Outcome, index: LogIndex) {
        let session = self.sessions.entry(id.client).or_default();
        session.last_used = index;
        session.applied.insert(id.seq, outcome);
        if session.applied.len() > SESSION_WINDOW {
            if let Some((seq, _)) = session.applied.pop_first() {
                session.floor = session.floor.max(seq + 1);
            }
        }
        self.evict_if_full();
    }

    /// Raises a client's floor: every seq below `floor.seq` is resolved.
    pub fn raise_floor(&mut self, floor: RequestId, index: LogIndex) {
        let session = self.sessions.entry(floor.client).or_default();
        session.last_used = index;
        if floor.seq > session.floor {
            session.floor = floor.seq;
            session.applied = session.applied.split_off(&floor.seq);
        }
        self.evict_if_full();
    }

    /// Number of clients remembered.
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// True when no client is remembered.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    fn evict_if_full(&mut self) {
        if self.sessions.len() <= MAX_SESSIONS {
            return;
        }
        // Evict a tenth at once so the O(n) scan is amortised over many inserts.
        let mut by_age: Vec<(LogIndex, u64)> = self
            .sessions
            .iter()
            .map(|(client, s)| (s.last_used, *client))
            .collect();
        by_age.sort_unstable();
        for (_, client) in by_age.iter().take(MAX_SESSIONS / 10) {
            self.sessions.remove(client);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(client: u64, seq: u64) -> RequestId {
        RequestId { client, seq }
    }

    /// A distinguishable outcome.
    fn at(revision: i64) -> Outcome {
        Outcome {
            revision,
            result: Ok(ddbb_libs::kv::WriteResponse::Compact(Default::default())),
        }
    }

    #[test]
    fn remembers_outcomes_out_of_order() {
        let mut t = SessionTable::default();
        t.record(id(1, 5), at(1), 1);
        t.record(id(1, 3), at(0), 2);
        assert_eq!(t.duplicate(id(1, 5)), Some(at(1)));
        assert_eq!(t.duplicate(id(1, 3)), Some(at(0)));
        assert_eq!(t.duplicate(id(1, 4)), None);
        assert_eq!(t.duplicate(id(2, 5)), None);
    }

    #[test]
    fn floor_forgets_and_expires() {
        let mut t = SessionTable::default();
        t.record(id(1, 1), at(1), 1);
        t.record(id(1, 2), at(2), 1);
        t.raise_floor(id(1, 2), 2);
        assert_eq!(t.duplicate(id(1, 1)), Some(expired()));
        assert_eq!(t.duplicate(id(1, 2)), Some(at(2)));
        // A floor never goes down.
        t.raise_floor(id(1, 0), 3);
        assert_eq!(t.duplicate(id(1, 1)), Some(expired()));
    }

    #[test]
    fn window_bounds_memory() {
        let mut t = SessionTable::default();
        for seq in 0..(SESSION_WINDOW as u64 + 10) {
            t.record(id(1, seq), at(0), 1);
        }
        assert_eq!(t.sessions[&1].applied.len(), SESSION_WINDOW);
        assert_eq!(t.duplicate(id(1, 0)), Some(expired()));
        assert_eq!(t.duplicate(id(1, SESSION_WINDOW as u64 + 9)), Some(at(0)));
    }

    #[test]
    fn least_recently_used_sessions_are_evicted() {
        let mut t = SessionTable::default();
        for client in 0..(MAX_SESSIONS as u64 + 1) {
            t.record(id(client, 0), at(0), client as usize);
        }
        assert!(t.len() <= MAX_SESSIONS);
        assert_eq!(t.duplicate(id(0, 0)), None, "oldest evicted");
        assert!(t.duplicate(id(MAX_SESSIONS as u64, 0)).is_some());
    }
}
