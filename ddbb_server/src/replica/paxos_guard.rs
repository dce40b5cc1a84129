//! Workarounds for two OmniPaxos 0.2.4 bugs in the leader/follower resynchronisation, found by
//! `ddbb-sim` (seeds 1310 and 1283; details and evidence in `docs/OMNIPAXOS.md`). We cannot
//! patch the crate, so the replica loop steers around both at its message boundary.
//!
//! 1. **Merged AcceptDecide after a new AcceptSync.** Between two `take_outgoing_messages`
//!    calls, a leader appends the entries of every further proposal to the AcceptDecide it
//!    already queued for a follower. When a Promise from that follower arrives in between (a
//!    re-sent Promise: its first AcceptSync was lost), the leader queues an AcceptSync that
//!    starts a new accept sequence (session) for it, but keeps extending the *old*
//!    AcceptDecide, which precedes the AcceptSync and carries the old session's sequence
//!    number. The follower, waiting in the Prepare phase, drops that AcceptDecide, takes the
//!    AcceptSync (which lacks the merged entries) and then the new session's AcceptDecides,
//!    whose numbers show no gap: their entries land as many positions early as entries were
//!    merged, and it acknowledges them (divergent logs, decided). Taking the outgoing
//!    messages right after every Promise ends the merge window ([`ends_merge_window`]).
//! 2. **Stale AcceptSync.** A follower in the Prepare phase takes any AcceptSync of the
//!    ballot it promised, even one that answers an *earlier* Promise of the same ballot (it
//!    promised twice after reconnections, and the leader answered each). Such an AcceptSync
//!    may carry a delta snapshot that starts at the decided index of the earlier Promise;
//!    OmniPaxos merges it onto the follower's current decided prefix, so the entries in
//!    between are applied twice and the stored snapshot claims more entries than it covers.
//!    [`is_stale_accept_sync`] recognises it, and the loop drops it: the follower stays in
//!    Prepare, re-sends its Promise on the resend timer and gets a fresh AcceptSync.

use omnipaxos::messages::sequence_paxos::{PaxosMessage, PaxosMsg};
use omnipaxos::messages::Message;
use omnipaxos::storage::SnapshotType;

use crate::transport::PeerMessage;

/// True for a Promise: on a leader in the Accept phase, handling one queues an AcceptSync
/// that starts a new accept sequence for its sender, so OmniPaxos' queued messages must be
/// taken before anything else is proposed (workaround 1 of the module docs).
pub(super) fn ends_merge_window(msg: &PeerMessage) -> bool {
    matches!(
        msg,
        Message::SequencePaxos(PaxosMessage {
            msg: PaxosMsg::Promise(_),
            ..
        })
    )
}

/// True for an AcceptSync whose delta snapshot does not start at `decided_idx`, this
/// replica's decided index: it answers an older Promise (workaround 2 of the module docs).
///
/// A leader builds a delta from the decided index the follower promised with up to its own
/// decided index, which is the sync index; a follower's decided index does not move while it
/// waits in the Prepare phase, so a current AcceptSync always passes.
pub(super) fn is_stale_accept_sync(msg: &PeerMessage, decided_idx: usize) -> bool {
    let Message::SequencePaxos(PaxosMessage {
        msg: PaxosMsg::AcceptSync(sync),
        ..
    }) = msg
    else {
        return false;
    };
    let Some(SnapshotType::Delta(delta)) = &sync.log_sync.decided_snapshot else {
        return false;
    };
    match delta.delta_len() {
        Some(len) => sync.log_sync.sync_idx.checked_sub(len) != Some(decided_idx),
        // A delta with a base state is not what OmniPaxos builds: leave it to OmniPaxos.
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entry::LogEntry;
    use crate::state::KvSnapshot;
    use crate::storage::DecidedPrefix;
    use omnipaxos::messages::sequence_paxos::AcceptSync;
    use omnipaxos::storage::Snapshot;
    use omnipaxos::util::{LogEntry as PaxosEntry, LogSync, SequenceNumber};
    use omnipaxos::OmniPaxos;
    use omnipaxos_storage::memory_storage::MemoryStorage;

    type Node = OmniPaxos<LogEntry, DecidedPrefix<MemoryStorage<LogEntry>>>;

    fn node(pid: u64) -> Node {
        let config = crate::storage::tests::three_nodes(pid, 1);
        config
            .build(DecidedPrefix(MemoryStorage::default()))
            .expect("a valid configuration")
    }

    /// A distinct entry (only its origin tells it apart).
    fn entry(n: u64) -> LogEntry {
        LogEntry {
            origin: n,
            ..LogEntry::default()
        }
    }

    /// Delivers messages (in order, none lost) until no node has anything to send.
    fn settle(nodes: &mut [Node]) {
        loop {
            let mut out = Vec::new();
            for n in nodes.iter_mut() {
                n.take_outgoing_messages(&mut out);
            }
            if out.is_empty() {
                return;
            }
            for m in out {
                nodes[m.get_receiver() as usize - 1].handle_incoming(m);
            }
        }
    }

    /// Three nodes with an elected leader that has synced both followers; returns the leader.
    fn elected() -> (Vec<Node>, usize) {
        let mut nodes: Vec<Node> = (1..=3).map(node).collect();
        for _ in 0..20 {
            nodes.iter_mut().for_each(Node::tick);
            settle(&mut nodes);
            if let Some(l) = nodes
                .iter()
                .position(|n| n.get_current_leader() == Some((n.get_pid(), true)))
            {
                nodes[l].append(entry(100)).expect("append");
                settle(&mut nodes);
                return (nodes, l);
            }
        }
        panic!("no leader elected");
    }

    fn log(n: &Node) -> Vec<LogEntry> {
        (0..n.get_accepted_idx())
            .map(|i| match n.read(i) {
                Some(PaxosEntry::Decided(e) | PaxosEntry::Undecided(e)) => e,
                other => panic!("entry {i}: {other:?}"),
            })
            .collect()
    }

    /// The follower re-promises; its Promise reaches the leader twice (the first AcceptSync is
    /// lost, the follower re-sends), with proposals before and after the second. Returns the
    /// leader's and the follower's logs.
    fn duplicate_promise(guard: bool) -> (Vec<LogEntry>, Vec<LogEntry>) {
        let (mut nodes, l) = elected();
        let f = (l + 1) % 3;
        let (leader, follower) = ((l + 1) as u64, (f + 1) as u64);
        nodes[f].reconnected(leader);
        let take = |n: &mut Node| {
            let mut out = Vec::new();
            n.take_outgoing_messages(&mut out);
            out
        };
        for m in take(&mut nodes[f]) {
            nodes[l].handle_incoming(m); // PrepareReq
        }
        for m in take(&mut nodes[l]) {
            nodes[f].handle_incoming(m); // Prepare
        }
        let promise = take(&mut nodes[f]).remove(0);
        nodes[l].handle_incoming(promise.clone());
        // The AcceptSync to the follower is lost.
        let _ = take(&mut nodes[l]);

        let mut out = Vec::new();
        nodes[l].append(entry(1)).expect("append");
        nodes[l].handle_incoming(promise);
        if guard {
            nodes[l].take_outgoing_messages(&mut out);
        }
        nodes[l].append(entry(2)).expect("append");
        nodes[l].take_outgoing_messages(&mut out);
        for m in out {
            let to = m.get_receiver();
            assert_ne!(to, leader);
            nodes[to as usize - 1].handle_incoming(m);
        }
        settle(&mut nodes);
        nodes[l].append(entry(3)).expect("append");
        settle(&mut nodes);
        assert_eq!(nodes[l].get_pid(), leader);
        assert_eq!(nodes[f].get_pid(), follower);
        (log(&nodes[l]), log(&nodes[f]))
    }

    #[test]
    fn omnipaxos_merges_entries_into_an_acceptdecide_of_the_old_session() {
        // Documents the OmniPaxos 0.2.4 bug: if this fails, the crate was fixed.
        let (leader, follower) = duplicate_promise(false);
        // The follower never got entry 2, and took entry 3 at its position.
        let mut shifted = leader.clone();
        shifted.retain(|e| *e != entry(2));
        assert_eq!(follower, shifted);
        assert_ne!(leader, follower);
    }

    #[test]
    fn taking_messages_after_a_promise_keeps_the_logs_equal() {
        let (leader, follower) = duplicate_promise(true);
        assert_eq!(leader, follower);
        assert!(leader.contains(&entry(3)));
    }

    fn accept_sync(sync_idx: usize, delta: Vec<LogEntry>) -> PeerMessage {
        Message::SequencePaxos(PaxosMessage {
            from: 1,
            to: 2,
            msg: PaxosMsg::AcceptSync(AcceptSync {
                n: Default::default(),
                seq_num: SequenceNumber::default(),
                decided_idx: sync_idx,
                log_sync: LogSync {
                    decided_snapshot: Some(SnapshotType::Delta(KvSnapshot::create(&delta))),
                    suffix: Vec::new(),
                    sync_idx,
                    stopsign: None,
                },
            }),
        })
    }

    #[test]
    fn an_acceptsync_whose_delta_starts_elsewhere_is_stale() {
        let delta = vec![entry(1), entry(2), entry(3)];
        // Built from decided index 7 up to 10: current for a follower decided up to 7.
        assert!(!is_stale_accept_sync(&accept_sync(10, delta.clone()), 7));
        // The follower has decided more since the Promise it answers.
        assert!(is_stale_accept_sync(&accept_sync(10, delta.clone()), 9));
        assert!(is_stale_accept_sync(&accept_sync(10, delta.clone()), 5));
        assert!(is_stale_accept_sync(&accept_sync(2, delta), 0));
        let complete = Message::SequencePaxos(PaxosMessage {
            from: 1,
            to: 2,
            msg: PaxosMsg::AcceptSync(AcceptSync {
                n: Default::default(),
                seq_num: SequenceNumber::default(),
                decided_idx: 4,
                log_sync: LogSync {
                    decided_snapshot: Some(SnapshotType::Complete(KvSnapshot::default())),
                    suffix: Vec::new(),
                    sync_idx: 4,
                    stopsign: None,
                },
            }),
        });
        assert!(!is_stale_accept_sync(&complete, 9));
    }
}
