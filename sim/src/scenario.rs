//! Scripted scenarios: the simulator's world (real replica cores, simulated network, virtual
//! clock, crash-model disks) without the random clients and nemesis; a test drives it step by
//! step: requests to chosen replicas, cuts and heals at chosen times, checks in between.

use std::time::Duration;

use ddbb_libs::kv::{KeyValue, RangeRequest, WriteOutcome, WriteRequest};
use ddbb_libs::{Consistency, NodeId};
use ddbb_server::replica::{Request, Response};
use tokio::sync::oneshot;

use crate::{Micros, SimOptions, World};

/// A cluster driven by a test (see the module doc).
pub struct Scenario {
    world: World,
}

fn micros(d: Duration) -> Micros {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

impl Scenario {
    /// `replicas` replicas started at time 0; the network, tick skews and timeouts are drawn
    /// from `seed` as in a random run.
    pub fn new(seed: u64, replicas: usize) -> Scenario {
        Scenario::start(World::new(Scenario::options(seed, replicas)))
    }

    fn options(seed: u64, replicas: usize) -> SimOptions {
        SimOptions {
            seed,
            replicas,
            clients: 0,
            steps: u64::MAX,
            ..SimOptions::default()
        }
    }

    fn start(mut world: World) -> Scenario {
        for i in 0..world.nodes.len() {
            world.start(i);
        }
        Scenario { world }
    }

    /// Like [`Scenario::new`] on a network that loses and holds up nothing (delays stay
    /// random): for checks that need a stable leader.
    pub fn calm(seed: u64, replicas: usize) -> Scenario {
        let mut world = World::new(Scenario::options(seed, replicas));
        world.net.params.drop = 0.0;
        world.net.params.slow = 0.0;
        Scenario::start(world)
    }

    /// Virtual time since the start.
    pub fn now(&self) -> Duration {
        Duration::from_micros(self.world.now)
    }

    /// Failures the world recorded (a replica that stopped, a divergent log).
    pub fn failures(&self) -> &[String] {
        &self.world.report.failures
    }

    /// Runs every event due within the next `d` of virtual time.
    pub fn run_for(&mut self, d: Duration) {
        let until = self.world.now.saturating_add(micros(d));
        while let Some(entry) = self.world.queue.first_entry() {
            if entry.key().0 > until {
                break;
            }
            let ((time, _), ev) = entry.remove_entry();
            self.world.now = time;
            self.world.step(ev);
        }
        self.world.now = until;
    }

    /// The replica among `among` that says it leads, if any.
    pub fn leader_among(&self, among: &[NodeId]) -> Option<NodeId> {
        among.iter().copied().find(|id| {
            self.world.nodes[*id as usize - 1]
                .up
                .as_ref()
                .is_some_and(|up| up.replica.status().is_leader)
        })
    }

    /// Runs until one of `among` leads (at most `limit`).
    pub fn wait_for_leader(&mut self, among: &[NodeId], limit: Duration) -> Option<NodeId> {
        let deadline = self.world.now.saturating_add(micros(limit));
        while self.world.now < deadline {
            if let Some(id) = self.leader_among(among) {
                return Some(id);
            }
            self.run_for(Duration::from_millis(10));
        }
        None
    }

    /// Sends a request to replica `id` and runs until it is answered (at most `limit`).
    pub fn call(
        &mut self,
        id: NodeId,
        make: impl FnOnce(oneshot::Sender<Response>) -> Request,
        limit: Duration,
    ) -> Option<Response> {
        let i = id as usize - 1;
        let (tx, mut rx) = oneshot::channel();
        self.world.nodes[i]
            .up
            .as_mut()?
            .requests
            .push_back(make(tx));
        self.world.schedule_wake(i);
        let deadline = self.world.now.saturating_add(micros(limit));
        while self.world.now < deadline {
            match rx.try_recv() {
                Ok(response) => return Some(response),
                Err(oneshot::error::TryRecvError::Closed) => return None,
                Err(oneshot::error::TryRecvError::Empty) => {
                    self.run_for(Duration::from_millis(1));
                }
            }
        }
        None
    }

    /// A write through replica `id`.
    pub fn write(&mut self, id: NodeId, op: WriteRequest, limit: Duration) -> Option<WriteOutcome> {
        let make = |reply| Request::Write {
            id: None,
            op,
            reply,
        };
        match self.call(id, make, limit)? {
            Response::Write(outcome) => Some(outcome),
            _ => None,
        }
    }

    /// `key` as replica `id` has it now (a serializable read).
    pub fn local_get(&mut self, id: NodeId, key: &[u8]) -> Option<Option<KeyValue>> {
        let query = RangeRequest::key(bytes::Bytes::copy_from_slice(key));
        let make = |reply| Request::Read {
            query,
            consistency: Consistency::Serializable,
            reply,
        };
        match self.call(id, make, Duration::from_millis(100))? {
            Response::Read(read) => Some(read.result.ok()?.kvs.into_iter().next()),
            _ => None,
        }
    }

    /// Cuts every link to and from replica `id`.
    pub fn isolate(&mut self, id: NodeId) {
        let pairs = (1..=self.world.nodes.len() as NodeId)
            .filter(|p| *p != id)
            .map(|p| (id.min(p), id.max(p)))
            .collect();
        self.world.cut_pairs(&pairs);
    }

    /// Heals every cut link.
    pub fn heal(&mut self) {
        self.world.heal_links();
    }

    /// Power cut of replica `id`: it stops, and its disk keeps only what was synced.
    pub fn crash(&mut self, id: NodeId) {
        self.world.crash(id as usize - 1, false);
    }

    /// Starts replica `id` again (it recovers from its disk).
    pub fn restart(&mut self, id: NodeId) {
        self.world.start(id as usize - 1);
    }

    /// Sets every replica's `--snapshot-every` (takes effect at their next start).
    pub fn set_snapshot_every(&mut self, every: usize) {
        for node in &mut self.world.nodes {
            node.config.snapshot_every = every;
        }
    }

    /// Replica `id`'s status, if it runs.
    pub fn status(&self, id: NodeId) -> Option<ddbb_libs::StatusReply> {
        let up = self.world.nodes[id as usize - 1].up.as_ref()?;
        Some(up.replica.status())
    }
}
