//! OmniSIMO: the peer transport between replicas.
//!
//! Each replica listens once for peers and keeps one outgoing connection to every other
//! replica. The first frame on a connection is a hello `[HELLO, from, cluster, to, knows_you]`
//! (see [`Members`] for `knows_you`); after it,
//! each frame is a bulk string holding one bincode-encoded OmniPaxos message. Incoming
//! connections only read, outgoing ones only write, so the two directions of a pair are
//! independent.
//!
//! ```text
//!  replica loop ──send()──▶ per-peer bounded queue ──▶ link task ──TCP──▶ peer's listener
//!       ▲                   (full or link down: drop)   (reconnect,         │
//!       │                                                backoff, hello)    │
//!       └──────────── PeerEvent::{Message, LinkUp} ◀── connection task ◀────┘
//! ```
//!
//! Messages for an unreachable peer are dropped, never queued without bound: OmniPaxos
//! resends what matters, and the replica calls `reconnected(peer)` on every
//! [`PeerEvent::LinkUp`] so a message lost at the tail of traffic is repaired at once.
//!
//! [`LinkFaults`] lets tests and the playground cut links between replicas in-process.

mod codec;
mod faults;
mod link;
mod listener;
mod members;

pub use codec::{decode_message, encode_message, Hello, PeerMessage};
pub use faults::LinkFaults;
pub use members::Members;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ddbb_libs::NodeId;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::shutdown::Shutdown;

/// Messages queued per peer before new ones are dropped.
pub const PEER_QUEUE_LEN: usize = 4096;

/// What the transport tells the replica loop.
#[derive(Debug)]
pub enum PeerEvent {
    /// A message from a peer, already checked to be from it and for us.
    Message(Box<PeerMessage>),
    /// The link to this peer is (again) usable: call `reconnected(peer)`.
    LinkUp(NodeId),
    /// A peer said hello; `knows_me` if it has seen this replica take part before.
    Hello {
        /// The peer.
        from: NodeId,
        /// The peer remembers this replica as a member.
        knows_me: bool,
    },
}

/// Settings of the transport.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    /// This replica.
    pub id: NodeId,
    /// Cluster id carried in the hello.
    pub cluster_id: u32,
    /// Every replica's peer address (this one's included).
    pub peers: BTreeMap<NodeId, SocketAddr>,
    /// Largest accepted frame.
    pub max_frame_bytes: usize,
    /// Peers seen taking part, for the hello's `knows_you`.
    pub members: Arc<Members>,
}

struct PeerLink {
    queue: mpsc::Sender<PeerMessage>,
    up: Arc<AtomicBool>,
}

/// What the replica loop needs from the network: the seam between the replica core and the
/// links to its peers. [`Transport`] is the real one (TCP); the simulator (`sim` crate) has an
/// in-memory one whose deliveries, delays, losses and partitions a seeded RNG decides.
/// Incoming traffic is not part of the seam: it reaches the loop as [`PeerEvent`]s, whoever
/// produces them.
pub trait PeerLinks: Send {
    /// Hands `msg` to the link to its receiver; may drop it (a cut link, a full queue).
    fn send(&self, msg: PeerMessage);
    /// Peers whose link was cut when last asked and is whole now (the loop then calls
    /// `reconnected(peer)` for each).
    fn healed_links(&mut self) -> Vec<NodeId>;
    /// Peers whose outgoing link is usable now (for `STATUS`).
    fn connected_peers(&self) -> Vec<NodeId>;
}

impl PeerLinks for Transport {
    fn send(&self, msg: PeerMessage) {
        Transport::send(self, msg);
    }

    fn healed_links(&mut self) -> Vec<NodeId> {
        Transport::healed_links(self)
    }

    fn connected_peers(&self) -> Vec<NodeId> {
        Transport::connected_peers(self)
    }
}

/// The sending side of OmniSIMO, owned by the replica loop.
pub struct Transport {
    id: NodeId,
    links: BTreeMap<NodeId, PeerLink>,
    faults: Arc<LinkFaults>,
    /// Peers whose link was cut when [`Transport::healed_links`] last looked.
    cut_seen: Vec<NodeId>,
}

impl Transport {
    /// Starts the listener and one link task per peer; events go to `events`.
    pub fn start(
        config: TransportConfig,
        listener: TcpListener,
        events: mpsc::Sender<PeerEvent>,
        faults: Arc<LinkFaults>,
        shutdown: Shutdown,
    ) -> Transport {
        tokio::spawn(listener::run(
            listener,
            config.clone(),
            events.clone(),
            faults.clone(),
            shutdown.clone(),
        ));
        let mut links = BTreeMap::new();
        for (&peer, &addr) in config.peers.iter().filter(|(&p, _)| p != config.id) {
            let (tx, rx) = mpsc::channel(PEER_QUEUE_LEN);
            let up = Arc::new(AtomicBool::new(false));
            tokio::spawn(link::run(link::Link {
                me: config.id,
                peer,
                addr,
                cluster_id: config.cluster_id,
                members: config.members.clone(),
                queue: rx,
                events: events.clone(),
                up: up.clone(),
                shutdown: shutdown.clone(),
            }));
            links.insert(peer, PeerLink { queue: tx, up });
        }
        Transport {
            id: config.id,
            links,
            faults,
            cut_seen: Vec::new(),
        }
    }

    /// Queues `msg` for its receiver; drops it if the link is cut or the queue is full.
    pub fn send(&self, msg: PeerMessage) {
        let to = msg.get_receiver();
        if self.faults.is_cut(self.id, to) {
            return;
        }
        if let Some(link) = self.links.get(&to) {
            // A full queue means the peer is slow or gone; consensus retransmits what matters.
            let _ = link.queue.try_send(msg);
        }
    }

    /// Peers whose link was cut at the previous call and is whole now. A healed cut is like
    /// a reconnection: the replica calls `reconnected(peer)` for each.
    pub fn healed_links(&mut self) -> Vec<NodeId> {
        let cut_now: Vec<NodeId> = self
            .links
            .keys()
            .copied()
            .filter(|&p| self.faults.is_cut(self.id, p) || self.faults.is_cut(p, self.id))
            .collect();
        let healed = self
            .cut_seen
            .iter()
            .copied()
            .filter(|p| !cut_now.contains(p))
            .collect();
        self.cut_seen = cut_now;
        healed
    }

    /// Peers whose outgoing link is connected and not cut.
    pub fn connected_peers(&self) -> Vec<NodeId> {
        self.links
            .iter()
            .filter(|(&p, l)| l.up.load(Ordering::Relaxed) && !self.faults.is_cut(self.id, p))
            .map(|(&p, _)| p)
            .collect()
    }
}
