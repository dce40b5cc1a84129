//! The simulated network between replicas: the sim side of `transport::PeerLinks`.
//!
//! A replica's [`SimLinks`] only queues what it sends in an outbox; after every pass step the
//! world drains the outbox into [`Network::send`], which decides with the seeded RNG whether
//! the message is lost and when it arrives. Links are per-direction and FIFO, as the real
//! transport's TCP connections are: a message never overtakes an earlier one on the same link
//! (a slow message holds up the ones behind it), but messages on different links interleave in
//! any order. Loss comes in the two shapes the real transport has: a single message dropped
//! (its peer queue was full) with nothing said, and a connection reset that drops everything in
//! flight on the link and later tells both ends `LinkUp` (the loop then calls `reconnected`).
//! A cut link (a partition) drops whatever is sent on it and whatever was in flight.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use ddbb_libs::NodeId;
use ddbb_server::transport::{PeerLinks, PeerMessage};
use rand::rngs::StdRng;
use rand::Rng;

/// What a replica's links share with the world: the outbox and which peers are reachable.
#[derive(Default)]
pub struct LinkShared {
    /// Messages sent since the world last looked, in order.
    pub outbox: Vec<PeerMessage>,
    /// Peers whose link from this replica is not cut (for `STATUS`).
    pub connected: Vec<NodeId>,
}

/// The simulated `PeerLinks` of one replica.
pub struct SimLinks {
    pub shared: Arc<Mutex<LinkShared>>,
}

impl SimLinks {
    fn lock(&self) -> std::sync::MutexGuard<'_, LinkShared> {
        self.shared.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl PeerLinks for SimLinks {
    fn send(&self, msg: PeerMessage) {
        self.lock().outbox.push(msg);
    }

    /// Heals reach the replica as `PeerEvent::LinkUp`, as a TCP reconnection does.
    fn healed_links(&mut self) -> Vec<NodeId> {
        Vec::new()
    }

    fn connected_peers(&self) -> Vec<NodeId> {
        self.lock().connected.clone()
    }
}

/// Delay and loss settings of one seed.
#[derive(Clone, Copy, Debug)]
pub struct NetParams {
    /// Chance that one message is silently dropped.
    pub drop: f64,
    /// Shortest and longest usual one-way delay (µs).
    pub min_delay: u64,
    pub max_delay: u64,
    /// Chance of a slow message (up to `slow_delay` µs), which holds up its link.
    pub slow: f64,
    pub slow_delay: u64,
}

impl NetParams {
    /// Settings drawn for a seed.
    pub fn draw(rng: &mut StdRng) -> NetParams {
        let min_delay = rng.gen_range(50..500);
        NetParams {
            drop: [0.0, 0.001, 0.01, 0.05][rng.gen_range(0..4)],
            min_delay,
            max_delay: min_delay + rng.gen_range(100..5_000),
            slow: [0.0, 0.01, 0.05][rng.gen_range(0..3)],
            slow_delay: rng.gen_range(10_000..200_000),
        }
    }
}

/// Directed links: cuts, epochs (a reset or a cut drops what is in flight) and FIFO clocks.
pub struct Network {
    pub params: NetParams,
    /// Cut directed links `(from, to)`.
    cut: BTreeSet<(NodeId, NodeId)>,
    /// Bumped when a link's in-flight messages must be lost.
    epoch: BTreeMap<(NodeId, NodeId), u64>,
    /// Latest arrival time scheduled on each link (FIFO).
    last_arrival: BTreeMap<(NodeId, NodeId), u64>,
}

/// What to do with one message: lose it, or deliver it at `at` if the link's epoch is still
/// `epoch` then.
pub enum Fate {
    Lost,
    Arrive { at: u64, epoch: u64 },
}

impl Network {
    pub fn new(params: NetParams) -> Network {
        Network {
            params,
            cut: BTreeSet::new(),
            epoch: BTreeMap::new(),
            last_arrival: BTreeMap::new(),
        }
    }

    pub fn is_cut(&self, from: NodeId, to: NodeId) -> bool {
        self.cut.contains(&(from, to))
    }

    pub fn epoch(&self, from: NodeId, to: NodeId) -> u64 {
        self.epoch.get(&(from, to)).copied().unwrap_or(0)
    }

    /// Drops everything in flight on the link.
    pub fn reset(&mut self, from: NodeId, to: NodeId) {
        *self.epoch.entry((from, to)).or_default() += 1;
    }

    /// Cuts the directed link (and loses what is in flight on it).
    pub fn cut(&mut self, from: NodeId, to: NodeId) {
        if self.cut.insert((from, to)) {
            self.reset(from, to);
        }
    }

    /// Every cut link, healed; returns the links that were cut.
    pub fn heal_all(&mut self) -> Vec<(NodeId, NodeId)> {
        std::mem::take(&mut self.cut).into_iter().collect()
    }

    pub fn cut_links(&self) -> &BTreeSet<(NodeId, NodeId)> {
        &self.cut
    }

    /// Decides a message's fate.
    pub fn send(&mut self, rng: &mut StdRng, now: u64, from: NodeId, to: NodeId) -> Fate {
        if self.is_cut(from, to) {
            return Fate::Lost;
        }
        if self.params.drop > 0.0 && rng.gen_bool(self.params.drop) {
            return Fate::Lost;
        }
        let p = self.params;
        let delay = if p.slow > 0.0 && rng.gen_bool(p.slow) {
            rng.gen_range(p.max_delay..=p.max_delay.max(p.slow_delay))
        } else {
            rng.gen_range(p.min_delay..=p.max_delay)
        };
        let last = self.last_arrival.entry((from, to)).or_default();
        let at = (now + delay).max(*last);
        *last = at;
        Fate::Arrive {
            at,
            epoch: self.epoch(from, to),
        }
    }
}
