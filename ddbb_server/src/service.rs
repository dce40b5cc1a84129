//! The client service: RESP2 on `--client-addr`, so `redis-cli` and Redis clients work.
//!
//! Each connection has a reader (this task) and a writer task joined by a queue of reply
//! *slots* in request order. A slot is either a ready frame (PING, errors) or a receiver for
//! an answer the replica loop will send later, so many requests can be in flight on one
//! connection (pipelining) and replies still leave in order. The writer flushes only when no
//! further reply is ready, so a pipelined burst is answered with one write.
//!
//! `WATCHKV` turns a connection into a watch stream (like Redis' `SUBSCRIBE`): a
//! [`crate::watch::session`] task takes the connection's watch commands, and the writer, once it
//! reaches that point of the pipeline, forwards the session's pushes (and the replies to the
//! few commands allowed from then on) until the connection closes.
//!
//! Bad input: a request that parses as a frame but not as a command gets `-ERR` and the
//! connection stays open; broken framing or a frame over the limit gets `-ERR Protocol error`
//! and closes that connection only.

mod composite;
pub mod etcd;

use std::sync::Arc;
use std::time::Duration;

use ddbb_libs::cmd::{render_error, render_watch_response, KvRequest, Lease};
use ddbb_libs::kv::{WatchResponse, WriteRequest};
use ddbb_libs::{Command, Connection, ErrorCode, Frame, FrameLimits, FrameWriter};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tracing::{debug, warn};

use crate::replica::{LeaseAnswer, LeaseQuery, ReadOutcome, Request, Response};
use crate::shutdown::Shutdown;
use crate::watch::{session, WatchCommand, WatchSource};

/// Reply slots queued per connection before the reader waits for the writer.
const MAX_IN_FLIGHT: usize = 1024;
/// Watch commands queued for a connection's watch session.
const WATCH_COMMANDS_AHEAD: usize = 64;
/// Watch pushes produced ahead of the writer; past it the session stops producing until the
/// client reads.
const WATCH_PUSHES_AHEAD: usize = 16;
/// Flush early once this much is buffered, even if more replies are ready.
const FLUSH_BYTES: usize = 64 * 1024;

/// Settings of the client service.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// Largest request frame; larger closes the connection.
    pub max_frame_bytes: usize,
    /// Largest key or value; larger gets `-ERR`.
    pub max_value_bytes: usize,
    /// How long a request may wait for the replica.
    pub request_timeout: Duration,
    /// Most connections at once.
    pub max_connections: usize,
    /// This replica's id, for `INFO`.
    pub id: u64,
    /// UNSAFE, tests only: run each operation of a `TXN` as a write of its own (a planted
    /// atomicity bug that lin_test's txn checker must catch).
    pub unsafe_split_txns: bool,
}

/// One reply position in a connection's pipeline.
enum Slot {
    Ready(Frame),
    /// From here on, forward the pushes of this watch stream (with later slots' replies).
    Watch(mpsc::Receiver<WatchResponse>),
    /// The loop's answer, due by the deadline, rendered for this command.
    Wait(oneshot::Receiver<Response>, Instant, Box<Command>),
    /// Send this frame, then close the connection.
    Close(Frame),
}

/// Accepts client connections until shutdown.
pub async fn run(
    listener: TcpListener,
    requests: mpsc::Sender<Request>,
    watch: WatchSource,
    config: ServiceConfig,
    mut shutdown: Shutdown,
) {
    let limit = Arc::new(Semaphore::new(config.max_connections));
    let config = Arc::new(config);
    loop {
        let permit = tokio::select! {
            _ = shutdown.recv() => return,
            p = limit.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => return },
        };
        let accepted = tokio::select! {
            _ = shutdown.recv() => return,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, addr)) => {
                debug!(%addr, "client connected");
                let requests = requests.clone();
                let config = config.clone();
                let shutdown = shutdown.clone();
                let watching = Watching::new(watch.clone());
                tokio::spawn(async move {
                    serve(stream, requests, watching, &config, shutdown).await;
                    drop(permit);
                });
            }
            Err(e) => {
                warn!(error = %e, "accepting a client failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn serve(
    stream: TcpStream,
    requests: mpsc::Sender<Request>,
    mut watching: Watching,
    config: &ServiceConfig,
    mut shutdown: Shutdown,
) {
    let limits = FrameLimits::with_max_frame_bytes(config.max_frame_bytes);
    let (reader, writer) = Connection::new(stream, limits).into_split();
    let mut reader = reader.accept_inline();
    let (slots, slot_rx) = mpsc::channel(MAX_IN_FLIGHT);
    let writer = tokio::spawn(write_replies(writer, slot_rx));
    loop {
        let frame = tokio::select! {
            _ = shutdown.recv() => break,
            f = reader.read_frame() => f,
        };
        let slot = match frame {
            Ok(Some(frame)) => match dispatch(frame, &requests, &mut watching, config).await {
                Some(slot) => slot,
                None => continue,
            },
            Ok(None) => break,
            Err(e) => {
                debug!(error = %e, "closing a client connection on bad input");
                Slot::Close(Frame::Error(format!("ERR Protocol error: {e}")))
            }
        };
        let close = matches!(slot, Slot::Close(_));
        if slots.send(slot).await.is_err() || close {
            break;
        }
    }
    drop(slots);
    let _ = writer.await;
}

/// Writes replies in request order, flushing when nothing more is ready.
async fn write_replies(mut writer: FrameWriter<OwnedWriteHalf>, mut slots: mpsc::Receiver<Slot>) {
    while let Some(slot) = slots.recv().await {
        let (frame, close) = match slot {
            Slot::Ready(frame) => (frame, false),
            Slot::Close(frame) => (frame, true),
            Slot::Watch(pushes) => {
                if writer.flush().await.is_ok() {
                    forward_pushes(&mut writer, pushes, slots).await;
                }
                let _ = writer.shutdown().await;
                return;
            }
            Slot::Wait(mut rx, deadline, command) => {
                let frame = match rx.try_recv() {
                    Ok(response) => render(&command, response),
                    Err(oneshot::error::TryRecvError::Closed) => replica_gone(),
                    Err(oneshot::error::TryRecvError::Empty) => {
                        // About to wait: send what is ready first.
                        if writer.flush().await.is_err() {
                            return;
                        }
                        match tokio::time::timeout_at(deadline, rx).await {
                            Ok(Ok(response)) => render(&command, response),
                            Ok(Err(_)) => replica_gone(),
                            Err(_) => ErrorCode::Timeout.reply(
                                "the request was not committed in time (no quorum reachable?); it may still take effect",
                            ),
                        }
                    }
                };
                (frame, false)
            }
        };
        writer.write_frame(&frame);
        let flush_now = close || slots.is_empty() || writer.buffered() >= FLUSH_BYTES;
        if flush_now && writer.flush().await.is_err() {
            return;
        }
        if close {
            break;
        }
    }
    let _ = writer.shutdown().await;
}

/// A watch stream's writer: pushes as they come, and the replies to the commands still allowed
/// (`PING`, errors, `QUIT`), until the session or the connection ends.
async fn forward_pushes(
    writer: &mut FrameWriter<OwnedWriteHalf>,
    mut pushes: mpsc::Receiver<WatchResponse>,
    mut slots: mpsc::Receiver<Slot>,
) {
    loop {
        let (frame, close) = tokio::select! {
            push = pushes.recv() => match push {
                Some(r) => (render_watch_response(&r), false),
                None => return,
            },
            slot = slots.recv() => match slot {
                Some(Slot::Ready(frame)) => (frame, false),
                Some(Slot::Close(frame)) => (frame, true),
                Some(_) | None => return, // the reader only sends ready replies now
            },
        };
        writer.write_frame(&frame);
        let flush_now = close || pushes.is_empty() || writer.buffered() >= FLUSH_BYTES;
        if (flush_now && writer.flush().await.is_err()) || close {
            return;
        }
    }
}

fn replica_gone() -> Frame {
    ErrorCode::Unavailable.reply("the replica is shutting down")
}

/// A connection's watch stream, once `WATCHKV` started one.
struct Watching {
    source: WatchSource,
    commands: Option<mpsc::Sender<WatchCommand>>,
}

impl Watching {
    fn new(source: WatchSource) -> Watching {
        Watching {
            source,
            commands: None,
        }
    }

    /// Handles a watch command: the first `WATCHKV` starts the session and returns the slot
    /// from which the writer forwards its pushes; the rest reply through pushes only.
    async fn handle(&mut self, command: Command) -> Option<Slot> {
        let (command, start) = match (command, &self.commands) {
            (Command::WatchKv(w), None) => (WatchCommand::Create(w.0), true),
            (Command::WatchKv(w), Some(_)) => (WatchCommand::Create(w.0), false),
            (Command::Unwatch(id), Some(_)) => (WatchCommand::Cancel(id), false),
            (Command::WatchProgress, Some(_)) => (WatchCommand::Progress, false),
            _ => return Some(Slot::Ready(Frame::err("no WATCHKV on this connection"))),
        };
        let mut slot = None;
        if start {
            let (tx, rx) = mpsc::channel(WATCH_COMMANDS_AHEAD);
            let (out, pushes) = mpsc::channel(WATCH_PUSHES_AHEAD);
            let commands = ReceiverStream::new(rx).map(Ok::<_, std::convert::Infallible>);
            tokio::spawn(session::run(self.source.clone(), commands, out));
            self.commands = Some(tx);
            slot = Some(Slot::Watch(pushes));
        }
        let sent = match &self.commands {
            Some(tx) => tx.send(command).await.is_ok(),
            None => false,
        };
        if !sent {
            return Some(Slot::Close(replica_gone()));
        }
        slot
    }
}

/// Turns one request frame into its reply slot (`None`: the reply comes as a watch push).
async fn dispatch(
    frame: Frame,
    requests: &mpsc::Sender<Request>,
    watching: &mut Watching,
    config: &ServiceConfig,
) -> Option<Slot> {
    if has_oversized_argument(&frame, config.max_value_bytes) {
        return Some(Slot::Ready(value_too_large(config)));
    }
    let command = match Command::from_frame(frame) {
        Ok(c) => c,
        Err(e) => return Some(Slot::Ready(Frame::err(e))),
    };
    match command {
        Command::WatchKv(_) | Command::Unwatch(_) | Command::WatchProgress => {
            return watching.handle(command).await;
        }
        Command::Ping(_) | Command::Quit => {}
        _ if watching.commands.is_some() => {
            return Some(Slot::Ready(Frame::err(
                "only WATCHKV, UNWATCHKV, WATCHPROGRESS, PING and QUIT are allowed on a watch stream",
            )));
        }
        _ => {}
    }
    Some(dispatch_kv(command, requests, config).await)
}

/// A key-value or admin command: its reply slot.
async fn dispatch_kv(
    command: Command,
    requests: &mpsc::Sender<Request>,
    config: &ServiceConfig,
) -> Slot {
    let (reply, rx) = oneshot::channel();
    let wait = |rx, command| Slot::Wait(rx, Instant::now() + config.request_timeout, command);
    match (&command, command.kv_request()) {
        (Command::Put(p), Some(KvRequest::Write(_, op))) if p.expire_ms.is_some() => {
            let ms = p.expire_ms.unwrap_or_default();
            tokio::spawn(composite::put_with_expiry(op, ms, requests.clone(), reply));
        }
        (_, Some(KvRequest::Write(_, WriteRequest::Txn(txn)))) if config.unsafe_split_txns => {
            tokio::spawn(composite::split_txn(txn, requests.clone(), reply));
        }
        (Command::Expire(e), _) => {
            let (key, seconds) = (e.key.clone(), e.seconds);
            tokio::spawn(composite::expire(key, seconds, requests.clone(), reply));
        }
        (Command::Ttl(key), _) => {
            tokio::spawn(composite::ttl(key.clone(), requests.clone(), reply));
        }
        (_, kv) => {
            let request = match kv {
                Some(KvRequest::Read(query, consistency)) => Request::Read {
                    query,
                    consistency,
                    reply,
                },
                Some(KvRequest::Write(id, op)) => Request::Write { id, op, reply },
                None => match &command {
                    Command::Ping(p) => return Slot::Ready(p.reply()),
                    Command::Quit => return Slot::Close(Frame::Simple("OK".into())),
                    Command::Compat(c) => return Slot::Ready(c.reply(|| info(config))),
                    Command::Status(_) => Request::Status { reply },
                    Command::Lease(Lease::TimeToLive { id, keys }) => Request::Lease {
                        query: LeaseQuery::TimeToLive {
                            id: *id,
                            keys: *keys,
                        },
                        reply,
                    },
                    Command::Lease(Lease::List) => Request::Lease {
                        query: LeaseQuery::List,
                        reply,
                    },
                    _ => return Slot::Ready(Frame::err("this command cannot be served")),
                },
            };
            if requests.send(request).await.is_err() {
                return Slot::Ready(replica_gone());
            }
        }
    }
    // A composite's task answers through `reply` too.
    wait(rx, Box::new(command))
}

/// The reply to `command` from the replica loop's typed response.
fn render(command: &Command, response: Response) -> Frame {
    match response {
        Response::Write(outcome) => command.render_write(&outcome),
        Response::Read(ReadOutcome { result, .. }) => match result {
            Ok(r) => command.render_read(&r),
            Err(e) => render_error(&e),
        },
        Response::Status(status) => status.to_frame(),
        Response::Lease(_, LeaseAnswer::TimeToLive(t)) if matches!(command, Command::Ttl(_)) => {
            Frame::Integer(t.ttl)
        }
        Response::Lease(_, answer) => render_lease(answer),
        Response::State(_) => Frame::err("this command cannot be served"),
    }
}

/// `LEASE TTL` → `[id, ttl, granted_ttl, [keys]]`; `LEASE LIST` → `[id, ...]`.
fn render_lease(answer: LeaseAnswer) -> Frame {
    match answer {
        LeaseAnswer::TimeToLive(t) => Frame::Array(vec![
            Frame::Integer(t.id),
            Frame::Integer(t.ttl),
            Frame::Integer(t.granted_ttl),
            Frame::Array(t.keys.into_iter().map(Frame::Bulk).collect()),
        ]),
        LeaseAnswer::List(ids) => Frame::Array(ids.into_iter().map(Frame::Integer).collect()),
    }
}

/// `INFO`'s text.
fn info(config: &ServiceConfig) -> String {
    format!(
        "# Server\r\nserver_name:ddbb\r\nddbb_version:{}\r\nreplica_id:{}\r\n",
        env!("CARGO_PKG_VERSION"),
        config.id
    )
}

/// Whether any argument of a request (a key, a value, a compare operand...) exceeds `max`.
fn has_oversized_argument(frame: &Frame, max: usize) -> bool {
    match frame {
        Frame::Array(items) => items.iter().any(|f| has_oversized_argument(f, max)),
        Frame::Bulk(b) => b.len() > max,
        _ => false,
    }
}

fn value_too_large(config: &ServiceConfig) -> Frame {
    Frame::err(format!(
        "value too large: keys and values are limited to {} bytes",
        config.max_value_bytes
    ))
}
