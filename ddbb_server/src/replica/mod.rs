//! The replica loop: the one task that owns OmniPaxos, the state machine and the log storage.
//!
//! It wakes on a tick, a peer message or a client request, drains whatever else is ready,
//! and then finishes the pass in a fixed order:
//!
//! 1. **propose**: every write that arrived in this pass, with read barriers where linearizable
//!    reads arrived between them, becomes ONE log entry and one `append`;
//! 2. **sync**: the storage makes everything written so far durable (one fsync per pass);
//! 3. **send**: OmniPaxos' outgoing messages go to the peer links;
//! 4. **apply**: newly decided entries are applied to the state machine, and the clients
//!    waiting on them are answered.
//!
//! Nothing that depends on unsynced state leaves the replica: replies and every message that
//! vouches for this replica's storage (Promise, Accepted, Decide...) go out only after step 2.
//! Proposals (AcceptDecide, ProposalForward) go out before it, so leader and followers write
//! to disk in parallel. There is no sleep-polling: between passes the task waits on its channels.
//!
//! Writes are matched to their waiting clients by request id, not by log position
//! (`writes.rs`); linearizable reads wait for read barriers (`reads.rs`).

mod compactor;
mod leases;
mod paxos_guard;
mod reads;
mod request;
mod writes;

pub use compactor::AutoCompaction;
use compactor::Compactor;

pub use request::{
    LeaseAnswer, LeaseQuery, ReadOutcome, ReplicaView, Request, Response, StateCopy,
};

use std::collections::BTreeSet;
use std::time::Duration;

use ddbb_libs::{Consistency, NodeId, StatusReply};
use omnipaxos::messages::sequence_paxos::{PaxosMessage, PaxosMsg};
use omnipaxos::storage::Storage;
use omnipaxos::util::LogEntry as PaxosEntry;
use omnipaxos::{ClusterConfig, OmniPaxos, OmniPaxosConfig};
use tokio::sync::{mpsc, watch};
use tokio::time::MissedTickBehavior;
use tracing::{debug, error, info, warn};

use crate::config::ServerConfig;
use crate::entry::{LogEntry, WriteCommand};
use crate::error::{Error, Result};
use crate::shutdown::Shutdown;
use crate::state::mvcc::validate_txn;
use crate::state::KvState;
use crate::storage::StorageControl;
use crate::transport::{PeerEvent, PeerLinks, PeerMessage};
use crate::watch::StoreFeed;
use ddbb_libs::kv::{
    AlarmAction, AlarmRequest, AlarmType, KvError, LeaseTimeToLiveResponse, RequestOp,
    WriteOutcome, WriteRequest, WriteResponse,
};
use leases::LeaseClock;
use reads::PendingReads;
use writes::PendingWrites;

/// Most events taken from one channel in one pass, so a flood on one side cannot starve the
/// other or delay the end-of-pass work without bound.
const MAX_DRAIN: usize = 4096;
/// Largest cluster the pass bookkeeping is sized for (DDBB runs 3 or 5 replicas).
const MAX_REPLICAS: usize = 15;

/// Holds a replica that started on an empty data dir back from consensus until enough peers
/// said hello to know that none remembers it as a member (see `transport::Members`).
struct JoinGuard {
    heard: BTreeSet<NodeId>,
    needed: usize,
}

/// One replica's consensus and state; see the module docs.
pub struct Replica<S: Storage<LogEntry>> {
    id: NodeId,
    members: Vec<NodeId>,
    paxos: OmniPaxos<LogEntry, S>,
    control: Box<dyn StorageControl>,
    state: KvState,
    transport: Box<dyn PeerLinks>,
    outgoing: Vec<PeerMessage>,
    /// Messages that may leave only after this pass's sync (kept to reuse the allocation).
    held: Vec<PeerMessage>,
    tick: Duration,
    now: u64,
    repropose_ticks: u64,
    unsafe_local_reads: bool,
    /// Most compares + operations in one Txn (checked before proposing).
    max_txn_ops: usize,
    /// Store size (`MvccStore::size_bytes`) above which writes raise the `NOSPACE` alarm.
    quota_bytes: u64,
    /// Tick at which this replica last proposed raising `NOSPACE`.
    nospace_proposed_at: Option<u64>,
    /// Auto-compaction, when configured (acts while this replica leads).
    compactor: Option<Compactor>,
    /// Lease countdowns (acted on while this replica leads).
    leases: LeaseClock,
    /// The shortest lease TTL granted, in seconds (etcd: 1.5 election timeouts, rounded up).
    min_lease_ttl: i64,
    /// Lease ids this replica chose so far (for the next one).
    leases_granted: u64,
    /// The longest pass of the loop since start (handling events through apply), for STATUS.
    longest_pass: Duration,
    /// Take a snapshot and compact the log every this many applied entries or writes (0: never).
    snapshot_every: usize,
    /// Writes (or write-less entries) applied since the last snapshot.
    since_snapshot: usize,
    /// Log index covered by the latest snapshot this replica holds.
    snapshot_index: usize,

    writes: PendingWrites,
    reads: PendingReads,
    /// Writes to propose at the end of this pass.
    batch: Vec<WriteCommand>,
    join_guard: Option<JoinGuard>,
    /// Leader and ballot, published after every pass (see [`Replica::subscribe`]).
    view: watch::Sender<ReplicaView>,
    /// The store as of the latest pass, for watchers (published only while someone watches).
    feed: StoreFeed,
    /// Where this replica serves etcd's gRPC API (`config.grpc_addr`), for STATUS.
    grpc_addr: String,
}

impl<S: Storage<LogEntry>> Replica<S> {
    /// Builds the replica over `storage` (whose durability `control` drives).
    ///
    /// `empty_data_dir`: the storage was created just now. Unless `config.join`, the replica
    /// then takes no part in consensus until a majority (with itself) has said hello, and stops
    /// with an error if any peer remembers it: its log was lost, and rejoining as if nothing
    /// happened could break safety.
    pub fn new(
        config: &ServerConfig,
        storage: S,
        control: Box<dyn StorageControl>,
        transport: impl PeerLinks + 'static,
        empty_data_dir: bool,
    ) -> Result<Self> {
        let members: Vec<NodeId> = config.peers.keys().copied().collect();
        let paxos_config = OmniPaxosConfig {
            cluster_config: ClusterConfig {
                configuration_id: config.cluster_id,
                nodes: members.clone(),
                flexible_quorum: None,
            },
            server_config: omnipaxos::ServerConfig {
                pid: config.id,
                election_tick_timeout: config.election_ticks,
                resend_message_tick_timeout: config.resend_ticks,
                // Only the initial capacity of the outgoing buffer; the default is ~20 MB.
                buffer_size: 1024,
                // Batching happens in our log entries; 1 means OmniPaxos never waits.
                batch_size: 1,
                ..Default::default()
            },
        };
        let paxos = paxos_config
            .build(storage)
            .map_err(|e| Error::Config(format!("omnipaxos: {e}")))?;
        let mut replica = Replica {
            id: config.id,
            members,
            paxos,
            control,
            state: KvState::new(),
            transport: Box::new(transport),
            outgoing: Vec::new(),
            held: Vec::new(),
            tick: config.tick,
            now: 0,
            repropose_ticks: config.repropose_ticks.max(1),
            unsafe_local_reads: config.unsafe_local_reads,
            max_txn_ops: config.max_txn_ops,
            quota_bytes: config.quota_backend_bytes,
            nospace_proposed_at: None,
            compactor: config.auto_compaction.map(Compactor::new),
            leases: LeaseClock::new(config.tick)
                .with_unsafe_follower_expiry(config.unsafe_follower_lease_expiry),
            min_lease_ttl: min_lease_ttl(config),
            leases_granted: 0,
            longest_pass: Duration::ZERO,
            snapshot_every: config.snapshot_every,
            since_snapshot: 0,
            snapshot_index: 0,
            writes: PendingWrites::new(config.id),
            reads: PendingReads::default(),
            batch: Vec::new(),
            join_guard: (empty_data_dir && !config.join).then(|| JoinGuard {
                heard: BTreeSet::new(),
                needed: config.peers.len() / 2,
            }),
            view: watch::Sender::new(ReplicaView::default()),
            feed: StoreFeed::new(),
            grpc_addr: config.grpc_addr.map(|a| a.to_string()).unwrap_or_default(),
        };
        // Rebuild the state machine from what storage recovered (snapshot + decided suffix)
        // before serving anything.
        replica.snapshot_index = replica.paxos.get_compacted_idx();
        replica.apply_decided()?;
        if replica.state.applied_index() > 0 {
            info!(
                applied = replica.state.applied_index(),
                snapshot = replica.snapshot_index,
                revision = replica.state.revision(),
                keys = replica.state.len(),
                "state recovered from storage"
            );
        }
        Ok(replica)
    }

    /// Runs until shutdown, or until storage fails (then returns the error: the replica
    /// must stop rather than go on with state it could not keep).
    pub async fn run(
        mut self,
        mut requests: mpsc::Receiver<Request>,
        mut events: mpsc::Receiver<PeerEvent>,
        mut shutdown: Shutdown,
    ) -> Result<()> {
        let mut ticker = tokio::time::interval(self.tick);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            // Biased so the order is fixed: shutdown, then the clock (so elections and
            // re-proposals never starve under load), then peers, then clients.
            tokio::select! {
                biased;
                _ = shutdown.recv() => return self.control.sync(),
                _ = ticker.tick() => self.on_tick(),
                Some(event) = events.recv() => self.on_peer_event(event)?,
                Some(request) = requests.recv() => self.on_request(request),
                else => return Ok(()),
            }
            // A pass runs from the first event to the end of finish_pass (waiting excluded).
            let started = std::time::Instant::now();
            for _ in 0..MAX_DRAIN {
                match events.try_recv() {
                    Ok(event) => self.on_peer_event(event)?,
                    Err(_) => break,
                }
            }
            for _ in 0..MAX_DRAIN {
                match requests.try_recv() {
                    Ok(request) => self.on_request(request),
                    Err(_) => break,
                }
            }
            self.finish_pass()?;
            let took = started.elapsed();
            if took > self.longest_pass {
                self.longest_pass = took;
                if took > Duration::from_millis(50) {
                    warn!(
                        millis = took.as_millis() as u64,
                        "a replica-loop pass took long"
                    );
                }
            }
        }
    }

    /// Replaces this incarnation's random request session (the ids of writes that come without
    /// one) by `session`, before any request: the simulator's runs must not depend on the
    /// process or the wall clock.
    pub fn set_session(&mut self, session: u64) {
        self.writes.set_session(session);
    }

    /// The leader and ballot as of the end of the latest pass, for the protocol adapters.
    pub fn subscribe(&self) -> watch::Receiver<ReplicaView> {
        self.view.subscribe()
    }

    /// The store this replica applied, as of its latest pass, for the watch services.
    pub fn store_feed(&self) -> StoreFeed {
        self.feed.clone()
    }

    /// Publishes the leader and ballot when they changed.
    fn publish_view(&self) {
        let view = ReplicaView {
            leader: self
                .paxos
                .get_current_leader()
                .map_or(0, |(leader, _)| leader),
            term: u64::from(self.paxos.get_promise().n),
            revision: self.state.revision(),
        };
        self.view.send_if_modified(|v| {
            let changed = *v != view;
            *v = view;
            changed
        });
    }

    /// Propose, sync, send, apply: the end of every pass.
    ///
    /// The pass steps (`on_tick`, `on_peer_event`, `on_request`, then `finish_pass`) are public
    /// so that a driver other than [`Replica::run`] can run the same code: the deterministic
    /// simulator (`sim` crate) calls them in the order `run` does.
    ///
    /// # Errors
    /// A storage failure (the replica must stop without sending or replying).
    pub fn finish_pass(&mut self) -> Result<()> {
        self.publish_view();
        if self.join_guard.is_some() {
            return Ok(()); // requests wait until the guard lifts (or time out)
        }
        self.propose();
        self.paxos.take_outgoing_messages(&mut self.outgoing);
        // Proposals (a leader's AcceptDecide, a follower's ProposalForward) claim nothing about
        // this replica's disk, so they leave before the fsync and the followers write their
        // copy while the leader writes its own (as Raft leaders do). A decision still needs the
        // leader's accept, which is durable before any Accepted for it can come back.
        // Order per peer is kept: OmniPaxos numbers accept-phase messages and resyncs a
        // follower that sees them out of order, so nothing overtakes a held message.
        let mut after_sync = std::mem::take(&mut self.held);
        let mut held_for = [false; MAX_REPLICAS + 1];
        for msg in self.outgoing.drain(..) {
            let to = (msg.get_receiver() as usize).min(MAX_REPLICAS);
            if is_proposal(&msg) && !held_for[to] {
                self.transport.send(msg);
            } else {
                held_for[to] = true;
                after_sync.push(msg);
            }
        }
        let synced = self.control.sync();
        if let Err(e) = synced {
            error!(error = %e, "log storage failed; stopping the replica");
            return Err(e);
        }
        for msg in after_sync.drain(..) {
            self.transport.send(msg);
        }
        self.held = after_sync;
        self.apply_decided()?;
        self.maybe_snapshot();
        self.publish_view();
        self.feed.publish(self.state.store());
        Ok(())
    }

    /// A pass step: one tick of the (virtual or real) clock.
    pub fn on_tick(&mut self) {
        self.now += 1;
        if self.join_guard.is_some() {
            return;
        }
        self.paxos.tick();
        for peer in self.transport.healed_links() {
            self.paxos.reconnected(peer);
        }
        let again = self.writes.stale(self.now, self.repropose_ticks);
        self.batch.extend(again);
        self.reads
            .retry_if_stale(self.now, self.repropose_ticks, false);
        self.maybe_auto_compact();
        self.expire_leases();
    }

    /// The leader proposes the revocation of every lease whose countdown ran out (every replica
    /// does under `--unsafe-follower-lease-expiry`, see `leases`).
    fn expire_leases(&mut self) {
        let leading = self.paxos.get_current_leader() == Some((self.id, true));
        self.leases
            .set_leading(leading, self.state.store(), self.now);
        for id in self.leases.expired(self.now, self.repropose_ticks) {
            let Some(lease) = self.state.store().lease(id) else {
                self.leases.forget(id);
                continue;
            };
            info!(lease = id, "lease expired: revoking it");
            let renewals = lease.renewals;
            self.propose_internal(WriteRequest::LeaseExpire { id, renewals });
        }
    }

    /// The leader proposes a `Compact` when the auto-compaction policy says so.
    fn maybe_auto_compact(&mut self) {
        let leading = self.paxos.get_current_leader() == Some((self.id, true));
        let (Some(compactor), true) = (self.compactor.as_mut(), leading) else {
            return;
        };
        let now = self.tick * u32::try_from(self.now).unwrap_or(u32::MAX);
        let store = self.state.store();
        if let Some(revision) = compactor.on_tick(now, store.revision(), store.compacted_revision())
        {
            info!(revision, "auto-compaction");
            let op = WriteRequest::Compact(ddbb_libs::kv::CompactionRequest {
                revision,
                physical: false,
            });
            self.propose_internal(op);
        }
    }

    /// A pass step: one event from the peer links.
    ///
    /// # Errors
    /// The join guard's refusal (see [`Replica::new`]): the replica must stop.
    pub fn on_peer_event(&mut self, event: PeerEvent) -> Result<()> {
        match event {
            PeerEvent::Hello { from, knows_me } => self.check_join(from, knows_me)?,
            _ if self.join_guard.is_some() => {}
            PeerEvent::Message(msg) => {
                if paxos_guard::is_stale_accept_sync(&msg, self.paxos.get_decided_idx()) {
                    debug!("dropped an AcceptSync that answers an older Promise");
                    return Ok(());
                }
                let ends_merge_window = paxos_guard::ends_merge_window(&msg);
                self.paxos.handle_incoming(*msg);
                if ends_merge_window {
                    self.paxos.take_outgoing_messages(&mut self.outgoing);
                }
            }
            PeerEvent::LinkUp(peer) => {
                debug!(peer, "reconnected");
                self.paxos.reconnected(peer);
            }
        }
        Ok(())
    }

    /// The join guard's decision on one hello.
    fn check_join(&mut self, from: NodeId, knows_me: bool) -> Result<()> {
        let Some(guard) = &mut self.join_guard else {
            return Ok(());
        };
        if knows_me {
            return Err(Error::Config(format!(
                "replica {} started on an empty data dir, but replica {from} remembers it as a \
                 member of this cluster: its log was lost. Restore the data dir, or start it with \
                 --join to rejoin with an empty log (unsafe unless every other replica is up; \
                 see the README)",
                self.id
            )));
        }
        guard.heard.insert(from);
        if guard.heard.len() >= guard.needed {
            info!(peers = ?guard.heard, "no peer remembers this replica: joining as a new member");
            self.join_guard = None;
        }
        Ok(())
    }

    /// A pass step: one request of a protocol adapter (answered now or by a later pass).
    pub fn on_request(&mut self, request: Request) {
        match request {
            Request::Write { id, mut op, reply } => {
                if let Err(e) = self.admit(&mut op) {
                    let _ = reply.send(request::refused(&self.state, e));
                    return;
                }
                let id = self.writes.id_for(id);
                // A retry of a write still in flight waits for the same outcome.
                let Some(reply) = self.writes.join(id, reply) else {
                    return;
                };
                if let Some(outcome) = self.state.duplicate(id) {
                    let _ = reply.send(Response::Write(outcome));
                    return;
                }
                let command = WriteCommand { id, op };
                self.batch.push(command.clone());
                self.writes.insert(command, reply, self.now);
            }
            Request::Read {
                query,
                consistency,
                reply,
            } => {
                if consistency == Consistency::Serializable || self.unsafe_local_reads {
                    let _ = reply.send(Response::Read(ReadOutcome::serve(&query, &self.state)));
                } else {
                    self.reads.push(query, reply, self.batch.len());
                }
            }
            Request::Status { reply } => {
                let _ = reply.send(Response::Status(Box::new(self.status())));
            }
            Request::Lease { query, reply } => {
                let answer = self.lease_answer(query);
                let _ = reply.send(Response::Lease(self.state.revision(), answer));
            }
            Request::State { reply } => {
                let _ = reply.send(Response::State(Box::new(StateCopy {
                    store: self.state.store().clone(),
                    alarms: self.state.alarms(),
                })));
            }
        }
    }

    /// Checks what depends on this replica's flags before a write enters the log (applying it
    /// must not): the Txn operation limit, and the space quota, whose excess raises the
    /// cluster-wide `NOSPACE` alarm through the log, as etcd does.
    fn admit(&mut self, op: &mut WriteRequest) -> std::result::Result<(), KvError> {
        let added = match op {
            WriteRequest::LeaseGrant(grant) => return self.admit_grant(grant),
            WriteRequest::Put(p) => p.key.len() + p.value.len(),
            WriteRequest::Txn(t) => {
                validate_txn(t, self.max_txn_ops)?;
                txn_put_bytes(t)
            }
            _ => return Ok(()),
        };
        let size = self.state.store().size_bytes();
        if added == 0 || size.saturating_add(added as u64) <= self.quota_bytes {
            return Ok(());
        }
        self.raise_nospace();
        Err(KvError::NoSpace)
    }

    /// Settles a grant before it enters the log, as etcd's server does: an id if none was given
    /// (positive, from this replica's session), the TTL raised to the minimum, a TTL above
    /// etcd's maximum refused.
    fn admit_grant(
        &mut self,
        grant: &mut ddbb_libs::kv::LeaseGrantRequest,
    ) -> std::result::Result<(), KvError> {
        if grant.ttl > ddbb_libs::kv::MAX_LEASE_TTL {
            return Err(KvError::LeaseTtlTooLarge);
        }
        grant.ttl = grant.ttl.max(self.min_lease_ttl);
        while grant.id == 0 {
            self.leases_granted += 1;
            let mixed = (self.writes.session() ^ self.leases_granted.rotate_left(32))
                .wrapping_mul(0x9E37_79B9_7F4A_7C15);
            grant.id = (mixed >> 1) as i64;
        }
        Ok(())
    }

    /// Proposes the `NOSPACE` alarm, unless it is raised or was proposed recently.
    fn raise_nospace(&mut self) {
        let raised = self
            .state
            .alarms()
            .iter()
            .any(|a| a.alarm == AlarmType::NoSpace);
        let recent = self
            .nospace_proposed_at
            .is_some_and(|at| self.now < at + self.repropose_ticks);
        if raised || recent {
            return;
        }
        warn!(
            size = self.state.store().size_bytes(),
            quota = self.quota_bytes,
            "store exceeds --quota-backend-bytes: raising the NOSPACE alarm"
        );
        self.nospace_proposed_at = Some(self.now);
        let op = WriteRequest::Alarm(AlarmRequest {
            action: AlarmAction::Activate,
            member_id: self.id,
            alarm: AlarmType::NoSpace,
        });
        self.propose_internal(op);
    }

    /// Proposes a write of the replica's own (an alarm, a compaction) that no client waits
    /// for: a lost proposal is not retried; the condition that caused it proposes it again.
    fn propose_internal(&mut self, op: WriteRequest) {
        let id = self.writes.id_for(None);
        let command = WriteCommand { id, op };
        let (reply, _) = tokio::sync::oneshot::channel();
        self.batch.push(command.clone());
        self.writes.insert(command, reply, self.now);
    }

    /// Proposes the writes and read barriers of this pass, as one entry.
    fn propose(&mut self) {
        let barriers = self.reads.take_marks(self.batch.len(), self.now);
        if self.batch.is_empty() && barriers.is_empty() {
            return;
        }
        let entry = LogEntry {
            origin: self.id,
            commands: std::mem::take(&mut self.batch),
            barriers,
            session_floor: Some(self.writes.floor()),
        };
        if let Err(e) = self.paxos.append(entry) {
            // Only after a reconfiguration StopSign, which DDBB never proposes.
            warn!(error = ?e, "append refused");
        }
    }

    /// Applies every newly decided entry and answers the clients waiting on it.
    ///
    /// # Errors
    /// A snapshot that does not end where OmniPaxos says it does: the state would diverge from
    /// the other replicas, so the replica stops.
    fn apply_decided(&mut self) -> Result<()> {
        let from = self.state.applied_index();
        if self.paxos.get_decided_idx() <= from {
            return Ok(());
        }
        let Some(entries) = self.paxos.read_decided_suffix(from) else {
            return Ok(());
        };
        for entry in entries {
            let index = self.state.applied_index();
            match entry {
                PaxosEntry::Decided(entry) => self.apply_entry(index, &entry),
                PaxosEntry::Undecided(_) => break,
                PaxosEntry::StopSign(..) => self.state.skip(index),
                PaxosEntry::Snapshotted(snapshotted) => {
                    self.install_snapshot(snapshotted.trimmed_idx, snapshotted.snapshot.to_state())?
                }
                PaxosEntry::Trimmed(_) => {
                    // DDBB only compacts with snapshots: entries gone without one are lost.
                    return Err(Error::Storage(format!(
                        "log entries before {index} were trimmed without a snapshot"
                    )));
                }
            }
        }
        Ok(())
    }

    /// Replaces the whole state with a snapshot (omnipaxos issue #131): after a restart, or
    /// when the leader caught this replica up with a snapshot instead of entries.
    fn install_snapshot(&mut self, index: usize, state: KvState) -> Result<()> {
        if state.applied_index() != index {
            return Err(Error::Storage(format!(
                "snapshot covers log entries [0, {}) but OmniPaxos says [0, {index}): refusing a \
                 state that would diverge from the other replicas",
                state.applied_index()
            )));
        }
        debug!(index, "installing a snapshot");
        self.state = state;
        self.leases.restart_all(self.state.store(), self.now);
        self.since_snapshot = 0;
        self.snapshot_index = self.snapshot_index.max(index);
        // Writes and barriers inside the snapshot were applied without us seeing them: answer
        // the writes from the session table now, and cover the reads with a fresh barrier.
        self.writes.complete_from(&self.state);
        self.reads
            .retry_if_stale(self.now, self.repropose_ticks, true);
        Ok(())
    }

    /// Compacts the log into a snapshot every `snapshot_every` applied writes (an entry
    /// without writes counts as one), so batched entries cannot grow the log unchecked. A
    /// snapshot costs O(entries since the last one) on the loop (the state is lent, not
    /// copied); the WAL writes the whole state as a checkpoint off the loop, and only once as
    /// much was logged as the last checkpoint weighed, so that cost stays proportional to the
    /// writes too.
    fn maybe_snapshot(&mut self) {
        if self.snapshot_every == 0 || self.since_snapshot < self.snapshot_every {
            return;
        }
        let applied = self.state.applied_index();
        let started = std::time::Instant::now();
        let paxos = &mut self.paxos;
        let taken = crate::state::lend_state(&self.state, || paxos.snapshot(Some(applied), true));
        match taken {
            Ok(()) => {
                self.since_snapshot = 0;
                self.snapshot_index = applied;
                info!(
                    index = applied,
                    keys = self.state.len(),
                    millis = started.elapsed().as_millis() as u64,
                    "snapshot taken, log compacted"
                );
            }
            Err(e) => debug!(error = ?e, "snapshot not taken"),
        }
    }

    fn apply_entry(&mut self, index: usize, entry: &LogEntry) {
        self.since_snapshot += entry.commands.len().max(1);
        // Barriers are numbered per incarnation: only this incarnation's entries (by its
        // session) answer its reads. An entry of an earlier run of this replica, applied after
        // a restart, carries barrier numbers that the new run reuses (found by ddbb-sim).
        let mine = entry.origin == self.id
            && entry.session_floor.map(|f| f.client) == Some(self.writes.session());
        let mut barriers = entry.barriers.iter().peekable();
        for (i, command) in entry.commands.iter().enumerate() {
            while let Some(b) = barriers.next_if(|b| b.after as usize <= i) {
                if mine {
                    self.reads.answer_up_to(b.number, &self.state);
                }
            }
            let applied = self.state.apply_command(index, command);
            self.track_lease(&command.op, &applied.outcome);
            self.writes.complete(command.id, &applied.outcome);
        }
        self.state.finish_entry(index, entry);
        for b in barriers {
            if mine {
                self.reads.answer_up_to(b.number, &self.state);
            }
        }
    }

    /// Answers a lease query from the store and this replica's lease clock.
    fn lease_answer(&self, query: LeaseQuery) -> LeaseAnswer {
        let store = self.state.store();
        match query {
            LeaseQuery::List => LeaseAnswer::List(store.leases().map(|(id, _)| id).collect()),
            LeaseQuery::TimeToLive { id, keys } => {
                let answer = match store.lease(id) {
                    None => LeaseTimeToLiveResponse {
                        id,
                        ttl: -1,
                        ..LeaseTimeToLiveResponse::default()
                    },
                    Some(lease) => LeaseTimeToLiveResponse {
                        id,
                        ttl: self
                            .leases
                            .remaining_secs(id, self.now)
                            .unwrap_or(lease.ttl),
                        granted_ttl: lease.ttl,
                        keys: if keys {
                            lease.keys.iter().cloned().collect()
                        } else {
                            Vec::new()
                        },
                    },
                };
                LeaseAnswer::TimeToLive(answer)
            }
        }
    }

    /// Restarts or stops a lease's countdown after its grant, keepalive or revocation.
    fn track_lease(&mut self, op: &WriteRequest, outcome: &WriteOutcome) {
        match (op, &outcome.result) {
            (WriteRequest::LeaseGrant(g), Ok(_)) => self.leases.renew(g.id, g.ttl, self.now),
            (WriteRequest::LeaseKeepAlive(_), Ok(WriteResponse::LeaseKeepAlive(k))) => {
                self.leases.renew(k.id, k.ttl, self.now);
            }
            (WriteRequest::LeaseRevoke(id), _)
            | (WriteRequest::LeaseExpire { id, .. }, Ok(WriteResponse::LeaseExpired(true))) => {
                self.leases.forget(*id);
            }
            _ => {}
        }
    }

    /// This replica's view of itself and the cluster.
    pub fn status(&self) -> StatusReply {
        let (leader, is_leader) = match self.paxos.get_current_leader() {
            Some((leader, accepting)) => (leader, leader == self.id && accepting),
            None => (0, false),
        };
        let ballot = self.paxos.get_promise();
        let storage = self.control.stats();
        StatusReply {
            id: self.id,
            leader,
            is_leader,
            ballot: format!("{}.{}.{}", ballot.n, ballot.priority, ballot.pid),
            decided_index: self.paxos.get_decided_idx(),
            accepted_index: self.paxos.get_accepted_idx(),
            applied_index: self.state.applied_index(),
            compacted_index: self.paxos.get_compacted_idx(),
            revision: self.state.revision() as u64,
            keys: self.state.store().live_key_count(),
            members: self.members.clone(),
            connected_peers: self.transport.connected_peers(),
            wal_bytes: storage.disk_bytes,
            fsyncs: storage.fsyncs,
            snapshot_index: self.snapshot_index,
            pending_writes: self.writes.len() as u64,
            pending_reads: self.reads.len() as u64,
            compact_revision: self.state.store().compacted_revision() as u64,
            db_size: self.state.store().size_bytes(),
            alarms: ddbb_libs::alarm_list(&self.state.alarms()),
            longest_pass_us: self.longest_pass.as_micros() as u64,
            grpc_addr: self.grpc_addr.clone(),
        }
    }
}

/// Bytes a Txn's puts would add (keys and values), in either branch.
/// etcd's minimum lease TTL: 1.5 election timeouts, in whole seconds rounded up (at least 1).
fn min_lease_ttl(config: &ServerConfig) -> i64 {
    let election = config.tick * u32::try_from(config.election_ticks).unwrap_or(u32::MAX);
    let min = election.mul_f64(1.5);
    i64::try_from(min.as_millis().div_ceil(1000))
        .unwrap_or(i64::MAX)
        .max(1)
}

fn txn_put_bytes(txn: &ddbb_libs::kv::TxnRequest) -> usize {
    txn.success
        .iter()
        .chain(&txn.failure)
        .map(|op| match op {
            RequestOp::Put(p) => p.key.len() + p.value.len(),
            RequestOp::Txn(t) => txn_put_bytes(t),
            _ => 0,
        })
        .sum()
}

/// True for messages that carry proposals and promise nothing about the sender's storage.
fn is_proposal(msg: &PeerMessage) -> bool {
    matches!(
        msg,
        omnipaxos::messages::Message::SequencePaxos(PaxosMessage {
            msg: PaxosMsg::AcceptDecide(_) | PaxosMsg::ProposalForward(_),
            ..
        })
    )
}
