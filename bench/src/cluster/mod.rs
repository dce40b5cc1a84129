//! Local clusters of DDBB replicas or etcd members, started and stopped by the bench.
//!
//! Each member listens on a loopback address of its own (`127.77.S.i`: S = 1 for DDBB, 2 for
//! etcd) on free ports, keeps its data in a directory of the run's data root (the same disk
//! for both systems, fsync on), logs to a file beside it, and, when the bench runs as root,
//! runs under a uid of its own so that [`crate::iptables`] can cut links between members.
//! Members are stopped by PID (SIGKILL) when the cluster is dropped, and the data is removed.

mod ddbb;
mod etcd;
mod process;

use std::fmt;
use std::net::{Ipv4Addr, TcpListener};
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use serde::{Deserialize, Serialize};

use crate::driver::Protocol;
use crate::iptables::Endpoint;
pub use process::world_executable;

/// A program to run: path, arguments, extra environment.
type CommandLine = (PathBuf, Vec<String>, Vec<(&'static str, String)>);

/// First uid given to members (DDBB: +1..=N, etcd: +11..).
const UID_BASE: u32 = 47_100;
/// Longest wait for a new cluster to elect a leader and take a write.
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// The system under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum System {
    /// DDBB replicas.
    Ddbb,
    /// etcd members.
    Etcd,
}

impl System {
    /// Both, in report order.
    pub const ALL: [System; 2] = [System::Ddbb, System::Etcd];

    fn subnet(self) -> u8 {
        match self {
            System::Ddbb => 1,
            System::Etcd => 2,
        }
    }

    /// The uid member `index` (0-based) of this system runs under when isolated.
    pub fn uid(self, index: usize) -> u32 {
        UID_BASE + 10 * (self.subnet() as u32 - 1) + index as u32 + 1
    }

    /// Every uid a member may get (for the firewall's marks).
    pub fn all_uids() -> Vec<u32> {
        System::ALL
            .iter()
            .flat_map(|s| (0..5).map(move |i| s.uid(i)))
            .collect()
    }
}

impl fmt::Display for System {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            System::Ddbb => "DDBB",
            System::Etcd => "etcd",
        })
    }
}

/// Failure-detection settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Timing {
    /// Each system's defaults (DDBB: 10 ms ticks, 10-tick election round; etcd: 100 ms
    /// heartbeat, 1000 ms election timeout).
    Defaults,
    /// The same failure detection for both: a leader is suspected after about 100 ms of
    /// silence (DDBB defaults; etcd `--heartbeat-interval 10 --election-timeout 100`).
    Matched,
}

/// How to start members; shared by every cluster of a run.
#[derive(Clone, Debug)]
pub struct Launcher {
    /// `ddbb_server` binary; `None` runs the replica embedded in this binary (`serve`).
    pub ddbb_bin: Option<PathBuf>,
    /// Extra flags for every DDBB replica (experiments).
    pub ddbb_args: Vec<String>,
    /// The `etcd` binary.
    pub etcd_bin: PathBuf,
    /// Where clusters keep their data directories.
    pub data_root: PathBuf,
    /// Run each member under a uid of its own (needed to cut links).
    pub isolate: bool,
    /// How the bench drives DDBB: RESP, or etcd's gRPC API (replicas get `--grpc-addr`).
    pub ddbb_protocol: Protocol,
}

/// One member.
#[derive(Debug)]
pub struct Member {
    /// 0-based position; DDBB's replica id is `index + 1`.
    pub index: usize,
    /// Its loopback address.
    pub ip: Ipv4Addr,
    /// Client port (RESP2 or gRPC).
    pub client_port: u16,
    /// Peer port.
    pub peer_port: u16,
    /// DDBB's etcd gRPC port, when the bench drives DDBB over gRPC.
    pub grpc_port: Option<u16>,
    /// Its uid, when isolated.
    pub uid: Option<u32>,
    data_dir: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Member {
    /// `ip:client_port`.
    pub fn client_addr(&self) -> String {
        format!("{}:{}", self.ip, self.client_port)
    }

    /// `ip:grpc_port`, when DDBB serves gRPC.
    pub fn grpc_addr(&self) -> Option<String> {
        self.grpc_port.map(|p| format!("{}:{p}", self.ip))
    }

    /// `ip:peer_port`.
    pub fn peer_addr(&self) -> String {
        format!("{}:{}", self.ip, self.peer_port)
    }

    /// The PID of the running process.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// This member as the firewall sees it.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            uid: self.uid.unwrap_or(0),
            ip: self.ip,
        }
    }
}

/// A running cluster.
#[derive(Debug)]
pub struct Cluster {
    /// Which system.
    pub system: System,
    /// The members, by index.
    pub members: Vec<Member>,
    /// Failure-detection settings it was started with.
    pub timing: Timing,
    /// The protocol the bench's clients speak to it (etcd: always gRPC).
    pub protocol: Protocol,
    /// The revision right after the preload (`get-old` reads at it); 1 before.
    pub old_revision: i64,
    dir: PathBuf,
}

/// Free ports on `ip` (bound to port 0, then released).
fn free_ports(ip: Ipv4Addr, n: usize) -> Result<Vec<u16>> {
    let listeners = (0..n)
        .map(|_| TcpListener::bind((ip, 0)))
        .collect::<std::io::Result<Vec<_>>>()?;
    Ok(listeners
        .iter()
        .map(|l| l.local_addr().map(|a| a.port()))
        .collect::<std::io::Result<Vec<_>>>()?)
}

static CLUSTERS_MADE: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Cluster {
    /// Starts `n` members of `system` and waits until they have a leader that takes writes.
    ///
    /// # Errors
    /// When a member cannot start or no leader appears in time (with the members' log tails).
    pub async fn start(
        launcher: &Launcher,
        system: System,
        n: usize,
        timing: Timing,
    ) -> Result<Cluster> {
        let seq = CLUSTERS_MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = launcher
            .data_root
            .join(format!("{}-{n}-{seq}", system.to_string().to_lowercase()));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        process::make_dir(&dir, None, 0o755)?;
        let protocol = match system {
            System::Ddbb => launcher.ddbb_protocol,
            System::Etcd => Protocol::Grpc,
        };
        let ddbb_grpc = system == System::Ddbb && protocol == Protocol::Grpc;
        let mut members = Vec::with_capacity(n);
        for index in 0..n {
            let ip = Ipv4Addr::new(127, 77, system.subnet(), index as u8 + 1);
            let ports = free_ports(ip, 3)?;
            let uid = launcher.isolate.then(|| system.uid(index));
            members.push(Member {
                index,
                ip,
                client_port: ports[0],
                peer_port: ports[1],
                grpc_port: ddbb_grpc.then_some(ports[2]),
                uid,
                data_dir: dir.join(format!("member-{}", index + 1)),
                log: dir.join(format!("member-{}.log", index + 1)),
                child: None,
            });
        }
        let mut cluster = Cluster {
            system,
            members,
            timing,
            protocol,
            old_revision: 1,
            dir,
        };
        for index in 0..n {
            let m = &cluster.members[index];
            process::make_dir(&m.data_dir, m.uid, 0o700)?;
            cluster.spawn(launcher, index, seq)?;
        }
        cluster.wait_ready(READY_TIMEOUT).await?;
        Ok(cluster)
    }

    fn spawn(&mut self, launcher: &Launcher, index: usize, seq: usize) -> Result<()> {
        let (program, args, env) = match self.system {
            System::Ddbb => ddbb::command(launcher, self, index)?,
            System::Etcd => etcd::command(launcher, self, index, seq),
        };
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let m = &self.members[index];
        let child = process::spawn(&program, &args, &env, m.uid, &m.log)?;
        self.members[index].child = Some(child);
        Ok(())
    }

    /// The endpoints the bench's clients use, by member index, for [`Cluster::protocol`]
    /// (RESP: `ip:port`; gRPC: `http://ip:port`, DDBB's gRPC port or etcd's client port).
    pub fn endpoints(&self) -> Vec<String> {
        self.members
            .iter()
            .map(|m| match (self.system, self.protocol) {
                (System::Ddbb, Protocol::Resp) => m.client_addr(),
                (System::Ddbb, Protocol::Grpc) => {
                    format!(
                        "http://{}",
                        m.grpc_addr().unwrap_or_else(|| m.client_addr())
                    )
                }
                (System::Etcd, _) => format!("http://{}", m.client_addr()),
            })
            .collect()
    }

    /// PIDs of the running members.
    pub fn pids(&self) -> Vec<u32> {
        self.members.iter().filter_map(Member::pid).collect()
    }

    /// Indices of the running members.
    pub fn alive(&self) -> Vec<usize> {
        self.members
            .iter()
            .filter(|m| m.child.is_some())
            .map(|m| m.index)
            .collect()
    }

    /// kill -9 member `index` (by PID) and reaps it.
    pub fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.members[index].child.take() {
            process::kill(&mut child);
        }
    }

    /// The index of the member every live member agrees is leader.
    ///
    /// # Errors
    /// When members disagree, one does not answer, or there is no leader.
    pub async fn leader(&self) -> Result<usize> {
        match self.system {
            System::Ddbb => ddbb::leader(self).await,
            System::Etcd => etcd::leader(self).await,
        }
    }

    /// Waits until the live members agree on a leader and a write succeeds.
    pub async fn wait_ready(&self, timeout: Duration) -> Result<usize> {
        let deadline = Instant::now() + timeout;
        let mut last = anyhow!("not asked yet");
        loop {
            match self.leader().await {
                Ok(leader) => {
                    // A write through the protocol the bench will use.
                    let probe = match self.protocol {
                        Protocol::Resp => ddbb::probe_write(self).await,
                        Protocol::Grpc => etcd::probe_write(self).await,
                    };
                    match probe {
                        Ok(()) => return Ok(leader),
                        Err(e) => last = e,
                    }
                }
                Err(e) => last = e,
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} cluster of {} not ready after {timeout:?}: {last:#}\n{}",
                    self.system,
                    self.members.len(),
                    self.log_tails(15)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The last `lines` lines of every member's log, for error messages.
    pub fn log_tails(&self, lines: usize) -> String {
        let mut out = String::new();
        for m in &self.members {
            let text = std::fs::read_to_string(&m.log).unwrap_or_default();
            let tail: Vec<&str> = text.lines().rev().take(lines).collect();
            out.push_str(&format!(
                "--- {} member {} ({}):\n",
                self.system,
                m.index + 1,
                m.log.display()
            ));
            for line in tail.into_iter().rev() {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.kill(i);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
