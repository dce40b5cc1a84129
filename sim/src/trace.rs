//! One-line descriptions of Sequence Paxos messages and log entries, for `ddbb-sim --trace`
//! and the failure messages of the log-agreement check.
//!
//! An entry prints as `o<origin>[<client>.<seq>,...]` (its writes' request ids, the client
//! session cut to 48 bits); a message as `<from>-><to> <kind> <fields>`, with ballots as
//! `<n>.<pid>` and accept-phase sequence numbers as `<session>.<counter>`, the fields that
//! matter when following a resynchronisation.

use ddbb_libs::StatusReply;
use ddbb_server::entry::LogEntry;
use ddbb_server::transport::PeerMessage;
use omnipaxos::messages::sequence_paxos::PaxosMsg;
use omnipaxos::messages::Message;

/// A replica's consensus position: ballot, leader (`*`: this replica leads), decided (`ld`),
/// accepted (`la`), applied and compacted index.
pub fn state(st: &StatusReply) -> String {
    format!(
        "ballot={} leader={}{} ld={} la={} applied={} compacted={}",
        st.ballot,
        st.leader,
        if st.is_leader { "*" } else { "" },
        st.decided_index,
        st.accepted_index,
        st.applied_index,
        st.compacted_index
    )
}

/// Log entries, by origin and request ids.
pub fn entries(es: &[LogEntry]) -> String {
    es.iter()
        .map(|e| {
            let c: Vec<String> = e
                .commands
                .iter()
                .map(|c| format!("{:x}.{}", c.id.client & 0xffff_ffff_ffff, c.id.seq))
                .collect();
            format!("o{}[{}]", e.origin, c.join(","))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A one-line description of a Paxos message (None for BLE).
pub fn describe(msg: &PeerMessage) -> Option<String> {
    let Message::SequencePaxos(m) = msg else {
        return None;
    };
    let b = |n: &omnipaxos::ballot_leader_election::Ballot| format!("{}.{}", n.n, n.pid);
    let s = match &m.msg {
        PaxosMsg::PrepareReq(p) => format!("PrepareReq n={}", b(&p.n)),
        PaxosMsg::Prepare(p) => format!(
            "Prepare n={} ld={} na={} la={}",
            b(&p.n),
            p.decided_idx,
            b(&p.n_accepted),
            p.accepted_idx
        ),
        PaxosMsg::Promise(p) => format!(
            "Promise n={} na={} ld={} la={} sync={}",
            b(&p.n),
            b(&p.n_accepted),
            p.decided_idx,
            p.accepted_idx,
            p.log_sync
                .as_ref()
                .map(|s| format!(
                    "idx={} len={} snap={}",
                    s.sync_idx,
                    s.suffix.len(),
                    s.decided_snapshot.is_some()
                ))
                .unwrap_or_default()
        ),
        PaxosMsg::AcceptSync(a) => format!(
            "AcceptSync n={} seq={}.{} ld={} sync_idx={} snap={:?} suffix=[{}]",
            b(&a.n),
            a.seq_num.session,
            a.seq_num.counter,
            a.decided_idx,
            a.log_sync.sync_idx,
            a.log_sync.decided_snapshot.as_ref().map(|s| match s {
                omnipaxos::storage::SnapshotType::Complete(s) =>
                    format!("complete to {}", s.to_state().applied_index()),
                omnipaxos::storage::SnapshotType::Delta(s) =>
                    format!("delta of {}", s.to_state().applied_index()),
            }),
            entries(&a.log_sync.suffix)
        ),
        PaxosMsg::AcceptDecide(a) => format!(
            "AcceptDecide n={} seq={}.{} ld={} entries=[{}]",
            b(&a.n),
            a.seq_num.session,
            a.seq_num.counter,
            a.decided_idx,
            entries(&a.entries)
        ),
        PaxosMsg::Accepted(a) => format!("Accepted n={} la={}", b(&a.n), a.accepted_idx),
        PaxosMsg::NotAccepted(a) => format!("NotAccepted n={}", b(&a.n)),
        PaxosMsg::Decide(d) => format!(
            "Decide n={} seq={}.{} ld={}",
            b(&d.n),
            d.seq_num.session,
            d.seq_num.counter,
            d.decided_idx
        ),
        PaxosMsg::ProposalForward(es) => format!("ProposalForward [{}]", entries(es)),
        PaxosMsg::Compaction(c) => format!("Compaction {c:?}"),
        PaxosMsg::AcceptStopSign(_) => "AcceptStopSign".into(),
        PaxosMsg::ForwardStopSign(_) => "ForwardStopSign".into(),
    };
    Some(format!("{}->{} {s}", m.from, m.to))
}
