//! Regression test for the OmniPaxos 0.2.4 delta-snapshot catch-up bug (see
//! `decided_prefix.rs`): a follower that was down while the leader decided more entries must
//! end up with the leader's exact state, with DDBB's real entry and snapshot types.

use crate::entry::{LogEntry, WriteCommand};
use crate::state::KvState;
use crate::storage::{DecidedPrefix, SharedWal, WalOptions};
use ddbb_libs::kv::{PutRequest, WriteRequest};
use ddbb_libs::RequestId;
use omnipaxos::messages::Message;
use omnipaxos::util::LogEntry as PaxosEntry;
use omnipaxos::OmniPaxos;
use std::collections::BTreeMap;
use tempfile::TempDir;

type Store = DecidedPrefix<SharedWal<LogEntry>>;
type Node = OmniPaxos<LogEntry, Store>;

struct Nodes {
    dirs: BTreeMap<u64, TempDir>,
    nodes: BTreeMap<u64, (Node, SharedWal<LogEntry>)>,
}

fn build(pid: u64, dir: &TempDir) -> (Node, SharedWal<LogEntry>) {
    let wal = SharedWal::open(dir.path(), WalOptions::default()).unwrap();
    let config = super::three_nodes(pid, 5);
    (config.build(DecidedPrefix(wal.clone())).unwrap(), wal)
}

impl Nodes {
    fn new() -> Nodes {
        let mut n = Nodes {
            dirs: BTreeMap::new(),
            nodes: BTreeMap::new(),
        };
        for pid in 1..=3 {
            n.dirs.insert(pid, tempfile::tempdir().unwrap());
            n.start(pid);
        }
        n
    }

    fn start(&mut self, pid: u64) {
        let node = build(pid, &self.dirs[&pid]);
        self.nodes.insert(pid, node);
    }

    /// One loop pass on every node (tick, sync, send), then delivery.
    fn step(&mut self) {
        self.step_dropping(|_| false);
    }

    /// Like [`Nodes::step`], dropping the messages `drop` selects.
    fn step_dropping(&mut self, drop: impl Fn(&Message<LogEntry>) -> bool) {
        let mut msgs: Vec<Message<LogEntry>> = Vec::new();
        for (node, wal) in self.nodes.values_mut() {
            node.tick();
            wal.sync().unwrap();
            node.take_outgoing_messages(&mut msgs);
        }
        for m in msgs.into_iter().filter(|m| !drop(m)) {
            if let Some((node, _)) = self.nodes.get_mut(&m.get_receiver()) {
                node.handle_incoming(m);
            }
        }
        for (_, wal) in self.nodes.values_mut() {
            wal.sync().unwrap();
        }
    }

    fn leader(&mut self) -> u64 {
        for _ in 0..2_000 {
            self.step();
            let leaders: Vec<u64> = self
                .nodes
                .iter()
                .filter_map(|(pid, (n, _))| {
                    (n.get_current_leader() == Some((*pid, true))).then_some(*pid)
                })
                .collect();
            if let [leader] = leaders[..] {
                return leader;
            }
        }
        panic!("no leader");
    }

    fn steps_until(&mut self, mut done: impl FnMut(&Nodes) -> bool) {
        for _ in 0..5_000 {
            if done(self) {
                return;
            }
            self.step();
        }
        panic!("condition not reached");
    }

    /// A cluster whose leader decided 10 entries on every node; returns it, the leader and a
    /// follower.
    fn with_ten_decided_entries() -> (Nodes, u64, u64) {
        let mut c = Nodes::new();
        let leader = c.leader();
        c.append(leader, 0..10);
        c.steps_until(|c| (1..=3).all(|p| c.decided(p) >= 10));
        (c, leader, leader % 3 + 1)
    }

    /// Appends one put per seq at `pid`.
    fn append(&mut self, pid: u64, seqs: std::ops::Range<u64>) {
        let node = &mut self.nodes.get_mut(&pid).expect("running").0;
        for seq in seqs {
            node.append(put(seq)).expect("append");
        }
    }

    fn decided(&self, pid: u64) -> usize {
        self.nodes[&pid].0.get_decided_idx()
    }

    /// The state a replica rebuilds from its decided log (snapshot + entries).
    fn state(&self, pid: u64) -> KvState {
        let node = &self.nodes[&pid].0;
        let mut state = KvState::new();
        for entry in node.read_decided_suffix(0).unwrap_or_default() {
            match entry {
                PaxosEntry::Snapshotted(s) => state = s.snapshot.to_state(),
                PaxosEntry::Decided(e) => {
                    let i = state.applied_index();
                    state.apply(i, &e);
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        state
    }
}

fn put(seq: u64) -> LogEntry {
    LogEntry {
        origin: 1,
        commands: vec![WriteCommand {
            id: RequestId { client: 5, seq },
            op: WriteRequest::Put(PutRequest::new(format!("k{}", seq % 7), format!("v{seq}"))),
        }],
        ..Default::default()
    }
}

#[test]
fn a_follower_caught_up_by_a_delta_snapshot_keeps_its_decided_prefix() {
    let (mut c, leader, lagger) = Nodes::with_ten_decided_entries();
    // The follower goes down; the leader decides 20 more entries with the third node.
    c.nodes.remove(&lagger);
    c.append(leader, 10..30);
    c.steps_until(|c| c.decided(leader) >= 30);
    // Back: the leader syncs it with a delta snapshot of entries 10..30.
    c.start(lagger);
    c.steps_until(|c| c.decided(lagger) >= 30);
    let expected = c.state(leader);
    assert_eq!(
        expected.revision(),
        31,
        "30 writes after the initial revision 1"
    );
    assert_eq!(c.state(lagger), expected);
}

#[test]
fn a_follower_with_undecided_entries_caught_up_by_a_delta_gets_the_leaders_state() {
    use omnipaxos::messages::sequence_paxos::{PaxosMessage, PaxosMsg};
    let (mut c, leader, lagger) = Nodes::with_ten_decided_entries();
    // The lagger accepts 20 more entries but never hears that they were decided.
    c.append(leader, 10..30);
    let to_lagger_decided = |m: &Message<LogEntry>| {
        m.get_receiver() == lagger
            && matches!(
                m,
                Message::SequencePaxos(PaxosMessage {
                    msg: PaxosMsg::Decide(_),
                    ..
                })
            )
    };
    for _ in 0..200 {
        c.step_dropping(to_lagger_decided);
    }
    assert!(c.decided(leader) >= 30);
    assert_eq!(
        c.decided(lagger),
        10,
        "the lagger holds 20 undecided entries"
    );
    c.nodes.remove(&lagger);
    c.start(lagger);
    c.steps_until(|c| c.decided(lagger) >= 30);
    let expected = c.state(leader);
    assert_eq!(
        expected.revision(),
        31,
        "30 writes after the initial revision 1"
    );
    assert_eq!(c.state(lagger), expected);
}
