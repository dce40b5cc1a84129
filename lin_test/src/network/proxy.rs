//! Link faults in user space: one TCP proxy per directed link, owned by the tester.
//!
//! The proxy of link `a→b` listens on the link address (see [`crate::cluster::AddressPlan`])
//! and forwards each connection to replica `b`'s peer listener. Cutting the link closes its
//! open connections and refuses new ones (accepts and closes at once), which the replicas
//! see as a reset: they reconnect with backoff, and healing lets the next attempt through.
//! Unlike an iptables DROP, no connection stalls silently. A delay, when set, holds every
//! chunk of the `a→b` direction (the only one that carries data) for that long, in order.
//!
//! Needs no privileges. Everything is a task of the tester: dropping [`Proxies`] aborts them
//! and closes every socket.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ddbb_libs::NodeId;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::cluster::AddressPlan;
use crate::error::{Error, Result};

/// How long the proxy waits to reach the replica behind a link.
const UPSTREAM_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Read size of the forwarding loops.
const CHUNK_BYTES: usize = 64 * 1024;
/// Chunks in flight in a delayed direction before the reader waits.
const DELAY_QUEUE_CHUNKS: usize = 4096;

/// The shared switches of one link.
#[derive(Debug)]
struct LinkControl {
    /// True while the link is cut.
    cut: watch::Sender<bool>,
    /// Added one-way delay in microseconds.
    delay_us: AtomicU64,
}

/// The proxies of one run; every task stops when this is dropped.
#[derive(Debug)]
pub struct Proxies {
    links: BTreeMap<(NodeId, NodeId), Arc<LinkControl>>,
    tasks: Vec<JoinHandle<()>>,
}

impl Proxies {
    /// Binds every link address of `plan` and starts forwarding.
    ///
    /// # Errors
    /// [`Error::Harness`] if a link address cannot be bound.
    pub async fn start(plan: &AddressPlan) -> Result<Proxies> {
        let mut proxies = Proxies {
            links: BTreeMap::new(),
            tasks: Vec::new(),
        };
        for (from, to) in plan.links() {
            let at = plan.link_addr(from, to);
            let listener = TcpListener::bind(at).await.map_err(|e| {
                Error::Harness(format!(
                    "cannot bind the proxy of link {from}->{to} on {at}: {e}"
                ))
            })?;
            let control = Arc::new(LinkControl {
                cut: watch::channel(false).0,
                delay_us: AtomicU64::new(0),
            });
            proxies.links.insert((from, to), control.clone());
            let upstream = plan.peer_addr(to);
            proxies.tasks.push(tokio::spawn(async move {
                loop {
                    let Ok((downstream, _)) = listener.accept().await else {
                        // Out of file descriptors, say: do not spin.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    };
                    if *control.cut.borrow() {
                        drop(downstream);
                        continue;
                    }
                    tokio::spawn(forward(downstream, upstream, control.clone()));
                }
            }));
        }
        Ok(proxies)
    }

    /// Replaces the set of cut links: `pairs` are unordered replica pairs, cut both ways.
    pub fn set_cuts(&self, pairs: &BTreeSet<(NodeId, NodeId)>) {
        for (&(from, to), control) in &self.links {
            let key = (from.min(to), from.max(to));
            control.cut.send_replace(pairs.contains(&key));
        }
    }

    /// Sets the one-way delay of every link (zero: none).
    pub fn set_delay(&self, delay: Duration) {
        let micros = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        for control in self.links.values() {
            control.delay_us.store(micros, Ordering::Relaxed);
        }
    }
}

impl Drop for Proxies {
    fn drop(&mut self) {
        for control in self.links.values() {
            // Ends every forwarding task: they watch the cut switch.
            control.cut.send_replace(true);
        }
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Forwards one connection until either side closes or the link is cut.
async fn forward(downstream: TcpStream, upstream: std::net::SocketAddr, control: Arc<LinkControl>) {
    let mut cut = control.cut.subscribe();
    let connect = tokio::time::timeout(UPSTREAM_CONNECT_TIMEOUT, TcpStream::connect(upstream));
    let upstream = tokio::select! {
        _ = cut.wait_for(|c| *c) => return,
        connected = connect => match connected {
            Ok(Ok(stream)) => stream,
            _ => return, // dropping `downstream` tells the replica to retry
        },
    };
    let _ = downstream.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let (mut down_read, mut down_write) = downstream.into_split();
    let (mut up_read, mut up_write) = upstream.into_split();

    // a→b, delayed: a reader stamps chunks with their release time, a writer waits for it.
    let (chunks_tx, mut chunks_rx) = mpsc::channel::<(Instant, Bytes)>(DELAY_QUEUE_CHUNKS);
    let delay_control = control.clone();
    let reader = async move {
        let mut buf = vec![0u8; CHUNK_BYTES];
        loop {
            match down_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    let delay =
                        Duration::from_micros(delay_control.delay_us.load(Ordering::Relaxed));
                    let chunk = Bytes::copy_from_slice(&buf[..n]);
                    if chunks_tx
                        .send((Instant::now() + delay, chunk))
                        .await
                        .is_err()
                    {
                        return;
                    }
                }
            }
        }
    };
    let writer = async move {
        while let Some((release, chunk)) = chunks_rx.recv().await {
            tokio::time::sleep_until(release).await;
            if up_write.write_all(&chunk).await.is_err() {
                return;
            }
        }
    };
    // b→a carries nothing but the close; forwarded as is.
    let back = async move {
        let mut buf = vec![0u8; CHUNK_BYTES];
        loop {
            match up_read.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if down_write.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            }
        }
    };
    // Any side ending ends the connection: both sockets drop, both peers see the close.
    tokio::select! {
        _ = cut.wait_for(|c| *c) => {}
        _ = reader => {}
        _ = writer => {}
        _ = back => {}
    }
}
