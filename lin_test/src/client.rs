//! A minimal RESP client for the workload: one connection, one request at a time, and an
//! answer to the one question a tester must ask of every failure: *was the request sent?*
//!
//! A request that never left (the connection could not be made) certainly had no effect. A
//! request that left and got no reply (timeout, reset, close) may have had one. The caller
//! turns these into Jepsen's `:fail` and `:info`.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use ddbb_libs::{Connection, Frame, FrameLimits};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Largest reply accepted (values in this workload are short decimal numbers).
const MAX_REPLY_BYTES: usize = 1024 * 1024;
/// Longest wait for a TCP connection to a replica.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// What became of one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// The replica replied (possibly with an error frame).
    Reply(Frame),
    /// The request was never sent: it certainly had no effect.
    NotSent(String),
    /// The request was sent (or may have been) and no reply came: unknown effect.
    Lost(String),
}

/// A connection to one replica, made on demand and dropped after any failure (a late reply
/// must never be taken for the answer to the next request).
#[derive(Debug)]
pub struct Client {
    addr: SocketAddr,
    timeout: Duration,
    conn: Option<Connection>,
}

impl Client {
    /// A client of the replica at `addr`; each request gets `timeout`, connecting included.
    pub fn new(addr: SocketAddr, timeout: Duration) -> Client {
        Client {
            addr,
            timeout,
            conn: None,
        }
    }

    /// The replica's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends one command and waits for its reply.
    pub async fn call(&mut self, words: &[Bytes]) -> Response {
        let deadline = Instant::now() + self.timeout;
        let mut conn = match self.conn.take() {
            Some(conn) => conn,
            None => {
                let connect_by = deadline.min(Instant::now() + CONNECT_TIMEOUT);
                match tokio::time::timeout_at(connect_by, TcpStream::connect(self.addr)).await {
                    Ok(Ok(stream)) => {
                        Connection::new(stream, FrameLimits::with_max_frame_bytes(MAX_REPLY_BYTES))
                    }
                    Ok(Err(e)) => return Response::NotSent(format!("connect: {e}")),
                    Err(_) => return Response::NotSent("connect: timed out".into()),
                }
            }
        };
        let frame = Frame::command(words.iter().cloned());
        let exchange = async {
            conn.send(&frame).await.map_err(|e| format!("send: {e}"))?;
            match conn.read_frame().await {
                Ok(Some(reply)) => Ok(reply),
                Ok(None) => Err("connection closed by the replica".to_string()),
                Err(e) => Err(format!("receive: {e}")),
            }
        };
        match tokio::time::timeout_at(deadline, exchange).await {
            Ok(Ok(reply)) => {
                self.conn = Some(conn);
                Response::Reply(reply)
            }
            // A failed send may still have delivered the request: unknown, not "not sent".
            Ok(Err(e)) => Response::Lost(e),
            Err(_) => Response::Lost(format!("no reply within {:?}", self.timeout)),
        }
    }
}
