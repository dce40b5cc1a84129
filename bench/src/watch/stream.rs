//! One watcher: a gRPC `Watch` stream (etcd's generated `WatchClient`, the same code for both
//! systems) with one watch on a key prefix from now, and the tally of what it received.
//!
//! Events carry the writer's sequence number at the start of their value
//! ([`super::load::value`]); the watcher notes, per event, when it arrived against the
//! writer's tables of send and acknowledgement times (one monotonic clock, one process).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use ddbb_proto::etcdserverpb::watch_client::WatchClient;
use ddbb_proto::etcdserverpb::watch_request::RequestUnion;
use ddbb_proto::etcdserverpb::{WatchCreateRequest, WatchRequest, WatchResponse};
use ddbb_proto::mvccpb::event::EventType;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::{Channel, Endpoint};
use tonic::Streaming;

use super::load::{parse_seq, Clock};

/// What the run tells its watchers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Control {
    /// Puts are still being sent.
    Writing,
    /// The writers are done: this many puts were acknowledged; stop once as many events came.
    Expect(u64),
    /// Stop now (the drain deadline passed).
    Stop,
}

/// A gRPC channel for watch streams to `url`: no request timeout (a stream lives for the
/// whole run), 1 s to connect.
///
/// # Errors
/// When `url` is not a valid URI.
pub fn channel(url: &str) -> Result<Channel> {
    Ok(Endpoint::from_shared(url.to_string())?
        .connect_timeout(Duration::from_secs(1))
        .tcp_nodelay(true)
        .connect_lazy())
}

/// The end of the range of keys starting with `prefix` (etcd's `--prefix`).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// An open watch stream whose watch was created.
pub struct Watcher {
    responses: Streaming<WatchResponse>,
    /// Kept so that the request side stays open (closing it may end the stream).
    _requests: mpsc::Sender<WatchRequest>,
}

impl Watcher {
    /// Opens a stream on `channel` and creates a watch on `prefix` from now; waits up to
    /// `timeout` for the `created` response.
    ///
    /// # Errors
    /// When the stream cannot be opened or the watch is not created in time.
    pub async fn open(channel: Channel, prefix: &str, timeout: Duration) -> Result<Watcher> {
        let create = WatchCreateRequest {
            key: prefix.as_bytes().to_vec().into(),
            range_end: prefix_end(prefix.as_bytes()).into(),
            start_revision: 0,
            ..WatchCreateRequest::default()
        };
        Watcher::create(channel, create, timeout).await
    }

    /// Opens a stream on `channel` and creates the watch `create` on it; waits up to
    /// `timeout` for the `created` response.
    ///
    /// # Errors
    /// When the stream cannot be opened or the watch is not created in time.
    pub async fn create(
        channel: Channel,
        create: WatchCreateRequest,
        timeout: Duration,
    ) -> Result<Watcher> {
        let (tx, rx) = mpsc::channel(1);
        // Sent before the stream opens: a gRPC-Go server (etcd) answers the stream's headers
        // with its first response.
        let create = WatchRequest {
            request_union: Some(RequestUnion::CreateRequest(create)),
        };
        tx.send(create)
            .await
            .map_err(|_| anyhow!("request side closed"))?;
        let opened = async {
            let mut client = WatchClient::new(channel);
            let mut responses = client
                .watch(ReceiverStream::new(rx))
                .await
                .map_err(|s| anyhow!(crate::driver::status_text(&s)))?
                .into_inner();
            loop {
                match responses.message().await {
                    Ok(Some(r)) if r.created => return Ok(responses),
                    Ok(Some(r)) if r.canceled => bail!("watch refused: {}", r.cancel_reason),
                    Ok(Some(_)) => continue,
                    Ok(None) => bail!("the stream ended before the watch was created"),
                    Err(s) => bail!(crate::driver::status_text(&s)),
                }
            }
        };
        let responses = tokio::time::timeout(timeout, opened)
            .await
            .map_err(|_| anyhow!("watch not created within {timeout:?}"))??;
        Ok(Watcher {
            responses,
            _requests: tx,
        })
    }

    /// The next response of the stream (`None` when the server ended it).
    ///
    /// # Errors
    /// The stream's error.
    pub async fn next(&mut self) -> Result<Option<WatchResponse>, tonic::Status> {
        self.responses.message().await
    }

    /// Receives events until told to stop or, once the writers are done, until as many events
    /// as puts acknowledged have arrived; tallies them against `clock`.
    pub async fn receive(
        mut self,
        clock: Arc<Clock>,
        mut control: watch::Receiver<Control>,
    ) -> Tally {
        let mut tally = Tally::new(clock.len());
        loop {
            let state = *control.borrow_and_update();
            match state {
                Control::Stop => break,
                Control::Expect(n) if tally.received >= n => break,
                _ => {}
            }
            tokio::select! {
                changed = control.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
                message = self.responses.message() => match message {
                    Ok(Some(response)) => {
                        let now = clock.now_ns();
                        if response.canceled || response.compact_revision > 0 {
                            tally.error(format!(
                                "watch cancelled (compact_revision {}): {}",
                                response.compact_revision, response.cancel_reason
                            ));
                            break;
                        }
                        for event in &response.events {
                            tally.event(&clock, now, event);
                        }
                    }
                    Ok(None) => {
                        tally.error("the server ended the stream".into());
                        break;
                    }
                    Err(status) => {
                        tally.error(crate::driver::status_text(&status));
                        break;
                    }
                },
            }
        }
        tally
    }
}

/// What one watcher received.
#[derive(Debug, Default)]
pub struct Tally {
    /// Distinct events of the run's puts received.
    pub received: u64,
    /// Events received twice.
    pub duplicates: u64,
    /// Events whose revision was not above the previous one's.
    pub out_of_order: u64,
    /// Events that are not the run's puts (another type, an unknown value).
    pub unexpected: u64,
    /// Microseconds from the put's acknowledgement to the event, per event whose put was
    /// acknowledged by then; events that came first are in `early`.
    pub after_ack_us: Vec<u32>,
    /// `(sequence number, arrival ns)` of events that arrived before their put's
    /// acknowledgement (or before it was recorded; resolved once the writers are done).
    pub early: Vec<(u32, u64)>,
    /// Microseconds from the put being sent to the event, per event.
    pub after_send_us: Vec<u32>,
    /// Arrival of the last event, ns on the run's clock.
    pub last_ns: u64,
    /// Which sequence numbers arrived (a bitset).
    pub seen: Vec<u64>,
    /// Why the stream ended early, if it did.
    pub error: Option<String>,
    last_revision: i64,
}

impl Tally {
    fn new(puts: usize) -> Tally {
        Tally {
            seen: vec![0; puts.div_ceil(64)],
            ..Tally::default()
        }
    }

    fn error(&mut self, text: String) {
        self.error.get_or_insert(text);
    }

    /// Whether put `seq`'s event arrived.
    pub fn has(&self, seq: usize) -> bool {
        self.seen
            .get(seq / 64)
            .is_some_and(|w| w & (1 << (seq % 64)) != 0)
    }

    fn event(&mut self, clock: &Clock, now: u64, event: &ddbb_proto::mvccpb::Event) {
        let kv = event.kv.as_ref();
        let seq = kv.and_then(|kv| parse_seq(&kv.value));
        let (Some(kv), Some(seq), true) = (kv, seq, event.r#type == EventType::Put as i32) else {
            self.unexpected += 1;
            return;
        };
        if seq >= clock.len() {
            self.unexpected += 1;
            return;
        }
        if kv.mod_revision <= self.last_revision {
            self.out_of_order += 1;
        }
        self.last_revision = self.last_revision.max(kv.mod_revision);
        let (word, bit) = (seq / 64, 1u64 << (seq % 64));
        if self.seen[word] & bit != 0 {
            self.duplicates += 1;
            return;
        }
        self.seen[word] |= bit;
        self.received += 1;
        self.last_ns = self.last_ns.max(now);
        let sent = clock.sent[seq].load(Ordering::Acquire);
        self.after_send_us.push(micros(now.saturating_sub(sent)));
        match clock.acked[seq].load(Ordering::Acquire) {
            acked if acked != 0 && acked <= now => {
                self.after_ack_us.push(micros(now - acked));
            }
            _ => self.early.push((seq as u32, now)),
        }
    }
}

/// Nanoseconds as whole microseconds, saturating.
pub fn micros(ns: u64) -> u32 {
    u32::try_from(ns / 1000).unwrap_or(u32::MAX)
}

/// Elapsed time since `base` in ns (at least 1, so that 0 can mean "not yet").
pub fn ns_since(base: Instant) -> u64 {
    (base.elapsed().as_nanos() as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_is_etcds() {
        assert_eq!(prefix_end(b"a/"), b"a0".to_vec());
        assert_eq!(prefix_end(b"a\xff"), b"b".to_vec());
        assert_eq!(prefix_end(b"\xff\xff"), vec![0]);
    }
}
