//! Replica configuration: what the flags of `ddbb_server` set, with defaults.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ddbb_libs::NodeId;

use crate::error::{Error, Result};
use crate::storage::disk::DiskRef;

/// etcd's default `--max-request-bytes`: 1.5 MiB.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 3 * 512 * 1024;

/// Everything one replica needs to start.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// This replica's id, in `peers`.
    pub id: NodeId,
    /// Every replica's peer address, this one's included. Ids must be 1..=N.
    pub peers: BTreeMap<NodeId, SocketAddr>,
    /// Where clients connect (RESP2).
    pub client_addr: SocketAddr,
    /// Where etcd v3 gRPC clients connect (`None`: no gRPC service).
    pub grpc_addr: Option<SocketAddr>,
    /// Other replicas' gRPC addresses, for `Cluster.MemberList`'s client URLs (this replica's
    /// own is `grpc_addr`).
    pub grpc_peers: BTreeMap<NodeId, SocketAddr>,
    /// Largest gRPC request in bytes (etcd's `--max-request-bytes`).
    pub max_request_bytes: usize,
    /// Most concurrent gRPC streams per connection (etcd's `--max-concurrent-streams`).
    pub max_concurrent_streams: u32,
    /// Period of watch progress notifications (etcd's
    /// `--experimental-watch-progress-notify-interval`).
    pub watch_progress_interval: Duration,
    /// Where the replica keeps its data (used by durable storage).
    pub data_dir: Option<PathBuf>,
    /// Cluster id: peers with another id are refused; also OmniPaxos' configuration id.
    pub cluster_id: u32,
    /// Wall time of one logical tick.
    pub tick: Duration,
    /// Ticks per OmniPaxos election round (heartbeat timeout).
    pub election_ticks: u64,
    /// Ticks before OmniPaxos resends a lost Prepare/Promise.
    pub resend_ticks: u64,
    /// Ticks before an uncommitted write or read barrier is proposed again.
    pub repropose_ticks: u64,
    /// How long a client waits for its request before `-ERR timeout`.
    pub request_timeout: Duration,
    /// Largest value a client may write; larger gets `-ERR` and the connection stays open.
    pub max_value_bytes: usize,
    /// Largest frame on the client port; larger closes that connection.
    pub max_client_frame_bytes: usize,
    /// Largest frame between replicas (must fit a catch-up AcceptSync).
    pub max_peer_frame_bytes: usize,
    /// Most client connections served at once.
    pub max_connections: usize,
    /// The file system under `data_dir` (the real one, or a journaling or in-memory one in
    /// crash tests).
    pub disk: DiskRef,
    /// Make the WAL durable with fdatasync (false: benchmarks only, loses data on power loss).
    pub fsync: bool,
    /// Most compares plus operations in one Txn (etcd's `--max-txn-ops`).
    pub max_txn_ops: usize,
    /// Store size in bytes above which writes raise the cluster-wide `NOSPACE` alarm
    /// (etcd's `--quota-backend-bytes`).
    pub quota_backend_bytes: u64,
    /// Auto-compaction of the MVCC history (`None`: only explicit `Compact`s).
    pub auto_compaction: Option<crate::replica::AutoCompaction>,
    /// Bytes logged since the last WAL checkpoint before a compaction writes another (and at
    /// least the previous checkpoint's size).
    pub checkpoint_min_bytes: u64,
    /// Snapshot the state and compact the log every this many applied writes (a log entry
    /// without writes counts as one; 0: never).
    pub snapshot_every: usize,
    /// Start on an empty data dir even if peers remember this replica (see the README).
    pub join: bool,
    /// UNSAFE, tests only: answer linearizable reads from local state without a barrier.
    pub unsafe_local_reads: bool,
    /// UNSAFE, tests only: run each operation of a `TXN` as a write of its own.
    pub unsafe_split_txns: bool,
    /// UNSAFE, tests only: a watch resuming from a start revision loses its first event.
    pub unsafe_watch_drop_resumed_event: bool,
    /// UNSAFE, tests only: followers expire leases too, by a clock running 10 times fast.
    pub unsafe_follower_lease_expiry: bool,
}

impl ServerConfig {
    /// A configuration with default tuning for replica `id` of the cluster `peers`.
    pub fn new(id: NodeId, peers: BTreeMap<NodeId, SocketAddr>, client_addr: SocketAddr) -> Self {
        ServerConfig {
            id,
            peers,
            client_addr,
            grpc_addr: None,
            grpc_peers: BTreeMap::new(),
            max_request_bytes: DEFAULT_MAX_REQUEST_BYTES,
            max_concurrent_streams: 1024,
            watch_progress_interval: Duration::from_secs(600),
            data_dir: None,
            cluster_id: 1,
            tick: Duration::from_millis(10),
            election_ticks: 10,
            resend_ticks: 20,
            repropose_ticks: 50,
            request_timeout: Duration::from_secs(5),
            max_value_bytes: 1024 * 1024,
            max_client_frame_bytes: 16 * 1024 * 1024,
            max_peer_frame_bytes: 512 * 1024 * 1024,
            max_connections: 10_000,
            fsync: true,
            disk: crate::storage::disk::os(),
            max_txn_ops: 128,
            quota_backend_bytes: 2 << 30,
            auto_compaction: None,
            checkpoint_min_bytes: 64 << 20,
            snapshot_every: 10_000,
            join: false,
            unsafe_local_reads: false,
            unsafe_split_txns: false,
            unsafe_watch_drop_resumed_event: false,
            unsafe_follower_lease_expiry: false,
        }
    }

    /// Checks what OmniPaxos and the transport rely on.
    pub fn validate(&self) -> Result<()> {
        let n = self.peers.len() as u64;
        if n < 2 {
            return Err(Error::Config("a cluster needs at least 2 replicas".into()));
        }
        if !self.peers.keys().copied().eq(1..=n) {
            return Err(Error::Config(format!(
                "replica ids must be 1..={n} (OmniPaxos indexes by id), got {:?}",
                self.peers.keys().collect::<Vec<_>>()
            )));
        }
        if n > 15 {
            return Err(Error::Config(format!("at most 15 replicas, got {n}")));
        }
        if !self.peers.contains_key(&self.id) {
            return Err(Error::Config(format!("--id {} is not in --peers", self.id)));
        }
        if let Some(id) = self
            .grpc_peers
            .keys()
            .find(|id| !self.peers.contains_key(id))
        {
            return Err(Error::Config(format!(
                "--grpc-peers names {id}, which is not in --peers"
            )));
        }
        if self.cluster_id == 0 {
            return Err(Error::Config("cluster id must not be 0".into()));
        }
        if self.tick.is_zero() || self.election_ticks == 0 || self.resend_ticks == 0 {
            return Err(Error::Config("tick and timeouts must be positive".into()));
        }
        Ok(())
    }

    /// This replica's peer address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peers[&self.id]
    }

    /// Parses `1=127.0.0.1:7001,2=127.0.0.1:7002`.
    pub fn parse_peers(text: &str) -> Result<BTreeMap<NodeId, SocketAddr>> {
        text.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|item| {
                let (id, addr) = item.split_once('=').ok_or_else(|| {
                    Error::Config(format!("peer '{item}' is not of the form ID=HOST:PORT"))
                })?;
                let id: NodeId = id
                    .trim()
                    .parse()
                    .map_err(|_| Error::Config(format!("peer id '{id}' is not a number")))?;
                let addr: SocketAddr = addr
                    .trim()
                    .parse()
                    .map_err(|_| Error::Config(format!("peer address '{addr}' is not IP:PORT")))?;
                Ok((id, addr))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_validates_peers() {
        let peers =
            ServerConfig::parse_peers("1=127.0.0.1:7001, 2=127.0.0.1:7002,3=127.0.0.1:7003")
                .unwrap();
        assert_eq!(peers.len(), 3);
        let config = ServerConfig::new(2, peers.clone(), "127.0.0.1:6002".parse().unwrap());
        config.validate().unwrap();
        assert_eq!(config.peer_addr().port(), 7002);
        assert!(ServerConfig::new(4, peers, "127.0.0.1:1".parse().unwrap())
            .validate()
            .is_err());
        let gap = ServerConfig::parse_peers("1=127.0.0.1:1,3=127.0.0.1:3").unwrap();
        assert!(ServerConfig::new(1, gap, "127.0.0.1:1".parse().unwrap())
            .validate()
            .is_err());
        assert!(ServerConfig::parse_peers("1:127.0.0.1:1").is_err());
        assert!(ServerConfig::parse_peers("x=127.0.0.1:1").is_err());
    }
}

/// Parses a Go duration as etcd's flags take them: one or more `<number><unit>` with units
/// `h`, `m`, `s`, `ms`, `us` (or `µs`), `ns`, e.g. `10m0s`, `1.5h`, `250ms`. `None` if malformed.
pub fn parse_go_duration(text: &str) -> Option<Duration> {
    let mut rest = text;
    let mut total = 0f64;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.')?;
        let (number, tail) = rest.split_at(digits);
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, tail) = tail.split_at(unit_len);
        let n: f64 = number.parse().ok()?;
        let scale = match unit {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        total += n * scale;
        rest = tail;
    }
    Duration::try_from_secs_f64(total).ok()
}

#[cfg(test)]
mod duration_tests {
    use super::parse_go_duration;
    use std::time::Duration;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("10m0s"), Some(Duration::from_secs(600)));
        assert_eq!(parse_go_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_go_duration("1h30m"), Some(Duration::from_secs(5400)));
        for bad in ["", "5", "5x", "m", "1..2s"] {
            assert_eq!(parse_go_duration(bad), None, "{bad}");
        }
    }
}
