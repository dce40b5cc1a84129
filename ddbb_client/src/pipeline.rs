//! One pipelined connection to one replica.
//!
//! Many requests may be in flight on one connection. A writer task takes encoded requests
//! from a queue, writes every one that is ready with one syscall, and before writing each
//! hands its reply sender to a reader task through a FIFO. Replicas answer in request order,
//! so the reader matches each reply frame with the oldest waiting sender.
//!
//! When either side fails (EOF, reset, bad frame) the connection is marked dead and every
//! waiting caller's sender is dropped, so callers learn at once; the [`crate::Client`] then
//! opens a new connection. A caller that stops waiting (a timeout) leaves its sender in the
//! FIFO: the late reply is matched to it and discarded, which keeps the order intact.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use ddbb_libs::{Frame, FrameLimits, FrameReader};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::AbortHandle;

/// Requests queued per connection before callers wait (back-pressure for huge pipelines).
const QUEUE_LEN: usize = 4096;
/// Bytes buffered before the writer flushes even if more requests are ready.
const FLUSH_BYTES: usize = 64 * 1024;

/// One request on its way: the encoded frame and where its reply goes.
struct Call {
    request: Bytes,
    reply: oneshot::Sender<Frame>,
}

/// How a call on a connection failed.
#[derive(Debug)]
pub(crate) enum CallError {
    /// The connection was already dead; the request was not sent.
    NotSent,
    /// The connection broke after the request was queued; it may have been delivered.
    Lost,
}

/// Aborts the reader task when the last handle to the connection goes away.
struct ReaderGuard(AbortHandle);

impl Drop for ReaderGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A handle to one pipelined connection; clones share it.
#[derive(Clone)]
pub(crate) struct Pipeline {
    calls: mpsc::Sender<Call>,
    alive: Arc<AtomicBool>,
    _reader: Arc<ReaderGuard>,
}

impl Pipeline {
    /// Wraps a connected socket and starts its reader and writer tasks.
    pub(crate) fn start(stream: TcpStream) -> Pipeline {
        // We batch writes ourselves; Nagle would delay small requests by up to 40 ms.
        let _ = stream.set_nodelay(true);
        let (read_half, write_half) = stream.into_split();
        let (calls, call_rx) = mpsc::channel(QUEUE_LEN);
        let (waiting_tx, waiting_rx) = mpsc::unbounded_channel();
        let alive = Arc::new(AtomicBool::new(true));
        let reader = FrameReader::new(read_half, FrameLimits::default());
        let reader = tokio::spawn(read_replies(reader, waiting_rx, alive.clone()));
        tokio::spawn(write_requests(
            write_half,
            call_rx,
            waiting_tx,
            alive.clone(),
        ));
        Pipeline {
            calls,
            alive,
            _reader: Arc::new(ReaderGuard(reader.abort_handle())),
        }
    }

    /// False once the connection has failed; a dead pipeline is replaced, never reused.
    pub(crate) fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Relaxed) && !self.calls.is_closed()
    }

    /// Sends one encoded request and waits for its reply (no timeout: the caller adds one).
    pub(crate) async fn call(&self, request: Bytes) -> Result<Frame, CallError> {
        let (reply, rx) = oneshot::channel();
        self.calls
            .send(Call { request, reply })
            .await
            .map_err(|_| CallError::NotSent)?;
        rx.await.map_err(|_| CallError::Lost)
    }
}

/// Writes queued requests, flushing once per burst; registers each reply sender first.
async fn write_requests(
    mut socket: OwnedWriteHalf,
    mut calls: mpsc::Receiver<Call>,
    waiting: mpsc::UnboundedSender<oneshot::Sender<Frame>>,
    alive: Arc<AtomicBool>,
) {
    let mut buf = BytesMut::with_capacity(FLUSH_BYTES);
    'outer: while let Some(call) = calls.recv().await {
        let mut next = Some(call);
        while let Some(call) = next.take() {
            // Registered before the bytes leave, so the reply always finds its sender.
            if waiting.send(call.reply).is_err() {
                break 'outer; // the reader is gone: the connection is dead
            }
            buf.extend_from_slice(&call.request);
            if buf.len() < FLUSH_BYTES {
                next = calls.try_recv().ok();
            }
        }
        if socket.write_all(&buf).await.is_err() {
            break;
        }
        buf.clear();
    }
    alive.store(false, Ordering::Relaxed);
    // Dropping the write half sends FIN; the replica then closes its side too.
}

/// Reads replies in order and hands each to the oldest waiting caller.
async fn read_replies(
    mut reader: FrameReader<OwnedReadHalf>,
    mut waiting: mpsc::UnboundedReceiver<oneshot::Sender<Frame>>,
    alive: Arc<AtomicBool>,
) {
    while let Ok(Some(frame)) = reader.read_frame().await {
        match waiting.try_recv() {
            Ok(reply) => {
                let _ = reply.send(frame); // the caller may have given up: fine
            }
            Err(_) => break, // a reply nobody asked for: the stream is out of step
        }
    }
    alive.store(false, Ordering::Relaxed);
    // Dropping `waiting` drops every pending sender: their callers see `Lost` at once.
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddbb_libs::Connection;
    use tokio::net::TcpListener;

    /// A fake replica that answers each request with its first argument, in order.
    async fn echo_server() -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut conn = Connection::new(stream, FrameLimits::default());
            while let Ok(Some(Frame::Array(words))) = conn.read_frame().await {
                if words.len() == 1 {
                    return; // "close": drop the connection without answering
                }
                conn.send(&words[1]).await.unwrap();
            }
        });
        (addr, task)
    }

    fn request(words: &[&str]) -> Bytes {
        Frame::command(words.iter().map(|w| w.to_string())).serialize()
    }

    #[tokio::test]
    async fn pipelined_replies_reach_their_callers_in_order() {
        let (addr, _server) = echo_server().await;
        let pipe = Pipeline::start(TcpStream::connect(addr).await.unwrap());
        let mut calls = Vec::new();
        for i in 0..200 {
            let pipe = pipe.clone();
            let word = i.to_string();
            calls.push(tokio::spawn(async move {
                let reply = pipe.call(request(&["ECHO", &word])).await.unwrap();
                assert_eq!(reply, Frame::bulk(word));
            }));
        }
        for call in calls {
            call.await.unwrap();
        }
        assert!(pipe.is_alive());
    }

    #[tokio::test]
    async fn a_closed_connection_fails_waiting_callers_and_is_dead() {
        let (addr, server) = echo_server().await;
        let pipe = Pipeline::start(TcpStream::connect(addr).await.unwrap());
        assert!(matches!(
            pipe.call(request(&["CLOSE"])).await,
            Err(CallError::Lost)
        ));
        server.await.unwrap();
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while pipe.is_alive() {
            assert!(tokio::time::Instant::now() < deadline, "still alive");
            tokio::task::yield_now().await;
        }
    }
}
