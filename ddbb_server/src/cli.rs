//! The `ddbb_server` command line: flags, and running one replica until it stops.
//!
//! Kept in the library so that tools embedding a replica (`lin_test serve`, `ddbb-bench`) take
//! exactly the same flags as the binary.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use tracing_subscriber::EnvFilter;

use crate::ServerConfig;

/// The flags of one replica.
#[derive(Args, Debug, Clone)]
pub struct ServerArgs {
    /// This replica's id (1..=N).
    #[arg(long)]
    pub id: u64,
    /// Every replica's peer address, this one's included: ID=IP:PORT,...
    #[arg(long)]
    pub peers: String,
    /// Address for clients (RESP2, e.g. redis-cli).
    #[arg(long)]
    pub client_addr: SocketAddr,
    /// Address for etcd v3 gRPC clients (etcdctl, etcd client libraries). Off when absent.
    #[arg(long)]
    pub grpc_addr: Option<SocketAddr>,
    /// Every replica's gRPC address, ID=IP:PORT,... (this one's may be included): the client
    /// URLs of etcd's MemberList, which `etcdctl --cluster` connects to. Without it MemberList
    /// only knows this replica's --grpc-addr.
    #[arg(long, default_value = "")]
    pub grpc_peers: String,
    /// Largest gRPC request in bytes (etcd's flag; default 1.5 MiB).
    #[arg(long, default_value_t = crate::config::DEFAULT_MAX_REQUEST_BYTES)]
    pub max_request_bytes: usize,
    /// Most concurrent gRPC streams per client connection (etcd's flag).
    #[arg(long, default_value_t = 1024)]
    pub max_concurrent_streams: u32,
    /// Data directory for the WAL and snapshots (created if missing). Without it the log is
    /// kept in memory and nothing survives a restart.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Make the WAL durable with fdatasync before any reply or message leaves. `--fsync=false`
    /// is for benchmarks only: acknowledged writes can be lost on power failure.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub fsync: bool,
    /// Snapshot the state machine and compact the WAL every this many applied writes (a log
    /// entry without writes, such as a read barrier, counts as one; 0: never).
    #[arg(long, default_value_t = 10_000)]
    pub snapshot_every: usize,
    /// Bytes logged since the last WAL checkpoint before a snapshot writes another one (and at
    /// least the previous checkpoint's size), so rewriting the state costs no more than the log
    /// it replaces.
    #[arg(long, default_value_t = 64 << 20, hide = true)]
    pub checkpoint_min_bytes: u64,
    /// Start on an empty data dir even though peers remember this replica id as a member
    /// (after its disk was lost). Unsafe unless every other replica is up: see the README.
    #[arg(long)]
    pub join: bool,
    /// Cluster id; peers with another id are refused.
    #[arg(long, default_value_t = 1)]
    pub cluster_id: u32,
    /// Milliseconds per logical tick.
    #[arg(long, default_value_t = 10)]
    pub tick_ms: u64,
    /// Ticks per election round (the leader is suspected after one silent round).
    #[arg(long, default_value_t = 10)]
    pub election_ticks: u64,
    /// Ticks before OmniPaxos resends a lost Prepare or Promise.
    #[arg(long, default_value_t = 20)]
    pub resend_ticks: u64,
    /// Ticks before a write or read barrier that was not committed is proposed again.
    #[arg(long, default_value_t = 50)]
    pub repropose_ticks: u64,
    /// Milliseconds a client request may wait before `-ERR timeout`.
    #[arg(long, default_value_t = 5000)]
    pub request_timeout_ms: u64,
    /// Largest key or value in bytes.
    #[arg(long, default_value_t = 1024 * 1024)]
    pub max_value_bytes: usize,
    /// Largest client frame in bytes (a larger one closes the connection).
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    pub max_client_frame_bytes: usize,
    /// Largest peer frame in bytes.
    #[arg(long, default_value_t = 512 * 1024 * 1024)]
    pub max_peer_frame_bytes: usize,
    /// Most client connections at once.
    #[arg(long, default_value_t = 10_000)]
    pub max_connections: usize,
    /// Most compares plus operations in one transaction (etcd's flag).
    #[arg(long, default_value_t = 128)]
    pub max_txn_ops: usize,
    /// Size of the MVCC store (keys, values and ~64 bytes per kept revision) above which
    /// writes raise the cluster-wide NOSPACE alarm (etcd's flag; default 2 GiB).
    #[arg(long, default_value_t = 2 << 30)]
    pub quota_backend_bytes: u64,
    /// `periodic` (keep --auto-compaction-retention of history, e.g. 1h) or `revision` (keep
    /// that many revisions), as etcd.
    #[arg(long, default_value = "periodic")]
    pub auto_compaction_mode: String,
    /// How much history auto-compaction keeps: a duration for `periodic` (a bare number is
    /// hours), a revision count for `revision`; 0 (default) turns it off.
    #[arg(long, default_value = "0")]
    pub auto_compaction_retention: String,
    /// Period of watch progress notifications to watches that asked for them (a Go duration,
    /// as etcd's flag: 10m, 5s, 500ms).
    #[arg(long, default_value = "10m", value_parser = go_duration)]
    pub experimental_watch_progress_notify_interval: Duration,
    /// How often `revision` auto-compaction checks, in milliseconds (etcd: 5 minutes).
    #[arg(long, default_value_t = 300_000, hide = true)]
    pub auto_compaction_interval_ms: u64,
    /// UNSAFE, for tests of the linearizability checker only: answer linearizable reads from
    /// local state without a read barrier.
    #[arg(long, hide = true)]
    pub unsafe_local_reads: bool,
    /// UNSAFE, for tests of lin_test's txn checker only: run each operation of a TXN as a
    /// write of its own, so transactions are not atomic.
    #[arg(long, hide = true)]
    pub unsafe_split_txns: bool,
    /// UNSAFE, for tests of lin_test's watch checker only: a watch that resumes from a start
    /// revision loses the first event it is owed.
    #[arg(long, hide = true)]
    pub unsafe_watch_drop_resumed_event: bool,
    /// UNSAFE, for tests of lin_test's lock workload only: every replica, followers included,
    /// expires leases by its own clock, a follower's running 10 times fast.
    #[arg(long, hide = true)]
    pub unsafe_follower_lease_expiry: bool,
    /// Tests only: journal every file-system operation on the data dir to this file, so a
    /// power-cut drill can rebuild what only synced data would leave (see `storage::disk`).
    #[arg(long, hide = true)]
    pub io_journal: Option<PathBuf>,
}

impl ServerArgs {
    /// The replica configuration these flags describe.
    pub fn into_config(self) -> crate::Result<ServerConfig> {
        let peers = ServerConfig::parse_peers(&self.peers)?;
        let mut c = ServerConfig::new(self.id, peers, self.client_addr);
        c.grpc_addr = self.grpc_addr;
        c.grpc_peers = ServerConfig::parse_peers(&self.grpc_peers)?;
        c.max_request_bytes = self.max_request_bytes;
        c.max_concurrent_streams = self.max_concurrent_streams;
        c.watch_progress_interval = self.experimental_watch_progress_notify_interval;
        c.data_dir = self.data_dir;
        c.fsync = self.fsync;
        c.snapshot_every = self.snapshot_every;
        c.checkpoint_min_bytes = self.checkpoint_min_bytes;
        c.join = self.join;
        c.cluster_id = self.cluster_id;
        c.tick = Duration::from_millis(self.tick_ms);
        c.election_ticks = self.election_ticks;
        c.resend_ticks = self.resend_ticks;
        c.repropose_ticks = self.repropose_ticks;
        c.request_timeout = Duration::from_millis(self.request_timeout_ms);
        c.max_value_bytes = self.max_value_bytes;
        c.max_client_frame_bytes = self.max_client_frame_bytes;
        c.max_peer_frame_bytes = self.max_peer_frame_bytes;
        c.max_connections = self.max_connections;
        c.unsafe_local_reads = self.unsafe_local_reads;
        c.unsafe_split_txns = self.unsafe_split_txns;
        c.unsafe_watch_drop_resumed_event = self.unsafe_watch_drop_resumed_event;
        c.unsafe_follower_lease_expiry = self.unsafe_follower_lease_expiry;
        c.max_txn_ops = self.max_txn_ops;
        c.quota_backend_bytes = self.quota_backend_bytes;
        c.auto_compaction = crate::replica::AutoCompaction::parse(
            &self.auto_compaction_mode,
            &self.auto_compaction_retention,
            Duration::from_millis(self.auto_compaction_interval_ms),
        )
        .map_err(crate::Error::Config)?;
        if let Some(journal) = &self.io_journal {
            let disk = crate::storage::disk::JournalDisk::create(journal).map_err(|source| {
                crate::Error::Io(std::io::Error::new(
                    source.kind(),
                    format!("--io-journal {}: {source}", journal.display()),
                ))
            })?;
            c.disk = std::sync::Arc::new(disk);
        }
        Ok(c)
    }
}

fn go_duration(text: &str) -> Result<Duration, String> {
    crate::config::parse_go_duration(text)
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{text:?}: expected a duration such as 10m, 5s or 500ms"))
}

async fn serve(args: ServerArgs) -> anyhow::Result<()> {
    let config = args.into_config()?;
    let mut server = crate::start(config).await?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = server.wait() => return Ok(result?),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT: shutting down"),
        _ = term.recv() => tracing::info!("SIGTERM: shutting down"),
    }
    server.shutdown().await?;
    Ok(())
}

/// Runs one replica until it fails or gets SIGINT/SIGTERM; logs go to stderr (`RUST_LOG`).
/// Returns the process exit code; errors are printed as `Error: ...`.
pub fn run(args: ServerArgs) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e}");
            ExitCode::FAILURE
        }
    }
}
