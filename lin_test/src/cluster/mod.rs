//! The cluster harness: N replica processes on their own loopback addresses.
//!
//! [`Cluster`] starts `ddbb_server` replicas (the real binary, or this binary's embedded
//! `serve` mode, which links the same server library), each with a data directory that
//! survives restarts and a log file in the run directory. It kills (`SIGKILL`), restarts,
//! pauses (`SIGSTOP`) and resumes (`SIGCONT`) them by PID, and kills all of them when dropped,
//! also while unwinding from a panic. [`status`], [`leader`] and [`wait_healthy`] ask the
//! replicas themselves (`STATUS`) what state the cluster is in.
//!
//! Parts: `address` (the loopback address plan), `process` (spawning children that die with
//! the tester).

mod address;
mod process;

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use ddbb_libs::{Connection, Frame, FrameLimits, NodeId, StatusReply};
use tokio::net::TcpStream;
use tokio::time::Instant;

pub use address::{AddressPlan, MAX_NODES};

use crate::error::{Error, Result};
use ddbb_libs::shutdown::Shutdown;

/// Largest reply the harness accepts from a replica (`STATUS` and single values are small).
const MAX_REPLY_BYTES: usize = 16 * 1024 * 1024;
/// How long one `STATUS` or probe read may take before the replica counts as unresponsive.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// How to start a replica process.
#[derive(Debug, Clone)]
pub struct ServerCommand {
    /// The executable.
    pub program: PathBuf,
    /// Arguments before the replica's own flags (`["serve"]` for the embedded server).
    pub prefix: Vec<String>,
    /// Flags appended to every replica's command line (tuning, `--unsafe-local-reads`).
    pub extra_args: Vec<String>,
    /// Also serve etcd's gRPC API on the plan's gRPC address (`--grpc-addr`, loopback).
    pub grpc: bool,
}

impl ServerCommand {
    /// This executable in its `serve` mode: the server library linked into `lin_test`, always
    /// built from the same sources as the tester.
    ///
    /// # Errors
    /// [`Error::Harness`] if the path of the running executable is unknown.
    pub fn embedded(extra_args: Vec<String>) -> Result<ServerCommand> {
        let program = std::env::current_exe()
            .map_err(|e| Error::Harness(format!("cannot locate the lin_test executable: {e}")))?;
        Ok(ServerCommand {
            program,
            prefix: vec!["serve".to_string()],
            extra_args,
            grpc: false,
        })
    }

    /// An external `ddbb_server` binary.
    pub fn external(program: PathBuf, extra_args: Vec<String>) -> ServerCommand {
        ServerCommand {
            program,
            prefix: Vec::new(),
            extra_args,
            grpc: false,
        }
    }

    /// The same, serving etcd's gRPC API too (`--grpc-addr` and `--grpc-peers` from the plan).
    pub fn with_grpc(self) -> ServerCommand {
        ServerCommand { grpc: true, ..self }
    }

    /// A one-line description for reports.
    pub fn describe(&self) -> String {
        let mut text = self.program.display().to_string();
        for arg in self.prefix.iter().chain(&self.extra_args) {
            text.push(' ');
            text.push_str(arg);
        }
        if self.grpc {
            text.push_str(" (and --grpc-addr)");
        }
        text
    }
}

/// One replica's process state.
#[derive(Debug, Default)]
struct Slot {
    /// The running process; `None` while killed.
    child: Option<Child>,
    /// Stopped with `SIGSTOP`.
    paused: bool,
    /// How many times it was started.
    starts: u32,
}

/// A running cluster of replica processes; kills them all on drop.
#[derive(Debug)]
pub struct Cluster {
    plan: AddressPlan,
    server: ServerCommand,
    data_root: PathBuf,
    log_dir: PathBuf,
    slots: Mutex<BTreeMap<NodeId, Slot>>,
}

impl Cluster {
    /// Starts every replica of `plan`; data in `data_root/replica-N`, logs in
    /// `log_dir/replica-N.log`.
    ///
    /// # Errors
    /// [`Error::Harness`] if a process cannot be spawned (the ones already started are killed).
    pub fn start(
        plan: AddressPlan,
        server: ServerCommand,
        data_root: &Path,
        log_dir: &Path,
    ) -> Result<Cluster> {
        std::fs::create_dir_all(log_dir)
            .map_err(|e| Error::Harness(format!("cannot create {}: {e}", log_dir.display())))?;
        let cluster = Cluster {
            slots: Mutex::new(plan.ids().map(|id| (id, Slot::default())).collect()),
            plan,
            server,
            data_root: data_root.to_path_buf(),
            log_dir: log_dir.to_path_buf(),
        };
        for id in cluster.plan.ids() {
            cluster.restart(id)?;
        }
        Ok(cluster)
    }

    /// The address plan.
    pub fn plan(&self) -> &AddressPlan {
        &self.plan
    }

    /// The log file of replica `id`.
    pub fn log_path(&self, id: NodeId) -> PathBuf {
        self.log_dir.join(format!("replica-{id}.log"))
    }

    fn slots(&self) -> std::sync::MutexGuard<'_, BTreeMap<NodeId, Slot>> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts replica `id` if it is not running (same data directory as before).
    ///
    /// # Errors
    /// [`Error::Harness`] if the log file cannot be opened or the process cannot be spawned.
    pub fn restart(&self, id: NodeId) -> Result<()> {
        let mut slots = self.slots();
        let slot = slots
            .get_mut(&id)
            .ok_or_else(|| Error::Harness(format!("no replica {id}")))?;
        if slot.child.is_some() {
            return Ok(());
        }
        let log_path = self.log_path(id);
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| Error::Harness(format!("cannot open {}: {e}", log_path.display())))?;
        let _ = writeln!(
            log,
            "===== lin_test: start #{} of replica {id}",
            slot.starts + 1
        );
        let mut command = Command::new(&self.server.program);
        command
            .args(&self.server.prefix)
            .arg("--id")
            .arg(id.to_string())
            .arg("--peers")
            .arg(self.plan.peers_arg(id))
            .arg("--client-addr")
            .arg(self.plan.client_addr(id).to_string())
            .arg("--data-dir")
            .arg(self.data_root.join(format!("replica-{id}")));
        if self.server.grpc {
            command
                .arg("--grpc-addr")
                .arg(self.plan.grpc_addr(id).to_string())
                .arg("--grpc-peers")
                .arg(self.plan.grpc_peers_arg());
        }
        command
            .args(&self.server.extra_args)
            .env(
                "RUST_LOG",
                std::env::var("LIN_TEST_SERVER_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        let child = process::spawn(command).map_err(|e| {
            Error::Harness(format!(
                "cannot start replica {id} ({}): {e}",
                self.server.program.display()
            ))
        })?;
        slot.child = Some(child);
        slot.paused = false;
        slot.starts += 1;
        Ok(())
    }

    /// `kill -9` replica `id` by its PID and reaps it; false if it was not running.
    pub fn kill(&self, id: NodeId) -> bool {
        let mut slots = self.slots();
        let Some(slot) = slots.get_mut(&id) else {
            return false;
        };
        let Some(mut child) = slot.child.take() else {
            return false;
        };
        let _ = child.kill();
        crate::cleanup::forget_pid(child.id());
        let _ = child.wait();
        slot.paused = false;
        true
    }

    /// `SIGSTOP`s replica `id`; false if it is not running or already paused.
    pub fn pause(&self, id: NodeId) -> bool {
        self.send_signal(id, libc::SIGSTOP, true)
    }

    /// `SIGCONT`s replica `id`; false if it is not paused.
    pub fn resume(&self, id: NodeId) -> bool {
        self.send_signal(id, libc::SIGCONT, false)
    }

    fn send_signal(&self, id: NodeId, signal: libc::c_int, pause: bool) -> bool {
        let mut slots = self.slots();
        let Some(slot) = slots.get_mut(&id) else {
            return false;
        };
        let Some(child) = &slot.child else {
            return false;
        };
        if slot.paused == pause {
            return false;
        }
        if process::signal(child.id(), signal).is_err() {
            return false;
        }
        slot.paused = pause;
        true
    }

    /// Replicas whose process runs and is not paused.
    pub fn serving(&self) -> Vec<NodeId> {
        self.slots()
            .iter()
            .filter(|(_, s)| s.child.is_some() && !s.paused)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Replicas without a process (killed, or exited and reaped), and replicas paused.
    pub fn down(&self) -> (Vec<NodeId>, Vec<NodeId>) {
        let slots = self.slots();
        let stopped = slots
            .iter()
            .filter(|(_, s)| s.child.is_none())
            .map(|(id, _)| *id)
            .collect();
        let paused = slots
            .iter()
            .filter(|(_, s)| s.child.is_some() && s.paused)
            .map(|(id, _)| *id)
            .collect();
        (stopped, paused)
    }

    /// Replicas that exited by themselves since the last call, with their exit status.
    pub fn reap_exited(&self) -> Vec<(NodeId, String)> {
        let mut exited = Vec::new();
        for (id, slot) in self.slots().iter_mut() {
            let Some(child) = &mut slot.child else {
                continue;
            };
            if let Ok(Some(status)) = child.try_wait() {
                crate::cleanup::forget_pid(child.id());
                slot.child = None;
                slot.paused = false;
                exited.push((*id, status.to_string()));
            }
        }
        exited
    }

    /// Resumes and kills every replica.
    pub fn stop_all(&self) {
        for id in self.plan.ids() {
            self.resume(id);
            self.kill(id);
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// Sends one command to `addr` on a fresh connection and reads one reply within `timeout`.
pub async fn request(addr: SocketAddr, words: &[&str], timeout: Duration) -> Option<Frame> {
    let exchange = async {
        let stream = TcpStream::connect(addr).await.ok()?;
        let mut conn = Connection::new(stream, FrameLimits::with_max_frame_bytes(MAX_REPLY_BYTES));
        let frame = Frame::command(words.iter().map(|w| Bytes::copy_from_slice(w.as_bytes())));
        conn.send(&frame).await.ok()?;
        conn.read_frame().await.ok()?
    };
    tokio::time::timeout(timeout, exchange).await.ok()?
}

/// Replica `id`'s `STATUS`, or `None` if it does not answer in time.
pub async fn status(plan: &AddressPlan, id: NodeId) -> Option<StatusReply> {
    let frame = request(plan.client_addr(id), &["STATUS"], PROBE_TIMEOUT).await?;
    StatusReply::from_frame(frame).ok()
}

/// `STATUS` of each of `ids`, asked in parallel.
pub async fn statuses(plan: &AddressPlan, ids: &[NodeId]) -> BTreeMap<NodeId, StatusReply> {
    let mut tasks = tokio::task::JoinSet::new();
    for &id in ids {
        let plan = plan.clone();
        tasks.spawn(async move { (id, status(&plan, id).await) });
    }
    let mut replies = BTreeMap::new();
    while let Some(joined) = tasks.join_next().await {
        if let Ok((id, Some(reply))) = joined {
            replies.insert(id, reply);
        }
    }
    replies
}

/// The leader most of `ids` report (a replica that calls itself leader wins a tie).
pub async fn leader(plan: &AddressPlan, ids: &[NodeId]) -> Option<NodeId> {
    let replies = statuses(plan, ids).await;
    let mut votes: BTreeMap<NodeId, (usize, bool)> = BTreeMap::new();
    for (id, status) in &replies {
        if status.leader != 0 {
            let vote = votes.entry(status.leader).or_default();
            vote.0 += 1;
            vote.1 |= status.is_leader && status.leader == *id;
        }
    }
    votes
        .into_iter()
        .max_by_key(|(_, (count, confirmed))| (*count, *confirmed))
        .map(|(id, _)| id)
}

/// Waits until every replica of `plan` answers, all follow the same leader, which confirms it
/// leads, every peer link is up, and a linearizable read succeeds on every replica.
///
/// # Errors
/// A description of what was still wrong when `timeout` passed or the run was stopped.
pub async fn wait_healthy(
    plan: &AddressPlan,
    timeout: Duration,
    stop: &mut Shutdown,
) -> std::result::Result<NodeId, String> {
    let deadline = Instant::now() + timeout;
    let ids: Vec<NodeId> = plan.ids().collect();
    let mut pause = Duration::from_millis(20);
    loop {
        let problem = match health(plan, &ids).await {
            Ok(leader) => return Ok(leader),
            Err(problem) => problem,
        };
        if Instant::now() + pause >= deadline {
            return Err(format!("not healthy after {timeout:?}: {problem}"));
        }
        if !stop.sleep(pause).await {
            return Err(format!("stopped while waiting: {problem}"));
        }
        pause = (pause * 2).min(Duration::from_millis(500));
    }
}

async fn health(plan: &AddressPlan, ids: &[NodeId]) -> std::result::Result<NodeId, String> {
    let replies = statuses(plan, ids).await;
    if let Some(id) = ids.iter().find(|id| !replies.contains_key(id)) {
        return Err(format!("replica {id} does not answer STATUS"));
    }
    let leaders: Vec<NodeId> = replies.values().map(|s| s.leader).collect();
    let leader = leaders[0];
    if leader == 0 || leaders.iter().any(|&l| l != leader) {
        return Err(format!(
            "no agreed leader yet (replicas follow {leaders:?})"
        ));
    }
    if !replies.get(&leader).is_some_and(|s| s.is_leader) {
        return Err(format!("replica {leader} does not confirm it leads"));
    }
    for (id, s) in &replies {
        if s.connected_peers.len() + 1 < ids.len() {
            return Err(format!(
                "replica {id} has links up to {:?} only",
                s.connected_peers
            ));
        }
    }
    for &id in ids {
        match request(
            plan.client_addr(id),
            &["GET", "lin_test:probe"],
            PROBE_TIMEOUT,
        )
        .await
        {
            Some(Frame::Bulk(_) | Frame::Null) => {}
            other => return Err(format!("replica {id} answers a read with {other:?}")),
        }
    }
    Ok(leader)
}
