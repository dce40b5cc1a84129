//! One keepalive run, etcd's `benchmark lease-keepalive` shape: S streams, each with a lease
//! of its own, each sending its next keepalive as soon as the previous one is answered.
//!
//! etcd's tool calls `KeepAliveOnce` (a new stream per keepalive); here every stream stays
//! open for the whole run, as a client keeping a session alive does, so what is measured is
//! the keepalive itself (through each system's log) and not the opening of streams.

use std::time::Duration;

use anyhow::{bail, Result};
use ddbb_proto::etcdserverpb::lease_client::LeaseClient;
use ddbb_proto::etcdserverpb::{LeaseGrantRequest, LeaseKeepAliveRequest, LeaseRevokeRequest};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use super::{call, channels, members_for, target};
use crate::cluster::Cluster;
use crate::driver::{status_text, Timeouts};
use crate::histogram::Latency;
use crate::procfs::{CpuMark, Usage};

/// Pause before a stream that failed is opened again.
const REOPEN_AFTER: Duration = Duration::from_millis(100);

/// The shape of one keepalive run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeepAliveShape {
    /// Keepalive streams, one lease each.
    pub streams: usize,
    /// gRPC connections they share.
    pub conns: usize,
    /// Seconds before counting starts.
    pub warmup_s: f64,
    /// Seconds counted.
    pub duration_s: f64,
    /// TTL of the leases, seconds.
    pub ttl: i64,
}

impl KeepAliveShape {
    /// `keepalive, 64 streams/8 conns`
    pub fn label(&self) -> String {
        format!(
            "keepalive, {} stream{}/{} conn{}",
            self.streams,
            if self.streams == 1 { "" } else { "s" },
            self.conns,
            if self.conns == 1 { "" } else { "s" }
        )
    }
}

/// What one keepalive run measured.
#[derive(Debug, Default)]
pub struct KeepAliveOutput {
    /// The members the connections went to (indices), one per connection.
    pub members: Vec<usize>,
    /// Keepalives sent after the warm-up and answered before the end.
    pub keepalives: u64,
    /// Their latency, sent → answered.
    pub latency: Latency,
    /// Failed keepalives: an error, no answer in time, a TTL of 0 (the lease gone), a stream
    /// that ended; the whole run, warm-up included.
    pub errors: u64,
    /// The first of them.
    pub first_error: Option<String>,
    /// Leases whose revocation at the end failed.
    pub revoke_errors: u64,
    /// CPU of the servers and of the bench in the measured window.
    pub usage: Usage,
}

/// What one stream did.
#[derive(Default)]
struct Tally {
    keepalives: u64,
    latency: Latency,
    errors: u64,
    first_error: Option<String>,
}

impl Tally {
    fn error(&mut self, text: String) {
        self.errors += 1;
        self.first_error.get_or_insert(text);
    }
}

/// Runs `shape` on `cluster`.
///
/// # Errors
/// When a lease cannot be granted or a channel made.
pub async fn run(cluster: &Cluster, shape: &KeepAliveShape) -> Result<KeepAliveOutput> {
    let members = members_for(cluster, target(shape.streams), shape.conns).await?;
    let channels = channels(cluster, &members)?;

    // Every stream's lease first, outside the measured window.
    let mut granting = JoinSet::new();
    for i in 0..shape.streams {
        let (unary, _) = channels[i % channels.len()].clone();
        let ttl = shape.ttl;
        granting.spawn(async move {
            let mut leases = LeaseClient::new(unary);
            call(leases.lease_grant(LeaseGrantRequest { ttl, id: 0 }))
                .await
                .map(|r| (i, r.id))
        });
    }
    let mut leases = vec![0; shape.streams];
    while let Some(done) = granting.join_next().await {
        match done? {
            Ok((i, id)) => leases[i] = id,
            Err(e) => bail!("granting a lease: {e}"),
        }
    }

    let began = Instant::now();
    let counting = began + Duration::from_secs_f64(shape.warmup_s);
    let until = counting + Duration::from_secs_f64(shape.duration_s);
    let mut streams = JoinSet::new();
    for (i, &id) in leases.iter().enumerate() {
        let (_, stream) = channels[i % channels.len()].clone();
        streams.spawn(keep_alive(stream, id, counting, until));
    }
    tokio::time::sleep_until(counting).await;
    let mark = CpuMark::start(&cluster.pids());
    tokio::time::sleep_until(until).await;
    let usage = mark.finish();

    let mut out = KeepAliveOutput {
        members,
        usage,
        ..KeepAliveOutput::default()
    };
    while let Some(done) = streams.join_next().await {
        let t = done?;
        out.keepalives += t.keepalives;
        out.latency.merge(&t.latency);
        out.errors += t.errors;
        if out.first_error.is_none() {
            out.first_error = t.first_error;
        }
    }
    // Leave nothing behind for the next run.
    let mut revoking = JoinSet::new();
    for (i, &id) in leases.iter().enumerate() {
        let mut client = LeaseClient::new(channels[i % channels.len()].0.clone());
        revoking.spawn(async move { call(client.lease_revoke(LeaseRevokeRequest { id })).await });
    }
    while let Some(done) = revoking.join_next().await {
        if !matches!(done, Ok(Ok(_))) {
            out.revoke_errors += 1;
        }
    }
    Ok(out)
}

/// Keeps lease `id` alive on one stream over `channel`, back to back, until `until`; counts
/// and times the keepalives sent from `counting` on and answered by `until`. A stream that
/// fails is opened again.
async fn keep_alive(channel: Channel, id: i64, counting: Instant, until: Instant) -> Tally {
    let mut tally = Tally::default();
    let timeout = Timeouts::STEADY.op;
    while Instant::now() < until {
        let (requests, outgoing) = mpsc::channel(1);
        // The first keepalive goes with the opening: a gRPC-Go server (etcd) sends the
        // stream's headers with its first response, so the stream opens once it is answered.
        let mut sent = Instant::now();
        let _ = requests.send(LeaseKeepAliveRequest { id }).await;
        let mut client = LeaseClient::new(channel.clone());
        let opened = tokio::time::timeout(
            timeout,
            client.lease_keep_alive(ReceiverStream::new(outgoing)),
        )
        .await;
        let mut answers = match opened {
            Ok(Ok(r)) => r.into_inner(),
            Ok(Err(status)) => {
                tally.error(format!("opening the stream: {}", status_text(&status)));
                tokio::time::sleep(REOPEN_AFTER).await;
                continue;
            }
            Err(_) => {
                tally.error(format!("stream not opened within {timeout:?}"));
                continue;
            }
        };
        loop {
            match tokio::time::timeout(timeout, answers.message()).await {
                Ok(Ok(Some(answer))) if answer.ttl > 0 => {
                    let answered = Instant::now();
                    if sent >= counting && answered <= until {
                        tally.keepalives += 1;
                        tally.latency.record(answered - sent);
                    }
                }
                Ok(Ok(Some(_))) => {
                    // TTL 0: the lease is gone; nothing more to keep alive.
                    tally.error(format!("lease {id:x} not found (TTL 0)"));
                    return tally;
                }
                Ok(Ok(None)) => {
                    tally.error("the server ended the stream".into());
                    break;
                }
                Ok(Err(status)) => {
                    tally.error(status_text(&status));
                    break;
                }
                Err(_) => {
                    tally.error(format!("no keepalive answer within {timeout:?}"));
                    break;
                }
            }
            sent = Instant::now();
            if sent >= until {
                return tally;
            }
            if requests.send(LeaseKeepAliveRequest { id }).await.is_err() {
                tally.error("the request side closed".into());
                break;
            }
        }
        tokio::time::sleep(REOPEN_AFTER).await;
    }
    tally
}
