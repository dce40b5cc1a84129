//! `--workload lock`: Jepsen's etcd lock workload adapted to DDBB, over etcd's gRPC API.
//!
//! Each client loops over rounds, bound to one replica (`c % nodes + 1`; after a failed
//! request it moves to the next one for its next round):
//! 1. **grant** a lease (`--lock-ttl`, 2 s by default) and keep it alive on the same replica
//!    with a `LeaseKeepAlive` stream, one keepalive every TTL/3; each answer is recorded with
//!    the time its request was sent. An answer of TTL 0 means the lease is gone; no answer
//!    within the TTL of the last one's send means it may be gone. Either way the client
//!    stops believing it holds the lock at its next step;
//! 2. **acquire** with etcd's recipe (`clientv3/concurrency/mutex.go`): a Txn puts
//!    `lin_test/lock/<lease hex>` with the lease if its create revision is 0, and reads the
//!    oldest key under the prefix in the same revision; the key's create revision is the
//!    **fencing token**. Until the key is the oldest, the client reads the newest key older
//!    than its own and watches it for its deletion (re-reading at least every second);
//! 3. **guarded increments** (1 or 2 per hold, each after up to 100 ms of holding): a
//!    read-only Txn reads the counter (value and mod revision) and the fence; then a Txn
//!    comparing that the lock key still has the token as create revision and that the fence
//!    (20 zero-padded digits, so that bytes compare as numbers) is below token + 1 sets the
//!    fence to the token and the counter to the value read + 1. A compare that fails reads
//!    the lock key, to record whether the lock was lost (`:held false`: the fencing compare
//!    stopped a stale holder);
//! 4. **release**: revoke the lease, which deletes the lock key.
//!
//! The client believes it holds the lock from the acquisition's completion until it learns
//! otherwise or invokes the release; a request in flight to a paused replica keeps it
//! believing, which is the case fencing exists for. Like etcd's recipe, a waiter does not
//! check that its own key still exists: one whose lease expired while its replica was paused
//! finds no older key when it resumes and believes it acquired the lock, and only its guarded
//! write, rejected, tells it otherwise. Both kinds of overlap show up in runs with pauses: a
//! holder whose read or write is stuck in its paused replica while others acquire, and such
//! a waiter. The checker is [`crate::checker::lock`]; the history shape is
//! [`crate::lock_history`].

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ddbb_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use ddbb_proto::etcdserverpb::kv_client::KvClient;
use ddbb_proto::etcdserverpb::lease_client::LeaseClient;
use ddbb_proto::etcdserverpb::range_request::{SortOrder, SortTarget};
use ddbb_proto::etcdserverpb::request_op::Request as Op;
use ddbb_proto::etcdserverpb::response_op::Response as OpResponse;
use ddbb_proto::etcdserverpb::watch_client::WatchClient;
use ddbb_proto::etcdserverpb::watch_create_request::FilterType;
use ddbb_proto::etcdserverpb::watch_request::RequestUnion;
use ddbb_proto::etcdserverpb::{
    Compare, LeaseGrantRequest, LeaseKeepAliveRequest, LeaseRevokeRequest, PutRequest,
    RangeRequest, RangeResponse, RequestOp, TxnRequest, TxnResponse, WatchCreateRequest,
    WatchRequest,
};
use ddbb_proto::mvccpb::KeyValue;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use crate::cluster::AddressPlan;
use crate::history::EventType;
use crate::lock_history::{
    fence_value, lock_key, CounterRead, LockOp, COUNTER_KEY, FENCE_KEY, LOCK_PREFIX,
};
use crate::recorder::Recorder;
use crate::watch_workload::{connect, refused, status_text};
use crate::workload::Pacer;
use ddbb_libs::shutdown::Shutdown;
use ddbb_libs::NodeId;

/// Longest wait on one watch of the predecessor before reading again.
const WAIT_SLICE: Duration = Duration::from_secs(1);
/// Shortest time between two reads of the predecessor.
const MIN_WAIT: Duration = Duration::from_millis(20);
/// Back-off after a round that could not reach its replica.
const BACKOFF: Duration = Duration::from_millis(200);
/// Longest pause before each guarded increment of a hold.
const HOLD_PAUSE_MS: u64 = 100;
/// How long one final read may take.
const FINAL_READ_TIMEOUT: Duration = Duration::from_secs(3);

/// Shape of the lock workload.
#[derive(Debug, Clone)]
pub struct LockWorkloadConfig {
    /// Number of clients.
    pub clients: usize,
    /// Lease TTL in seconds.
    pub ttl: i64,
    /// Target rounds per second over all clients (0: back to back).
    pub rate: f64,
    /// Most guarded increments per hold (at least 1).
    pub max_increments: usize,
    /// Seed of the random choices.
    pub seed: u64,
    /// How long a client waits for one reply.
    pub op_timeout: Duration,
}

/// The shared state: the configuration and the address plan.
#[derive(Debug)]
pub struct LockWorkload {
    config: LockWorkloadConfig,
    plan: AddressPlan,
}

/// One client.
#[derive(Debug)]
pub struct LockClient {
    /// The client's number.
    pub client: usize,
    /// The current Jepsen process (changes after an `:info`).
    pub process: i64,
    node: NodeId,
    channel: Option<Channel>,
    rng: StdRng,
}

impl LockClient {
    /// Drops the connection and moves to the next replica.
    fn fail_over(&mut self, nodes: usize) {
        self.channel = None;
        self.node = self.node % nodes as NodeId + 1;
    }
}

/// What the keepalive task last knew about the lease.
#[derive(Debug, Clone)]
enum LeaseState {
    /// Alive until at least this instant (by the last answered keepalive's send + TTL).
    Alive(Instant),
    /// Gone, and why.
    Lost(String),
}

impl LeaseState {
    /// Why the lock may no longer be held, if it may not.
    fn doubt(&self) -> Option<String> {
        match self {
            LeaseState::Lost(why) => Some(why.clone()),
            LeaseState::Alive(until) if Instant::now() >= *until => {
                Some("no keepalive answered within the TTL: the lease may have expired".into())
            }
            LeaseState::Alive(_) => None,
        }
    }
}

/// How a step of a round ended, when it did not go on.
enum Stop {
    /// The replica did not answer or failed: move to another one.
    NodeFailed,
    /// The round is over for another reason (lease lost, run over).
    Done,
}

fn prefix_end(prefix: &str) -> Bytes {
    let mut end = prefix.as_bytes().to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    end.into()
}

fn range(key: &str) -> RequestOp {
    RequestOp {
        request: Some(Op::RequestRange(RangeRequest {
            key: key.to_string().into(),
            ..RangeRequest::default()
        })),
    }
}

fn put(key: &str, value: String, lease: i64) -> RequestOp {
    RequestOp {
        request: Some(Op::RequestPut(PutRequest {
            key: key.to_string().into(),
            value: value.into(),
            lease,
            ..PutRequest::default()
        })),
    }
}

/// The first key under the lock prefix in create-revision `order`, among those created at or
/// before `max_create` (0: all).
fn by_create(order: SortOrder, max_create: i64) -> RangeRequest {
    RangeRequest {
        key: LOCK_PREFIX.into(),
        range_end: prefix_end(LOCK_PREFIX),
        limit: 1,
        sort_order: order as i32,
        sort_target: SortTarget::Create as i32,
        keys_only: true,
        max_create_revision: max_create,
        ..RangeRequest::default()
    }
}

/// The oldest key under the lock prefix.
fn owner() -> RequestOp {
    RequestOp {
        request: Some(Op::RequestRange(by_create(SortOrder::Ascend, 0))),
    }
}

fn compare(key: &str, result: CompareResult, target: CompareTarget, union: TargetUnion) -> Compare {
    Compare {
        result: result as i32,
        target: target as i32,
        key: key.to_string().into(),
        target_union: Some(union),
        ..Compare::default()
    }
}

/// The kvs of the `i`th response of a Txn, if it is a range.
fn kvs(response: &TxnResponse, i: usize) -> Option<&[KeyValue]> {
    match response.responses.get(i)?.response.as_ref()? {
        OpResponse::ResponseRange(RangeResponse { kvs, .. }) => Some(kvs),
        _ => None,
    }
}

fn number(kv: Option<&KeyValue>) -> i64 {
    kv.and_then(|kv| std::str::from_utf8(&kv.value).ok()?.trim().parse().ok())
        .unwrap_or(0)
}

fn revision(response: &TxnResponse) -> i64 {
    response.header.as_ref().map_or(0, |h| h.revision)
}

/// `:fail` for an error that proves the request was refused, `:info` otherwise.
fn outcome_of(status: &tonic::Status) -> EventType {
    if refused(status.code()) || status.code() == tonic::Code::NotFound {
        EventType::Fail
    } else {
        EventType::Info
    }
}

impl LockWorkload {
    /// A fresh workload against the replicas of `plan` (started with gRPC).
    pub fn new(config: LockWorkloadConfig, plan: AddressPlan) -> LockWorkload {
        LockWorkload { config, plan }
    }

    /// The configuration.
    pub fn config(&self) -> &LockWorkloadConfig {
        &self.config
    }

    /// Client `client`, bound to replica `client % nodes + 1` at first.
    pub fn client(&self, client: usize) -> LockClient {
        LockClient {
            client,
            process: client as i64,
            node: (client % self.plan.nodes()) as NodeId + 1,
            channel: None,
            rng: StdRng::seed_from_u64(
                self.config
                    .seed
                    .wrapping_add((client as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            ),
        }
    }

    async fn kv(&self, node: NodeId) -> Option<KvClient<Channel>> {
        connect(self.plan.grpc_addr(node))
            .await
            .ok()
            .map(KvClient::new)
    }

    /// Sets the counter to 0 and the fence to token 0 (one Txn), on the first replica of
    /// `order` that answers, retried until `deadline`; records the revision.
    ///
    /// # Errors
    /// The last error when no replica set them up in time.
    pub async fn setup(
        &self,
        order: &[NodeId],
        recorder: &Recorder,
        deadline: Instant,
        stop: &mut Shutdown,
    ) -> Result<(), String> {
        let request = TxnRequest {
            success: vec![
                put(COUNTER_KEY, "0".into(), 0),
                put(FENCE_KEY, fence_value(0), 0),
            ],
            ..TxnRequest::default()
        };
        let mut last = String::from("no replica tried");
        loop {
            for &node in order {
                let Some(mut kv) = self.kv(node).await else {
                    last = format!("replica {node} unreachable");
                    continue;
                };
                match tokio::time::timeout(self.config.op_timeout, kv.txn(request.clone())).await {
                    Ok(Ok(r)) => {
                        let op = LockOp::Setup {
                            revision: revision(&r.into_inner()),
                        };
                        recorder.lock(op, 0, None);
                        return Ok(());
                    }
                    Ok(Err(status)) => last = status_text(&status),
                    Err(_) => last = format!("replica {node} timed out"),
                }
            }
            if Instant::now() >= deadline || !stop.sleep(BACKOFF).await {
                return Err(last);
            }
        }
    }

    /// Reads the counter after healing (linearizable) on the first replica of `order` that
    /// answers, retried until `deadline`; records it.
    pub async fn final_read(
        &self,
        order: &[NodeId],
        recorder: &Recorder,
        deadline: Instant,
        stop: &mut Shutdown,
    ) -> Option<i64> {
        loop {
            for &node in order {
                let Some(mut kv) = self.kv(node).await else {
                    continue;
                };
                let request = RangeRequest {
                    key: COUNTER_KEY.into(),
                    ..RangeRequest::default()
                };
                if let Ok(Ok(r)) = tokio::time::timeout(FINAL_READ_TIMEOUT, kv.range(request)).await
                {
                    let r = r.into_inner();
                    let counter = number(r.kvs.first());
                    let revision = r.header.map_or(0, |h| h.revision);
                    recorder.lock(LockOp::Final { counter, revision }, 0, None);
                    return Some(counter);
                }
            }
            if Instant::now() >= deadline || !stop.sleep(BACKOFF).await {
                return None;
            }
        }
    }

    /// Runs `client` until `until` (or a stop): rounds of grant, acquire, increments,
    /// release, paced to the configured rate.
    pub async fn run(
        &self,
        mut client: LockClient,
        recorder: Arc<Recorder>,
        until: Instant,
        mut stop: Shutdown,
    ) {
        let pacer = Pacer::new(self.config.clients, self.config.rate);
        while Instant::now() < until && !stop.is_triggered() {
            if let Err(Stop::NodeFailed) = self.round(&mut client, &recorder, until, &stop).await {
                client.fail_over(self.plan.nodes());
                if !stop.sleep(BACKOFF).await {
                    break;
                }
            }
            if !pacer.pause(&mut client.rng, until, &mut stop).await {
                break;
            }
        }
    }

    /// Records an event of `client`, moving it to a new process after an `:info`.
    fn record(
        &self,
        client: &mut LockClient,
        recorder: &Recorder,
        op: LockOp,
        error: Option<String>,
    ) -> i64 {
        let info = op.kind() == EventType::Info && op.is_request_completion();
        let time = recorder.lock(op, client.process, error);
        if info {
            client.process += self.config.clients as i64;
        }
        time
    }

    /// One round: grant, keepalive, acquire, increments, release.
    async fn round(
        &self,
        client: &mut LockClient,
        recorder: &Arc<Recorder>,
        until: Instant,
        stop: &Shutdown,
    ) -> Result<(), Stop> {
        let channel = match &client.channel {
            Some(channel) => channel.clone(),
            None => match connect(self.plan.grpc_addr(client.node)).await {
                Ok(channel) => {
                    client.channel = Some(channel.clone());
                    channel
                }
                Err(_) => return Err(Stop::NodeFailed),
            },
        };
        let ttl = self.config.ttl;
        let grant = LockOp::Grant {
            kind: EventType::Invoke,
            lease: None,
            ttl,
            sent: None,
        };
        let sent = self.record(client, recorder, grant, None);
        let request = LeaseGrantRequest { ttl, id: 0 };
        let mut leases = LeaseClient::new(channel.clone());
        let (lease, granted) =
            match tokio::time::timeout(self.config.op_timeout, leases.lease_grant(request)).await {
                Ok(Ok(r)) => {
                    let r = r.into_inner();
                    (r.id, r.ttl)
                }
                Ok(Err(status)) => {
                    let op = LockOp::Grant {
                        kind: outcome_of(&status),
                        lease: None,
                        ttl,
                        sent: Some(sent),
                    };
                    self.record(client, recorder, op, Some(status_text(&status)));
                    return Err(Stop::NodeFailed);
                }
                Err(_) => {
                    let op = LockOp::Grant {
                        kind: EventType::Info,
                        lease: None,
                        ttl,
                        sent: Some(sent),
                    };
                    self.record(client, recorder, op, Some("timeout".into()));
                    return Err(Stop::NodeFailed);
                }
            };
        let op = LockOp::Grant {
            kind: EventType::Ok,
            lease: Some(lease),
            ttl: granted,
            sent: Some(sent),
        };
        self.record(client, recorder, op, None);
        let alive_until = Instant::now() + Duration::from_secs(granted.max(1) as u64);
        let (state_tx, state) = watch::channel(LeaseState::Alive(alive_until));
        let keepalive = tokio::spawn(keep_alive(
            channel.clone(),
            lease,
            granted.max(1),
            recorder.clone(),
            client.process,
            state_tx,
        ));
        let mut kv = KvClient::new(channel);
        let held = self
            .hold(client, &mut kv, lease, &state, recorder, until, stop)
            .await;
        keepalive.abort();
        let (token, result) = match held {
            Ok(token) => (token, Ok(())),
            Err((token, stop)) => (token, Err(stop)),
        };
        if result.is_err() {
            // Release through the next replica: this one did not answer.
            client.fail_over(self.plan.nodes());
        }
        self.release(client, lease, token, recorder).await;
        result
    }

    /// Acquires the lock and increments the counter under it; returns the token, if the lock
    /// key was created.
    #[allow(clippy::too_many_arguments)]
    async fn hold(
        &self,
        client: &mut LockClient,
        kv: &mut KvClient<Channel>,
        lease: i64,
        state: &watch::Receiver<LeaseState>,
        recorder: &Recorder,
        until: Instant,
        stop: &Shutdown,
    ) -> Result<Option<i64>, (Option<i64>, Stop)> {
        let node = Some(client.node);
        let acquire = |kind, token, revision| LockOp::Acquire {
            kind,
            lease,
            node: None,
            token,
            revision,
        };
        let invoke = LockOp::Acquire {
            kind: EventType::Invoke,
            lease,
            node,
            token: None,
            revision: None,
        };
        self.record(client, recorder, invoke, None);
        let key = lock_key(lease);
        let request = TxnRequest {
            compare: vec![compare(
                &key,
                CompareResult::Equal,
                CompareTarget::Create,
                TargetUnion::CreateRevision(0),
            )],
            success: vec![put(&key, String::new(), lease), owner()],
            failure: vec![range(&key), owner()],
        };
        let response = match self.call(kv.txn(request)).await {
            Ok(r) => r,
            Err((kind, error)) => {
                self.record(client, recorder, acquire(kind, None, None), Some(error));
                return Err((None, Stop::NodeFailed));
            }
        };
        let token = if response.succeeded {
            revision(&response)
        } else {
            kvs(&response, 0)
                .and_then(|kvs| kvs.first())
                .map_or(0, |kv| kv.create_revision)
        };
        self.record(client, recorder, LockOp::Enqueued { lease, token }, None);
        let oldest = kvs(&response, 1)
            .and_then(|kvs| kvs.first())
            .map(|kv| kv.create_revision);
        let mut acquired_at = (oldest == Some(token)).then(|| revision(&response));
        while acquired_at.is_none() {
            if let Some(why) = state.borrow().doubt() {
                let op = acquire(EventType::Fail, Some(token), None);
                self.record(client, recorder, op, Some(format!("while waiting: {why}")));
                return Err((Some(token), Stop::Done));
            }
            if Instant::now() >= until || stop.is_triggered() {
                let op = acquire(EventType::Fail, Some(token), None);
                self.record(
                    client,
                    recorder,
                    op,
                    Some("gave up waiting: the run is over".into()),
                );
                return Err((Some(token), Stop::Done));
            }
            // The newest key older than ours: the one to wait for.
            let older = by_create(SortOrder::Descend, token - 1);
            let response = match self.call(kv.range(older)).await {
                Ok(r) => r,
                Err((kind, error)) => {
                    self.record(
                        client,
                        recorder,
                        acquire(kind, Some(token), None),
                        Some(error),
                    );
                    return Err((Some(token), Stop::NodeFailed));
                }
            };
            let at = response.header.as_ref().map_or(0, |h| h.revision);
            match response.kvs.first() {
                None => acquired_at = Some(at),
                Some(predecessor) => {
                    let started = Instant::now();
                    if let Some(channel) = client.channel.clone() {
                        wait_deleted(channel, predecessor.key.clone(), at + 1).await;
                    }
                    // A watch that fails at once must not turn this into a busy loop.
                    tokio::time::sleep_until(started + MIN_WAIT).await;
                }
            }
        }
        let op = acquire(EventType::Ok, Some(token), acquired_at);
        self.record(client, recorder, op, None);
        let increments = client.rng.gen_range(1..=self.config.max_increments.max(1));
        for _ in 0..increments {
            // Hold the lock a while before each increment, so that faults find holders.
            let pause = client.rng.gen_range(0..=HOLD_PAUSE_MS);
            tokio::time::sleep(Duration::from_millis(pause)).await;
            if let Some(why) = state.borrow().doubt() {
                self.record(client, recorder, LockOp::lost(lease, token, why), None);
                return Ok(Some(token));
            }
            if let Err((why, stop)) = self.increment(client, kv, lease, token, recorder).await {
                self.record(client, recorder, LockOp::lost(lease, token, why), None);
                return Err((Some(token), stop));
            }
        }
        Ok(Some(token))
    }

    /// One guarded read-modify-write of the counter. On failure: why the client no longer
    /// believes it holds the lock.
    async fn increment(
        &self,
        client: &mut LockClient,
        kv: &mut KvClient<Channel>,
        lease: i64,
        token: i64,
        recorder: &Recorder,
    ) -> Result<(), (String, Stop)> {
        let incr = |kind, read, revision, held| LockOp::Incr {
            kind,
            lease,
            token,
            read,
            revision,
            held,
        };
        self.record(
            client,
            recorder,
            incr(EventType::Invoke, None, None, None),
            None,
        );
        let read_request = TxnRequest {
            success: vec![range(COUNTER_KEY), range(FENCE_KEY)],
            ..TxnRequest::default()
        };
        let response = match self.call(kv.txn(read_request)).await {
            Ok(r) => r,
            Err((_, error)) => {
                // Nothing was written: the write was never sent.
                let op = incr(EventType::Fail, None, None, None);
                self.record(client, recorder, op, Some(format!("read: {error}")));
                return Err((
                    "the read failed: lock state unknown".into(),
                    Stop::NodeFailed,
                ));
            }
        };
        let counter = kvs(&response, 0).and_then(|kvs| kvs.first());
        let read = CounterRead {
            value: number(counter),
            mod_revision: counter.map_or(0, |kv| kv.mod_revision),
            fence: number(kvs(&response, 1).and_then(|kvs| kvs.first())),
            revision: revision(&response),
        };
        let key = lock_key(lease);
        let write = TxnRequest {
            compare: vec![
                compare(
                    &key,
                    CompareResult::Equal,
                    CompareTarget::Create,
                    TargetUnion::CreateRevision(token),
                ),
                compare(
                    FENCE_KEY,
                    CompareResult::Less,
                    CompareTarget::Value,
                    TargetUnion::Value(fence_value(token + 1).into()),
                ),
            ],
            success: vec![
                put(FENCE_KEY, fence_value(token), 0),
                put(COUNTER_KEY, (read.value + 1).to_string(), 0),
            ],
            failure: vec![range(&key), range(FENCE_KEY)],
        };
        match self.call(kv.txn(write)).await {
            Ok(r) if r.succeeded => {
                let op = incr(EventType::Ok, Some(read), Some(revision(&r)), None);
                self.record(client, recorder, op, None);
                Ok(())
            }
            Ok(r) => {
                let held = kvs(&r, 0)
                    .and_then(|kvs| kvs.first())
                    .is_some_and(|kv| kv.create_revision == token);
                let fence = number(kvs(&r, 1).and_then(|kvs| kvs.first()));
                let op = incr(EventType::Fail, Some(read), None, Some(held));
                let why = if held {
                    format!("the fence moved past the token (fence {fence})")
                } else {
                    "the guarded write found the lock key gone".to_string()
                };
                // A definite answer (like a CAS that did not match): no `:error`.
                self.record(client, recorder, op, None);
                Err((why, Stop::Done))
            }
            Err((kind, error)) => {
                let op = incr(kind, Some(read), None, None);
                self.record(client, recorder, op, Some(error));
                Err((
                    "the guarded write failed: lock state unknown".into(),
                    Stop::NodeFailed,
                ))
            }
        }
    }

    /// Revokes the round's lease (which deletes the lock key) through the client's replica.
    async fn release(
        &self,
        client: &mut LockClient,
        lease: i64,
        token: Option<i64>,
        recorder: &Recorder,
    ) {
        let op = |kind| LockOp::Release { kind, lease, token };
        self.record(client, recorder, op(EventType::Invoke), None);
        let channel = match &client.channel {
            Some(channel) => Ok(channel.clone()),
            None => connect(self.plan.grpc_addr(client.node)).await,
        };
        let channel = match channel {
            Ok(channel) => channel,
            Err(e) => {
                self.record(
                    client,
                    recorder,
                    op(EventType::Fail),
                    Some(format!("not sent: {e}")),
                );
                return;
            }
        };
        let mut leases = LeaseClient::new(channel);
        match self
            .call(leases.lease_revoke(LeaseRevokeRequest { id: lease }))
            .await
        {
            Ok(_) => {
                self.record(client, recorder, op(EventType::Ok), None);
            }
            Err((kind, error)) => {
                self.record(client, recorder, op(kind), Some(error));
            }
        }
    }

    /// A unary call with the client timeout: the reply, or how it ended and why.
    async fn call<T>(
        &self,
        call: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, (EventType, String)> {
        match tokio::time::timeout(self.config.op_timeout, call).await {
            Ok(Ok(r)) => Ok(r.into_inner()),
            Ok(Err(status)) => Err((outcome_of(&status), status_text(&status))),
            Err(_) => Err((EventType::Info, "timeout".into())),
        }
    }
}

/// Waits (at most [`WAIT_SLICE`]) for a delete of `key` at or after revision `from`.
async fn wait_deleted(channel: Channel, key: Bytes, from: i64) {
    let deadline = Instant::now() + WAIT_SLICE;
    let mut watches = WatchClient::new(channel);
    let (requests, outgoing) = mpsc::channel(1);
    let create = WatchCreateRequest {
        key,
        start_revision: from,
        filters: vec![FilterType::Noput as i32],
        ..WatchCreateRequest::default()
    };
    let _ = requests
        .send(WatchRequest {
            request_union: Some(RequestUnion::CreateRequest(create)),
        })
        .await;
    let opened = tokio::time::timeout_at(deadline, watches.watch(ReceiverStream::new(outgoing)));
    let Ok(Ok(responses)) = opened.await else {
        return;
    };
    let mut responses = responses.into_inner();
    while let Ok(Ok(Some(response))) = tokio::time::timeout_at(deadline, responses.message()).await
    {
        if !response.events.is_empty() || response.canceled {
            return;
        }
    }
    drop(requests);
}

/// Keeps `lease` alive on one replica (one keepalive every TTL/3, the stream reopened when it
/// fails), recording every answer; publishes what it knows in `state`.
async fn keep_alive(
    channel: Channel,
    lease: i64,
    ttl: i64,
    recorder: Arc<Recorder>,
    process: i64,
    state: watch::Sender<LeaseState>,
) {
    let ttl_duration = Duration::from_secs(ttl as u64);
    let every = ttl_duration / 3;
    loop {
        let mut leases = LeaseClient::new(channel.clone());
        let (requests, outgoing) = mpsc::channel(1);
        let opened = tokio::time::timeout(
            every,
            leases.lease_keep_alive(ReceiverStream::new(outgoing)),
        )
        .await;
        let mut answers = match opened {
            Ok(Ok(r)) => r.into_inner(),
            _ => {
                tokio::time::sleep(every / 2).await;
                continue;
            }
        };
        loop {
            let started = Instant::now();
            let sent = recorder.now_ns();
            if requests
                .send(LeaseKeepAliveRequest { id: lease })
                .await
                .is_err()
            {
                break;
            }
            match tokio::time::timeout(every, answers.message()).await {
                Ok(Ok(Some(answer))) => {
                    let op = LockOp::KeepAlive {
                        lease,
                        ttl: answer.ttl,
                        sent,
                    };
                    recorder.lock(op, process, None);
                    if answer.ttl <= 0 {
                        let why = "a keepalive answered TTL 0: the lease is gone".to_string();
                        let _ = state.send(LeaseState::Lost(why));
                        return;
                    }
                    let alive = started + Duration::from_secs(answer.ttl as u64);
                    let _ = state.send(LeaseState::Alive(alive));
                }
                _ => break,
            }
            tokio::time::sleep_until(started + every).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_state_doubts_when_lost_or_stale() {
        let now = Instant::now();
        assert_eq!(
            LeaseState::Alive(now + Duration::from_secs(5)).doubt(),
            None
        );
        assert!(LeaseState::Alive(now).doubt().is_some());
        assert_eq!(
            LeaseState::Lost("gone".into()).doubt().as_deref(),
            Some("gone")
        );
        assert_eq!(prefix_end(LOCK_PREFIX), Bytes::from("lin_test/lock0"));
    }
}
