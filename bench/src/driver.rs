//! Drivers: one operation through each system's native client.
//!
//! A [`Conn`] is one client connection: for DDBB a [`ddbb_client::Client`] (one pipelined
//! RESP connection to its preferred replica, failing over to the others), for etcd one gRPC
//! channel (HTTP/2) per endpoint it may use. Many client tasks share a connection, as in
//! etcd's `benchmark --conns N --clients M`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use bytes::Bytes;
use ddbb_client::{Client, ClientConfig, Consistency};
use etcd_client::{Compare, CompareOp, ConnectOptions, GetOptions, KvClient, Txn, TxnOp};

use crate::cluster::System;
use crate::workload::Op;

/// What a successful operation said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A write or read that did its job.
    Done,
    /// A CAS that swapped (`true`) or found another value (`false`).
    Cas(bool),
}

/// Client timeouts.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// Deadline of one operation, retries and failover included.
    pub op: Duration,
    /// Time one endpoint gets before the operation moves to the next.
    pub attempt: Duration,
}

impl Timeouts {
    /// etcdctl's and the DDBB client's defaults: 5 s per operation, 2 s per endpoint.
    pub const STEADY: Timeouts = Timeouts {
        op: Duration::from_secs(5),
        attempt: Duration::from_secs(2),
    };
    /// Under faults: give up on an endpoint after 1 s.
    pub const FAULT: Timeouts = Timeouts {
        op: Duration::from_secs(5),
        attempt: Duration::from_secs(1),
    };
}

/// One client connection.
#[derive(Clone)]
pub enum Conn {
    /// DDBB's native client.
    Ddbb(Client),
    /// etcd's gRPC client: one channel per endpoint, starting with the preferred one.
    Etcd(EtcdConn),
}

/// gRPC channels to etcd members with failover between them.
#[derive(Clone)]
pub struct EtcdConn {
    kvs: Vec<KvClient>,
    preferred: Arc<AtomicUsize>,
    timeouts: Timeouts,
}

impl Conn {
    /// A connection that prefers `endpoints[first]`; with `failover` it moves on to the
    /// others when that one fails.
    pub async fn connect(
        system: System,
        endpoints: &[String],
        first: usize,
        failover: bool,
        timeouts: Timeouts,
    ) -> Result<Conn> {
        let n = endpoints.len();
        let order: Vec<String> = if failover {
            (0..n).map(|i| endpoints[(first + i) % n].clone()).collect()
        } else {
            vec![endpoints[first % n].clone()]
        };
        match system {
            System::Ddbb => {
                let mut config = ClientConfig::new(order).with_timeout(timeouts.op);
                config.attempt_timeout = timeouts.attempt;
                Ok(Conn::Ddbb(Client::new(config)?))
            }
            System::Etcd => {
                let mut kvs = Vec::with_capacity(order.len());
                for endpoint in order {
                    let options = ConnectOptions::new()
                        .with_connect_timeout(Duration::from_secs(1))
                        .with_timeout(timeouts.attempt);
                    let client = etcd_client::Client::connect([endpoint], Some(options)).await?;
                    kvs.push(client.kv_client());
                }
                Ok(Conn::Etcd(EtcdConn {
                    kvs,
                    preferred: Arc::new(AtomicUsize::new(0)),
                    timeouts,
                }))
            }
        }
    }

    /// Sends `op` and waits for its outcome.
    ///
    /// # Errors
    /// The client's error, as text (the run counts it).
    pub async fn execute(&self, op: &Op) -> Result<Outcome, String> {
        match self {
            Conn::Ddbb(client) => ddbb_execute(client, op).await.map_err(|e| e.to_string()),
            Conn::Etcd(conn) => conn.execute(op).await,
        }
    }
}

async fn ddbb_execute(client: &Client, op: &Op) -> ddbb_client::Result<Outcome> {
    match op {
        Op::Put { key, value } => client
            .put(key.clone(), value.clone())
            .await
            .map(|_| Outcome::Done),
        Op::Get { key, serializable } => {
            let consistency = if *serializable {
                Consistency::Serializable
            } else {
                Consistency::Linearizable
            };
            client
                .get_with(key.clone(), consistency)
                .await
                .map(|_| Outcome::Done)
        }
        Op::Cas { key, expected, new } => client
            .cas(key.clone(), expected.clone(), new.clone())
            .await
            .map(Outcome::Cas),
    }
}

impl EtcdConn {
    async fn execute(&self, op: &Op) -> Result<Outcome, String> {
        let n = self.kvs.len();
        let deadline = tokio::time::Instant::now() + self.timeouts.op;
        let mut last = String::new();
        for attempt in 0.. {
            let i = self.preferred.load(Ordering::Relaxed);
            let mut kv = self.kvs[i % n].clone();
            match etcd_once(&mut kv, op).await {
                Ok(outcome) => return Ok(outcome),
                Err(e) => last = e.to_string(),
            }
            if n == 1 || tokio::time::Instant::now() >= deadline {
                break;
            }
            let _ = self.preferred.compare_exchange(
                i,
                (i + 1) % n,
                Ordering::Relaxed,
                Ordering::Relaxed,
            );
            if (attempt + 1) % n == 0 {
                // Every endpoint failed once: pause before the next round, as clientv3 does.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Err(last)
    }
}

async fn etcd_once(kv: &mut KvClient, op: &Op) -> Result<Outcome, etcd_client::Error> {
    match op {
        Op::Put { key, value } => {
            kv.put(bytes_vec(key), bytes_vec(value), None).await?;
            Ok(Outcome::Done)
        }
        Op::Get { key, serializable } => {
            let options = serializable.then(|| GetOptions::new().with_serializable());
            kv.get(bytes_vec(key), options).await?;
            Ok(Outcome::Done)
        }
        Op::Cas { key, expected, new } => {
            let txn = Txn::new()
                .when([Compare::value(
                    bytes_vec(key),
                    CompareOp::Equal,
                    bytes_vec(expected),
                )])
                .and_then([TxnOp::put(bytes_vec(key), bytes_vec(new), None)]);
            Ok(Outcome::Cas(kv.txn(txn).await?.succeeded()))
        }
    }
}

fn bytes_vec(b: &Bytes) -> Vec<u8> {
    b.to_vec()
}
