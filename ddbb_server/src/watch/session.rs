//! One watch stream's task, shared by the gRPC and RESP adapters: requests in, responses out,
//! the [`WatchSet`] polled with the newest store whenever everything produced so far was sent.

use std::collections::VecDeque;
use std::time::Duration;

use ddbb_libs::kv::{WatchCreateRequest, WatchResponse};
use tokio::sync::{mpsc, watch};
use tokio_stream::{Stream, StreamExt};

use super::{StoreFeed, WatchLimits, WatchSet};
use crate::replica::ReplicaView;
use crate::state::mvcc::MvccStore;

/// What a client asks of its watch stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchCommand {
    /// Create a watch.
    Create(WatchCreateRequest),
    /// Cancel one.
    Cancel(i64),
    /// Progress of the whole stream, once every watch has caught up.
    Progress,
}

/// Settings of a watch stream.
#[derive(Clone, Copy, Debug)]
pub struct SessionConfig {
    /// Per-stream bounds.
    pub limits: WatchLimits,
    /// Period of progress notifications for `progress_notify` watches (etcd's
    /// `--experimental-watch-progress-notify-interval`, 10 minutes by default).
    pub progress_interval: Duration,
}

/// What a protocol adapter needs to run watch streams.
#[derive(Clone, Debug)]
pub struct WatchSource {
    /// The store the replica publishes.
    pub feed: StoreFeed,
    /// The replica's current revision (where a watch "from now" starts).
    pub view: watch::Receiver<ReplicaView>,
    /// Per-stream settings.
    pub config: SessionConfig,
}

/// Runs a watch stream until the client goes away: `commands` ends with `None` when the client
/// stops sending (the stream goes on serving, as etcd's does) and yields `Err` when it broke;
/// responses go to `out` (bounded: when the client stops reading, this task stops producing).
pub async fn run<C, E>(source: WatchSource, mut commands: C, out: mpsc::Sender<WatchResponse>)
where
    C: Stream<Item = Result<WatchCommand, E>> + Unpin,
{
    let WatchSource { feed, view, config } = source;
    let mut stores = feed.subscribe();
    let mut set = WatchSet::new(config.limits);
    let mut pending: VecDeque<WatchResponse> = VecDeque::new();
    let mut produced = Vec::new();
    let mut commands_open = true;
    let period = config.progress_interval.max(Duration::from_millis(1));
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    // Whether something happened that a poll must see: a newer store, a new watch, a progress
    // request. Without it only a poll cut short by its budget (`behind`) needs another.
    let mut due = true;
    loop {
        let newest = stores.borrow().as_ref().map_or(0, MvccStore::revision);
        if pending.is_empty() && (due || set.behind(newest)) {
            let store = stores.borrow_and_update().clone();
            if let Some(store) = &store {
                set.poll(store, &mut produced);
                pending.extend(produced.drain(..));
            }
            due = false;
            // `store` ends here: hold no old version of the store while waiting.
        }
        let behind = pending.is_empty() && set.behind(newest);
        let now = || view.borrow().revision;
        tokio::select! {
            biased;
            () = out.closed() => return,
            permit = out.reserve(), if !pending.is_empty() => match (permit, pending.pop_front()) {
                (Ok(permit), Some(response)) => permit.send(response),
                _ => return,
            },
            command = commands.next(), if commands_open => match command {
                Some(Ok(WatchCommand::Create(req))) => {
                    pending.push_back(set.create(&req, now()));
                    due = true;
                }
                Some(Ok(WatchCommand::Cancel(id))) => {
                    pending.retain(|r| r.watch_id != id);
                    pending.extend(set.cancel(id, now()));
                }
                Some(Ok(WatchCommand::Progress)) => {
                    set.request_progress();
                    due = true;
                }
                Some(Err(_)) => return,
                None => commands_open = false,
            },
            _ = ticker.tick() => {
                set.progress_tick(&mut produced);
                pending.extend(produced.drain(..));
            }
            changed = stores.changed(), if !behind => {
                if changed.is_err() {
                    return; // the replica stopped
                }
                due = true;
            }
            () = tokio::task::yield_now(), if behind => {}
        }
    }
}
