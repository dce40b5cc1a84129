//! The client service: RESP2 on `--client-addr`, so `redis-cli` and Redis clients work.
//!
//! Each connection has a reader (this task) and a writer task joined by a queue of reply
//! *slots* in request order. A slot is either a ready frame (PING, errors) or a receiver for
//! an answer the replica loop will send later, so many requests can be in flight on one
//! connection (pipelining) and replies still leave in order. The writer flushes only when no
//! further reply is ready, so a pipelined burst is answered with one write.
//!
//! Bad input: a request that parses as a frame but not as a command gets `-ERR` and the
//! connection stays open; broken framing or a frame over the limit gets `-ERR Protocol error`
//! and closes that connection only.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ddbb_libs::cmd::DelTarget;
use ddbb_libs::{Command, Connection, Frame, FrameLimits, FrameWriter};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::entry::WriteOp;
use crate::replica::{Query, ReplyShape, Request};
use crate::shutdown::Shutdown;

/// Reply slots queued per connection before the reader waits for the writer.
const MAX_IN_FLIGHT: usize = 1024;
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
}

/// One reply position in a connection's pipeline.
enum Slot {
    Ready(Frame),
    Wait(oneshot::Receiver<Frame>, Instant),
    /// Send this frame, then close the connection.
    Close(Frame),
}

/// Accepts client connections until shutdown.
pub async fn run(
    listener: TcpListener,
    requests: mpsc::Sender<Request>,
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
                tokio::spawn(async move {
                    serve(stream, requests, &config, shutdown).await;
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
            Ok(Some(frame)) => dispatch(frame, &requests, config).await,
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
            Slot::Wait(mut rx, deadline) => {
                let frame = match rx.try_recv() {
                    Ok(frame) => frame,
                    Err(oneshot::error::TryRecvError::Closed) => replica_gone(),
                    Err(oneshot::error::TryRecvError::Empty) => {
                        // About to wait: send what is ready first.
                        if writer.flush().await.is_err() {
                            return;
                        }
                        match tokio::time::timeout_at(deadline, rx).await {
                            Ok(Ok(frame)) => frame,
                            Ok(Err(_)) => replica_gone(),
                            Err(_) => Frame::err(
                                "timeout: the request was not committed in time (no quorum reachable?); it may still take effect",
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

fn replica_gone() -> Frame {
    Frame::err("the replica is shutting down")
}

/// Turns one request frame into its reply slot.
async fn dispatch(frame: Frame, requests: &mpsc::Sender<Request>, config: &ServiceConfig) -> Slot {
    let command = match Command::from_frame(frame) {
        Ok(c) => c,
        Err(e) => return Slot::Ready(Frame::err(e)),
    };
    let too_large = |b: &Bytes| b.len() > config.max_value_bytes;
    let (request, rx) = match command {
        Command::Ping(p) => return Slot::Ready(p.reply()),
        Command::Quit => return Slot::Close(Frame::Simple("OK".into())),
        Command::Compat(c) => {
            return Slot::Ready(c.reply(|| {
                format!(
                    "# Server\r\nserver_name:ddbb\r\nddbb_version:{}\r\nreplica_id:{}\r\n",
                    env!("CARGO_PKG_VERSION"),
                    config.id
                )
            }))
        }
        Command::Put(p) => {
            if too_large(&p.key) || too_large(&p.value) {
                return Slot::Ready(value_too_large(config));
            }
            let shape = match p.reply {
                ddbb_libs::cmd::PutReply::Ok => ReplyShape::Ok,
                ddbb_libs::cmd::PutReply::Revision => ReplyShape::Revision,
            };
            let op = WriteOp::Put {
                key: p.key,
                value: p.value,
                if_revision: p.if_revision,
            };
            write(p.request, op, shape)
        }
        Command::Del(d) => {
            let op = match d.target {
                DelTarget::Keys(keys) => WriteOp::Delete { keys },
                DelTarget::Range(r) => WriteOp::DeleteRange {
                    start: r.start,
                    end: r.end,
                },
            };
            write(d.request, op, ReplyShape::Count)
        }
        Command::Cas(c) => {
            if too_large(&c.key) || too_large(&c.new) || too_large(&c.expected) {
                return Slot::Ready(value_too_large(config));
            }
            let op = WriteOp::Cas {
                key: c.key,
                expected: c.expected,
                new: c.new,
            };
            write(c.request, op, ReplyShape::Swapped)
        }
        Command::Get(g) => read(Query::Get(g.key), g.consistency),
        Command::Range(r) => {
            let consistency = r.consistency;
            read(Query::Range(r), consistency)
        }
        Command::Status(_) => {
            let (reply, rx) = oneshot::channel();
            (Request::Status { reply }, rx)
        }
    };
    if requests.send(request).await.is_err() {
        return Slot::Ready(replica_gone());
    }
    Slot::Wait(rx, Instant::now() + config.request_timeout)
}

fn write(
    id: Option<ddbb_libs::RequestId>,
    op: WriteOp,
    shape: ReplyShape,
) -> (Request, oneshot::Receiver<Frame>) {
    let (reply, rx) = oneshot::channel();
    (
        Request::Write {
            id,
            op,
            shape,
            reply,
        },
        rx,
    )
}

fn read(query: Query, consistency: ddbb_libs::Consistency) -> (Request, oneshot::Receiver<Frame>) {
    let (reply, rx) = oneshot::channel();
    (
        Request::Read {
            query,
            consistency,
            reply,
        },
        rx,
    )
}

fn value_too_large(config: &ServiceConfig) -> Frame {
    Frame::err(format!(
        "value too large: keys and values are limited to {} bytes",
        config.max_value_bytes
    ))
}
