//! `--workload watch`: Jepsen's etcd watch workload adapted to DDBB.
//!
//! - **Writers** (`--clients`) put unique values (one counter for every writer) to `--keys`
//!   keys under [`PREFIX`], over etcd's gRPC `Put` to their replica's `--grpc-addr` (writer `c`
//!   is bound to replica `c % nodes + 1`, as in the other workloads). An acknowledged put
//!   records the revision of its response header. A put that could not reach the replica
//!   (connection refused) or was refused before entering the log (`InvalidArgument`,
//!   `ResourceExhausted`, `OutOfRange`) is `:fail`; a timeout or any other error `:info`, and
//!   the writer continues as process `p + writers + watchers`.
//! - **Watchers** (`--watchers`, at least one per replica) watch the whole prefix over gRPC
//!   from revision 1, and now and then (after a random 0.3 to 2.5 s) drop their stream and
//!   resume from the last revision received + 1 on another replica; a watcher whose replica
//!   is killed, paused or unreachable (no answer to a progress request within a few seconds)
//!   resumes elsewhere too. See [`crate::watcher`].
//! - **Catch-up**: after healing, the harness reads the final revision (a linearizable range
//!   over the prefix) and every watcher keeps going until it has received everything up to it
//!   (or a progress response says its replica has nothing more up to it), or a deadline.
//!
//! Every revision of such a run is a put under the prefix, so the checker
//! ([`crate::checker::watch`]) also requires the common log to have no hole.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use ddbb_proto::etcdserverpb::kv_client::KvClient;
use ddbb_proto::etcdserverpb::{PutRequest, RangeRequest};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};
use tonic::Code;

use crate::cluster::AddressPlan;
use crate::history::EventType;
use crate::recorder::Recorder;
use crate::watch_history::WatchOp;
use crate::workload::Pacer;
use ddbb_libs::shutdown::Shutdown;
use ddbb_libs::NodeId;

/// The prefix every key of the workload lives under.
pub const PREFIX: &str = "lin_test/watch/";
/// How long connecting to a replica may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long one read of the final revision may take.
const FINAL_READ_TIMEOUT: Duration = Duration::from_secs(3);

/// Shape of the watch workload.
#[derive(Debug, Clone)]
pub struct WatchWorkloadConfig {
    /// Number of keys under [`PREFIX`].
    pub keys: usize,
    /// Number of writers.
    pub writers: usize,
    /// Number of watchers.
    pub watchers: usize,
    /// Target puts per second over all writers (0: as fast as replies come).
    pub rate: f64,
    /// Seed of the random choices.
    pub seed: u64,
    /// How long a writer waits for one reply.
    pub op_timeout: Duration,
    /// Shortest and longest time a watcher keeps one stream before resuming elsewhere.
    pub resume_after: (Duration, Duration),
}

/// The shared state: the address plan and the value counter.
#[derive(Debug)]
pub struct WatchWorkload {
    config: WatchWorkloadConfig,
    plan: AddressPlan,
    next_value: AtomicI64,
}

/// One writer.
#[derive(Debug)]
pub struct WatchWriter {
    /// The writer's number.
    pub client: usize,
    /// The current Jepsen process.
    pub process: i64,
    node: NodeId,
    kv: Option<KvClient<Channel>>,
    rng: StdRng,
}

/// `http://addr`, the URI tonic wants.
pub(crate) fn endpoint(addr: SocketAddr) -> Option<Endpoint> {
    Endpoint::from_shared(format!("http://{addr}"))
        .ok()
        .map(|e| e.connect_timeout(CONNECT_TIMEOUT))
}

/// Connects to `addr` (within [`CONNECT_TIMEOUT`]).
///
/// # Errors
/// Why it could not.
pub(crate) async fn connect(addr: SocketAddr) -> Result<Channel, String> {
    let endpoint = endpoint(addr).ok_or_else(|| format!("bad address {addr}"))?;
    match tokio::time::timeout(CONNECT_TIMEOUT * 2, endpoint.connect()).await {
        Ok(Ok(channel)) => Ok(channel),
        Ok(Err(e)) => Err(format!("cannot connect to {addr}: {}", error_chain(&e))),
        Err(_) => Err(format!("cannot connect to {addr}: timed out")),
    }
}

/// An error and its sources, on one line.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(&format!(": {e}"));
        source = e.source();
    }
    text
}

/// A gRPC status on one line: code, message and the transport error behind it.
pub(crate) fn status_text(status: &tonic::Status) -> String {
    format!("{:?}: {}", status.code(), error_chain(status))
}

/// The end of the prefix range: the prefix with its last byte incremented.
pub fn prefix_end() -> Vec<u8> {
    let mut end = PREFIX.as_bytes().to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    end
}

/// Whether a gRPC error proves the put was refused before entering the log.
pub fn refused(code: Code) -> bool {
    matches!(
        code,
        Code::InvalidArgument | Code::ResourceExhausted | Code::OutOfRange
    )
}

impl WatchWorkload {
    /// A fresh workload against the replicas of `plan` (started with gRPC).
    pub fn new(config: WatchWorkloadConfig, plan: AddressPlan) -> WatchWorkload {
        WatchWorkload {
            config,
            plan,
            next_value: AtomicI64::new(1),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &WatchWorkloadConfig {
        &self.config
    }

    /// The address plan.
    pub fn plan(&self) -> &AddressPlan {
        &self.plan
    }

    /// Processes per generation: a writer that ends `:info` continues as `p + this`.
    pub fn processes(&self) -> i64 {
        (self.config.writers + self.config.watchers) as i64
    }

    /// A seeded random source for client `n` (writers first, then watchers).
    pub fn rng(&self, n: usize) -> StdRng {
        StdRng::seed_from_u64(
            self.config
                .seed
                .wrapping_add((n as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
        )
    }

    /// Writer `client`, bound to replica `client % nodes + 1`.
    pub fn writer(&self, client: usize) -> WatchWriter {
        WatchWriter {
            client,
            process: client as i64,
            node: (client % self.plan.nodes()) as NodeId + 1,
            kv: None,
            rng: self.rng(client),
        }
    }

    /// Runs `writer` until `until` (or a stop), paced to the configured rate.
    pub async fn run_writer(
        &self,
        mut writer: WatchWriter,
        recorder: &Recorder,
        until: Instant,
        mut stop: Shutdown,
    ) {
        let pacer = Pacer::new(self.config.writers, self.config.rate);
        while Instant::now() < until && !stop.is_triggered() {
            self.put(&mut writer, recorder).await;
            if !pacer.pause(&mut writer.rng, until, &mut stop).await {
                break;
            }
        }
    }

    /// One put of a fresh value to a random key, recorded.
    async fn put(&self, writer: &mut WatchWriter, recorder: &Recorder) {
        let k = writer.rng.gen_range(0..self.config.keys.max(1));
        let key = format!("{PREFIX}{k}");
        let value = self.next_value.fetch_add(1, Ordering::Relaxed).to_string();
        let op = |kind, revision| WatchOp::Put {
            kind,
            key: key.clone(),
            value: value.clone(),
            revision,
        };
        recorder.watch(op(EventType::Invoke, None), writer.process, None);
        let (kind, revision, error) = self.execute(writer, &key, &value).await;
        recorder.watch(op(kind, revision), writer.process, error);
        if kind == EventType::Info {
            writer.process += self.processes();
        }
    }

    async fn execute(
        &self,
        writer: &mut WatchWriter,
        key: &str,
        value: &str,
    ) -> (EventType, Option<i64>, Option<String>) {
        let kv = match writer.kv.take() {
            Some(kv) => kv,
            None => match connect(self.plan.grpc_addr(writer.node)).await {
                Ok(channel) => KvClient::new(channel),
                Err(e) => return (EventType::Fail, None, Some(format!("not sent: {e}"))),
            },
        };
        let mut kv = kv;
        let request = PutRequest {
            key: key.to_string().into(),
            value: value.to_string().into(),
            ..PutRequest::default()
        };
        match tokio::time::timeout(self.config.op_timeout, kv.put(request)).await {
            Err(_) => (EventType::Info, None, Some("timeout".into())),
            Ok(Ok(reply)) => {
                writer.kv = Some(kv);
                let revision = reply.into_inner().header.map(|h| h.revision);
                (EventType::Ok, revision, None)
            }
            Ok(Err(status)) if refused(status.code()) => {
                writer.kv = Some(kv);
                (EventType::Fail, None, Some(status_text(&status)))
            }
            // The connection is dropped: the next put reconnects, and a refused connection
            // then proves that put was never sent.
            Ok(Err(status)) => (EventType::Info, None, Some(status_text(&status))),
        }
    }

    /// The cluster's revision now: a linearizable count of the prefix on the first replica
    /// of `order` that answers, retried until `deadline`.
    pub async fn final_revision(
        &self,
        order: &[NodeId],
        deadline: Instant,
        stop: &mut Shutdown,
    ) -> Option<i64> {
        loop {
            for &node in order {
                if let Some(revision) = self.revision_of(node).await {
                    return Some(revision);
                }
            }
            if Instant::now() >= deadline || !stop.sleep(Duration::from_millis(200)).await {
                return None;
            }
        }
    }

    async fn revision_of(&self, node: NodeId) -> Option<i64> {
        let mut kv = KvClient::new(connect(self.plan.grpc_addr(node)).await.ok()?);
        let request = RangeRequest {
            key: PREFIX.as_bytes().to_vec().into(),
            range_end: prefix_end().into(),
            count_only: true,
            ..RangeRequest::default()
        };
        let reply = tokio::time::timeout(FINAL_READ_TIMEOUT, kv.range(request))
            .await
            .ok()?
            .ok()?;
        reply.into_inner().header.map(|h| h.revision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_range_covers_exactly_the_prefix() {
        assert_eq!(prefix_end(), b"lin_test/watch0".to_vec());
        assert!(refused(Code::InvalidArgument));
        assert!(!refused(Code::Unavailable));
        assert!(!refused(Code::DeadlineExceeded));
    }
}
