//! The peer listener: accepts connections from other replicas and reads their messages.

use std::sync::Arc;
use std::time::Duration;

use ddbb_libs::{Frame, FrameLimits, FrameReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::codec::{decode_message, Hello};
use super::{LinkFaults, PeerEvent, TransportConfig};
use crate::shutdown::Shutdown;

/// How long a new connection may take to send its hello.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);

/// Accepts peer connections until shutdown.
pub(super) async fn run(
    listener: TcpListener,
    config: TransportConfig,
    events: mpsc::Sender<PeerEvent>,
    faults: Arc<LinkFaults>,
    mut shutdown: Shutdown,
) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.recv() => return,
            r = listener.accept() => r,
        };
        match accepted {
            Ok((stream, addr)) => {
                debug!(%addr, "peer connection");
                let _ = stream.set_nodelay(true);
                tokio::spawn(serve(
                    stream,
                    config.clone(),
                    events.clone(),
                    faults.clone(),
                    shutdown.clone(),
                ));
            }
            Err(e) => {
                // Usually EMFILE: wait a little rather than spin.
                warn!(error = %e, "accepting a peer connection failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Reads one peer connection: a hello, then messages.
async fn serve(
    stream: TcpStream,
    config: TransportConfig,
    events: mpsc::Sender<PeerEvent>,
    faults: Arc<LinkFaults>,
    mut shutdown: Shutdown,
) {
    let limits = FrameLimits::with_max_frame_bytes(config.max_frame_bytes);
    let mut reader = FrameReader::new(stream, limits);
    let hello = tokio::select! {
        _ = shutdown.recv() => return,
        r = tokio::time::timeout(HELLO_TIMEOUT, reader.read_frame()) => r,
    };
    let (from, knows_me) = match hello {
        Ok(Ok(Some(frame))) => match Hello::from_frame(&frame) {
            Ok(h)
                if h.cluster_id == config.cluster_id
                    && h.to == config.id
                    && h.from != config.id
                    && config.peers.contains_key(&h.from) =>
            {
                (h.from, h.knows_you)
            }
            Ok(h) => {
                warn!(
                    from = h.from,
                    cluster = h.cluster_id,
                    to = h.to,
                    "refusing a peer: unknown replica, other cluster or not for us"
                );
                return;
            }
            Err(e) => {
                warn!(error = %e, "refusing a peer connection");
                return;
            }
        },
        Ok(Ok(None)) => return,
        Ok(Err(e)) => {
            warn!(error = %e, "bad hello");
            return;
        }
        Err(_) => {
            warn!("peer sent no hello in time");
            return;
        }
    };
    info!(peer = from, "incoming link up");
    if events
        .send(PeerEvent::Hello { from, knows_me })
        .await
        .is_err()
    {
        return;
    }
    let mut recorded = config.members.knows(from);
    loop {
        let frame = tokio::select! {
            _ = shutdown.recv() => return,
            f = reader.read_frame() => f,
        };
        let bytes = match frame {
            Ok(Some(Frame::Bulk(bytes))) => bytes,
            Ok(Some(other)) => {
                warn!(peer = from, frame = %other, "unexpected peer frame; dropped");
                continue;
            }
            Ok(None) => {
                info!(peer = from, "incoming link closed");
                return;
            }
            Err(e) => {
                warn!(peer = from, error = %e, "peer stream broken; closing it");
                return;
            }
        };
        let msg = match decode_message(&bytes, config.max_frame_bytes) {
            Ok(msg) => msg,
            Err(e) => {
                warn!(peer = from, error = %e, "undecodable peer message; dropped");
                continue;
            }
        };
        // OmniPaxos indexes vectors by pid and does not check `to`: only pass on messages
        // that really are from this peer and for us.
        if msg.get_sender() != from || msg.get_receiver() != config.id {
            warn!(
                peer = from,
                "peer message with wrong sender or receiver; dropped"
            );
            continue;
        }
        if faults.is_cut(from, config.id) {
            continue;
        }
        // The peer takes part in consensus: remember it as a member (see `Members`).
        if !recorded {
            config.members.record(from);
            recorded = true;
        }
        if events
            .send(PeerEvent::Message(Box::new(msg)))
            .await
            .is_err()
        {
            return;
        }
    }
}
