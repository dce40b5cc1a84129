//! One lock run: C contenders, each looping over cycles of grant a lease, acquire the lock
//! with etcd's recipe (`clientv3/concurrency/mutex.go`), an empty critical section, release
//! (revoke the lease, which deletes the lock key).
//!
//! Acquire: a Txn puts `<prefix><lease hex>` with the lease if its create revision is 0 (the
//! key's create revision is the contender's place in the queue) and reads the oldest key under
//! the prefix in the same revision. Until that is ours, the contender reads the newest key
//! created before ours and watches it, from the read's revision + 1, until it is deleted.
//!
//! Every critical section is recorded (start and end on one monotonic clock, the lock key's
//! create revision): sorted by start, none may begin before the previous ones ended, and the
//! create revisions must rise (the queue is first come, first served).

use std::time::Duration;

use anyhow::Result;
use bytes::Bytes;
use ddbb_proto::etcdserverpb::compare::{CompareResult, CompareTarget, TargetUnion};
use ddbb_proto::etcdserverpb::kv_client::KvClient;
use ddbb_proto::etcdserverpb::lease_client::LeaseClient;
use ddbb_proto::etcdserverpb::range_request::{SortOrder, SortTarget};
use ddbb_proto::etcdserverpb::request_op::Request as Op;
use ddbb_proto::etcdserverpb::response_op::Response as OpResponse;
use ddbb_proto::etcdserverpb::watch_create_request::FilterType;
use ddbb_proto::etcdserverpb::{
    Compare, LeaseGrantRequest, LeaseRevokeRequest, PutRequest, RangeRequest, RequestOp,
    TxnRequest, TxnResponse, WatchCreateRequest,
};
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tonic::transport::Channel;

use super::{call, channels, members_for};
use crate::cluster::Cluster;
use crate::driver::status_text;
use crate::histogram::Latency;
use crate::procfs::{CpuMark, Usage};
use crate::run::Target;
use crate::watch::stream::{prefix_end, Watcher};

/// Pause after a failed cycle, so that a failing cluster is not hammered.
const AFTER_ERROR: Duration = Duration::from_millis(50);

/// The shape of one lock run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LockShape {
    /// Contenders, each a loop of cycles.
    pub contenders: usize,
    /// gRPC connections they share.
    pub conns: usize,
    /// The leader, or all members.
    pub target: Target,
    /// Seconds during which contenders begin cycles.
    pub duration_s: f64,
    /// TTL of each cycle's lease, seconds.
    pub ttl: i64,
    /// Longest wait after that for the cycles in progress, seconds.
    pub drain_s: f64,
}

impl LockShape {
    /// `lock, 16 contenders/4 conns`
    pub fn label(&self) -> String {
        format!(
            "lock, {} contender{}/{} conn{}",
            self.contenders,
            if self.contenders == 1 { "" } else { "s" },
            self.conns,
            if self.conns == 1 { "" } else { "s" }
        )
    }
}

/// One critical section: when it began and ended (ns on the run's clock), whose it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Section {
    /// The contender.
    pub contender: usize,
    /// Its lock key's create revision.
    pub token: i64,
    /// Lock held (the acquisition observed).
    pub start_ns: u64,
    /// About to release (before the revoke is sent).
    pub end_ns: u64,
}

/// Interleavings of `sections`: how many began before an earlier-begun one ended, and how
/// many had a create revision not above the previous holder's.
pub fn check(sections: &mut [Section]) -> (u64, u64) {
    sections.sort_by_key(|s| (s.start_ns, s.end_ns));
    let (mut overlaps, mut regressions) = (0, 0);
    let (mut ended, mut token) = (0, i64::MIN);
    for s in sections.iter() {
        if s.start_ns < ended {
            overlaps += 1;
        }
        if s.token <= token {
            regressions += 1;
        }
        ended = ended.max(s.end_ns);
        token = token.max(s.token);
    }
    (overlaps, regressions)
}

/// What one lock run measured.
#[derive(Debug, Default)]
pub struct LockOutput {
    /// The members the connections went to (indices), one per connection.
    pub members: Vec<usize>,
    /// Cycles completed (acquired, released, revoke answered).
    pub cycles: u64,
    /// Txn sent → lock held.
    pub acquire: Latency,
    /// Grant sent → revoke answered.
    pub cycle: Latency,
    /// Watches of a predecessor's key.
    pub waits: u64,
    /// Cycles that failed (an error or no answer in any step).
    pub errors: u64,
    /// The first failure.
    pub first_error: Option<String>,
    /// Contenders still waiting for the lock when the drain ended (they gave up).
    pub abandoned: u64,
    /// Every critical section.
    pub sections: Vec<Section>,
    /// First grant → last revoke answered, seconds.
    pub span_s: f64,
    /// CPU of the servers and of the bench over the run.
    pub usage: Usage,
}

/// What one contender did.
#[derive(Default)]
struct Tally {
    cycles: u64,
    acquire: Latency,
    cycle: Latency,
    waits: u64,
    errors: u64,
    first_error: Option<String>,
    abandoned: u64,
    sections: Vec<Section>,
    last_ns: u64,
}

/// One contender's connection and the run's clock and limits.
#[derive(Clone)]
struct Contender {
    index: usize,
    unary: Channel,
    streams: Channel,
    prefix: String,
    ttl: i64,
    base: Instant,
    until: Instant,
    give_up: Instant,
}

impl Contender {
    fn ns(&self) -> u64 {
        (self.base.elapsed().as_nanos() as u64).max(1)
    }
}

/// Why an acquisition ended without the lock.
enum NotAcquired {
    Failed(String),
    GaveUp,
}

/// Runs `shape` on `cluster`; `run` makes the lock prefix unique.
///
/// # Errors
/// When a channel cannot be made or a contender task panics.
pub async fn run(cluster: &Cluster, shape: &LockShape, run: usize) -> Result<LockOutput> {
    let members = members_for(cluster, shape.target, shape.conns).await?;
    let channels = channels(cluster, &members)?;
    let prefix = format!("lock-bench/{}/{run}/", std::process::id());
    let base = Instant::now();
    let until = base + Duration::from_secs_f64(shape.duration_s);
    let give_up = until + Duration::from_secs_f64(shape.drain_s);
    let mark = CpuMark::start(&cluster.pids());
    let mut contenders = JoinSet::new();
    for index in 0..shape.contenders {
        let (unary, streams) = channels[index % channels.len()].clone();
        let c = Contender {
            index,
            unary,
            streams,
            prefix: prefix.clone(),
            ttl: shape.ttl,
            base,
            until,
            give_up,
        };
        contenders.spawn(contend(c));
    }
    let mut out = LockOutput {
        members,
        ..LockOutput::default()
    };
    let mut last_ns = 0;
    while let Some(done) = contenders.join_next().await {
        let t = done?;
        out.cycles += t.cycles;
        out.acquire.merge(&t.acquire);
        out.cycle.merge(&t.cycle);
        out.waits += t.waits;
        out.errors += t.errors;
        out.abandoned += t.abandoned;
        if out.first_error.is_none() {
            out.first_error = t.first_error;
        }
        out.sections.extend(t.sections);
        last_ns = last_ns.max(t.last_ns);
    }
    out.usage = mark.finish();
    out.span_s = last_ns as f64 / 1e9;
    Ok(out)
}

/// Cycles until the measured time is over.
async fn contend(c: Contender) -> Tally {
    let mut tally = Tally::default();
    let mut leases = LeaseClient::new(c.unary.clone());
    let mut kv = KvClient::new(c.unary.clone());
    while Instant::now() < c.until {
        let began = Instant::now();
        let lease = match call(leases.lease_grant(LeaseGrantRequest { ttl: c.ttl, id: 0 })).await {
            Ok(r) => r.id,
            Err(e) => {
                failed(&mut tally, format!("grant: {e}")).await;
                continue;
            }
        };
        let asked = Instant::now();
        let acquired = acquire(&c, &mut kv, lease, &mut tally.waits).await;
        let section = match acquired {
            Ok(token) => {
                tally.acquire.record(asked.elapsed());
                // The critical section: nothing but its two ends.
                let start_ns = c.ns();
                Some(Section {
                    contender: c.index,
                    token,
                    start_ns,
                    end_ns: c.ns(),
                })
            }
            Err(NotAcquired::GaveUp) => {
                tally.abandoned += 1;
                None
            }
            Err(NotAcquired::Failed(e)) => {
                tally.errors += 1;
                tally.first_error.get_or_insert(e);
                None
            }
        };
        // Release (or, without the lock, leave the queue): revoke the lease.
        let revoked = call(leases.lease_revoke(LeaseRevokeRequest { id: lease })).await;
        tally.last_ns = c.ns();
        match (section, revoked) {
            (Some(section), Ok(_)) => {
                tally.sections.push(section);
                tally.cycles += 1;
                tally.cycle.record(began.elapsed());
            }
            (section, Err(e)) => {
                // The section happened all the same: it must not overlap another.
                tally.sections.extend(section);
                failed(&mut tally, format!("revoke: {e}")).await;
            }
            (None, Ok(_)) => {}
        }
    }
    tally
}

async fn failed(tally: &mut Tally, error: String) {
    tally.errors += 1;
    tally.first_error.get_or_insert(error);
    tokio::time::sleep(AFTER_ERROR).await;
}

/// etcd's `Mutex.Lock`: the lock key's create revision once the lock is held.
async fn acquire(
    c: &Contender,
    kv: &mut KvClient<Channel>,
    lease: i64,
    waits: &mut u64,
) -> Result<i64, NotAcquired> {
    let key = format!("{}{lease:x}", c.prefix);
    let request = TxnRequest {
        compare: vec![Compare {
            result: CompareResult::Equal as i32,
            target: CompareTarget::Create as i32,
            key: key.clone().into(),
            target_union: Some(TargetUnion::CreateRevision(0)),
            ..Compare::default()
        }],
        success: vec![
            op(Op::RequestPut(PutRequest {
                key: key.clone().into(),
                lease,
                ..PutRequest::default()
            })),
            op(Op::RequestRange(first_by_create(
                &c.prefix,
                SortOrder::Ascend,
                0,
            ))),
        ],
        failure: vec![
            op(Op::RequestRange(RangeRequest {
                key: key.into(),
                ..RangeRequest::default()
            })),
            op(Op::RequestRange(first_by_create(
                &c.prefix,
                SortOrder::Ascend,
                0,
            ))),
        ],
    };
    let response = call(kv.txn(request))
        .await
        .map_err(|e| NotAcquired::Failed(format!("txn: {e}")))?;
    let token = if response.succeeded {
        revision(&response)
    } else {
        first_create(&response, 0).unwrap_or(0)
    };
    if first_create(&response, 1) == Some(token) {
        return Ok(token);
    }
    loop {
        if Instant::now() >= c.give_up {
            return Err(NotAcquired::GaveUp);
        }
        let older = first_by_create(&c.prefix, SortOrder::Descend, token - 1);
        let response = call(kv.range(older))
            .await
            .map_err(|e| NotAcquired::Failed(format!("range: {e}")))?;
        let Some(predecessor) = response.kvs.first() else {
            return Ok(token);
        };
        *waits += 1;
        let from = response.header.as_ref().map_or(0, |h| h.revision) + 1;
        wait_deleted(c, predecessor.key.clone(), from).await?;
    }
}

/// Waits for a delete of `key` at or after revision `from`, on a watch stream of its own.
async fn wait_deleted(c: &Contender, key: Bytes, from: i64) -> Result<(), NotAcquired> {
    let create = WatchCreateRequest {
        key,
        start_revision: from,
        filters: vec![FilterType::Noput as i32],
        ..WatchCreateRequest::default()
    };
    let waited = async {
        let left = c.give_up.saturating_duration_since(Instant::now());
        let mut watcher = Watcher::create(c.streams.clone(), create, left)
            .await
            .map_err(|e| format!("watch: {e:#}"))?;
        loop {
            match watcher.next().await {
                Ok(Some(r)) if !r.events.is_empty() => return Ok(()),
                Ok(Some(r)) if r.canceled => {
                    return Err(format!("watch cancelled: {}", r.cancel_reason))
                }
                Ok(Some(_)) => continue,
                Ok(None) => return Err("the server ended the watch stream".to_string()),
                Err(s) => return Err(format!("watch: {}", status_text(&s))),
            }
        }
    };
    match tokio::time::timeout_at(c.give_up, waited).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(NotAcquired::Failed(e)),
        Err(_) => Err(NotAcquired::GaveUp),
    }
}

fn op(request: Op) -> RequestOp {
    RequestOp {
        request: Some(request),
    }
}

/// The first key under `prefix` in create-revision `order`, among those created at or before
/// `max_create` (0: all); keys only.
fn first_by_create(prefix: &str, order: SortOrder, max_create: i64) -> RangeRequest {
    RangeRequest {
        key: prefix.to_string().into(),
        range_end: prefix_end(prefix.as_bytes()).into(),
        limit: 1,
        sort_order: order as i32,
        sort_target: SortTarget::Create as i32,
        keys_only: true,
        max_create_revision: max_create,
        ..RangeRequest::default()
    }
}

/// The create revision of the first key read by the `i`th response of a Txn.
fn first_create(response: &TxnResponse, i: usize) -> Option<i64> {
    match response.responses.get(i)?.response.as_ref()? {
        OpResponse::ResponseRange(r) => r.kvs.first().map(|kv| kv.create_revision),
        _ => None,
    }
}

fn revision(response: &TxnResponse) -> i64 {
    response.header.as_ref().map_or(0, |h| h.revision)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn section(contender: usize, token: i64, start_ns: u64, end_ns: u64) -> Section {
        Section {
            contender,
            token,
            start_ns,
            end_ns,
        }
    }

    #[test]
    fn interleaved_sections_and_falling_tokens_are_counted() {
        let mut ok = vec![section(1, 9, 30, 40), section(0, 5, 10, 20)];
        assert_eq!(check(&mut ok), (0, 0));
        let mut overlap = vec![section(0, 5, 10, 20), section(1, 9, 15, 25)];
        assert_eq!(check(&mut overlap), (1, 0));
        // Nested inside a longer one, after a short one that ended: still an overlap.
        let mut nested = vec![
            section(0, 5, 10, 50),
            section(1, 6, 20, 30),
            section(2, 7, 40, 45),
        ];
        assert_eq!(check(&mut nested), (2, 0));
        let mut regression = vec![section(0, 9, 10, 20), section(1, 5, 30, 40)];
        assert_eq!(check(&mut regression), (0, 1));
    }
}
