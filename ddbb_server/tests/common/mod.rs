//! Test harness: real `ddbb_server` processes on loopback, killed on drop (also on panic).
#![allow(dead_code)] // each test file uses a different part of the harness

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ddbb_libs::{Connection, Frame, FrameLimits, StatusReply};
use tokio::net::TcpStream;

/// Default deadline for a condition in these tests: generous for a loaded 2-core CI machine.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Free loopback ports (bound to port 0, then released).
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind port 0"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}

/// A cluster of `ddbb_server` processes.
pub struct Cluster {
    pub peers: String,
    pub client_addrs: Vec<SocketAddr>,
    /// etcd gRPC addresses (`--grpc-addr`), empty unless started with [`Cluster::start_grpc`].
    pub grpc_addrs: Vec<SocketAddr>,
    children: Vec<Option<Child>>,
    extra_args: Vec<String>,
    pub dir: tempfile::TempDir,
}

impl Cluster {
    /// Starts `n` replicas with extra flags for every one.
    pub fn start(n: usize, extra_args: &[&str]) -> Cluster {
        let mut cluster = Cluster::configure(n, extra_args);
        for id in 1..=n as u64 {
            cluster.restart(id);
        }
        cluster
    }

    /// Chooses ports and dirs for `n` replicas without starting any.
    pub fn configure(n: usize, extra_args: &[&str]) -> Cluster {
        let ports = free_ports(2 * n);
        let peers = (0..n)
            .map(|i| format!("{}=127.0.0.1:{}", i + 1, ports[i]))
            .collect::<Vec<_>>()
            .join(",");
        let client_addrs = (0..n)
            .map(|i| SocketAddr::from(([127, 0, 0, 1], ports[n + i])))
            .collect();
        Cluster {
            peers,
            client_addrs,
            grpc_addrs: Vec::new(),
            children: (0..n).map(|_| None).collect(),
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    /// Starts `n` replicas that also serve the etcd gRPC API (`--grpc-addr`, and
    /// `--grpc-peers` naming every replica's).
    pub fn start_grpc(n: usize, extra_args: &[&str]) -> Cluster {
        let mut cluster = Cluster::configure(n, extra_args);
        cluster.grpc_addrs = free_ports(n)
            .into_iter()
            .map(|p| SocketAddr::from(([127, 0, 0, 1], p)))
            .collect();
        for id in 1..=n as u64 {
            cluster.restart(id);
        }
        cluster
    }

    /// Replica `id`'s gRPC address.
    pub fn grpc(&self, id: u64) -> SocketAddr {
        self.grpc_addrs[id as usize - 1]
    }

    /// `ID=IP:PORT,...` of the gRPC addresses.
    fn grpc_peers(&self) -> String {
        let items: Vec<String> = (1..=self.grpc_addrs.len())
            .map(|i| format!("{i}={}", self.grpc_addrs[i - 1]))
            .collect();
        items.join(",")
    }

    pub fn len(&self) -> usize {
        self.children.len()
    }

    pub fn addr(&self, id: u64) -> SocketAddr {
        self.client_addrs[id as usize - 1]
    }

    pub fn data_dir(&self, id: u64) -> PathBuf {
        self.dir.path().join(format!("replica-{id}"))
    }

    /// Starts (or starts again) replica `id`.
    pub fn restart(&mut self, id: u64) {
        self.restart_with(id, &[]);
    }

    /// Starts (or starts again) replica `id` with extra flags for this start only.
    pub fn restart_with(&mut self, id: u64, extra: &[&str]) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.path().join(format!("replica-{id}.log")))
            .expect("log file");
        let mut grpc = Vec::new();
        if !self.grpc_addrs.is_empty() {
            grpc.extend([
                "--grpc-addr".to_string(),
                self.grpc(id).to_string(),
                "--grpc-peers".to_string(),
                self.grpc_peers(),
            ]);
        }
        let child = Command::new(env!("CARGO_BIN_EXE_ddbb_server"))
            .args(&grpc)
            .arg("--id")
            .arg(id.to_string())
            .arg("--peers")
            .arg(&self.peers)
            .arg("--client-addr")
            .arg(self.addr(id).to_string())
            .arg("--data-dir")
            .arg(self.data_dir(id))
            .args(&self.extra_args)
            .args(extra)
            .env(
                "RUST_LOG",
                std::env::var("DDBB_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn ddbb_server");
        self.children[id as usize - 1] = Some(child);
    }

    /// kill -9 replica `id` (by its PID) and reaps it.
    pub fn kill(&mut self, id: u64) {
        if let Some(mut child) = self.children[id as usize - 1].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// The PID of replica `id`, if running.
    pub fn pid(&self, id: u64) -> Option<u32> {
        self.children[id as usize - 1].as_ref().map(|c| c.id())
    }

    /// The exit status of replica `id` if it has exited by itself.
    pub fn try_exit(&mut self, id: u64) -> Option<std::process::ExitStatus> {
        let child = self.children[id as usize - 1].as_mut()?;
        let status = child.try_wait().expect("try_wait")?;
        self.children[id as usize - 1] = None;
        Some(status)
    }

    /// Waits until replica `id` exits by itself; returns its exit status.
    pub async fn wait_exit(&mut self, id: u64) -> std::process::ExitStatus {
        let mut deadline = Deadline::new(&format!("replica {id} to exit"));
        loop {
            let child = self.children[id as usize - 1]
                .as_mut()
                .expect("replica was started");
            if let Some(status) = child.try_wait().expect("try_wait") {
                self.children[id as usize - 1] = None;
                return status;
            }
            deadline.pause().await;
        }
    }

    /// Ids of the replicas currently running.
    pub fn alive(&self) -> Vec<u64> {
        (1..=self.len() as u64)
            .filter(|id| self.children[*id as usize - 1].is_some())
            .collect()
    }

    /// The log of replica `id`, for failure messages.
    pub fn log(&self, id: u64) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("replica-{id}.log")))
            .unwrap_or_default()
    }

    /// Waits until some live replica reports itself leader and every live replica agrees;
    /// returns its id.
    pub async fn wait_for_leader(&self) -> u64 {
        let alive = self.alive();
        wait_until("a leader every live replica agrees on", || async {
            let mut leaders = Vec::new();
            for &id in &alive {
                let status = status(self.addr(id)).await.ok()?;
                leaders.push((status.leader, status.is_leader && status.leader == id));
            }
            let (leader, _) = *leaders.first()?;
            let agreed = leaders.iter().all(|(l, _)| *l == leader && leader != 0);
            let confirmed = leaders.iter().any(|(_, is)| *is);
            (agreed && confirmed && alive.contains(&leader)).then_some(leader)
        })
        .await
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for id in 1..=self.len() as u64 {
            self.kill(id);
        }
        if std::thread::panicking() {
            // Keep the replicas' logs of a failed test for a post-mortem.
            let keep = std::env::temp_dir().join(format!(
                "ddbb-failed-test-{}-{}",
                std::process::id(),
                self.client_addrs[0].port()
            ));
            let _ = std::fs::create_dir_all(&keep);
            for id in 1..=self.len() as u64 {
                let name = format!("replica-{id}.log");
                let _ = std::fs::copy(self.dir.path().join(&name), keep.join(&name));
            }
            eprintln!("replica logs kept in {}", keep.display());
        }
    }
}

/// A gRPC channel to `addr`, once it accepts connections; `timeout` bounds each unary call
/// (leave it `None` for long-lived streams).
pub async fn grpc_channel(
    addr: SocketAddr,
    timeout: Option<Duration>,
) -> tonic::transport::Channel {
    wait_until(&format!("gRPC on {addr}"), || async {
        let mut endpoint = tonic::transport::Channel::from_shared(format!("http://{addr}")).ok()?;
        if let Some(t) = timeout {
            endpoint = endpoint.timeout(t);
        }
        endpoint.connect().await.ok()
    })
    .await
}

/// Polls `check` until it returns `Some`, or panics after [`DEADLINE`].
pub async fn wait_until<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "timed out after {DEADLINE:?} waiting for {what}"
        );
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// A deadline for hand-written polling loops (where a closure cannot borrow mutably):
/// `loop { if done { break } deadline.pause().await }`.
pub struct Deadline {
    what: String,
    start: Instant,
    pause: Duration,
}

impl Deadline {
    pub fn new(what: &str) -> Deadline {
        Deadline {
            what: what.to_string(),
            start: Instant::now(),
            pause: Duration::from_millis(5),
        }
    }

    /// Panics once [`DEADLINE`] has passed, else waits a little (backing off).
    pub async fn pause(&mut self) {
        assert!(
            self.start.elapsed() < DEADLINE,
            "timed out after {DEADLINE:?} waiting for {}",
            self.what
        );
        tokio::time::sleep(self.pause).await;
        self.pause = (self.pause * 2).min(Duration::from_millis(200));
    }
}

/// A minimal RESP client for tests.
pub struct TestClient {
    conn: Connection,
}

impl TestClient {
    pub async fn connect(addr: SocketAddr) -> std::io::Result<TestClient> {
        let stream = TcpStream::connect(addr).await?;
        Ok(TestClient {
            conn: Connection::new(stream, FrameLimits::default()),
        })
    }

    /// Connects, retrying until the replica listens.
    pub async fn connect_when_up(addr: SocketAddr) -> TestClient {
        wait_until(&format!("{addr} to accept clients"), || async {
            TestClient::connect(addr).await.ok()
        })
        .await
    }

    /// Sends one command and reads its reply.
    pub async fn cmd(&mut self, words: &[&str]) -> Frame {
        self.conn
            .send(&Frame::command(words.iter().map(|w| w.to_string())))
            .await
            .expect("send");
        self.conn
            .read_frame()
            .await
            .expect("read")
            .expect("connection closed")
    }

    /// Like [`TestClient::cmd`] but returns errors instead of panicking.
    pub async fn try_cmd(&mut self, words: &[&str]) -> Result<Frame, String> {
        self.conn
            .send(&Frame::command(words.iter().map(|w| w.to_string())))
            .await
            .map_err(|e| e.to_string())?;
        match self.conn.read_frame().await {
            Ok(Some(f)) => Ok(f),
            Ok(None) => Err("closed".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    pub fn conn(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

/// One `STATUS` call.
pub async fn status(addr: SocketAddr) -> Result<StatusReply, String> {
    let mut c = TestClient::connect(addr).await.map_err(|e| e.to_string())?;
    let frame = c.try_cmd(&["STATUS"]).await?;
    StatusReply::from_frame(frame).map_err(|e| e.to_string())
}

pub fn bulk(s: &str) -> Frame {
    Frame::Bulk(bytes::Bytes::copy_from_slice(s.as_bytes()))
}

pub fn ok() -> Frame {
    Frame::Simple("OK".into())
}

/// True for an error reply.
pub fn is_err(f: &Frame) -> bool {
    matches!(f, Frame::Error(_))
}

/// The path of `name`, or `None` (and a SKIPPED note) when it is not installed.
pub fn tool(name: &str, package: &str) -> Option<String> {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if found.is_none() {
        assert!(
            std::env::var("CI").is_err(),
            "{name} is missing under CI: scripts/test must install {package}"
        );
        eprintln!("SKIPPED: {name} not installed (apt-get install {package})");
    }
    found
}

/// A single real etcd on free loopback ports, killed (by PID) on drop.
pub struct RealEtcd {
    child: Child,
    /// Its client URL's address (gRPC and the JSON gateway).
    pub client: SocketAddr,
    _dir: tempfile::TempDir,
}

impl RealEtcd {
    /// Starts `bin` (Debian's `etcd`) as a one-member cluster in a temp dir.
    pub fn start(bin: &str) -> RealEtcd {
        let dir = tempfile::tempdir().expect("temp dir");
        let ports = free_ports(2);
        let client = SocketAddr::from(([127, 0, 0, 1], ports[0]));
        let peer = format!("http://127.0.0.1:{}", ports[1]);
        let log = std::fs::File::create(dir.path().join("etcd.log")).expect("log");
        let child = Command::new(bin)
            .args(["--name", "t", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(["--listen-client-urls", &format!("http://{client}")])
            .args(["--advertise-client-urls", &format!("http://{client}")])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("t={peer}")])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn etcd");
        RealEtcd {
            child,
            client,
            _dir: dir,
        }
    }
}

impl Drop for RealEtcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
