//! Starting and stopping one replica: listeners, transport, replica loop, client service.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use crate::config::ServerConfig;
use crate::entry::LogEntry;
use crate::error::{Error, Result};
use crate::replica::Replica;
use crate::service::etcd::{EtcdConfig, MemberInfo};
use crate::service::{self, ServiceConfig};
use crate::shutdown::{self, ShutdownTrigger};
use crate::storage::{self, DecidedPrefix, SharedWal, WalOptions};
use crate::transport::{LinkFaults, Members, Transport, TransportConfig};
use crate::watch::{SessionConfig, WatchLimits, WatchSource};

/// Requests queued for the replica loop before client connections wait.
const REQUEST_QUEUE_LEN: usize = 16 * 1024;
/// Peer events queued for the replica loop before peer connections wait.
const EVENT_QUEUE_LEN: usize = 16 * 1024;

/// A running replica.
pub struct ServerHandle {
    trigger: ShutdownTrigger,
    replica: JoinHandle<Result<()>>,
    client_addr: SocketAddr,
    peer_addr: SocketAddr,
    grpc_addr: Option<SocketAddr>,
}

impl ServerHandle {
    /// Where clients connect.
    pub fn client_addr(&self) -> SocketAddr {
        self.client_addr
    }

    /// Where peers connect.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer_addr
    }

    /// Where etcd gRPC clients connect, when `--grpc-addr` was given.
    pub fn grpc_addr(&self) -> Option<SocketAddr> {
        self.grpc_addr
    }

    /// Waits until the replica stops by itself (a storage failure) and returns why.
    pub async fn wait(&mut self) -> Result<()> {
        let result = (&mut self.replica)
            .await
            .unwrap_or_else(|e| Err(Error::Config(format!("replica task failed: {e}"))));
        self.trigger.trigger();
        result
    }

    /// Stops every task of the replica and waits for the loop to end. Listeners close, so
    /// the ports can be bound again at once.
    pub async fn shutdown(self) -> Result<()> {
        self.trigger.trigger();
        self.replica
            .await
            .unwrap_or_else(|e| Err(Error::Config(format!("replica task failed: {e}"))))
    }
}

/// Starts a replica with in-memory log storage and private link faults.
pub async fn start(config: ServerConfig) -> Result<ServerHandle> {
    start_with_faults(config, Arc::new(LinkFaults::default())).await
}

/// Starts a replica whose links obey `faults` (shared by the replicas of a playground).
pub async fn start_with_faults(
    mut config: ServerConfig,
    faults: Arc<LinkFaults>,
) -> Result<ServerHandle> {
    config.validate()?;
    let peer_addr = config.peer_addr();
    let peer_listener = bind(peer_addr).await?;
    let client_listener = bind(config.client_addr).await?;
    let grpc_listener = match config.grpc_addr {
        Some(addr) => Some(bind(addr).await?),
        None => None,
    };
    let peer_addr = peer_listener.local_addr()?;
    let client_addr = client_listener.local_addr()?;
    let grpc_addr = match &grpc_listener {
        Some(l) => Some(l.local_addr()?),
        None => None,
    };
    // STATUS shows the bound address (port 0 becomes the port chosen).
    config.grpc_addr = grpc_addr;

    // Open storage first: whether the data dir is new decides the join guard.
    let wal = match &config.data_dir {
        Some(dir) => Some(open_wal(dir, &config)?),
        None => None,
    };
    let empty_data_dir = wal.as_ref().is_some_and(|w| w.recovery().is_empty());
    let members = Arc::new(Members::load(config.disk.clone(), config.data_dir.clone()));
    let (trigger, shutdown) = shutdown::channel();
    let (event_tx, event_rx) = mpsc::channel(EVENT_QUEUE_LEN);
    let (request_tx, request_rx) = mpsc::channel(REQUEST_QUEUE_LEN);
    let transport = Transport::start(
        TransportConfig {
            id: config.id,
            cluster_id: config.cluster_id,
            peers: config.peers.clone(),
            max_frame_bytes: config.max_peer_frame_bytes,
            members,
        },
        peer_listener,
        event_tx,
        faults,
        shutdown.clone(),
    );
    if config.unsafe_split_txns {
        warn!("UNSAFE: --unsafe-split-txns runs each operation of a TXN as a write of its own; for tests only");
    }
    if config.unsafe_watch_drop_resumed_event {
        warn!("UNSAFE: --unsafe-watch-drop-resumed-event drops the first event of resumed watches; for tests only");
    }
    if config.unsafe_follower_lease_expiry {
        warn!("UNSAFE: --unsafe-follower-lease-expiry lets followers expire leases by a clock running 10 times fast; for tests only");
    }
    if config.unsafe_local_reads {
        warn!("UNSAFE: --unsafe-local-reads answers linearizable reads from local state; for tests only");
    }
    let (replica, view, feed) = match wal {
        Some(wal) => {
            let replica = Replica::new(
                &config,
                DecidedPrefix(wal.clone()),
                Box::new(wal),
                transport,
                empty_data_dir,
            )?;
            let (view, feed) = (replica.subscribe(), replica.store_feed());
            let task = tokio::spawn(replica.run(request_rx, event_rx, shutdown.clone()));
            (task, view, feed)
        }
        None => {
            warn!("no --data-dir: the log is kept in memory and nothing survives a restart");
            let (log, control) = storage::memory();
            let replica = Replica::new(&config, DecidedPrefix(log), control, transport, false)?;
            let (view, feed) = (replica.subscribe(), replica.store_feed());
            let task = tokio::spawn(replica.run(request_rx, event_rx, shutdown.clone()));
            (task, view, feed)
        }
    };
    let watch = WatchSource {
        feed,
        view: view.clone(),
        config: SessionConfig {
            limits: WatchLimits {
                fragment_bytes: config.max_request_bytes,
                unsafe_drop_resumed_event: config.unsafe_watch_drop_resumed_event,
                ..WatchLimits::default()
            },
            progress_interval: config.watch_progress_interval,
        },
    };
    if let (Some(listener), Some(addr)) = (grpc_listener, grpc_addr) {
        tokio::spawn(service::etcd::run(
            listener,
            request_tx.clone(),
            view,
            watch.clone(),
            etcd_config(&config, addr),
            shutdown.clone(),
        ));
    }
    tokio::spawn(service::run(
        client_listener,
        request_tx,
        watch,
        ServiceConfig {
            max_frame_bytes: config.max_client_frame_bytes,
            max_value_bytes: config.max_value_bytes,
            request_timeout: config.request_timeout,
            max_connections: config.max_connections,
            id: config.id,
            unsafe_split_txns: config.unsafe_split_txns,
        },
        shutdown,
    ));
    info!(id = config.id, %client_addr, %peer_addr, ?grpc_addr, "replica started");
    Ok(ServerHandle {
        trigger,
        replica,
        client_addr,
        peer_addr,
        grpc_addr,
    })
}

/// The gRPC service's settings: this replica's bound gRPC address and `--grpc-peers` for the
/// others.
fn etcd_config(config: &ServerConfig, grpc_addr: SocketAddr) -> EtcdConfig {
    let members = config
        .peers
        .iter()
        .map(|(&id, &peer_addr)| MemberInfo {
            id,
            peer_addr,
            grpc_addr: if id == config.id {
                Some(grpc_addr)
            } else {
                config.grpc_peers.get(&id).copied()
            },
        })
        .collect();
    EtcdConfig {
        cluster_id: u64::from(config.cluster_id),
        member_id: config.id,
        request_timeout: config.request_timeout,
        max_request_bytes: config.max_request_bytes,
        max_concurrent_streams: config.max_concurrent_streams,
        members,
    }
}

/// Opens (or creates, durably) `<data_dir>` and the WAL in `<data_dir>/wal`, replaying what it
/// holds.
fn open_wal(dir: &std::path::Path, config: &ServerConfig) -> Result<SharedWal<LogEntry>> {
    let wal_dir = storage::prepare_data_dir(&*config.disk, dir, config.fsync)?;
    if !config.fsync {
        warn!("--fsync=false: DURABILITY IS OFF; acknowledged writes can be lost on power failure");
    }
    let options = WalOptions {
        fsync: config.fsync,
        disk: config.disk.clone(),
        checkpoint_on_snapshot: true,
        checkpoint_mode: storage::CheckpointMode::Background,
        checkpoint_min_bytes: config.checkpoint_min_bytes,
        ..WalOptions::default()
    };
    let wal = SharedWal::open(&wal_dir, options).map_err(|e| Error::Storage(e.to_string()))?;
    let recovery = wal.recovery();
    info!(
        dir = %wal_dir.display(),
        segments = recovery.segments,
        records = recovery.records,
        bytes = recovery.bytes,
        truncated_bytes = recovery.truncated_bytes,
        "WAL opened"
    );
    Ok(wal)
}

async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    // SO_REUSEADDR so a restarted replica can bind while old connections sit in TIME_WAIT.
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()
    } else {
        tokio::net::TcpSocket::new_v6()
    }
    .map_err(|source| Error::Bind { addr, source })?;
    socket
        .set_reuseaddr(true)
        .and_then(|_| socket.bind(addr))
        .map_err(|source| Error::Bind { addr, source })?;
    socket
        .listen(1024)
        .map_err(|source| Error::Bind { addr, source })
}
