//! The nemesis: faults injected on a schedule, and healed.
//!
//! The schedule alternates a healthy window and a fault window, each `--nemesis-interval`
//! long, until the time limit; then everything is healed (killed replicas restarted, paused
//! ones resumed, links restored) before the final reads. One fault is active at a time. Fault
//! families take turns in the order given, and each family cycles through its variants, so a
//! short run still sees every kind asked for; the replicas involved are chosen at random.
//!
//! | family      | variants (also accepted alone in `--nemesis`) | what happens                         |
//! |-------------|-----------------------------------------------|--------------------------------------|
//! | `kill`      | `kill-random`, `kill-leader`                  | `SIGKILL` by PID; restarted on heal  |
//! | `pause`     | `pause-random`, `pause-leader`                | `SIGSTOP`; `SIGCONT` on heal         |
//! | `partition` | `partition-leader`, `partition-halves`, `partition-ring` | isolate the leader; two halves; each replica sees a majority, no two the same (4+ replicas, else halves) |
//! | `partial`   | `quorum-loss`, `constrained-election`, `chained` | the partial-connectivity scenarios of the OmniPaxos paper (below) |
//! | `latency`   | `latency`                                     | `--latency-ms` on every link (link proxy only) |
//!
//! Partial connectivity (Ng et al., *OmniPaxos*, EuroSys 2023), with `L` the leader:
//! - quorum-loss: only one follower `H` keeps its links; every link not touching `H` is cut,
//!   so `L` can no longer reach a quorum (with 4+ replicas) while `H` can;
//! - constrained-election: a follower `C` is isolated for the first half of the window, so
//!   its log falls behind; then `C`'s links come back while `L` is cut off entirely and the
//!   other followers lose their links to each other: the only quorum-connected replica is
//!   the one with the stale log (Raft cannot elect it);
//! - chained: only the link between `L` and one follower is cut (with 3 replicas, a chain).
//!
//! Every action is written to `nemesis.log`, echoed on stdout, and recorded in the history
//! as a `:process :nemesis` event.

use std::collections::BTreeSet;
use std::fmt;
use std::fs::File;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use ddbb_libs::NodeId;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::cluster::{self, Cluster};
use crate::network::Network;
use crate::recorder::Recorder;
use ddbb_libs::shutdown::Shutdown;

/// One fault the nemesis can inject.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Fault {
    /// Kill a random replica.
    KillRandom,
    /// Kill the leader.
    KillLeader,
    /// Pause a random replica.
    PauseRandom,
    /// Pause the leader.
    PauseLeader,
    /// Cut the leader off from everyone.
    PartitionLeader,
    /// Split the replicas into two random halves.
    PartitionHalves,
    /// Majorities ring: every replica sees a majority, no two the same one.
    PartitionRing,
    /// Only one follower stays connected to the others.
    QuorumLoss,
    /// The only quorum-connected replica has a stale log.
    ConstrainedElection,
    /// One link between the leader and a follower is cut.
    Chained,
    /// Every link gets a delay.
    Latency,
}

impl Fault {
    /// Every fault, family by family.
    pub const ALL: [Fault; 11] = [
        Fault::KillRandom,
        Fault::KillLeader,
        Fault::PauseRandom,
        Fault::PauseLeader,
        Fault::PartitionLeader,
        Fault::PartitionHalves,
        Fault::PartitionRing,
        Fault::QuorumLoss,
        Fault::ConstrainedElection,
        Fault::Chained,
        Fault::Latency,
    ];

    /// The name used in `--nemesis` and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Fault::KillRandom => "kill-random",
            Fault::KillLeader => "kill-leader",
            Fault::PauseRandom => "pause-random",
            Fault::PauseLeader => "pause-leader",
            Fault::PartitionLeader => "partition-leader",
            Fault::PartitionHalves => "partition-halves",
            Fault::PartitionRing => "partition-ring",
            Fault::QuorumLoss => "quorum-loss",
            Fault::ConstrainedElection => "constrained-election",
            Fault::Chained => "chained",
            Fault::Latency => "latency",
        }
    }

    /// The family (`kill`, `pause`, `partition`, `partial`, `latency`).
    pub fn family(self) -> &'static str {
        match self {
            Fault::KillRandom | Fault::KillLeader => "kill",
            Fault::PauseRandom | Fault::PauseLeader => "pause",
            Fault::PartitionLeader | Fault::PartitionHalves | Fault::PartitionRing => "partition",
            Fault::QuorumLoss | Fault::ConstrainedElection | Fault::Chained => "partial",
            Fault::Latency => "latency",
        }
    }

    /// Whether the fault acts on links (and needs a network backend).
    pub fn is_network(self) -> bool {
        matches!(self.family(), "partition" | "partial" | "latency")
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses `--nemesis`: comma-separated families or variants, `all`, or `none`.
///
/// # Errors
/// A message naming the unknown item.
pub fn parse_faults(text: &str) -> Result<Vec<Fault>, String> {
    let mut faults = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let matched: Vec<Fault> = match item {
            "none" => Vec::new(),
            "all" => Fault::ALL.to_vec(),
            _ => Fault::ALL
                .into_iter()
                .filter(|f| f.name() == item || f.family() == item)
                .collect(),
        };
        if matched.is_empty() && item != "none" {
            return Err(format!(
                "unknown nemesis '{item}' (families: kill, pause, partition, partial, latency; \
                 or all, none, or a variant such as partition-leader)"
            ));
        }
        for fault in matched {
            if !faults.contains(&fault) {
                faults.push(fault);
            }
        }
    }
    Ok(faults)
}

/// A set of cut links: unordered replica pairs, smaller id first.
pub type Cut = BTreeSet<(NodeId, NodeId)>;

/// An unordered replica pair, smaller id first.
fn pair(a: NodeId, b: NodeId) -> (NodeId, NodeId) {
    (a.min(b), a.max(b))
}

/// Every link of `node`.
pub fn isolate(node: NodeId, ids: &[NodeId]) -> Cut {
    ids.iter()
        .filter(|&&o| o != node)
        .map(|&o| pair(node, o))
        .collect()
}

/// The links between the first `len/2` replicas of `order` and the rest.
pub fn halves(order: &[NodeId]) -> Cut {
    let (small, large) = order.split_at(order.len() / 2);
    small
        .iter()
        .flat_map(|&a| large.iter().map(move |&b| pair(a, b)))
        .collect()
}

/// Jepsen's majorities ring over `order`: each replica keeps the links to its nearest
/// neighbours on the ring, enough to see a majority; `None` when that leaves nothing to cut
/// (fewer than 4 replicas).
pub fn ring(order: &[NodeId]) -> Option<Cut> {
    let n = order.len();
    // Itself and `reach` neighbours on each side form a majority: 1 + 2*reach > n/2.
    let reach = (n / 2).div_ceil(2);
    let mut cut = BTreeSet::new();
    for i in 0..n {
        for j in i + 1..n {
            let distance = (j - i).min(n - (j - i));
            if distance > reach {
                cut.insert(pair(order[i], order[j]));
            }
        }
    }
    (!cut.is_empty()).then_some(cut)
}

/// Every link that does not touch `hub`.
pub fn quorum_loss(hub: NodeId, ids: &[NodeId]) -> Cut {
    let mut cut = BTreeSet::new();
    for &a in ids {
        for &b in ids {
            if a < b && a != hub && b != hub {
                cut.insert((a, b));
            }
        }
    }
    cut
}

/// The two stages of the constrained election: `lagger` alone, then `leader` alone plus
/// every link between replicas other than `lagger`.
pub fn constrained_election(leader: NodeId, lagger: NodeId, ids: &[NodeId]) -> (Cut, Cut) {
    let first = isolate(lagger, ids);
    let mut second = isolate(leader, ids);
    for &a in ids {
        for &b in ids {
            if a < b && ![leader, lagger].contains(&a) && ![leader, lagger].contains(&b) {
                second.insert((a, b));
            }
        }
    }
    (first, second)
}

fn show_pairs(pairs: &Cut) -> String {
    let links: Vec<String> = pairs.iter().map(|(a, b)| format!("{a}-{b}")).collect();
    format!("cut {}", links.join(" "))
}

/// One fault as it happened, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRecord {
    /// The fault.
    pub fault: Fault,
    /// What exactly was done.
    pub description: String,
    /// When it started (ns on the history's clock).
    pub start: i64,
    /// When it was healed; `None` if the run ended first (it was healed at the end).
    pub end: Option<i64>,
}

/// Tunables of the nemesis.
#[derive(Debug, Clone)]
pub struct NemesisConfig {
    /// The faults to take turns with (empty: none).
    pub faults: Vec<Fault>,
    /// Length of each healthy and each fault window.
    pub interval: Duration,
    /// Delay of the latency fault.
    pub latency: Duration,
    /// Seed of the random choices.
    pub seed: u64,
}

/// What the active fault changed, so that healing undoes exactly that.
#[derive(Debug, Default)]
struct Active {
    killed: Vec<NodeId>,
    paused: Vec<NodeId>,
    network: bool,
    record: Option<usize>,
    /// The constrained election's second stage: the links cut from mid-window on.
    next_stage: Option<Cut>,
}

/// Runs the fault schedule against a cluster.
#[derive(Debug)]
pub struct Nemesis {
    config: NemesisConfig,
    cluster: Arc<Cluster>,
    network: Arc<Mutex<Network>>,
    recorder: Arc<Recorder>,
    log: Option<File>,
    rng: StdRng,
    families: Vec<Vec<Fault>>,
    turn: usize,
    variant: Vec<usize>,
    active: Active,
    records: Vec<FaultRecord>,
}

impl Nemesis {
    /// A nemesis writing its log to `log`.
    pub fn new(
        config: NemesisConfig,
        cluster: Arc<Cluster>,
        network: Arc<Mutex<Network>>,
        recorder: Arc<Recorder>,
        log: Option<File>,
    ) -> Nemesis {
        let mut rng = StdRng::seed_from_u64(config.seed);
        let mut families: Vec<Vec<Fault>> = Vec::new();
        for &fault in &config.faults {
            match families
                .iter_mut()
                .find(|f| f[0].family() == fault.family())
            {
                Some(family) => family.push(fault),
                None => families.push(vec![fault]),
            }
        }
        let variant = families.iter().map(|f| rng.gen_range(0..f.len())).collect();
        Nemesis {
            config,
            cluster,
            network,
            recorder,
            log,
            rng,
            families,
            turn: 0,
            variant,
            active: Active::default(),
            records: Vec::new(),
        }
    }

    /// The faults injected so far.
    pub fn records(&self) -> &[FaultRecord] {
        &self.records
    }

    /// Writes a line to the nemesis log and stdout, prefixed with the history's clock.
    pub fn note(&mut self, text: &str) {
        let line = format!("{:>9.3} s  {text}", self.recorder.now_ns() as f64 / 1e9);
        println!("nemesis {line}");
        if let Some(log) = &mut self.log {
            let _ = writeln!(log, "{line}");
        }
    }

    fn next_fault(&mut self) -> Option<Fault> {
        if self.families.is_empty() {
            return None;
        }
        let family = self.turn % self.families.len();
        self.turn += 1;
        let variants = &self.families[family];
        let fault = variants[self.variant[family] % variants.len()];
        self.variant[family] += 1;
        Some(fault)
    }

    /// Runs the schedule until `until` or a stop, then heals everything.
    pub async fn run(&mut self, until: Instant, mut stop: Shutdown) {
        let interval = self.config.interval;
        while !self.families.is_empty() && Instant::now() + interval < until {
            if !stop.sleep(interval).await {
                break;
            }
            // A fault window cut to less than half its length would say little.
            if Instant::now() + interval / 2 > until {
                break;
            }
            self.report_exits();
            let Some(fault) = self.next_fault() else {
                break;
            };
            self.start(fault).await;
            let end = (Instant::now() + interval).min(until);
            if let Some(second) = self.active.next_stage.take() {
                let middle = Instant::now() + (end - Instant::now()) / 2;
                if !stop.sleep_until(middle).await {
                    break;
                }
                self.cut(second, "second stage").await;
            }
            if !stop.sleep_until(end).await {
                break;
            }
            self.heal().await;
        }
        self.heal().await;
    }

    fn report_exits(&mut self) {
        for (id, status) in self.cluster.reap_exited() {
            self.note(&format!(
                "replica {id} exited by itself ({status}); see {}",
                self.cluster.log_path(id).display()
            ));
        }
    }

    /// The leader as the serving replicas see it, or a random serving replica.
    async fn leader_or_random(&mut self) -> Option<NodeId> {
        let serving = self.cluster.serving();
        match cluster::leader(self.cluster.plan(), &serving).await {
            Some(leader) if serving.contains(&leader) => Some(leader),
            _ => serving.choose(&mut self.rng).copied(),
        }
    }

    async fn start(&mut self, fault: Fault) {
        let ids: Vec<NodeId> = self.cluster.plan().ids().collect();
        let leader = self.leader_or_random().await;
        let mut shuffled = ids.clone();
        shuffled.shuffle(&mut self.rng);
        let other = |rng: &mut StdRng| -> Option<NodeId> {
            let others: Vec<NodeId> = ids.iter().copied().filter(|&i| Some(i) != leader).collect();
            others.choose(rng).copied()
        };
        let description = match fault {
            Fault::KillRandom | Fault::KillLeader => {
                let target = if fault == Fault::KillLeader {
                    leader
                } else {
                    self.cluster.serving().choose(&mut self.rng).copied()
                };
                match target {
                    Some(id) if self.cluster.kill(id) => {
                        self.active.killed.push(id);
                        format!("kill -9 replica {id}{}", leader_tag(id, leader))
                    }
                    _ => "skipped: no running replica".into(),
                }
            }
            Fault::PauseRandom | Fault::PauseLeader => {
                let target = if fault == Fault::PauseLeader {
                    leader
                } else {
                    self.cluster.serving().choose(&mut self.rng).copied()
                };
                match target {
                    Some(id) if self.cluster.pause(id) => {
                        self.active.paused.push(id);
                        format!("SIGSTOP replica {id}{}", leader_tag(id, leader))
                    }
                    _ => "skipped: no running replica".into(),
                }
            }
            Fault::PartitionLeader => match leader {
                Some(l) => {
                    let cut = isolate(l, &ids);
                    format!("isolate leader {l}: {}", self.cut(cut, "").await)
                }
                None => "skipped: no replica".into(),
            },
            Fault::PartitionHalves => {
                let (small, large) = shuffled.split_at(shuffled.len() / 2);
                let text = format!("halves {small:?} | {large:?}");
                let cut = halves(&shuffled);
                format!("{text}: {}", self.cut(cut, "").await)
            }
            Fault::PartitionRing => match ring(&shuffled) {
                Some(cut) => format!("ring {shuffled:?}: {}", self.cut(cut, "").await),
                None => {
                    let cut = halves(&shuffled);
                    format!(
                        "ring needs 4+ replicas; halves {shuffled:?} instead: {}",
                        self.cut(cut, "").await
                    )
                }
            },
            Fault::QuorumLoss => match other(&mut self.rng) {
                Some(hub) => {
                    let cut = quorum_loss(hub, &ids);
                    format!(
                        "only {hub} keeps its links (leader {}): {}",
                        show_leader(leader),
                        self.cut(cut, "").await
                    )
                }
                None => "skipped: needs 2+ replicas".into(),
            },
            Fault::ConstrainedElection => match (leader, other(&mut self.rng)) {
                (Some(l), Some(lagger)) => {
                    let (first, second) = constrained_election(l, lagger, &ids);
                    self.active.next_stage = Some(second.clone());
                    format!(
                        "lagger {lagger} isolated ({}), then at mid-window leader {l} isolated \
                         and only {lagger} quorum-connected ({})",
                        self.cut(first, "").await,
                        show_pairs(&second)
                    )
                }
                _ => "skipped: needs 2+ replicas".into(),
            },
            Fault::Chained => match (leader, other(&mut self.rng)) {
                (Some(l), Some(x)) => {
                    let cut = BTreeSet::from([pair(l, x)]);
                    format!("chain: leader {l} loses {x}: {}", self.cut(cut, "").await)
                }
                _ => "skipped: needs 2+ replicas".into(),
            },
            Fault::Latency => {
                let delay = self.config.latency;
                let mut network = self.network.lock().await;
                if !network.supports_latency() {
                    "skipped: latency needs the link proxy (--net proxy)".into()
                } else {
                    match network.set_delay(delay) {
                        Ok(()) => {
                            self.active.network = true;
                            format!("{} ms one-way delay on every link", delay.as_millis())
                        }
                        Err(e) => format!("failed: {e}"),
                    }
                }
            }
        };
        let start = self.recorder.nemesis(
            &format!("start-{}", fault.family()),
            &format!("{fault}: {description}"),
        );
        self.active.record = Some(self.records.len());
        self.records.push(FaultRecord {
            fault,
            description: description.clone(),
            start,
            end: None,
        });
        self.note(&format!("start {fault}: {description}"));
    }

    /// Replaces the cut links; returns what was done (or the error) for the description.
    async fn cut(&mut self, pairs: Cut, stage: &str) -> String {
        let shown = show_pairs(&pairs);
        let result = self.network.lock().await.set_cuts(pairs).await;
        self.active.network = true;
        match result {
            Ok(()) if stage.is_empty() => shown,
            Ok(()) => {
                self.recorder
                    .nemesis("start-partial", &format!("{stage}: {shown}"));
                self.note(&format!("{stage}: {shown}"));
                shown
            }
            Err(e) => {
                let text = format!("failed to {shown}: {e}");
                self.note(&text);
                text
            }
        }
    }

    /// Undoes the active fault.
    async fn heal(&mut self) {
        let Some(record) = self.active.record.take() else {
            return;
        };
        let active = std::mem::take(&mut self.active);
        let mut done = Vec::new();
        for id in active.killed {
            match self.cluster.restart(id) {
                Ok(()) => done.push(format!("restarted {id}")),
                Err(e) => done.push(format!("restart of {id} failed: {e}")),
            }
        }
        for id in active.paused {
            if self.cluster.resume(id) {
                done.push(format!("SIGCONT {id}"));
            }
        }
        if active.network {
            match self.network.lock().await.heal().await {
                Ok(()) => done.push("links restored".into()),
                Err(e) => done.push(format!("healing links failed: {e}")),
            }
        }
        let fault = self.records[record].fault;
        let text = if done.is_empty() {
            "nothing to undo".to_string()
        } else {
            done.join(", ")
        };
        let end = self.recorder.nemesis(
            &format!("stop-{}", fault.family()),
            &format!("{fault}: {text}"),
        );
        self.records[record].end = Some(end);
        self.note(&format!("stop {fault}: {text}"));
    }

    /// Heals the active fault and anything else: every replica running and resumed, every
    /// link whole. Returns what it had to repair beyond the active fault.
    pub async fn heal_all(&mut self) -> Vec<String> {
        self.heal().await;
        self.report_exits();
        let mut repaired = Vec::new();
        let (stopped, paused) = self.cluster.down();
        for id in paused {
            if self.cluster.resume(id) {
                repaired.push(format!("SIGCONT {id}"));
            }
        }
        for id in stopped {
            match self.cluster.restart(id) {
                Ok(()) => repaired.push(format!("restarted {id}")),
                Err(e) => repaired.push(format!("restart of {id} failed: {e}")),
            }
        }
        let mut network = self.network.lock().await;
        if !network.cuts().is_empty() {
            repaired.push("links restored".into());
        }
        if let Err(e) = network.heal().await {
            repaired.push(format!("healing links failed: {e}"));
        }
        drop(network);
        if !repaired.is_empty() {
            let text = repaired.join(", ");
            self.recorder.nemesis("heal", &text);
            self.note(&format!("heal: {text}"));
        }
        repaired
    }
}

fn leader_tag(id: NodeId, leader: Option<NodeId>) -> &'static str {
    if Some(id) == leader {
        " (leader)"
    } else {
        ""
    }
}

fn show_leader(leader: Option<NodeId>) -> String {
    leader.map_or_else(|| "unknown".to_string(), |l| l.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(NodeId, NodeId)]) -> Cut {
        list.iter().copied().collect()
    }

    #[test]
    fn parses_families_variants_all_and_none() {
        let faults = parse_faults("kill,partition,partial").unwrap();
        assert_eq!(faults.len(), 8);
        assert!(faults.contains(&Fault::KillLeader));
        assert!(faults.contains(&Fault::Chained));
        assert_eq!(
            parse_faults("chained, kill-leader").unwrap(),
            vec![Fault::Chained, Fault::KillLeader]
        );
        assert_eq!(parse_faults("all").unwrap().len(), Fault::ALL.len());
        assert!(parse_faults("none").unwrap().is_empty());
        assert!(parse_faults("").unwrap().is_empty());
        assert!(parse_faults("kill,flood").unwrap_err().contains("flood"));
    }

    #[test]
    fn partitions_cut_the_expected_links() {
        let ids = [1, 2, 3, 4, 5];
        assert_eq!(isolate(2, &[1, 2, 3]), pairs(&[(1, 2), (2, 3)]));
        assert_eq!(halves(&[3, 1, 2]), pairs(&[(1, 3), (2, 3)]));
        assert_eq!(halves(&[1, 2, 3, 4, 5]).len(), 6);
        // Ring 1-2-3-4-5-1: each keeps its two neighbours; the five chords are cut.
        assert_eq!(
            ring(&ids).unwrap(),
            pairs(&[(1, 3), (1, 4), (2, 4), (2, 5), (3, 5)])
        );
        assert_eq!(ring(&[1, 2, 3]), None);
        assert_eq!(ring(&[1, 2, 3, 4]).unwrap(), pairs(&[(1, 3), (2, 4)]));
        let hub_kept = quorum_loss(3, &ids);
        assert!(hub_kept.iter().all(|&(a, b)| a != 3 && b != 3));
        assert_eq!(hub_kept.len(), 6);
    }

    #[test]
    fn the_constrained_election_leaves_only_the_lagger_quorum_connected() {
        let ids = [1, 2, 3, 4, 5];
        let (first, second) = constrained_election(1, 4, &ids);
        assert_eq!(first, isolate(4, &ids));
        let connected = |n: NodeId| {
            ids.iter()
                .filter(|&&o| o != n && !second.contains(&pair(n, o)))
                .count()
                + 1
        };
        assert_eq!(connected(1), 1, "the leader is alone");
        assert_eq!(connected(4), 4, "the lagger reaches every follower");
        for follower in [2, 3, 5] {
            assert_eq!(connected(follower), 2, "followers reach the lagger only");
        }
        let (_, three) = constrained_election(1, 3, &[1, 2, 3]);
        assert_eq!(three, pairs(&[(1, 2), (1, 3)]));
    }
}
