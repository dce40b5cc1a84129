//! One watcher of `--workload watch`: a sequence of gRPC watch streams over the prefix, each
//! resuming from the last revision received + 1, on another replica each time.
//!
//! A stream ends when
//! - its random lifetime is over (only before catch-up): resume elsewhere;
//! - the replica breaks it, refuses it, or cannot be reached: resume elsewhere after a short,
//!   bounded back-off;
//! - nothing arrived for a while and a progress request got no answer within 3 s (a
//!   paused replica): resume elsewhere;
//! - the server cancels it for compaction: resume from the compacted revision (recorded, so
//!   the checker excuses the skipped revisions);
//! - in catch-up, everything up to the final revision arrived, or a progress response at or
//!   past it says nothing more is owed: done;
//! - the run gives up (deadline or Ctrl-C).
//!
//! Every start, batch of events and end is recorded ([`crate::watch_history`]).

use std::time::Duration;

use ddbb_proto::etcdserverpb::watch_client::WatchClient;
use ddbb_proto::etcdserverpb::watch_request::RequestUnion;
use ddbb_proto::etcdserverpb::{
    WatchCreateRequest, WatchProgressRequest, WatchRequest, WatchResponse,
};
use ddbb_proto::mvccpb::event::EventType as PbEventType;
use rand::rngs::StdRng;
use rand::Rng;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;

use crate::recorder::Recorder;
use crate::watch_history::{Change, ChangeKind, WatchOp};
use crate::watch_workload::{connect, prefix_end, status_text, WatchWorkload, PREFIX};
use ddbb_libs::shutdown::Shutdown;
use ddbb_libs::NodeId;

/// Quiet time after which a stream is asked for progress (before catch-up).
const IDLE: Duration = Duration::from_secs(1);
/// The same during catch-up, to learn quickly that nothing more is owed.
const CATCH_UP_IDLE: Duration = Duration::from_millis(250);
/// An unanswered progress request older than this ends the stream.
const STALL: Duration = Duration::from_secs(3);
/// How long opening a stream may take.
const OPEN_TIMEOUT: Duration = Duration::from_secs(2);
/// Back-off after a failed stream: this times the failures in a row, at most [`MAX_BACKOFF`].
const BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// What the watcher tasks are told by the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The workload runs: streams end at random and resume elsewhere.
    Workload,
    /// Catch up with this final revision, then stop.
    CatchUp(i64),
}

/// How one stream ended.
enum End {
    /// Lifetime over: resume elsewhere.
    Resume,
    /// Broken, refused or stalled: resume elsewhere after a back-off.
    Failed(String),
    /// Cancelled for compaction: resume from that revision.
    Compacted(i64),
    /// Caught up with the final revision.
    Done(i64),
    /// The run gave up on it.
    GaveUp,
}

/// One watcher's state across its streams.
pub struct Watcher {
    /// Its number (0-based).
    pub number: usize,
    /// Its Jepsen process.
    pub process: i64,
    node: NodeId,
    /// The next revision owed.
    from: i64,
    rng: StdRng,
    phase: watch::Receiver<Phase>,
    give_up: Shutdown,
}

impl Watcher {
    /// Watcher `number` of `workload`, starting on replica `number % nodes + 1` from revision
    /// 1; `phase` says when to catch up, `give_up` when to stop.
    pub fn new(
        workload: &WatchWorkload,
        number: usize,
        phase: watch::Receiver<Phase>,
        give_up: Shutdown,
    ) -> Watcher {
        let writers = workload.config().writers;
        Watcher {
            number,
            process: (writers + number) as i64,
            node: (number % workload.plan().nodes()) as NodeId + 1,
            from: 1,
            rng: workload.rng(writers + number),
            phase,
            give_up,
        }
    }

    /// Watches until caught up after the workload, or until the run gives up. Returns whether
    /// it caught up.
    pub async fn run(mut self, workload: &WatchWorkload, recorder: &Recorder) -> bool {
        let mut failures: u32 = 0;
        loop {
            let node = self.node;
            let end = self.stream(workload, recorder).await;
            let (reason, compacted) = match &end {
                End::Resume => ("lifetime over: resume elsewhere".to_string(), None),
                End::Failed(e) => (e.clone(), None),
                End::Compacted(rev) => (format!("compacted at {rev}"), Some(*rev)),
                End::Done(revision) => {
                    let op = WatchOp::Done {
                        node,
                        revision: *revision,
                    };
                    recorder.watch(op, self.process, None);
                    return true;
                }
                End::GaveUp => ("the run gave up waiting".to_string(), None),
            };
            let op = WatchOp::Stop {
                node,
                reason,
                compacted,
            };
            recorder.watch(op, self.process, None);
            match end {
                End::GaveUp => return false,
                End::Compacted(rev) => self.from = self.from.max(rev),
                End::Failed(_) => failures += 1,
                _ => failures = 0,
            }
            self.node = self.other_node(workload.plan().nodes());
            if failures > 0 {
                let pause = (BACKOFF * failures).min(MAX_BACKOFF);
                if !self.give_up.sleep(pause).await {
                    return false;
                }
            }
        }
    }

    /// A random replica other than the current one (the same if it is the only one).
    fn other_node(&mut self, nodes: usize) -> NodeId {
        if nodes < 2 {
            return self.node;
        }
        let pick = self.rng.gen_range(1..nodes as NodeId);
        if pick >= self.node {
            pick + 1
        } else {
            pick
        }
    }

    fn lifetime(&mut self, workload: &WatchWorkload) -> Duration {
        let (low, high) = workload.config().resume_after;
        if high <= low {
            return low;
        }
        self.rng.gen_range(low..=high)
    }

    /// One stream, from `self.from` on `self.node`.
    async fn stream(&mut self, workload: &WatchWorkload, recorder: &Recorder) -> End {
        if self.give_up.is_triggered() {
            return End::GaveUp;
        }
        let channel = tokio::select! {
            () = self.give_up.recv() => return End::GaveUp,
            channel = connect(workload.plan().grpc_addr(self.node)) => channel,
        };
        let mut client = match channel {
            Ok(channel) => WatchClient::new(channel),
            Err(e) => return End::Failed(e),
        };
        let (requests, outgoing) = mpsc::channel(4);
        let create = RequestUnion::CreateRequest(WatchCreateRequest {
            key: PREFIX.as_bytes().to_vec().into(),
            range_end: prefix_end().into(),
            start_revision: self.from,
            ..WatchCreateRequest::default()
        });
        let _ = requests
            .send(WatchRequest {
                request_union: Some(create),
            })
            .await;
        let node = self.node;
        recorder.watch(
            WatchOp::Start {
                node,
                from: self.from,
            },
            self.process,
            None,
        );
        let opened =
            tokio::time::timeout(OPEN_TIMEOUT, client.watch(ReceiverStream::new(outgoing))).await;
        let mut responses = match opened {
            Ok(Ok(r)) => r.into_inner(),
            Ok(Err(status)) => return End::Failed(format!("open: {}", status_text(&status))),
            Err(_) => return End::Failed("open: timed out".into()),
        };
        let lifetime = self.lifetime(workload);
        let mut ends_at = Instant::now() + lifetime;
        let mut progress_asked: Option<Instant> = None;
        loop {
            let phase = *self.phase.borrow();
            let target = match phase {
                Phase::Workload => None,
                Phase::CatchUp(revision) => Some(revision),
            };
            if target.is_some() {
                ends_at = Instant::now() + Duration::from_secs(3600);
            }
            let idle = if target.is_some() {
                CATCH_UP_IDLE
            } else {
                IDLE
            };
            let message = tokio::select! {
                () = self.give_up.recv() => return End::GaveUp,
                () = tokio::time::sleep_until(ends_at) => return End::Resume,
                changed = self.phase.changed() => match changed {
                    Ok(()) => continue,
                    Err(_) => return End::GaveUp,
                },
                message = tokio::time::timeout(idle, responses.message()) => message,
            };
            let response = match message {
                Err(_) => {
                    match progress_asked {
                        Some(asked) if asked.elapsed() >= STALL => {
                            return End::Failed(format!(
                                "no answer to a progress request in {STALL:?}"
                            ))
                        }
                        Some(_) => {}
                        None => {
                            let progress = RequestUnion::ProgressRequest(WatchProgressRequest {});
                            let _ = requests
                                .send(WatchRequest {
                                    request_union: Some(progress),
                                })
                                .await;
                            progress_asked = Some(Instant::now());
                        }
                    }
                    continue;
                }
                Ok(Ok(Some(response))) => response,
                Ok(Ok(None)) => return End::Failed("the replica ended the stream".into()),
                Ok(Err(status)) => return End::Failed(status_text(&status)),
            };
            progress_asked = None;
            if let Some(end) = self.take(node, response, target, recorder) {
                return end;
            }
        }
    }

    /// Handles one response; `Some` when the stream ends with it.
    fn take(
        &mut self,
        node: NodeId,
        response: WatchResponse,
        target: Option<i64>,
        recorder: &Recorder,
    ) -> Option<End> {
        let header = response.header.as_ref().map_or(0, |h| h.revision);
        if response.canceled {
            if response.compact_revision > 0 {
                return Some(End::Compacted(response.compact_revision));
            }
            return Some(End::Failed(format!(
                "canceled by the replica: {:?}",
                response.cancel_reason
            )));
        }
        if response.created {
            return None;
        }
        if response.events.is_empty() {
            // A progress response: everything up to `header` was sent.
            return match target {
                Some(t) if header >= t => Some(End::Done(header)),
                _ => None,
            };
        }
        let changes: Vec<Change> = response.events.iter().map(change).collect();
        if let Some(last) = changes.last() {
            self.from = self.from.max(last.revision + 1);
        }
        recorder.watch(
            WatchOp::Events {
                node,
                header,
                changes,
            },
            self.process,
            None,
        );
        match target {
            Some(t) if self.from > t => Some(End::Done(self.from - 1)),
            _ => None,
        }
    }
}

/// The watcher tasks of a run, and the levers the run pulls on them.
pub struct Watchers {
    tasks: Vec<JoinHandle<bool>>,
    phase: watch::Sender<Phase>,
    give_up: std::sync::Arc<ddbb_libs::shutdown::ShutdownTrigger>,
    forward_stop: JoinHandle<()>,
}

/// How the catch-up went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatchUp {
    /// Watchers that caught up with the final revision.
    pub caught_up: usize,
    /// Watchers in all.
    pub watchers: usize,
}

impl Watchers {
    /// Starts every watcher of `workload`; they also give up when `stop` fires.
    pub fn start(
        workload: &std::sync::Arc<WatchWorkload>,
        recorder: &std::sync::Arc<Recorder>,
        mut stop: Shutdown,
    ) -> Watchers {
        let (phase, phase_rx) = watch::channel(Phase::Workload);
        let (give_up, give_up_rx) = ddbb_libs::shutdown::channel();

        let mut tasks = Vec::new();
        for number in 0..workload.config().watchers {
            let watcher = Watcher::new(workload, number, phase_rx.clone(), give_up_rx.clone());
            let (workload, recorder) = (workload.clone(), recorder.clone());
            tasks.push(tokio::spawn(async move {
                watcher.run(&workload, &recorder).await
            }));
        }
        let give_up = std::sync::Arc::new(give_up);
        let forward_stop = tokio::spawn({
            let give_up = give_up.clone();
            async move {
                stop.recv().await;
                give_up.trigger();
            }
        });
        Watchers {
            tasks,
            phase,
            give_up,
            forward_stop,
        }
    }

    /// Tells every watcher to catch up with `final_revision` (or, without one, to stop) and
    /// waits for them until `deadline`; the ones still running then give up.
    pub async fn finish(self, final_revision: Option<i64>, deadline: Instant) -> CatchUp {
        match final_revision {
            Some(revision) => {
                self.phase.send_replace(Phase::CatchUp(revision));
            }
            None => self.give_up.trigger(),
        }
        let watchers = self.tasks.len();
        let mut caught_up = 0;
        for mut task in self.tasks {
            let joined = match tokio::time::timeout_at(deadline, &mut task).await {
                Ok(joined) => joined,
                Err(_) => {
                    self.give_up.trigger();
                    task.await
                }
            };
            caught_up += usize::from(joined.unwrap_or(false));
        }
        self.forward_stop.abort();
        CatchUp {
            caught_up,
            watchers,
        }
    }
}

/// An etcd event as the history records it.
fn change(event: &ddbb_proto::mvccpb::Event) -> Change {
    let kv = event.kv.clone().unwrap_or_default();
    Change {
        revision: kv.mod_revision,
        kind: if event.r#type == PbEventType::Delete as i32 {
            ChangeKind::Delete
        } else {
            ChangeKind::Put
        },
        key: String::from_utf8_lossy(&kv.key).into_owned(),
        value: String::from_utf8_lossy(&kv.value).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddbb_proto::mvccpb::{Event, KeyValue};

    #[test]
    fn events_become_changes() {
        let event = Event {
            r#type: PbEventType::Delete as i32,
            kv: Some(KeyValue {
                key: "lin_test/watch/1".into(),
                mod_revision: 7,
                ..KeyValue::default()
            }),
            prev_kv: None,
        };
        let c = change(&event);
        assert_eq!((c.revision, c.kind), (7, ChangeKind::Delete));
        assert_eq!(c.key, "lin_test/watch/1");
        let put = Event {
            r#type: PbEventType::Put as i32,
            ..event
        };
        assert_eq!(change(&put).kind, ChangeKind::Put);
    }
}
