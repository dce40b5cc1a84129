//! `ddbb playground`: a local cluster inside the `ddbb` process, with the REPL on it.
//!
//! The replicas are real `ddbb_server` replicas started as a library
//! ([`ddbb_server::start_with_faults`]) on loopback ports: real TCP between them and to the
//! REPL's client, so everything a real cluster does happens here too. One shared
//! [`LinkFaults`] lets meta-commands cut links between replicas in-process.
//!
//! Meta-commands: `.nodes`, `.leader`, `.kill N`, `.restart N`, `.cut N M`, `.heal`,
//! `.help`. Each replica keeps its data in `replica-N/` under `--data-dir`, or under a
//! temp dir that is removed on exit.
//!
//! Each replica has its own durable WAL in `replica-N/`, so a `.kill`ed replica that is
//! `.restart`ed recovers its log and state from disk and then catches up from the leader.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ddbb_libs::{NodeId, StatusReply};
use ddbb_server::{LinkFaults, ServerConfig, ServerHandle};
use tokio::runtime::Runtime;

use crate::cli::{say, CliError};
use crate::output::Table;
use ddbb_client::{Client, ClientConfig, EndpointStatus};

/// How long the playground waits for the first leader, and for a new one after `.kill`.
pub const LEADER_DEADLINE: Duration = Duration::from_secs(15);
/// Deadline of the `STATUS` calls behind `.nodes` and `.leader`.
const STATUS_TIMEOUT: Duration = Duration::from_millis(800);
/// Tries to start the replicas (a port may be taken between choosing and binding it).
const START_TRIES: usize = 3;

/// Meta-commands: name, arguments, what they do.
const META: &[(&str, &str, &str)] = &[
    (
        ".nodes",
        "",
        "Table of replicas: id, endpoint, gRPC endpoint, up/down, role, leader, revision, peers",
    ),
    (".leader", "", "Which replica leads now"),
    (
        ".kill",
        "N",
        "Stop replica N (as if it crashed); waits for a new leader if it led",
    ),
    (".restart", "N", "Start replica N again"),
    (
        ".cut",
        "N M",
        "Drop every message between replicas N and M, both directions",
    ),
    (".heal", "", "Restore every cut link"),
    (".help", "", "This list"),
];

/// A running local cluster.
pub struct Playground {
    faults: Arc<LinkFaults>,
    configs: Vec<ServerConfig>,
    handles: Vec<Option<ServerHandle>>,
    /// All endpoints, short timeouts: answers `.nodes` and `.leader`.
    probe: Client,
    data_dir: PathBuf,
    temp: Option<tempfile::TempDir>,
}

impl Playground {
    /// Starts `nodes` replicas with data under `data_dir` (else a temp dir). Replica `N`
    /// uses client port `port_base + N` and peer port `port_base + 1000 + N` when all are
    /// free, else free ports; `port_base` 0 always picks free ports. Every replica also serves
    /// etcd's gRPC API: on etcd's local-cluster ports 2379, 22379, 32379... when all are free
    /// (and `port_base` is not 0), else on free ports.
    pub async fn start(
        nodes: u64,
        data_dir: Option<PathBuf>,
        port_base: u16,
    ) -> Result<Playground, CliError> {
        let (data_dir, temp) = match data_dir {
            // The replicas create their data dirs durably.
            Some(dir) => (dir, None),
            None => {
                let temp = tempfile::Builder::new()
                    .prefix("ddbb-playground-")
                    .tempdir()?;
                (temp.path().to_path_buf(), Some(temp))
            }
        };
        let faults = Arc::new(LinkFaults::default());
        let mut last_error = String::new();
        for attempt in 0..START_TRIES {
            let base = if attempt == 0 { port_base } else { 0 };
            let (client_ports, peer_ports) = choose_ports(nodes as usize, base)?;
            let grpc_ports = choose_grpc_ports(nodes as usize, base != 0)?;
            let addr = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
            let peers: BTreeMap<NodeId, SocketAddr> = (1..=nodes)
                .zip(&peer_ports)
                .map(|(id, &port)| (id, addr(port)))
                .collect();
            let grpc_peers: BTreeMap<NodeId, SocketAddr> = (1..=nodes)
                .zip(&grpc_ports)
                .map(|(id, &port)| (id, addr(port)))
                .collect();
            let mut configs = Vec::new();
            for (id, &port) in (1..=nodes).zip(&client_ports) {
                let mut config = ServerConfig::new(id, peers.clone(), addr(port));
                config.data_dir = Some(data_dir.join(format!("replica-{id}")));
                config.grpc_addr = grpc_peers.get(&id).copied();
                config.grpc_peers = grpc_peers.clone();
                configs.push(config);
            }
            let mut handles = Vec::new();
            for config in &configs {
                match ddbb_server::start_with_faults(config.clone(), faults.clone()).await {
                    Ok(h) => handles.push(Some(h)),
                    Err(e) => {
                        last_error = e.to_string();
                        break;
                    }
                }
            }
            if handles.len() < configs.len() {
                for h in handles.into_iter().flatten() {
                    let _ = h.shutdown().await;
                }
                continue;
            }
            let endpoints: Vec<String> =
                configs.iter().map(|c| c.client_addr.to_string()).collect();
            let probe = Client::new(ClientConfig::new(endpoints).with_timeout(STATUS_TIMEOUT))?;
            return Ok(Playground {
                faults,
                configs,
                handles,
                probe,
                data_dir,
                temp,
            });
        }
        Err(CliError::Playground(format!(
            "cannot start the replicas: {last_error}"
        )))
    }

    /// Number of replicas.
    pub fn len(&self) -> usize {
        self.configs.len()
    }

    /// True for a playground without replicas (never, once started).
    pub fn is_empty(&self) -> bool {
        self.configs.is_empty()
    }

    /// Client endpoints, replica 1 first.
    pub fn endpoints(&self) -> Vec<String> {
        self.configs
            .iter()
            .map(|c| c.client_addr.to_string())
            .collect()
    }

    /// etcd gRPC endpoints (`host:port`), replica 1 first.
    pub fn grpc_endpoints(&self) -> Vec<String> {
        self.configs
            .iter()
            .filter_map(|c| c.grpc_addr.map(|a| a.to_string()))
            .collect()
    }

    /// Where the replicas keep their data.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// True when the data dir is a temp dir removed by [`Playground::stop`].
    pub fn is_temporary(&self) -> bool {
        self.temp.is_some()
    }

    /// Meta-commands (bare names, for completion) with their usage and description.
    pub fn meta_commands() -> Vec<(String, String)> {
        META.iter()
            .map(|(name, args, about)| {
                let about = if args.is_empty() {
                    about.to_string()
                } else {
                    format!("{about} (usage: {name} {args})")
                };
                (name.to_string(), about)
            })
            .collect()
    }

    /// Runs one meta-command line (`.kill 2`); returns the text to print.
    pub async fn meta(&mut self, words: &[String]) -> Result<String, CliError> {
        let name = words.first().map(String::as_str).unwrap_or("");
        let args = &words[1.min(words.len())..];
        let want = |n: usize| {
            if args.len() == n {
                Ok(())
            } else {
                Err(CliError::Usage(format!(
                    "{name} takes {n} argument{} (see .help)",
                    if n == 1 { "" } else { "s" }
                )))
            }
        };
        match name {
            ".nodes" => {
                want(0)?;
                Ok(self.nodes().await)
            }
            ".leader" => {
                want(0)?;
                Ok(match self.leader().await {
                    Some(id) => format!(
                        "leader: replica {id} ({})\n",
                        self.configs[id as usize - 1].client_addr
                    ),
                    None => "no leader right now (is a majority up and connected?)\n".into(),
                })
            }
            ".kill" => {
                want(1)?;
                self.kill(self.node_arg(&args[0])?).await
            }
            ".restart" => {
                want(1)?;
                self.restart(self.node_arg(&args[0])?).await
            }
            ".cut" => {
                want(2)?;
                let (a, b) = (self.node_arg(&args[0])?, self.node_arg(&args[1])?);
                if a == b {
                    return Err(CliError::Usage("a replica has no link to itself".into()));
                }
                self.faults.set_cut(a, b, true);
                Ok(format!(
                    "link {a}<->{b} cut: messages between them are dropped both ways\n"
                ))
            }
            ".heal" => {
                want(0)?;
                self.faults.heal_all();
                Ok("every link healed\n".into())
            }
            ".help" => Ok(META
                .iter()
                .map(|(name, args, about)| format!("  {:<12} {about}\n", format!("{name} {args}")))
                .collect()),
            other => Err(CliError::Usage(format!(
                "unknown meta-command '{other}' (try .help)"
            ))),
        }
    }

    fn node_arg(&self, text: &str) -> Result<NodeId, CliError> {
        match text.parse::<NodeId>() {
            Ok(id) if id >= 1 && id as usize <= self.len() => Ok(id),
            _ => Err(CliError::Usage(format!(
                "'{text}' is not a replica id (1..={})",
                self.len()
            ))),
        }
    }

    /// Stops replica `id`, like a crash: its ports close and its peers see the links drop.
    pub async fn kill(&mut self, id: NodeId) -> Result<String, CliError> {
        let was_leader = self.leader().await == Some(id);
        let Some(handle) = self.handles[id as usize - 1].take() else {
            return Err(CliError::Usage(format!("replica {id} is already down")));
        };
        let _ = handle.shutdown().await;
        let mut text = format!("replica {id} stopped");
        let up = self.up_count();
        if up * 2 <= self.len() {
            text.push_str(&format!(
                "; only {up} of {} replicas are up: no majority, so writes and linearizable reads time out until one comes back",
                self.len()
            ));
        } else if was_leader {
            let start = Instant::now();
            match self.wait_for_leader(LEADER_DEADLINE).await {
                Some(new) => text.push_str(&format!(
                    "; it was the leader, replica {new} took over in {} ms",
                    start.elapsed().as_millis()
                )),
                None => text.push_str("; it was the leader, and no new leader yet"),
            }
        }
        text.push('\n');
        Ok(text)
    }

    /// Starts replica `id` again on its old ports.
    pub async fn restart(&mut self, id: NodeId) -> Result<String, CliError> {
        if self.handles[id as usize - 1].is_some() {
            return Err(CliError::Usage(format!("replica {id} is running")));
        }
        let config = self.configs[id as usize - 1].clone();
        let handle = ddbb_server::start_with_faults(config.clone(), self.faults.clone())
            .await
            .map_err(|e| CliError::Playground(format!("restarting replica {id}: {e}")))?;
        self.handles[id as usize - 1] = Some(handle);
        Ok(format!(
            "replica {id} restarted on {}: it recovered its log from disk and catches up from the leader\n",
            config.client_addr
        ))
    }

    fn up_count(&self) -> usize {
        self.handles.iter().filter(|h| h.is_some()).count()
    }

    /// `STATUS` of every replica, in id order.
    async fn statuses(&self) -> Vec<EndpointStatus> {
        self.probe.status_all().await
    }

    /// The replica that says it leads and that a majority of the replicas follows.
    pub async fn leader(&self) -> Option<NodeId> {
        let statuses = self.statuses().await;
        let up: Vec<&StatusReply> = statuses
            .iter()
            .zip(&self.handles)
            .filter(|(_, h)| h.is_some())
            .filter_map(|(e, _)| e.status.as_ref().ok())
            .collect();
        let leader = up.iter().find(|s| s.is_leader)?.id;
        let followers = up.iter().filter(|s| s.leader == leader).count();
        (followers * 2 > self.len()).then_some(leader)
    }

    /// Waits until a leader is established (see [`Playground::leader`]), up to `deadline`.
    pub async fn wait_for_leader(&self, deadline: Duration) -> Option<NodeId> {
        let start = Instant::now();
        let mut pause = Duration::from_millis(10);
        loop {
            if let Some(leader) = self.leader().await {
                return Some(leader);
            }
            if start.elapsed() >= deadline {
                return None;
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }

    /// The `.nodes` table and the list of cut links.
    pub async fn nodes(&self) -> String {
        let statuses = self.statuses().await;
        let rows = statuses
            .iter()
            .zip(&self.handles)
            .enumerate()
            .map(|(i, (e, handle))| {
                let id = (i + 1).to_string();
                let grpc = self.configs[i]
                    .grpc_addr
                    .map_or_else(|| "-".to_string(), |a| a.to_string());
                match (&e.status, handle.is_some()) {
                    (Ok(s), _) => vec![
                        id,
                        e.endpoint.clone(),
                        grpc,
                        "up".into(),
                        if s.is_leader {
                            "leader"
                        } else if s.leader != 0 {
                            "follower"
                        } else {
                            "no leader"
                        }
                        .into(),
                        s.leader.to_string(),
                        s.revision.to_string(),
                        s.applied_index.to_string(),
                        ids(&s.connected_peers),
                    ],
                    (Err(_), false) => {
                        let mut row = vec!["-".to_string(); 9];
                        row[0] = id;
                        row[1] = e.endpoint.clone();
                        row[2] = grpc;
                        row[3] = "down".into();
                        row
                    }
                    (Err(err), true) => {
                        let mut row = vec!["?".to_string(); 9];
                        row[0] = id;
                        row[1] = e.endpoint.clone();
                        row[2] = grpc;
                        row[3] = format!("up ({err})");
                        row
                    }
                }
            })
            .collect();
        let table = Table::new(
            &[
                "ID", "ENDPOINT", "GRPC", "STATE", "ROLE", "LEADER", "REVISION", "APPLIED", "PEERS",
            ],
            rows,
        );
        let cuts = self.faults.cut_pairs();
        let cuts = if cuts.is_empty() {
            "none".to_string()
        } else {
            cuts.iter()
                .map(|(a, b)| format!("{a}<->{b}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!("{}cut links: {cuts}\n", table.render())
    }

    /// Stops every replica; the temp dir, if any, is removed.
    pub async fn stop(mut self) {
        for handle in self.handles.iter_mut() {
            if let Some(h) = handle.take() {
                let _ = h.shutdown().await;
            }
        }
        if let Some(temp) = self.temp.take() {
            let _ = temp.close();
        }
    }
}

pub fn print_banner(playground: &Playground) {
    let where_ = if playground.is_temporary() {
        format!("{} (removed on exit)", playground.data_dir().display())
    } else {
        format!("{} (kept)", playground.data_dir().display())
    };
    say(&format!(
        "DDBB playground: {} replicas in this process on loopback; data dir {where_}.",
        playground.len()
    ));
    for config in &playground.configs {
        let grpc = config
            .grpc_addr
            .map_or_else(|| "-".to_string(), |a| a.to_string());
        say(&format!(
            "  replica {}: client {}  peer {}  grpc {grpc}",
            config.id,
            config.client_addr,
            config.peer_addr()
        ));
    }
    say(&format!(
        "Other terminals: ddbb --endpoints {} <command>  (or redis-cli -p <port>)",
        playground.endpoints().join(",")
    ));
    say(&format!(
        "etcd tools (gRPC): ETCDCTL_API=3 etcdctl --endpoints {} get --prefix \"\"",
        playground.grpc_endpoints().join(",")
    ));
}

/// On SIGTERM or SIGHUP (terminal closed) the process ends without unwinding: remove the
/// temp dir first.
pub fn remove_temp_dir_on_signal(runtime: &Runtime, playground: &Playground) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let temp = playground
            .is_temporary()
            .then(|| playground.data_dir().to_path_buf());
        runtime.spawn(async move {
            let (Ok(mut term), Ok(mut hup)) = (
                signal(SignalKind::terminate()),
                signal(SignalKind::hangup()),
            ) else {
                return;
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = hup.recv() => {}
            }
            if let Some(dir) = temp {
                let _ = std::fs::remove_dir_all(dir);
            }
            std::process::exit(1);
        });
    }
    #[cfg(not(unix))]
    let _ = (runtime, playground);
}

/// Client and peer ports for `n` replicas: `base+1..` and `base+1001..` if all are free,
/// else free ports chosen by the OS.
fn choose_ports(n: usize, base: u16) -> Result<(Vec<u16>, Vec<u16>), CliError> {
    if base != 0 && (base as usize) + 1000 + n <= u16::MAX as usize {
        let client: Vec<u16> = (1..=n).map(|i| base + i as u16).collect();
        let peer: Vec<u16> = (1..=n).map(|i| base + 1000 + i as u16).collect();
        let free = client
            .iter()
            .chain(&peer)
            .all(|&p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok());
        if free {
            return Ok((client, peer));
        }
    }
    // Bound together, then released: distinct ports nobody listens on right now.
    let listeners = (0..2 * n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    let ports = listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<std::io::Result<Vec<_>>>()?;
    Ok((ports[..n].to_vec(), ports[n..].to_vec()))
}

/// etcd's local-cluster gRPC ports (its Procfile): 2379, 22379, 32379, then 42379...;
/// `None` past 62379.
fn etcd_grpc_ports(n: usize) -> Option<Vec<u16>> {
    (1..=n)
        .map(|i| u16::try_from(if i == 1 { 2379 } else { i * 10_000 + 2379 }).ok())
        .collect()
}

/// gRPC ports for `n` replicas: etcd's local-cluster ports when `conventional` and all are
/// free, else free ports chosen by the OS.
fn choose_grpc_ports(n: usize, conventional: bool) -> Result<Vec<u16>, CliError> {
    if conventional {
        if let Some(ports) = etcd_grpc_ports(n) {
            if ports
                .iter()
                .all(|&p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
            {
                return Ok(ports);
            }
        }
    }
    let listeners = (0..n)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0"))
        .collect::<std::io::Result<Vec<_>>>()?;
    Ok(listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<std::io::Result<Vec<_>>>()?)
}

fn ids(ids: &[NodeId]) -> String {
    if ids.is_empty() {
        return "-".into();
    }
    ids.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_commands_have_bare_names_for_completion() {
        let meta = Playground::meta_commands();
        let names: Vec<&str> = meta.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [".nodes", ".leader", ".kill", ".restart", ".cut", ".heal", ".help"]
        );
        assert!(meta[2].1.contains("usage: .kill N"));
    }

    #[test]
    fn grpc_ports_follow_etcds_convention() {
        assert_eq!(etcd_grpc_ports(3), Some(vec![2379, 22379, 32379]));
        assert_eq!(etcd_grpc_ports(6).unwrap()[5], 62379);
        assert_eq!(etcd_grpc_ports(7), None); // 72379 > u16::MAX
        assert_eq!(choose_grpc_ports(3, false).unwrap().len(), 3);
    }

    #[test]
    fn free_ports_are_distinct() {
        let (client, peer) = choose_ports(3, 0).unwrap();
        let mut all: Vec<u16> = client.iter().chain(&peer).copied().collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 6);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn kill_cut_heal_and_restart() {
        let mut pg = Playground::start(3, None, 0).await.unwrap();
        let dir = pg.data_dir().to_path_buf();
        assert!(dir.join("replica-1").is_dir());
        let leader = pg.wait_for_leader(LEADER_DEADLINE).await.expect("a leader");
        let client = Client::connect(pg.endpoints()).unwrap();
        client.put("before", "1").await.unwrap();
        let text = pg
            .meta(&[".kill".into(), leader.to_string()])
            .await
            .unwrap();
        // Leadership may have moved since (a new cluster can still settle): no "took over".
        assert!(
            text.starts_with(&format!("replica {leader} stopped")),
            "{text}"
        );
        assert!(pg.wait_for_leader(LEADER_DEADLINE).await.is_some());
        assert!(pg
            .meta(&[".kill".into(), leader.to_string()])
            .await
            .is_err());
        let nodes = pg.nodes().await;
        assert!(nodes.contains("down"), "{nodes}");
        client.put("during", "2").await.unwrap();
        pg.meta(&[".restart".into(), leader.to_string()])
            .await
            .unwrap();
        // The restarted replica recovers its WAL and catches up: it serves both keys locally.
        let restarted = pg.endpoints()[leader as usize - 1].clone();
        let local = Client::connect([restarted]).unwrap();
        let start = Instant::now();
        let mut pause = Duration::from_millis(10);
        loop {
            let keys = local
                .range(
                    ddbb_libs::cmd::KeyRange::prefix(bytes::Bytes::new()),
                    ddbb_client::RangeOptions {
                        view: ddbb_client::RangeView::KeysOnly,
                        consistency: ddbb_libs::Consistency::Serializable,
                        ..Default::default()
                    },
                )
                .await;
            if let Ok(ddbb_client::RangeReply::Keys(keys)) = &keys {
                if keys.len() == 2 {
                    break;
                }
            }
            assert!(start.elapsed() < LEADER_DEADLINE, "no catch-up: {keys:?}");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
        pg.meta(&[".cut".into(), "1".into(), "2".into()])
            .await
            .unwrap();
        assert!(pg.nodes().await.contains("cut links: 1<->2"));
        pg.meta(&[".heal".into()]).await.unwrap();
        assert!(pg.nodes().await.contains("cut links: none"));
        assert!(pg
            .meta(&[".cut".into(), "1".into(), "1".into()])
            .await
            .is_err());
        assert!(pg.meta(&[".kill".into(), "9".into()]).await.is_err());
        assert!(pg.meta(&[".nope".into()]).await.is_err());
        pg.stop().await;
        assert!(!dir.exists());
    }
}
