//! [`Watcher`]: a watch that outlives its connection.
//!
//! A background task sends `WATCHKV` to one endpoint and forwards the pushes. It remembers the
//! next revision it is owed (the created revision + 1 for a watch "from now", then the last
//! event's revision + 1, or a progress revision + 1); when the connection breaks, or the replica
//! stops answering the task's periodic `WATCHPROGRESS` heartbeats (a paused or cut-off
//! replica), it creates the watch again from that revision on the next endpoint. Another
//! replica serves the same history, so the consumer sees no gap and no duplicate.

use std::time::Duration;

use bytes::Bytes;
use ddbb_libs::cmd::{parse_watch_response, WatchKv};
use ddbb_libs::kv::{WatchCreateRequest, WatchResponse, NO_WATCH_ID};
use ddbb_libs::{Command, Connection, Frame, FrameLimits};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::client::ClientConfig;
use crate::error::{Error, Result};

/// Responses the task reads ahead of the consumer.
const AHEAD: usize = 16;
/// First pause after every endpoint failed once; doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(50);
/// Longest pause between two rounds over the endpoints.
const MAX_BACKOFF: Duration = Duration::from_secs(1);
/// Largest push accepted from a replica.
const MAX_PUSH_BYTES: usize = 64 << 20;

/// A watch's responses, in order; see the module doc. Dropping it ends the watch.
#[derive(Debug)]
pub struct Watcher {
    responses: mpsc::Receiver<Result<WatchResponse>>,
    task: JoinHandle<()>,
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Watcher {
    /// Starts watching (needs a tokio runtime); `request.start_revision` 0 means "from now".
    pub fn start(config: ClientConfig, request: WatchCreateRequest) -> Watcher {
        let (tx, responses) = mpsc::channel(AHEAD);
        let task = tokio::spawn(run(config, request, tx));
        Watcher { responses, task }
    }

    /// The next response: the `created` one first, then events and progress notifications;
    /// `None` after a final response (cancelled, or compacted: see `compact_revision`) or an
    /// error (a refused watch).
    pub async fn next(&mut self) -> Option<Result<WatchResponse>> {
        self.responses.recv().await
    }
}

/// The same responses as an async stream (`tokio_stream::StreamExt` and friends).
impl tokio_stream::Stream for Watcher {
    type Item = Result<WatchResponse>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.responses.poll_recv(cx)
    }
}

/// How one connection's watch ended.
enum Ended {
    /// For good: cancelled, refused, or the consumer is gone.
    Final,
    /// The connection failed; resume elsewhere.
    Broken,
}

/// Where the watch stands.
struct Progress {
    /// The next revision owed (0: not known yet, the watch is "from now").
    next: i64,
    /// The `created` response was passed on.
    announced: bool,
}

async fn run(
    config: ClientConfig,
    request: WatchCreateRequest,
    tx: mpsc::Sender<Result<WatchResponse>>,
) {
    let mut progress = Progress {
        next: request.start_revision,
        announced: false,
    };
    let n = config.endpoints.len().max(1);
    let mut backoff = MIN_BACKOFF;
    for attempt in 0usize.. {
        let Some(endpoint) = config.endpoints.get(attempt % n) else {
            let _ = tx
                .send(Err(Error::InvalidInput("no endpoints".into())))
                .await;
            return;
        };
        let started = Instant::now();
        if let Ended::Final = watch_on(endpoint, &config, &request, &mut progress, &tx).await {
            return;
        }
        if started.elapsed() > config.attempt_timeout * 2 {
            backoff = MIN_BACKOFF; // it worked for a while: not a dead cluster
        }
        if (attempt + 1) % n == 0 {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }
}

/// Watches through one endpoint until the connection fails or the watch ends.
async fn watch_on(
    endpoint: &str,
    config: &ClientConfig,
    request: &WatchCreateRequest,
    progress: &mut Progress,
    tx: &mpsc::Sender<Result<WatchResponse>>,
) -> Ended {
    let Ok(Ok(stream)) =
        tokio::time::timeout(config.connect_timeout, TcpStream::connect(endpoint)).await
    else {
        return Ended::Broken;
    };
    let mut conn = Connection::new(stream, FrameLimits::with_max_frame_bytes(MAX_PUSH_BYTES));
    let create = WatchCreateRequest {
        start_revision: progress.next,
        ..request.clone()
    };
    if conn
        .send(&Command::WatchKv(WatchKv(create)).to_frame())
        .await
        .is_err()
    {
        return Ended::Broken;
    }
    // A heartbeat every attempt timeout; silence for two of them means a dead replica.
    let beat = config.attempt_timeout.max(Duration::from_millis(10));
    let heartbeat = Frame::command([Bytes::from_static(b"WATCHPROGRESS")]);
    let mut last_heard = Instant::now();
    let mut ticker = tokio::time::interval_at(Instant::now() + beat, beat);
    loop {
        let frame = tokio::select! {
            f = conn.read_frame() => f,
            _ = ticker.tick() => {
                if last_heard.elapsed() > beat * 2 || conn.send(&heartbeat).await.is_err() {
                    return Ended::Broken;
                }
                continue;
            }
        };
        let Ok(Some(frame)) = frame else {
            return Ended::Broken;
        };
        last_heard = Instant::now();
        let response = match parse_watch_response(frame) {
            Ok(r) => r,
            Err(e) => {
                let _ = tx.send(Err(Error::Server(e.to_string()))).await;
                return Ended::Final;
            }
        };
        match pass_on(response, progress) {
            Step::Skip => {}
            Step::Forward(r) => {
                if tx.send(Ok(r)).await.is_err() {
                    return Ended::Final;
                }
                // Time spent waiting for the consumer is not the replica's silence.
                last_heard = Instant::now();
            }
            Step::Last(r) => {
                let _ = tx.send(r).await;
                return Ended::Final;
            }
        }
    }
}

/// What to do with one push.
enum Step {
    /// Internal (a repeated `created`, a heartbeat answer).
    Skip,
    /// Give it to the consumer.
    Forward(WatchResponse),
    /// Give it to the consumer and end.
    Last(Result<WatchResponse>),
}

/// Updates where the watch stands from a push and decides what the consumer sees.
fn pass_on(r: WatchResponse, progress: &mut Progress) -> Step {
    if r.created && r.canceled {
        return Step::Last(Err(Error::Server(r.cancel_reason)));
    }
    if r.canceled {
        return Step::Last(Ok(r));
    }
    if r.created {
        if progress.next == 0 {
            progress.next = r.revision.saturating_add(1);
        }
        if std::mem::replace(&mut progress.announced, true) {
            return Step::Skip;
        }
        return Step::Forward(r);
    }
    if let Some(last) = r.events.last() {
        progress.next = last.kv.mod_revision.saturating_add(1);
        return Step::Forward(r);
    }
    // Progress: every event up to its revision was delivered.
    progress.next = progress.next.max(r.revision.saturating_add(1));
    if r.watch_id == NO_WATCH_ID {
        Step::Skip // an answer to our heartbeat
    } else {
        Step::Forward(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddbb_libs::kv::{Event, EventKind, KeyValue};

    fn event(rev: i64) -> Event {
        Event {
            kind: EventKind::Put,
            kv: KeyValue {
                key: Bytes::from_static(b"k"),
                mod_revision: rev,
                ..KeyValue::default()
            },
            prev_kv: None,
        }
    }

    #[test]
    fn resumption_point_follows_created_events_and_progress() {
        let mut p = Progress {
            next: 0,
            announced: false,
        };
        let created = WatchResponse {
            created: true,
            ..WatchResponse::new(0, 9)
        };
        assert!(matches!(pass_on(created.clone(), &mut p), Step::Forward(_)));
        assert_eq!(p.next, 10, "from now: after the created revision");
        assert!(
            matches!(pass_on(created, &mut p), Step::Skip),
            "re-created silently"
        );
        let events = WatchResponse {
            events: vec![event(10), event(12)],
            ..WatchResponse::new(0, 12)
        };
        assert!(matches!(pass_on(events, &mut p), Step::Forward(_)));
        assert_eq!(p.next, 13);
        assert!(matches!(
            pass_on(WatchResponse::new(NO_WATCH_ID, 20), &mut p),
            Step::Skip
        ));
        assert_eq!(p.next, 21);
        let compacted = WatchResponse {
            canceled: true,
            compact_revision: 30,
            ..WatchResponse::new(0, 40)
        };
        assert!(matches!(pass_on(compacted, &mut p), Step::Last(Ok(_))));
        let refused = WatchResponse {
            created: true,
            canceled: true,
            cancel_reason: "mvcc: watcher range is empty".into(),
            ..WatchResponse::new(NO_WATCH_ID, 1)
        };
        assert!(matches!(pass_on(refused, &mut p), Step::Last(Err(_))));
    }
}
