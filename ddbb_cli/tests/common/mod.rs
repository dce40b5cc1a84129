//! Test harness: an in-process cluster (real replicas on loopback, stopped on drop, also on
//! panic) and a runner for the `ddbb` binary with a deadline.
#![allow(dead_code)] // each test file uses a different part of the harness

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ddbb_client::{Client, ClientConfig};
use ddbb_server::{LinkFaults, ServerConfig, ServerHandle};

/// Deadline for any condition or child process in these tests (a loaded 2-core machine).
pub const DEADLINE: Duration = Duration::from_secs(60);

/// Free loopback ports (bound together, then released).
pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind port 0"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local addr").port())
        .collect()
}

/// A loopback address nobody listens on: a low port no test binds (a port released by
/// `free_ports` could be taken again by a parallel test's replica).
pub fn dead_endpoint(n: u16) -> String {
    let addr = format!("127.0.0.1:{n}");
    assert!(
        std::net::TcpStream::connect(&addr).is_err(),
        "something listens on {addr}"
    );
    addr
}

/// Replicas started in-process with `ddbb_server`, each with its own data dir, serving RESP
/// and etcd's gRPC API.
pub struct TestCluster {
    runtime: tokio::runtime::Runtime,
    configs: Vec<ServerConfig>,
    handles: Vec<Option<ServerHandle>>,
    /// Shared by every replica: cut links in-process.
    pub faults: Arc<LinkFaults>,
    _dir: tempfile::TempDir,
}

impl TestCluster {
    /// Starts `n` replicas and waits until they agree on a leader.
    pub fn start(n: usize) -> TestCluster {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let dir = tempfile::tempdir().expect("temp dir");
        let faults = Arc::new(LinkFaults::default());
        // A port found free may be taken by a parallel test before we bind it: try again.
        for _ in 0..5 {
            let ports = free_ports(3 * n);
            let addr = |p: u16| SocketAddr::from(([127, 0, 0, 1], p));
            let peers: BTreeMap<u64, SocketAddr> = (1..=n as u64)
                .map(|id| (id, addr(ports[id as usize - 1])))
                .collect();
            let grpc: BTreeMap<u64, SocketAddr> = (1..=n as u64)
                .map(|id| (id, addr(ports[2 * n + id as usize - 1])))
                .collect();
            let configs: Vec<ServerConfig> = (1..=n as u64)
                .map(|id| {
                    let client = addr(ports[n + id as usize - 1]);
                    let mut c = ServerConfig::new(id, peers.clone(), client);
                    c.data_dir = Some(dir.path().join(format!("replica-{id}")));
                    c.grpc_addr = grpc.get(&id).copied();
                    c.grpc_peers = grpc.clone();
                    c
                })
                .collect();
            let mut handles = Vec::new();
            for config in &configs {
                match runtime.block_on(ddbb_server::start_with_faults(
                    config.clone(),
                    faults.clone(),
                )) {
                    Ok(h) => handles.push(Some(h)),
                    Err(_) => break,
                }
            }
            if handles.len() < n {
                for h in handles.into_iter().flatten() {
                    let _ = runtime.block_on(h.shutdown());
                }
                let _ = std::fs::remove_dir_all(dir.path());
                continue;
            }
            let cluster = TestCluster {
                runtime,
                configs,
                handles,
                faults,
                _dir: dir,
            };
            cluster.wait_for_leader();
            return cluster;
        }
        panic!("could not start {n} replicas on free ports");
    }

    /// Client endpoint of replica `id`.
    pub fn endpoint(&self, id: u64) -> String {
        self.configs[id as usize - 1].client_addr.to_string()
    }

    /// etcd gRPC endpoint (`host:port`) of replica `id`.
    pub fn grpc_endpoint(&self, id: u64) -> String {
        self.configs[id as usize - 1]
            .grpc_addr
            .expect("a gRPC address")
            .to_string()
    }

    /// Every client endpoint, comma-separated, replica 1 first.
    pub fn endpoints(&self) -> String {
        (1..=self.configs.len() as u64)
            .map(|id| self.endpoint(id))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Runs `f` on the cluster's runtime.
    pub fn block_on<F: std::future::Future>(&self, f: F) -> F::Output {
        self.runtime.block_on(f)
    }

    /// (Re)starts replica `id`.
    pub fn restart(&mut self, id: u64) {
        let config = self.configs[id as usize - 1].clone();
        let faults = self.faults.clone();
        let handle = self
            .runtime
            .block_on(ddbb_server::start_with_faults(config, faults))
            .expect("start replica");
        self.handles[id as usize - 1] = Some(handle);
    }

    /// Stops replica `id` (its ports close).
    pub fn kill(&mut self, id: u64) {
        if let Some(h) = self.handles[id as usize - 1].take() {
            let _ = self.runtime.block_on(h.shutdown());
        }
    }

    /// Waits until a replica says it leads and a majority follows it; returns its id.
    pub fn wait_for_leader(&self) -> u64 {
        let endpoints: Vec<String> = (1..=self.configs.len() as u64)
            .map(|id| self.endpoint(id))
            .collect();
        let probe =
            Client::new(ClientConfig::new(endpoints).with_timeout(Duration::from_millis(800)))
                .expect("probe client");
        let n = self.configs.len();
        self.runtime.block_on(wait_until("a leader", || {
            let probe = probe.clone();
            async move {
                let all = probe.status_all().await;
                let up: Vec<_> = all.iter().filter_map(|e| e.status.as_ref().ok()).collect();
                let leader = up.iter().find(|s| s.is_leader)?.id;
                let followers = up.iter().filter(|s| s.leader == leader).count();
                (followers * 2 > n).then_some(leader)
            }
        }))
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        for id in 1..=self.handles.len() as u64 {
            self.kill(id);
        }
    }
}

/// Polls `check` (backing off) until it returns `Some`, or panics after [`DEADLINE`].
pub async fn wait_until<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    let mut pause = Duration::from_millis(5);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// Puts `key` through etcd's gRPC API at `endpoint` (`host:port`) with ddbb_proto's
/// `KvClient`, then reads it back linearizably there; returns the value read.
pub async fn etcd_put_get(endpoint: &str, key: &str, value: &str) -> Vec<u8> {
    use ddbb_proto::etcdserverpb::kv_client::KvClient;
    use ddbb_proto::etcdserverpb::{PutRequest, RangeRequest};
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{endpoint}"))
        .expect("endpoint URL")
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(10));
    let mut kv = KvClient::new(channel.connect().await.expect("gRPC connect"));
    let put = kv
        .put(PutRequest {
            key: key.to_string().into(),
            value: value.to_string().into(),
            ..PutRequest::default()
        })
        .await
        .expect("gRPC put")
        .into_inner();
    assert!(put.header.expect("a header").revision > 0);
    let range = kv
        .range(RangeRequest {
            key: key.to_string().into(),
            ..RangeRequest::default()
        })
        .await
        .expect("gRPC range")
        .into_inner();
    assert_eq!(range.kvs.len(), 1, "{range:?}");
    range.kvs[0].value.to_vec()
}

/// True when `etcdctl` runs; otherwise says so, and fails under `CI=true` (where
/// `scripts/test` installs it).
pub fn etcdctl_installed() -> bool {
    let ok = Command::new("etcdctl")
        .arg("version")
        .env("ETCDCTL_API", "3")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var("CI").map_or(true, |v| v != "true"),
            "etcdctl is missing under CI (apt-get install -y etcd-client)"
        );
        eprintln!(
            "etcdctl is not installed (apt-get install -y etcd-client): etcdctl steps skipped"
        );
    }
    ok
}

/// Runs `etcdctl --endpoints <endpoints> args...` (ETCDCTL_API=3); returns (success, stdout).
pub fn etcdctl(endpoints: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", endpoints, "--command-timeout", "10s"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run etcdctl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// What one run of `ddbb` gave.
#[derive(Debug)]
pub struct Run {
    /// Exit code.
    pub code: i32,
    /// Stdout bytes.
    pub stdout: Vec<u8>,
    /// Stderr as text.
    pub stderr: String,
}

impl Run {
    /// Stdout as text.
    pub fn out(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Stdout parsed as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.out()))
    }

    /// Asserts exit 0 and an empty stderr.
    pub fn ok(self) -> Run {
        assert_eq!(self.code, 0, "failed: {self:?}");
        assert!(self.stderr.is_empty(), "stderr: {}", self.stderr);
        self
    }

    /// Asserts exit `code` and exactly one line on stderr, starting with `Error: `.
    pub fn fails(self, code: i32) -> Run {
        assert_eq!(self.code, code, "{self:?}");
        assert_eq!(self.stderr.lines().count(), 1, "{self:?}");
        assert!(self.stderr.starts_with("Error: "), "{self:?}");
        self
    }
}

/// Runs `ddbb args...` with `stdin`, killing it if it outlives [`DEADLINE`].
pub fn ddbb(args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ddbb"))
        .args(args)
        .env_remove("DDBB_ENDPOINTS")
        .env("DDBB_HISTORY", "")
        .env("NO_COLOR", "1")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn ddbb");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        let input = input.to_vec();
        std::thread::spawn(move || {
            let _ = pipe.write_all(&input);
        });
    }
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if start.elapsed() > DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("ddbb {args:?} did not finish within {DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Run {
        code: status.code().unwrap_or(-1),
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

/// `ddbb --endpoints <endpoints> args...`
pub fn ddbb_on(endpoints: &str, args: &[&str]) -> Run {
    let mut all = vec!["--endpoints", endpoints];
    all.extend_from_slice(args);
    ddbb(&all, None)
}

/// A program in a pseudo-terminal; failed expectations show what the program printed.
pub struct Pty {
    /// The expectrl session.
    pub session: expectrl::Session,
}

impl Pty {
    /// Spawns `cmd` in a new pseudo-terminal.
    pub fn spawn(cmd: Command) -> Pty {
        let mut session = expectrl::Session::spawn(cmd).expect("spawn in a pty");
        session.set_expect_timeout(Some(DEADLINE));
        Pty { session }
    }

    /// Waits for `needle`, or panics with the output seen instead.
    pub fn expect<N: expectrl::Needle>(&mut self, needle: N) -> expectrl::Captures {
        match self.session.expect(needle) {
            Ok(found) => found,
            Err(e) => {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n) = self.session.try_read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    seen.extend_from_slice(&buf[..n]);
                }
                panic!("{e}; output was: {:?}", String::from_utf8_lossy(&seen));
            }
        }
    }

    /// The first capture group of the next match of `pattern`.
    pub fn capture(&mut self, pattern: &str) -> String {
        let found = self.expect(expectrl::Regex(pattern));
        String::from_utf8_lossy(found.get(1).expect("a capture group")).into_owned()
    }

    /// Waits for a new REPL prompt (`...)> `), so the next keys reach a fresh line editor.
    ///
    /// rustyline redraws the prompt on every key, so the prompt text alone could be an old
    /// line's redraw; a new `readline` starts by switching bracketed paste on (`ESC[?2004h`).
    pub fn prompt(&mut self) {
        self.expect(expectrl::Regex(r"\x1b\[\?2004h[^\n]*?\)> "));
    }

    /// Types `line` and Enter.
    pub fn line(&mut self, line: &str) {
        self.session.send_line(line).expect("send");
    }

    /// Sends raw keys.
    pub fn keys(&mut self, keys: &str) {
        self.session.send(keys).expect("send");
    }

    /// Sends Ctrl-<key>.
    pub fn control(&mut self, code: expectrl::ControlCode) {
        self.session.send(code).expect("send");
    }

    /// Waits for the program to end; returns its exit code.
    pub fn exit_code(&mut self) -> i32 {
        self.expect(expectrl::Eof);
        match self.session.get_process().wait().expect("wait") {
            expectrl::WaitStatus::Exited(_, code) => code,
            other => panic!("ended by {other:?}"),
        }
    }
}

/// A `ddbb` process that keeps running (`lock`, `elect`, `lease keep-alive`): its stdout
/// arrives line by line; it is killed (by PID) when dropped.
pub struct Background {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
    stderr: Arc<std::sync::Mutex<String>>,
    args: Vec<String>,
}

impl Background {
    /// Starts `ddbb --endpoints <endpoints> args...`.
    pub fn spawn(endpoints: &str, args: &[&str]) -> Background {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ddbb"))
            .args(["--endpoints", endpoints])
            .args(args)
            .env_remove("DDBB_ENDPOINTS")
            .env("DDBB_HISTORY", "")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ddbb");
        let (tx, lines) = std::sync::mpsc::channel();
        let out = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(std::sync::Mutex::new(String::new()));
        let mut err = child.stderr.take().expect("stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push_str(&text);
            }
        });
        Background {
            child,
            lines,
            stderr,
            args: args.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// What it wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The next line on its stdout, waiting up to [`DEADLINE`].
    pub fn line(&mut self) -> String {
        match self.lines.recv_timeout(DEADLINE) {
            Ok(line) => line,
            Err(e) => panic!(
                "ddbb {:?}: no line ({e}); stderr: {}",
                self.args,
                self.stderr()
            ),
        }
    }

    /// A line it already printed, if any (no waiting).
    pub fn try_line(&mut self) -> Option<String> {
        self.lines.try_recv().ok()
    }

    /// Sends `signal` (`INT`, `TERM`, `KILL`) to it by PID.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Its exit code if it has ended.
    pub fn try_exit(&mut self) -> Option<i32> {
        self.child
            .try_wait()
            .expect("try_wait")
            .map(|s| s.code().unwrap_or(-1))
    }

    /// Waits for it to end (up to [`DEADLINE`]); returns its exit code (-1: by a signal).
    pub fn exit_code(&mut self) -> i32 {
        let start = Instant::now();
        loop {
            if let Some(code) = self.try_exit() {
                return code;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "ddbb {:?} did not end; stderr: {}",
                self.args,
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
