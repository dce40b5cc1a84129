//! Writes this replica proposed and has not applied yet, matched to their clients by id.
//!
//! A write is answered when the entry holding it (any copy of it, from any replica) is applied
//! here. One whose proposal is older than `repropose_ticks` is proposed again, because a
//! forward to a leader that died is lost (omnipaxos issue #136); the session table makes the
//! second copy a no-op. Writes that came without a `REQID` get ids from this replica's own
//! session; the lowest unresolved one is the session floor carried in every entry.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, Hasher};

use ddbb_libs::kv::WriteOutcome;
use ddbb_libs::{NodeId, RequestId};
use tokio::sync::oneshot;
use tracing::debug;

use super::Response;
use crate::entry::WriteCommand;
use crate::state::KvState;

/// A client waiting for a write's outcome.
type Waiter = oneshot::Sender<Response>;

struct PendingWrite {
    command: WriteCommand,
    waiters: Vec<Waiter>,
    /// Tick of the latest proposal.
    proposed_at: u64,
}

/// Every write this replica waits on.
pub(super) struct PendingWrites {
    /// This replica's own request session, for writes that came without a `REQID`.
    session: u64,
    next_seq: u64,
    /// Own-session seqs not yet applied or abandoned.
    own_unresolved: BTreeSet<u64>,
    pending: HashMap<RequestId, PendingWrite>,
    /// `(tick proposed, id)` in proposal order, to find writes to propose again.
    retry_queue: VecDeque<(u64, RequestId)>,
}

impl PendingWrites {
    pub(super) fn new(id: NodeId) -> Self {
        PendingWrites {
            session: new_session_id(id),
            next_seq: 1,
            own_unresolved: BTreeSet::new(),
            pending: HashMap::new(),
            retry_queue: VecDeque::new(),
        }
    }

    /// Uses `session` (top bit set, as a random one has) instead of the random session; only
    /// before the first id was handed out.
    pub(super) fn set_session(&mut self, session: u64) {
        debug_assert!(self.next_seq == 1, "session changed after use");
        self.session = session | (1 << 63);
    }

    /// This incarnation's request session.
    pub(super) fn session(&self) -> u64 {
        self.session
    }

    /// The write's id: the client's, or the next one of this replica's session.
    pub(super) fn id_for(&mut self, requested: Option<RequestId>) -> RequestId {
        requested.unwrap_or_else(|| {
            let seq = self.next_seq;
            self.next_seq += 1;
            self.own_unresolved.insert(seq);
            RequestId {
                client: self.session,
                seq,
            }
        })
    }

    /// Adds a waiter to a write already in flight (a client retry); gives it back if the
    /// write is not pending.
    pub(super) fn join(&mut self, id: RequestId, waiter: Waiter) -> Option<Waiter> {
        match self.pending.get_mut(&id) {
            Some(p) => {
                p.waiters.push(waiter);
                None
            }
            None => Some(waiter),
        }
    }

    /// Records a write just proposed at tick `now`.
    pub(super) fn insert(&mut self, command: WriteCommand, waiter: Waiter, now: u64) {
        let id = command.id;
        self.pending.insert(
            id,
            PendingWrite {
                command,
                waiters: vec![waiter],
                proposed_at: now,
            },
        );
        self.retry_queue.push_back((now, id));
    }

    /// This replica's session and the lowest seq it may still propose.
    pub(super) fn floor(&self) -> RequestId {
        RequestId {
            client: self.session,
            seq: self
                .own_unresolved
                .first()
                .copied()
                .unwrap_or(self.next_seq),
        }
    }

    /// Writes whose last proposal is older than `repropose_ticks`, to propose again; writes
    /// nobody waits for any more are forgotten.
    pub(super) fn stale(&mut self, now: u64, repropose_ticks: u64) -> Vec<WriteCommand> {
        let mut again = Vec::new();
        while let Some(&(at, id)) = self.retry_queue.front() {
            if now < at + repropose_ticks {
                break;
            }
            self.retry_queue.pop_front();
            let Some(p) = self.pending.get_mut(&id) else {
                continue;
            };
            if p.proposed_at != at {
                continue; // a newer proposal is queued further back
            }
            p.waiters.retain(|tx| !tx.is_closed());
            if p.waiters.is_empty() {
                self.pending.remove(&id);
                self.resolve_own(id);
                continue;
            }
            debug!(?id, "write not applied in time; proposing it again");
            again.push(p.command.clone());
            p.proposed_at = now;
            self.retry_queue.push_back((now, id));
        }
        again
    }

    /// Answers the clients waiting on `id`, if any.
    pub(super) fn complete(&mut self, id: RequestId, outcome: &WriteOutcome) {
        if let Some(p) = self.pending.remove(&id) {
            for tx in p.waiters {
                let _ = tx.send(Response::Write(outcome.clone()));
            }
            self.resolve_own(id);
        }
    }

    /// Answers every waiting write that `state` shows applied (after a snapshot replaced the
    /// state, the entries holding them were never applied here one by one).
    pub(super) fn complete_from(&mut self, state: &KvState) {
        let done: Vec<(RequestId, WriteOutcome)> = self
            .pending
            .keys()
            .filter_map(|id| state.duplicate(*id).map(|o| (*id, o)))
            .collect();
        for (id, outcome) in done {
            self.complete(id, &outcome);
        }
    }

    /// Number of writes waiting.
    pub(super) fn len(&self) -> usize {
        self.pending.len()
    }

    fn resolve_own(&mut self, id: RequestId) {
        if id.client == self.session {
            self.own_unresolved.remove(&id.seq);
        }
    }
}

/// A request session id for this replica incarnation: random, with the top bit set so it
/// cannot be mistaken for a small client-chosen id.
fn new_session_id(id: NodeId) -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    id.hash(&mut hasher);
    std::process::id().hash(&mut hasher);
    std::time::SystemTime::now().hash(&mut hasher);
    hasher.finish() | (1 << 63)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddbb_libs::kv::{DeleteRangeRequest, WriteRequest};

    fn op() -> WriteRequest {
        WriteRequest::DeleteRange(DeleteRangeRequest::key("k"))
    }

    fn outcome(revision: i64) -> WriteOutcome {
        WriteOutcome {
            revision,
            result: Ok(ddbb_libs::kv::WriteResponse::DeleteRange(Default::default())),
        }
    }

    #[test]
    fn own_ids_advance_the_floor_as_they_resolve() {
        let mut w = PendingWrites::new(1);
        let a = w.id_for(None);
        let b = w.id_for(None);
        assert_eq!(w.floor().seq, a.seq);
        let (tx, _rx) = oneshot::channel();
        w.insert(WriteCommand { id: a, op: op() }, tx, 0);
        let (tx, _rx2) = oneshot::channel();
        w.insert(WriteCommand { id: b, op: op() }, tx, 0);
        w.complete(a, &outcome(1));
        assert_eq!(w.floor().seq, b.seq);
        w.complete(b, &outcome(0));
        assert_eq!(w.floor().seq, b.seq + 1);
        let client_id = RequestId { client: 7, seq: 9 };
        assert_eq!(w.id_for(Some(client_id)), client_id);
    }

    #[test]
    fn stale_writes_are_proposed_again_and_abandoned_ones_forgotten() {
        let mut w = PendingWrites::new(1);
        let kept = w.id_for(None);
        let gone = w.id_for(None);
        let (tx, mut rx) = oneshot::channel();
        w.insert(WriteCommand { id: kept, op: op() }, tx, 0);
        let (tx, rx_gone) = oneshot::channel();
        w.insert(WriteCommand { id: gone, op: op() }, tx, 0);
        drop(rx_gone); // that client went away
        assert!(w.stale(3, 5).is_empty());
        let again = w.stale(5, 5);
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].id, kept);
        assert_eq!(w.len(), 1);
        assert!(w.stale(9, 5).is_empty(), "the retry restarted its clock");
        assert_eq!(w.stale(10, 5).len(), 1);
        // A retry of the same id joins the waiters; the outcome reaches both.
        let (tx2, mut rx2) = oneshot::channel();
        assert!(w.join(kept, tx2).is_none());
        w.complete(kept, &outcome(1));
        assert_eq!(rx.try_recv().unwrap(), Response::Write(outcome(1)));
        assert_eq!(rx2.try_recv().unwrap(), Response::Write(outcome(1)));
        assert_eq!(w.len(), 0);
    }
}
