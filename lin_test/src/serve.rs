//! The embedded replica (part of the binary): `lin_test serve` runs one DDBB replica from the
//! server library.
//!
//! `cargo run --bin lin_test` builds only this binary, and a `ddbb_server` lying next to it
//! may be missing or stale; linking the server library makes every run test the server built
//! from the same sources as the tester. The flags are those of `ddbb_server` (the harness
//! passes the same command line to either), and so is the wiring: start, wait for a storage
//! failure or a SIGINT/SIGTERM, shut down. `--server-bin` tests a real `ddbb_server` binary
//! instead.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use ddbb_server::ServerConfig;

/// The flags of `ddbb_server`, with the same names and defaults.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// This replica's id (1..=N).
    #[arg(long)]
    id: u64,
    /// Every replica's peer address, this one's included: ID=IP:PORT,...
    #[arg(long)]
    peers: String,
    /// Address for clients (RESP2).
    #[arg(long)]
    client_addr: SocketAddr,
    /// Data directory for the WAL and snapshots (in memory without one).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Make the WAL durable with fdatasync before any reply or message leaves.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    fsync: bool,
    /// Snapshot and compact every this many applied log entries (0: never).
    #[arg(long, default_value_t = 10_000)]
    snapshot_every: usize,
    /// Start on an empty data dir even though peers remember this replica id.
    #[arg(long)]
    join: bool,
    /// Cluster id; peers with another id are refused.
    #[arg(long, default_value_t = 1)]
    cluster_id: u32,
    /// Milliseconds per logical tick.
    #[arg(long, default_value_t = 10)]
    tick_ms: u64,
    /// Ticks per election round.
    #[arg(long, default_value_t = 10)]
    election_ticks: u64,
    /// Ticks before OmniPaxos resends a lost Prepare or Promise.
    #[arg(long, default_value_t = 20)]
    resend_ticks: u64,
    /// Ticks before an uncommitted write or read barrier is proposed again.
    #[arg(long, default_value_t = 50)]
    repropose_ticks: u64,
    /// Milliseconds a client request may wait before `-ERR timeout`.
    #[arg(long, default_value_t = 5000)]
    request_timeout_ms: u64,
    /// Largest key or value in bytes.
    #[arg(long, default_value_t = 1024 * 1024)]
    max_value_bytes: usize,
    /// Largest client frame in bytes.
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    max_client_frame_bytes: usize,
    /// Largest peer frame in bytes.
    #[arg(long, default_value_t = 512 * 1024 * 1024)]
    max_peer_frame_bytes: usize,
    /// Most client connections at once.
    #[arg(long, default_value_t = 10_000)]
    max_connections: usize,
    /// UNSAFE, tests only: answer linearizable reads from local state without a barrier.
    #[arg(long)]
    unsafe_local_reads: bool,
}

impl ServeArgs {
    fn into_config(self) -> Result<ServerConfig, ddbb_server::Error> {
        let peers = ServerConfig::parse_peers(&self.peers)?;
        let mut c = ServerConfig::new(self.id, peers, self.client_addr);
        c.data_dir = self.data_dir;
        c.fsync = self.fsync;
        c.snapshot_every = self.snapshot_every;
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
        Ok(c)
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.into_config()?;
    if let Some(dir) = &config.data_dir {
        std::fs::create_dir_all(dir)?;
    }
    let mut server = ddbb_server::start(config).await?;
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = server.wait() => return Ok(result?),
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    server.shutdown().await?;
    Ok(())
}

/// Runs the replica until it fails or is told to stop; logs go to stderr (`RUST_LOG`).
pub fn main(args: ServeArgs) -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
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
