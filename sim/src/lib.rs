//! `ddbb-sim`: deterministic simulation of DDBB's replica core.
//!
//! N replicas run the real [`Replica`] (the same pass steps `Replica::run` drives, the same
//! MVCC state machine, the same WAL over an in-memory [`CrashDisk`]) in one thread, over a
//! simulated network ([`net`]) and a virtual clock (microseconds). One seeded RNG decides
//! everything that is nondeterministic in production: when each message arrives or whether it
//! is lost, when ticks fire, which partitions (including the OmniPaxos paper's
//! partial-connectivity shapes), crashes (a restarted replica recovers from what a power cut
//! leaves: only synced writes), pauses and link resets happen, when deferred checkpoints run,
//! and what the clients ([`workload`]) do. Events are processed in `(time, sequence)` order,
//! so a seed replays exactly; [`SeedReport::trace_hash`] fingerprints the run.
//!
//! Each seed ends with a heal (every link, every crashed replica restarted), a linearizable
//! read of every key, and checks: lin_test's linearizability checker on the history,
//! serializable reads return written values, replicas at the same applied index hold the same
//! store, no replica stopped on an error or panicked, the cluster answers after the heal.
//!
//! Two planted bugs show the checks bite: [`SimOptions::unsafe_local_reads`] (the server's
//! `--unsafe-local-reads`) and [`SimOptions::ack_before_fsync`] (a `StorageControl` whose
//! `sync` does nothing, so replies and votes go out before their writes are durable).

pub mod net;
pub mod scenario;
pub mod trace;
pub mod workload;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ddbb_libs::NodeId;
use ddbb_server::entry::LogEntry;
use ddbb_server::replica::{Replica, Request, Response};
use ddbb_server::storage::disk::{CrashDisk, DiskRef, PowerCut};
use ddbb_server::storage::{
    self, CheckpointMode, DecidedPrefix, SharedWal, StorageControl, StorageStats, WalOptions,
};
use ddbb_server::transport::{encode_message, PeerEvent, PeerMessage};
use ddbb_server::ServerConfig;
use lin_test::{CheckOptions, Verdict};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::oneshot::error::TryRecvError;

use net::{Fate, LinkShared, NetParams, Network, SimLinks};
use workload::{OpKind, Pending, Reply, Workload};

/// Virtual microseconds.
type Micros = u64;

const MS: Micros = 1_000;
const SEC: Micros = 1_000_000;
/// Where each replica's data dir lives on its own in-memory disk.
const DATA_DIR: &str = "/sim/data";
/// A client gives up on an operation after this long (`:info`).
const OP_TIMEOUT: Micros = 1_500 * MS;
/// Virtual time the cluster gets after the heal before the final reads.
const SETTLE: Micros = 2 * SEC;
/// The final reads must all be answered within this long after the heal.
const FINAL_DEADLINE: Micros = 30 * SEC;

/// What to simulate.
#[derive(Clone, Debug)]
pub struct SimOptions {
    /// The seed: every decision of the run comes from it.
    pub seed: u64,
    /// Events processed before the heal and the final reads.
    pub steps: u64,
    /// Replicas (3 or 5 make sense).
    pub replicas: usize,
    /// Concurrent clients (one operation in flight each).
    pub clients: usize,
    /// Keys of the register workload.
    pub keys: i64,
    /// Planted bug: linearizable reads answered from local state.
    pub unsafe_local_reads: bool,
    /// Planted bug: `sync` does nothing, so writes are acknowledged before they are durable.
    pub ack_before_fsync: bool,
    /// Print every fault and operation as it happens.
    pub verbose: bool,
    /// Print every Sequence Paxos message sent, lost or delivered, and each replica's
    /// OmniPaxos state after each pass (use with one seed).
    pub trace: bool,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            seed: 0,
            steps: DEFAULT_STEPS,
            replicas: 3,
            clients: 4,
            keys: 3,
            unsafe_local_reads: false,
            ack_before_fsync: false,
            verbose: false,
            trace: false,
        }
    }
}

/// Default `--steps`.
pub const DEFAULT_STEPS: u64 = 3_000;

impl SimOptions {
    /// The command that replays this seed exactly.
    pub fn replay_command(&self) -> String {
        let mut cmd = format!(
            "cargo run --release --bin ddbb-sim -- --seed {} --steps {}",
            self.seed, self.steps
        );
        if self.replicas != 3 {
            cmd += &format!(" --replicas {}", self.replicas);
        }
        if self.clients != SimOptions::default().clients {
            cmd += &format!(" --clients {}", self.clients);
        }
        if self.keys != SimOptions::default().keys {
            cmd += &format!(" --keys {}", self.keys);
        }
        if self.unsafe_local_reads {
            cmd += " --unsafe-local-reads";
        }
        if self.ack_before_fsync {
            cmd += " --ack-before-fsync";
        }
        cmd
    }
}

/// What one seed came to.
#[derive(Clone, Debug, Default)]
pub struct SeedReport {
    pub seed: u64,
    /// Empty when every check passed.
    pub failures: Vec<String>,
    /// Hash of every event processed and every message sent, in order.
    pub trace_hash: u64,
    /// Events processed.
    pub events: u64,
    /// Client operations in the checked history (serializable reads not included).
    pub operations: usize,
    /// Virtual time at the end.
    pub virtual_ms: u64,
    pub crashes: u64,
    /// Faults, as they were injected (virtual ms, description).
    pub faults: Vec<(u64, String)>,
    /// Keys whose check ran out of budget (neither a pass nor a failure).
    pub unknown: usize,
}

impl SeedReport {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Runs one seed; a panic inside the replica core is a failure of the seed.
pub fn run_seed(options: &SimOptions) -> SeedReport {
    let run = std::panic::catch_unwind(AssertUnwindSafe(|| World::new(options.clone()).run()));
    match run {
        Ok(report) => report,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "(non-string panic)".into());
            SeedReport {
                seed: options.seed,
                failures: vec![format!("panic: {message}")],
                ..SeedReport::default()
            }
        }
    }
}

type Core = Replica<DecidedPrefix<SharedWal<LogEntry>>>;

/// The planted bug `--ack-before-fsync`: a storage control whose `sync` makes nothing durable.
struct AckBeforeFsync(SharedWal<LogEntry>);

impl StorageControl for AckBeforeFsync {
    fn sync(&mut self) -> ddbb_server::Result<()> {
        Ok(())
    }

    fn stats(&self) -> StorageStats {
        StorageControl::stats(&self.0)
    }
}

/// A running replica.
struct Up {
    replica: Core,
    wal: SharedWal<LogEntry>,
    links: Arc<Mutex<LinkShared>>,
    events: VecDeque<PeerEvent>,
    requests: VecDeque<Request>,
    wake_scheduled: bool,
    checkpoint_scheduled: bool,
}

struct Node {
    id: NodeId,
    config: ServerConfig,
    disk: CrashDisk,
    up: Option<Up>,
    incarnation: u64,
    paused_until: Micros,
    /// Tick period of this replica's clock (skewed per replica).
    tick: Micros,
    /// Decided log entries below this index were compared with the other replicas'.
    log_checked: usize,
}

#[derive(Debug)]
enum Ev {
    Tick(usize, u64),
    Wake(usize, u64),
    Checkpoint(usize, u64),
    Deliver {
        from: NodeId,
        to: NodeId,
        epoch: u64,
        incarnation: u64,
        msg: Box<PeerMessage>,
    },
    LinkUp {
        to: NodeId,
        peer: NodeId,
        incarnation: u64,
    },
    Invoke(usize),
    Timeout(u64),
    Nemesis,
    /// Second stage of a constrained election: cut these links (after a heal).
    Recut(Vec<(NodeId, NodeId)>, String),
    Restart(usize),
    FinalRead(i64),
    Converge,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Phase {
    Faults,
    Heal,
    Done,
}

struct World {
    options: SimOptions,
    rng: StdRng,
    now: Micros,
    seq: u64,
    queue: BTreeMap<(Micros, u64), Ev>,
    nodes: Vec<Node>,
    net: Network,
    workload: Workload,
    pending: BTreeMap<u64, Pending>,
    next_op: u64,
    hasher: DefaultHasher,
    report: SeedReport,
    phase: Phase,
    healed_at: Micros,
    final_reads_left: BTreeSet<i64>,
    /// Mean time between faults.
    fault_every: Micros,
    /// Every log entry some replica has decided, by index, with the first replica seen
    /// holding it (the log-agreement check).
    decided_log: BTreeMap<usize, (NodeId, LogEntry)>,
    /// The first divergent index found, if any (reported once).
    diverged: bool,
}

fn peer_addr(id: NodeId) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 20_000 + id as u16))
}

impl World {
    fn new(options: SimOptions) -> World {
        let mut rng = StdRng::seed_from_u64(options.seed);
        let n = options.replicas as NodeId;
        let peers: BTreeMap<NodeId, SocketAddr> = (1..=n).map(|id| (id, peer_addr(id))).collect();
        let election_ticks = [5, 10, 20][rng.gen_range(0..3)];
        let snapshot_every = [0, 5, 20, 200][rng.gen_range(0..4)];
        let nodes = (1..=n)
            .map(|id| {
                let mut config = ServerConfig::new(id, peers.clone(), peer_addr(100 + id));
                config.election_ticks = election_ticks;
                config.snapshot_every = snapshot_every;
                config.unsafe_local_reads = options.unsafe_local_reads;
                let tick = 10 * MS * rng.gen_range(95..=105) / 100;
                Node {
                    id,
                    config,
                    disk: CrashDisk::with_dirs(&["/sim"]).expect("an empty in-memory disk"),
                    up: None,
                    incarnation: 0,
                    paused_until: 0,
                    tick,
                    log_checked: 0,
                }
            })
            .collect();
        let net = Network::new(NetParams::draw(&mut rng));
        let fault_every = [100 * MS, 300 * MS, SEC][rng.gen_range(0..3)];
        let report = SeedReport {
            seed: options.seed,
            ..SeedReport::default()
        };
        World {
            workload: Workload::new(options.keys, options.clients),
            options,
            rng,
            now: 0,
            seq: 0,
            queue: BTreeMap::new(),
            nodes,
            net,
            pending: BTreeMap::new(),
            next_op: 0,
            hasher: DefaultHasher::new(),
            report,
            phase: Phase::Faults,
            healed_at: 0,
            final_reads_left: BTreeSet::new(),
            fault_every,
            decided_log: BTreeMap::new(),
            diverged: false,
        }
    }

    fn at(&mut self, time: Micros, ev: Ev) {
        self.seq += 1;
        self.queue.insert((time, self.seq), ev);
    }

    fn after(&mut self, delay: Micros, ev: Ev) {
        self.at(self.now + delay, ev);
    }

    fn log(&mut self, what: String) {
        if self.options.verbose {
            println!("{:>9.3} ms  {what}", self.now as f64 / 1e3);
        }
        what.hash(&mut self.hasher);
        self.report.faults.push((self.now / MS, what));
    }

    fn fail(&mut self, what: String) {
        if self.options.verbose {
            println!("{:>9.3} ms  FAILURE: {what}", self.now as f64 / 1e3);
        }
        self.report.failures.push(what);
    }

    fn run(mut self) -> SeedReport {
        for i in 0..self.nodes.len() {
            self.start(i);
        }
        for c in 0..self.options.clients {
            let delay = self.rng.gen_range(0..50 * MS);
            self.after(delay, Ev::Invoke(c));
        }
        let first = self.rng.gen_range(0..self.fault_every * 2);
        self.after(first, Ev::Nemesis);
        while let Some(((time, _), ev)) = self.queue.pop_first() {
            self.now = time;
            self.report.events += 1;
            self.step(ev);
            if self.phase == Phase::Faults && self.report.events >= self.options.steps {
                self.heal_everything();
            }
            if self.phase == Phase::Done {
                break;
            }
        }
        self.finish()
    }

    fn step(&mut self, ev: Ev) {
        match ev {
            Ev::Tick(i, inc) => self.tick(i, inc),
            Ev::Wake(i, inc) => self.wake(i, inc),
            Ev::Checkpoint(i, inc) => self.checkpoint(i, inc),
            Ev::Deliver {
                from,
                to,
                epoch,
                incarnation,
                msg,
            } => {
                let i = to as usize - 1;
                let node = &self.nodes[i];
                if node.incarnation != incarnation || self.net.epoch(from, to) != epoch {
                    if let (true, Some(d)) = (self.options.trace, trace::describe(&msg)) {
                        println!("{:>9.3} STALE   {d}", self.now as f64 / 1e3);
                    }
                    return;
                }
                if let (true, Some(d)) = (self.options.trace, trace::describe(&msg)) {
                    println!("{:>9.3} DELIVER {d}", self.now as f64 / 1e3);
                }
                (self.now, 1u8, from, to).hash(&mut self.hasher);
                self.enqueue(i, PeerEvent::Message(msg));
            }
            Ev::LinkUp {
                to,
                peer,
                incarnation,
            } => {
                let i = to as usize - 1;
                if self.nodes[i].incarnation == incarnation && !self.net.is_cut(to, peer) {
                    if self.options.trace {
                        println!(
                            "{:>9.3} LINKUP  at {to} for peer {peer}",
                            self.now as f64 / 1e3
                        );
                    }
                    (self.now, 2u8, to, peer).hash(&mut self.hasher);
                    self.enqueue(i, PeerEvent::LinkUp(peer));
                }
            }
            Ev::Invoke(c) => self.invoke(c),
            Ev::Timeout(op) => {
                if let Some(p) = self.pending.remove(&op) {
                    self.complete(p, Reply::Info);
                }
            }
            Ev::Nemesis => self.nemesis(),
            Ev::Recut(cut, what) => {
                if self.phase == Phase::Faults {
                    self.heal_links();
                    for &(a, b) in &cut {
                        self.net.cut(a, b);
                        self.net.cut(b, a);
                    }
                    self.update_connected();
                    self.log(what);
                }
            }
            Ev::Restart(i) => {
                if self.nodes[i].up.is_none() {
                    self.start(i);
                }
            }
            Ev::FinalRead(key) => self.final_read(key),
            Ev::Converge => self.converge(),
        }
    }

    // ----- replicas -------------------------------------------------------------------

    /// Starts (or restarts) replica `i` on what its disk holds.
    fn start(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        node.incarnation += 1;
        node.paused_until = 0;
        let id = node.id;
        let disk: DiskRef = Arc::new(node.disk.clone());
        let wal_dir = match storage::prepare_data_dir(&*disk, Path::new(DATA_DIR), true) {
            Ok(dir) => dir,
            Err(e) => return self.fail(format!("replica {id}: data dir: {e}")),
        };
        let options = WalOptions {
            disk: disk.clone(),
            segment_bytes: 32 * 1024,
            checkpoint_on_snapshot: true,
            checkpoint_mode: CheckpointMode::Deferred,
            ..WalOptions::default()
        };
        let wal = match SharedWal::<LogEntry>::open(&wal_dir, options) {
            Ok(wal) => wal,
            Err(e) => return self.fail(format!("replica {id} cannot recover its WAL: {e}")),
        };
        let control: Box<dyn StorageControl> = if self.options.ack_before_fsync {
            Box::new(AckBeforeFsync(wal.clone()))
        } else {
            Box::new(wal.clone())
        };
        let links = Arc::new(Mutex::new(LinkShared::default()));
        let sim_links = SimLinks {
            shared: links.clone(),
        };
        let node = &mut self.nodes[i];
        node.config.disk = disk;
        let mut replica = match Replica::new(
            &node.config,
            DecidedPrefix(wal.clone()),
            control,
            sim_links,
            false,
        ) {
            Ok(r) => r,
            Err(e) => return self.fail(format!("replica {id} cannot start: {e}")),
        };
        replica.set_session(id << 32 | node.incarnation);
        node.up = Some(Up {
            replica,
            wal,
            links,
            events: VecDeque::new(),
            requests: VecDeque::new(),
            wake_scheduled: false,
            checkpoint_scheduled: false,
        });
        let inc = node.incarnation;
        let tick = node.tick;
        (self.now, 3u8, id, inc).hash(&mut self.hasher);
        if inc > 1 {
            self.log(format!("replica {id} restarted"));
        }
        let first_tick = self.rng.gen_range(0..tick);
        self.after(first_tick, Ev::Tick(i, inc));
        self.update_connected();
        // The links come up: each side's link task connects and reports LinkUp.
        for peer in 1..=self.nodes.len() as NodeId {
            if peer != id && self.nodes[peer as usize - 1].up.is_some() {
                self.link_up_later(id, peer);
                self.link_up_later(peer, id);
            }
        }
    }

    /// Reports `LinkUp(peer)` to `to` after a connection delay.
    fn link_up_later(&mut self, to: NodeId, peer: NodeId) {
        let delay = self.rng.gen_range(MS..20 * MS);
        let incarnation = self.nodes[to as usize - 1].incarnation;
        self.after(
            delay,
            Ev::LinkUp {
                to,
                peer,
                incarnation,
            },
        );
    }

    fn paused(&mut self, i: usize, ev: Ev) -> Option<Ev> {
        let until = self.nodes[i].paused_until;
        if self.now < until {
            self.at(until, ev);
            return None;
        }
        Some(ev)
    }

    fn tick(&mut self, i: usize, inc: u64) {
        if self.nodes[i].incarnation != inc || self.nodes[i].up.is_none() {
            return;
        }
        if self.paused(i, Ev::Tick(i, inc)).is_none() {
            return;
        }
        (self.now, 4u8, i).hash(&mut self.hasher);
        if let Some(up) = self.nodes[i].up.as_mut() {
            up.replica.on_tick();
        }
        self.pass(i);
        let next = self.nodes[i].tick + self.rng.gen_range(0..200);
        self.after(next, Ev::Tick(i, inc));
    }

    fn wake(&mut self, i: usize, inc: u64) {
        if self.nodes[i].incarnation != inc || self.nodes[i].up.is_none() {
            return;
        }
        if self.paused(i, Ev::Wake(i, inc)).is_none() {
            return;
        }
        (self.now, 5u8, i).hash(&mut self.hasher);
        if let Some(up) = self.nodes[i].up.as_mut() {
            up.wake_scheduled = false;
        }
        self.pass(i);
    }

    /// Queues a peer event for replica `i` and wakes it soon.
    fn enqueue(&mut self, i: usize, event: PeerEvent) {
        let Some(up) = self.nodes[i].up.as_mut() else {
            return;
        };
        up.events.push_back(event);
        self.schedule_wake(i);
    }

    fn schedule_wake(&mut self, i: usize) {
        let inc = self.nodes[i].incarnation;
        let Some(up) = self.nodes[i].up.as_mut() else {
            return;
        };
        if !up.wake_scheduled {
            up.wake_scheduled = true;
            let delay = self.rng.gen_range(0..300);
            self.after(delay, Ev::Wake(i, inc));
        }
    }

    /// The rest of a pass, as `Replica::run` does it: drain peer events, then requests, then
    /// `finish_pass`; then what the pass sent goes on the network and replies are collected.
    fn pass(&mut self, i: usize) {
        let id = self.nodes[i].id;
        let Some(up) = self.nodes[i].up.as_mut() else {
            return;
        };
        let mut result = Ok(());
        while let Some(event) = up.events.pop_front() {
            result = up.replica.on_peer_event(event);
            if result.is_err() {
                break;
            }
        }
        if result.is_ok() {
            while let Some(request) = up.requests.pop_front() {
                up.replica.on_request(request);
            }
            result = up.replica.finish_pass();
        }
        if let Err(e) = result {
            self.fail(format!("replica {id} stopped: {e}"));
            self.crash(i, false);
            return;
        }
        self.check_decided_log(i);
        let Some(up) = self.nodes[i].up.as_mut() else {
            return;
        };
        if self.options.trace {
            let state = trace::state(&up.replica.status());
            println!("{:>9.3} STATE   {id}: {state}", self.now as f64 / 1e3);
        }
        let sent = std::mem::take(&mut up.links.lock().unwrap_or_else(|p| p.into_inner()).outbox);
        let checkpoint = !up.checkpoint_scheduled && up.wal.with(|w| w.checkpoint_in_flight());
        if checkpoint {
            up.checkpoint_scheduled = true;
        }
        let inc = self.nodes[i].incarnation;
        for msg in sent {
            let to = msg.get_receiver();
            if let Ok(bytes) = encode_message(&msg) {
                bytes.hash(&mut self.hasher);
            }
            let fate = self.net.send(&mut self.rng, self.now, id, to);
            if let (true, Some(d)) = (self.options.trace, trace::describe(&msg)) {
                let what = if matches!(fate, Fate::Lost) {
                    "LOST   "
                } else {
                    "SEND   "
                };
                println!("{:>9.3} {what} {d}", self.now as f64 / 1e3);
            }
            if let Fate::Arrive { at, epoch } = fate {
                let incarnation = self.nodes[to as usize - 1].incarnation;
                self.at(
                    at,
                    Ev::Deliver {
                        from: id,
                        to,
                        epoch,
                        incarnation,
                        msg: Box::new(msg),
                    },
                );
            }
        }
        if checkpoint {
            let delay = self.rng.gen_range(0..30 * MS);
            self.after(delay, Ev::Checkpoint(i, inc));
        }
        self.poll(id);
    }

    /// Log agreement, checked after every pass: an index decided on two replicas holds the
    /// same entry on both. (Stores are compared at the end too, but only at equal applied
    /// indices; this names the first divergent index when it happens.)
    fn check_decided_log(&mut self, i: usize) {
        let id = self.nodes[i].id;
        let Some(up) = self.nodes[i].up.as_ref() else {
            return;
        };
        let status = up.replica.status();
        let from = self.nodes[i].log_checked.max(status.compacted_index);
        if from >= status.decided_index {
            return;
        }
        let entries = up.wal.with(|w| {
            omnipaxos::storage::Storage::get_entries(w, from, status.decided_index)
                .unwrap_or_default()
        });
        self.nodes[i].log_checked = from + entries.len();
        for (idx, entry) in (from..).zip(entries) {
            let (first, seen) = self
                .decided_log
                .entry(idx)
                .or_insert_with(|| (id, entry.clone()));
            if *seen != entry && !self.diverged {
                let what = format!(
                    "divergence: log index {idx} decided as {} on replica {first} but {} on replica {id}",
                    trace::entries(std::slice::from_ref(seen)),
                    trace::entries(std::slice::from_ref(&entry)),
                );
                self.diverged = true;
                self.fail(what);
            }
        }
    }

    /// Runs the deferred checkpoint of replica `i` (production runs it on a thread).
    fn checkpoint(&mut self, i: usize, inc: u64) {
        if self.nodes[i].incarnation != inc {
            return;
        }
        let id = self.nodes[i].id;
        let Some(up) = self.nodes[i].up.as_mut() else {
            return;
        };
        up.checkpoint_scheduled = false;
        if let Err(e) = up.wal.with(|w| w.run_deferred_checkpoint()) {
            self.fail(format!("replica {id}: checkpoint failed: {e}"));
        }
        (self.now, 6u8, id).hash(&mut self.hasher);
    }

    /// Replica `i` loses power: everything not synced is gone.
    fn crash(&mut self, i: usize, restart: bool) {
        let id = self.nodes[i].id;
        if self.nodes[i].up.take().is_none() {
            return;
        }
        self.report.crashes += 1;
        let node = &mut self.nodes[i];
        node.disk = node.disk.power_cut(PowerCut::SyncedOnly);
        // Nothing more reaches the dead process; what it sent may still arrive.
        for peer in 1..=self.nodes.len() as NodeId {
            self.net.reset(peer, id);
        }
        self.poll(id);
        if restart {
            let delay = self.rng.gen_range(10 * MS..2 * SEC);
            self.after(delay, Ev::Restart(i));
        }
    }

    fn up_ids(&self) -> Vec<NodeId> {
        self.nodes
            .iter()
            .filter(|n| n.up.is_some())
            .map(|n| n.id)
            .collect()
    }

    /// The replica that says it leads (the first, by id), if any.
    fn leader(&self) -> Option<NodeId> {
        self.nodes.iter().find_map(|n| {
            let status = n.up.as_ref()?.replica.status();
            status.is_leader.then_some(n.id)
        })
    }

    fn update_connected(&mut self) {
        let ids: Vec<NodeId> = self.nodes.iter().map(|n| n.id).collect();
        for node in &self.nodes {
            if let Some(up) = &node.up {
                let connected = ids
                    .iter()
                    .copied()
                    .filter(|&p| p != node.id && !self.net.is_cut(node.id, p))
                    .collect();
                up.links.lock().unwrap_or_else(|p| p.into_inner()).connected = connected;
            }
        }
    }

    // ----- faults ---------------------------------------------------------------------

    /// Heals every cut link; both ends of each get `LinkUp` (the connection is re-made).
    fn heal_links(&mut self) {
        let healed = self.net.heal_all();
        let pairs: BTreeSet<(NodeId, NodeId)> = healed
            .into_iter()
            .map(|(a, b)| (a.min(b), a.max(b)))
            .collect();
        for (a, b) in pairs {
            self.link_up_later(a, b);
            self.link_up_later(b, a);
        }
        self.update_connected();
    }

    fn cut_pairs(&mut self, cut: &BTreeSet<(NodeId, NodeId)>) {
        for &(a, b) in cut {
            self.net.cut(a, b);
            self.net.cut(b, a);
        }
        self.update_connected();
    }

    fn nemesis(&mut self) {
        if self.phase != Phase::Faults {
            return;
        }
        let next = self
            .rng
            .gen_range(self.fault_every / 2..self.fault_every * 3 / 2);
        self.after(next, Ev::Nemesis);
        let ids: Vec<NodeId> = self.nodes.iter().map(|n| n.id).collect();
        let n = ids.len() as NodeId;
        let any = |rng: &mut StdRng| rng.gen_range(1..=n);
        let leader = self.leader();
        let what = match self.rng.gen_range(0..14) {
            0 | 1 => {
                self.heal_links();
                "heal".to_string()
            }
            2 => {
                self.heal_links();
                let x = any(&mut self.rng);
                self.cut_pairs(&lin_test::nemesis::isolate(x, &ids));
                format!("partition: {x} isolated")
            }
            3 => {
                self.heal_links();
                let x = leader.unwrap_or_else(|| any(&mut self.rng));
                self.cut_pairs(&lin_test::nemesis::isolate(x, &ids));
                format!("partition: leader {x} isolated")
            }
            4 => {
                self.heal_links();
                let mut order = ids.clone();
                for k in (1..order.len()).rev() {
                    order.swap(k, self.rng.gen_range(0..=k));
                }
                self.cut_pairs(&lin_test::nemesis::halves(&order));
                format!("partition: halves {order:?}")
            }
            5 => {
                self.heal_links();
                let hub = any(&mut self.rng);
                self.cut_pairs(&lin_test::nemesis::quorum_loss(hub, &ids));
                format!("quorum-loss: only {hub} keeps its links")
            }
            6 => {
                self.heal_links();
                let l = leader.unwrap_or_else(|| any(&mut self.rng));
                let lagger = (l % n) + 1;
                let (first, second) = lin_test::nemesis::constrained_election(l, lagger, &ids);
                self.cut_pairs(&first);
                let mid = self.rng.gen_range(50 * MS..500 * MS);
                self.after(
                    mid,
                    Ev::Recut(
                        second.into_iter().collect(),
                        format!("constrained-election stage 2: leader {l} isolated, only {lagger} quorum-connected"),
                    ),
                );
                format!("constrained-election: lagger {lagger} isolated")
            }
            7 => {
                self.heal_links();
                let l = leader.unwrap_or_else(|| any(&mut self.rng));
                let x = (l + self.rng.gen_range(0..n - 1)) % n + 1;
                self.cut_pairs(&BTreeSet::from([(l.min(x), l.max(x))]));
                format!("chained: {l} loses {x}")
            }
            8 => {
                self.heal_links();
                let a = any(&mut self.rng);
                let b = (a + self.rng.gen_range(0..n - 1)) % n + 1;
                self.net.cut(a, b);
                self.update_connected();
                format!("one-way: {a} -> {b} cut")
            }
            9 | 10 => {
                let x = if self.rng.gen_bool(0.5) {
                    leader.unwrap_or_else(|| any(&mut self.rng))
                } else {
                    any(&mut self.rng)
                };
                self.crash(x as usize - 1, true);
                format!("crash {x} (power cut: unsynced writes lost)")
            }
            11 => {
                let x = any(&mut self.rng);
                let for_ms = self.rng.gen_range(20..1_000);
                self.nodes[x as usize - 1].paused_until = self.now + for_ms * MS;
                format!("pause {x} for {for_ms} ms")
            }
            _ => {
                let a = any(&mut self.rng);
                let b = (a + self.rng.gen_range(0..n - 1)) % n + 1;
                self.net.reset(a, b);
                self.net.reset(b, a);
                if !self.net.is_cut(a, b) && !self.net.is_cut(b, a) {
                    self.link_up_later(a, b);
                    self.link_up_later(b, a);
                }
                format!("connection reset {a} <-> {b}")
            }
        };
        self.log(what);
    }

    /// The end of the fault phase: heal, restart, unpause; then the final reads.
    fn heal_everything(&mut self) {
        self.phase = Phase::Heal;
        self.healed_at = self.now;
        self.net.params.drop = 0.0;
        self.heal_links();
        for i in 0..self.nodes.len() {
            self.nodes[i].paused_until = 0;
            if self.nodes[i].up.is_none() {
                self.start(i);
            }
        }
        self.log("heal everything".into());
        for key in 0..self.options.keys {
            self.final_reads_left.insert(key);
            self.after(SETTLE, Ev::FinalRead(key));
        }
    }

    // ----- clients --------------------------------------------------------------------

    fn invoke(&mut self, c: usize) {
        if self.phase != Phase::Faults {
            return;
        }
        let (key, kind) = self.workload.choose(&mut self.rng);
        self.submit(c, key, kind);
    }

    /// Sends one operation of client `c` to a random running replica.
    fn submit(&mut self, c: usize, key: i64, kind: OpKind) {
        let up = self.up_ids();
        if up.is_empty() {
            self.after(50 * MS, Ev::Invoke(c));
            return;
        }
        let node = up[self.rng.gen_range(0..up.len())];
        let process = self.workload.process[c];
        let (request, rx) = self.workload.request(c, key, &kind);
        self.workload.invoke(process, key, &kind, self.now);
        if self.options.verbose {
            println!(
                "{:>9.3} ms  p{process} -> {node}: {kind:?} k{key}",
                self.now as f64 / 1e3
            );
        }
        (self.now, 7u8, c, node, key).hash(&mut self.hasher);
        let op = self.next_op;
        self.next_op += 1;
        self.pending.insert(
            op,
            Pending {
                process,
                client: c,
                key,
                kind,
                node,
                rx,
            },
        );
        let i = node as usize - 1;
        if let Some(up) = self.nodes[i].up.as_mut() {
            up.requests.push_back(request);
        }
        self.schedule_wake(i);
        self.after(OP_TIMEOUT, Ev::Timeout(op));
    }

    /// Collects the replies replica `node` sent (or the ones it can no longer send).
    fn poll(&mut self, node: NodeId) {
        let ops: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.node == node)
            .map(|(&op, _)| op)
            .collect();
        for op in ops {
            let Some(p) = self.pending.get_mut(&op) else {
                continue;
            };
            let reply = match p.rx.try_recv() {
                Ok(response) => workload::outcome(&p.kind, response),
                Err(TryRecvError::Empty) => continue,
                // The replica died with the request: a write may or may not have happened.
                Err(TryRecvError::Closed) => match p.kind {
                    OpKind::Read | OpKind::LocalRead => Reply::Fail,
                    _ => Reply::Info,
                },
            };
            if let Some(p) = self.pending.remove(&op) {
                self.complete(p, reply);
            }
        }
    }

    fn complete(&mut self, p: Pending, reply: Reply) {
        let ok = matches!(reply, Reply::Ok(_));
        if self.options.verbose {
            let what = match &reply {
                Reply::Ok(v) => format!("ok {v:?}"),
                Reply::Fail => "fail".into(),
                Reply::Info => "info".into(),
            };
            println!(
                "{:>9.3} ms  p{} <- {}: {:?} k{} {what}",
                self.now as f64 / 1e3,
                p.process,
                p.node,
                p.kind,
                p.key
            );
        }
        (self.now, 8u8, p.process, ok).hash(&mut self.hasher);
        let client = p.client;
        let key = p.key;
        self.workload.complete(&p, reply, self.now);
        if client >= self.options.clients {
            // A final read: done when it succeeded, else try again.
            if ok {
                self.final_reads_left.remove(&key);
                if self.final_reads_left.is_empty() {
                    self.after(0, Ev::Converge);
                }
            } else {
                self.after(100 * MS, Ev::FinalRead(key));
            }
            return;
        }
        let think = self.rng.gen_range(0..20 * MS);
        self.after(think, Ev::Invoke(client));
    }

    fn final_read(&mut self, key: i64) {
        if self.now > self.healed_at + FINAL_DEADLINE {
            self.fail(format!(
                "liveness: no linearizable read of k{key} answered within {} s after the heal",
                FINAL_DEADLINE / SEC
            ));
            self.phase = Phase::Done;
            return;
        }
        let client = self.options.clients + key as usize;
        self.submit(client, key, OpKind::Read);
    }

    /// Once the final reads are in: replicas that applied as much hold the same store.
    fn converge(&mut self) {
        let mut states = Vec::new();
        for node in &mut self.nodes {
            let Some(up) = node.up.as_mut() else { continue };
            let (reply, mut rx) = tokio::sync::oneshot::channel();
            up.replica.on_request(Request::State { reply });
            let applied = up.replica.status().applied_index;
            if let Ok(Response::State(state)) = rx.try_recv() {
                states.push((node.id, applied, state));
            }
        }
        for (a, (ida, applied_a, sa)) in states.iter().enumerate() {
            for (idb, applied_b, sb) in &states[a + 1..] {
                if applied_a == applied_b && sa.store != sb.store {
                    let what = format!(
                        "divergence: replicas {ida} and {idb} applied {applied_a} entries but hold different stores (revisions {} and {})",
                        sa.store.revision(),
                        sb.store.revision()
                    );
                    self.fail(what);
                }
            }
        }
        self.phase = Phase::Done;
    }

    // ----- checks ---------------------------------------------------------------------

    fn finish(mut self) -> SeedReport {
        self.report.virtual_ms = self.now / MS;
        for (key, value, time) in std::mem::take(&mut self.workload.local_reads) {
            if let Some(v) = value {
                if !self
                    .workload
                    .written
                    .get(&key)
                    .is_some_and(|w| w.contains(&v))
                {
                    self.fail(format!(
                        "serializable read of k{key} at {} ms returned {v}, never written",
                        time / MS
                    ));
                }
            }
        }
        match lin_test::pair_operations(&self.workload.history) {
            Err(e) => self.fail(format!("history: {e}")),
            Ok(ops) => {
                self.report.operations = ops.len();
                let options = CheckOptions {
                    timeout: Some(Duration::from_secs(20)),
                    threads: 1,
                    ..CheckOptions::default()
                };
                for report in lin_test::check_operations(&ops, &options) {
                    match report.verdict {
                        Verdict::Linearizable => {}
                        Verdict::Unknown(_) => self.report.unknown += 1,
                        Verdict::NotLinearizable(c) => {
                            let at = c.stuck.completion.map_or(c.stuck.invoke.time, |e| e.time);
                            self.fail(format!(
                                "not linearizable: key {:?}: {:?} by process {} ({:?}), completed at {:.3} ms, cannot be placed; register was {:?}",
                                report.key,
                                c.stuck.action,
                                c.stuck.process,
                                c.stuck.outcome,
                                at as f64 / 1e6,
                                c.state
                            ));
                        }
                    }
                }
            }
        }
        self.report.trace_hash = self.hasher.finish();
        self.report
    }
}
