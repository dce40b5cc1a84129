//! End to end: three OmniPaxos instances in one process, each on a `SharedWal` in its own temp
//! dir, messages shuttled in a loop (no network). Each pass follows the replica-loop rule:
//! handle events, `sync`, then send.

use crate::storage::{
    suite::{put, KvSnapshot, TestEntry},
    SharedWal, WalOptions,
};
use omnipaxos::{
    messages::Message,
    storage::{Snapshot, Storage},
    util::LogEntry,
    ClusterConfig, OmniPaxos, OmniPaxosConfig, ServerConfig,
};
use std::collections::BTreeMap;
use tempfile::TempDir;

type Node = OmniPaxos<TestEntry, SharedWal<TestEntry>>;

const PIDS: [u64; 3] = [1, 2, 3];
const MAX_STEPS: usize = 5_000;

struct Cluster {
    dirs: BTreeMap<u64, TempDir>,
    /// Running nodes; a stopped node is absent and its messages are dropped.
    nodes: BTreeMap<u64, (Node, SharedWal<TestEntry>)>,
    fsyncs_before_send: u64,
}

fn build(pid: u64, dir: &TempDir) -> (Node, SharedWal<TestEntry>) {
    let wal = SharedWal::open(dir.path(), WalOptions::default()).unwrap();
    let config = OmniPaxosConfig {
        cluster_config: ClusterConfig {
            configuration_id: 1,
            nodes: PIDS.to_vec(),
            flexible_quorum: None,
        },
        server_config: ServerConfig {
            pid,
            election_tick_timeout: 5,
            resend_message_tick_timeout: 20,
            buffer_size: 1_000,
            ..ServerConfig::default()
        },
    };
    let node = config.build(wal.clone()).unwrap();
    (node, wal)
}

impl Cluster {
    fn new() -> Self {
        let mut c = Cluster {
            dirs: BTreeMap::new(),
            nodes: BTreeMap::new(),
            fsyncs_before_send: 0,
        };
        for pid in PIDS {
            c.dirs.insert(pid, tempfile::tempdir().unwrap());
            c.start(pid);
        }
        c
    }

    fn start(&mut self, pid: u64) {
        let node = build(pid, &self.dirs[&pid]);
        self.nodes.insert(pid, node);
    }

    /// Stops a node without any further sync: what was not synced is lost, like kill -9.
    fn kill(&mut self, pid: u64) {
        self.nodes.remove(&pid);
    }

    /// One pass of every node's loop, then delivery of what they sent.
    fn step(&mut self) {
        let mut in_flight: Vec<Message<TestEntry>> = Vec::new();
        for (node, wal) in self.nodes.values_mut() {
            node.tick();
            // Sync before send: the messages below may promise or accept what was just stored.
            if wal.sync().unwrap().fsynced {
                self.fsyncs_before_send += 1;
            }
            node.take_outgoing_messages(&mut in_flight);
        }
        for msg in in_flight {
            if let Some((node, _)) = self.nodes.get_mut(&msg.get_receiver()) {
                node.handle_incoming(msg);
            }
        }
    }

    fn run_until(&mut self, what: &str, cond: impl Fn(&Cluster) -> bool) {
        for _ in 0..MAX_STEPS {
            if cond(self) {
                return;
            }
            self.step();
        }
        panic!("gave up waiting for: {what}");
    }

    fn leader(&self) -> Option<u64> {
        self.nodes
            .values()
            .find_map(|(n, _)| match n.get_current_leader() {
                Some((pid, true)) if pid == n.get_pid() => Some(pid),
                _ => None,
            })
    }

    fn all_decided(&self, idx: usize) -> bool {
        self.nodes.values().all(|(n, _)| n.get_decided_idx() >= idx)
    }

    fn append(&mut self, pid: u64, from: u64, to: u64) {
        let (node, _) = self.nodes.get_mut(&pid).unwrap();
        for i in from..to {
            node.append(put(i)).unwrap();
        }
    }

    /// The key-value state of `pid`: its snapshot (if compacted) plus its decided entries.
    fn kv_state(&self, pid: u64) -> KvSnapshot {
        let (node, _) = &self.nodes[&pid];
        let mut state = KvSnapshot::default();
        for e in node.read_decided_suffix(0).unwrap_or_default() {
            match e {
                LogEntry::Snapshotted(s) => state = s.snapshot,
                LogEntry::Decided(t) => state.merge(KvSnapshot::create(&[t])),
                other => panic!("unexpected log entry {other:?}"),
            }
        }
        state
    }

    /// The decided entries of `pid` from `from` on (compacted prefix excluded).
    fn decided(&self, pid: u64, from: usize) -> Vec<TestEntry> {
        let (node, _) = &self.nodes[&pid];
        node.read_decided_suffix(from)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|e| match e {
                LogEntry::Decided(t) => Some(t),
                _ => None,
            })
            .collect()
    }
}

fn expected(from: u64, to: u64) -> Vec<TestEntry> {
    (from..to).map(put).collect()
}

#[test]
fn omnipaxos_runs_on_the_wal_and_a_node_recovers_its_log_from_disk() {
    let mut c = Cluster::new();
    c.run_until("a leader", |c| c.leader().is_some());
    let leader = c.leader().unwrap();
    c.append(leader, 0, 30);
    let follower = PIDS.iter().copied().find(|p| *p != leader).unwrap();
    c.append(follower, 30, 50); // forwarded to the leader
    c.run_until("50 decided everywhere", |c| c.all_decided(50));
    for pid in PIDS {
        let mut got = c.decided(pid, 0);
        got.sort_by_key(|e| match e {
            TestEntry::Put { value, .. } => *value,
            TestEntry::Unencodable(v) => *v,
        });
        assert_eq!(got, expected(0, 50), "node {pid}");
    }
    let log_of_leader = c.decided(leader, 0);
    assert!(c.fsyncs_before_send > 0);

    // Kill a follower, keep writing, restart it from its directory.
    let victim = PIDS.iter().copied().find(|p| *p != leader).unwrap();
    // One more pass so the victim syncs what the last delivery stored; then it is killed
    // (anything stored after its last sync would be lost, which is allowed: it was never sent).
    c.step();
    let (node, wal) = &c.nodes[&victim];
    let in_memory = (node.get_decided_idx(), wal.get_suffix(0).unwrap());
    c.kill(victim);
    c.append(leader, 50, 70);
    c.run_until("70 decided on the survivors", |c| c.all_decided(70));
    let reopened =
        SharedWal::<TestEntry>::open(c.dirs[&victim].path(), WalOptions::default()).unwrap();
    assert_eq!(
        (
            reopened.get_decided_idx().unwrap(),
            reopened.get_suffix(0).unwrap()
        ),
        in_memory
    );
    assert!(in_memory.0 >= 50);
    assert_eq!(reopened.get_entries(0, 50).unwrap(), log_of_leader);
    assert!(
        reopened.get_promise().unwrap().is_some(),
        "a promise was stored"
    );
    drop(reopened);
    c.start(victim);
    c.run_until("the restarted node catches up", |c| c.all_decided(70));
    // The leader may bring the restarted node up to date with a snapshot instead of entries
    // (OmniPaxos does so whenever snapshots are enabled), so compare the resulting key-value state.
    let state = c.kv_state(leader);
    assert_eq!(state, KvSnapshot::create(&expected(0, 70)));
    for pid in PIDS {
        assert_eq!(c.kv_state(pid), state, "node {pid}");
    }
}

#[test]
fn snapshot_checkpoint_and_whole_cluster_restart() {
    let mut c = Cluster::new();
    c.run_until("a leader", |c| c.leader().is_some());
    let leader = c.leader().unwrap();
    c.append(leader, 0, 40);
    c.run_until("40 decided", |c| c.all_decided(40));
    let log = c.decided(leader, 0);

    // Compact everywhere (leader-initiated snapshot), then checkpoint each WAL.
    c.nodes
        .get_mut(&leader)
        .unwrap()
        .0
        .snapshot(Some(30), false)
        .unwrap();
    c.run_until("everyone compacted", |c| {
        c.nodes.values().all(|(n, _)| n.get_compacted_idx() >= 30)
    });
    for (_, wal) in c.nodes.values() {
        let before = wal.stats();
        wal.checkpoint().unwrap();
        let after = wal.stats();
        assert_eq!(after.segments, 1);
        assert!(
            after.disk_bytes <= before.disk_bytes,
            "{before:?} -> {after:?}"
        );
        assert_eq!(after.checkpoint_compacted_idx, after.compacted_idx);
    }
    c.append(leader, 40, 45);
    c.run_until("45 decided", |c| c.all_decided(45));

    // Every node dies at once (after its last sync-before-send), then all restart.
    for pid in PIDS {
        c.kill(pid);
    }
    for pid in PIDS {
        c.start(pid);
        let (node, wal) = &c.nodes[&pid];
        assert_eq!(node.get_compacted_idx(), 30, "node {pid}");
        assert!(wal.get_snapshot().unwrap().is_some());
        assert_eq!(wal.get_entries(30, 40).unwrap(), log[30..40].to_vec());
    }
    c.run_until("a new leader", |c| c.leader().is_some());
    let leader = c.leader().unwrap();
    c.append(leader, 45, 50);
    c.run_until("50 decided after the restart", |c| c.all_decided(50));
    let tail = c.decided(leader, 30);
    assert_eq!(tail[..10].to_vec(), log[30..40].to_vec());
    for pid in PIDS {
        assert_eq!(c.decided(pid, 30), tail, "node {pid}");
    }
}
