//! One outgoing connection to one peer, reconnecting with backoff.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ddbb_libs::{Frame, FrameWriter, NodeId};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::codec::{encode_message, Hello};
use super::{Members, PeerEvent, PeerMessage};
use crate::shutdown::Shutdown;

/// First reconnect delay; doubles per failure up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(20);
/// Longest reconnect delay.
const MAX_BACKOFF: Duration = Duration::from_millis(500);
/// Most messages written per flush, so one busy link cannot delay its own flush forever.
const MAX_BURST: usize = 1024;

/// The state of one link task.
pub(super) struct Link {
    pub me: NodeId,
    pub peer: NodeId,
    pub addr: SocketAddr,
    pub cluster_id: u32,
    pub members: Arc<Members>,
    pub queue: mpsc::Receiver<PeerMessage>,
    pub events: mpsc::Sender<PeerEvent>,
    pub up: Arc<AtomicBool>,
    pub shutdown: Shutdown,
}

/// Connects, says hello, then forwards queued messages until the connection breaks; repeats
/// until shutdown.
pub(super) async fn run(mut link: Link) {
    let mut backoff = MIN_BACKOFF;
    let mut was_up = false;
    loop {
        let connected = tokio::select! {
            _ = link.shutdown.recv() => return,
            r = TcpStream::connect(link.addr) => r,
        };
        let stream = match connected {
            Ok(s) => s,
            Err(e) => {
                debug!(peer = link.peer, error = %e, "connect failed");
                tokio::select! {
                    _ = link.shutdown.recv() => return,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
                continue;
            }
        };
        backoff = MIN_BACKOFF;
        let _ = stream.set_nodelay(true);
        // Messages queued while the link was down are stale: the replica resynchronises
        // through `reconnected()` instead.
        while link.queue.try_recv().is_ok() {}
        let reason = serve(&mut link, stream).await;
        if link.up.swap(false, Ordering::Relaxed) || was_up {
            info!(peer = link.peer, reason, "link down");
        }
        was_up = true;
        if link.shutdown.is_triggered() {
            return;
        }
    }
}

/// Runs one connection; returns why it ended.
async fn serve(link: &mut Link, stream: TcpStream) -> &'static str {
    let (mut read_half, write_half) = stream.into_split();
    let mut writer = FrameWriter::new(write_half);
    let hello = Hello {
        from: link.me,
        cluster_id: link.cluster_id,
        to: link.peer,
        knows_you: link.members.knows(link.peer),
    };
    if writer.send(&hello.to_frame()).await.is_err() {
        return "hello failed";
    }
    link.up.store(true, Ordering::Relaxed);
    info!(peer = link.peer, addr = %link.addr, "link up");
    if link
        .events
        .send(PeerEvent::LinkUp(link.peer))
        .await
        .is_err()
    {
        return "replica stopped";
    }
    let mut probe = [0u8; 1];
    loop {
        tokio::select! {
            _ = link.shutdown.recv() => return "shutdown",
            // The peer never writes on this connection: a readable socket means it closed.
            _ = read_half.read(&mut probe) => return "closed by peer",
            msg = link.queue.recv() => {
                let Some(msg) = msg else { return "replica stopped" };
                write(&mut writer, &msg);
                let mut burst = 1;
                while burst < MAX_BURST {
                    match link.queue.try_recv() {
                        Ok(msg) => write(&mut writer, &msg),
                        Err(_) => break,
                    }
                    burst += 1;
                }
                if writer.flush().await.is_err() {
                    return "write failed";
                }
            }
        }
    }
}

fn write<W: tokio::io::AsyncWrite + Unpin>(writer: &mut FrameWriter<W>, msg: &PeerMessage) {
    match encode_message(msg) {
        Ok(bytes) => writer.write_frame(&Frame::Bulk(bytes)),
        Err(e) => warn!(error = %e, "cannot encode a peer message; dropped"),
    }
}
