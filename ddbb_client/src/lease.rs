//! Leases: the typed `LEASE` commands on [`Client`], and [`KeepAlive`], a task that keeps one
//! lease alive until it is dropped.
//!
//! A lease expires when the cluster's leader hears no keepalive for its TTL; its keys are then
//! deleted in one revision. Grants, keepalives and revocations go through the log, so any
//! replica takes them. A grant is not exactly-once: a grant retried after a timeout may leave
//! a second lease behind, which expires after its TTL.

use std::time::Duration;

use bytes::Bytes;
use ddbb_libs::cmd::Lease;
use ddbb_libs::kv::KvError;
use ddbb_libs::{Command, Frame};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::client::Client;
use crate::error::{Error, Result};

/// A lease's state, as `LEASE TTL id [KEYS]` answers it (etcd's `LeaseTimeToLiveResponse`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseTimeToLive {
    /// The lease.
    pub id: i64,
    /// Seconds left before it expires; -1 when there is no such lease.
    pub ttl: i64,
    /// The TTL it was granted with (0 when there is no such lease).
    pub granted_ttl: i64,
    /// The keys attached to it, when asked for.
    pub keys: Vec<Bytes>,
}

impl LeaseTimeToLive {
    /// True when the lease does not exist (expired or revoked), as etcdctl decides it.
    pub fn expired(&self) -> bool {
        self.ttl == -1 && self.granted_ttl == 0
    }
}

impl Client {
    /// Grants a lease of `ttl` seconds (raised to the cluster's minimum); `id` 0 lets the
    /// cluster pick the id. Returns `(id, ttl granted)`.
    pub async fn lease_grant(&self, ttl: i64, id: i64) -> Result<(i64, i64)> {
        let frame = self
            .execute(Command::Lease(Lease::Grant { ttl, id }))
            .await?;
        id_and_ttl(frame, "LEASE GRANT", (id != 0).then_some(id))
    }

    /// Revokes lease `id`, deleting its keys in one revision.
    pub async fn lease_revoke(&self, id: i64) -> Result<()> {
        match self.execute(Command::Lease(Lease::Revoke(id))).await? {
            Frame::Simple(s) if s == "OK" => Ok(()),
            other => Err(malformed("LEASE REVOKE", &other)),
        }
    }

    /// Renews lease `id` once; returns the TTL it now has. A lease that does not exist is
    /// [`Error::Server`] with etcd's `etcdserver: requested lease not found`.
    pub async fn lease_keep_alive_once(&self, id: i64) -> Result<i64> {
        self.keep_alive_within(id, self.config().timeout).await
    }

    async fn keep_alive_within(&self, id: i64, timeout: Duration) -> Result<i64> {
        let frame = self
            .execute_with_timeout(Command::Lease(Lease::KeepAlive(id)), timeout)
            .await?;
        id_and_ttl(frame, "LEASE KEEPALIVE", Some(id)).map(|(_, ttl)| ttl)
    }

    /// The remaining TTL of lease `id` (and its keys if `keys`), from the replica that
    /// answers; a missing lease is not an error (see [`LeaseTimeToLive::expired`]).
    pub async fn lease_time_to_live(&self, id: i64, keys: bool) -> Result<LeaseTimeToLive> {
        let frame = self
            .execute(Command::Lease(Lease::TimeToLive { id, keys }))
            .await?;
        let bad = |f: &Frame| malformed("LEASE TTL", f);
        let Frame::Array(items) = frame else {
            return Err(bad(&frame));
        };
        match items.as_slice() {
            [Frame::Integer(got), Frame::Integer(ttl), Frame::Integer(granted), Frame::Array(ks)]
                if *got == id =>
            {
                let keys = ks
                    .iter()
                    .map(|k| match k {
                        Frame::Bulk(b) => Ok(b.clone()),
                        other => Err(bad(other)),
                    })
                    .collect::<Result<_>>()?;
                Ok(LeaseTimeToLive {
                    id,
                    ttl: *ttl,
                    granted_ttl: *granted,
                    keys,
                })
            }
            _ => Err(bad(&Frame::Array(items))),
        }
    }

    /// The ids of every lease.
    pub async fn lease_list(&self) -> Result<Vec<i64>> {
        match self.execute(Command::Lease(Lease::List)).await? {
            Frame::Array(items) => items
                .into_iter()
                .map(|f| match f {
                    Frame::Integer(id) => Ok(id),
                    other => Err(malformed("LEASE LIST", &other)),
                })
                .collect(),
            other => Err(malformed("LEASE LIST", &other)),
        }
    }

    /// Keeps lease `id` (granted with `ttl` seconds) alive in a background task until the
    /// returned [`KeepAlive`] is dropped. Needs a tokio runtime.
    pub fn keep_alive(&self, id: i64, ttl: i64) -> KeepAlive {
        KeepAlive::start(self.clone(), id, ttl)
    }
}

/// `[id, ttl]`, with the id checked when it is known.
fn id_and_ttl(frame: Frame, what: &str, want: Option<i64>) -> Result<(i64, i64)> {
    match &frame {
        Frame::Array(items) => match items.as_slice() {
            [Frame::Integer(id), Frame::Integer(ttl)] if want.is_none_or(|w| w == *id) => {
                Ok((*id, *ttl))
            }
            _ => Err(malformed(what, &frame)),
        },
        _ => Err(malformed(what, &frame)),
    }
}

fn malformed(what: &str, frame: &Frame) -> Error {
    Error::Protocol(format!("unexpected {what} reply {frame}"))
}

/// Where a kept-alive lease stands.
#[derive(Clone, Debug)]
struct State {
    /// Successful renewals so far.
    renewals: u64,
    /// The TTL of the last renewal.
    ttl: i64,
    /// Why the lease is gone, once it is.
    lost: Option<Error>,
}

/// A background task that renews a lease every third of its TTL, as etcd's clients do,
/// until dropped (dropping it does not revoke the lease; it expires after its TTL).
///
/// Failed renewals (a replica down, a leader change) are retried every half second or so,
/// until the lease would have expired since the last renewal that got through. The lease
/// is *lost* when the cluster says it does not exist (expired or revoked), or when no
/// renewal got through for a whole TTL; [`KeepAlive::lost`] reports it, and the task stops.
#[derive(Debug)]
pub struct KeepAlive {
    id: i64,
    state: watch::Receiver<State>,
    task: JoinHandle<()>,
}

impl Drop for KeepAlive {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl KeepAlive {
    /// Starts renewing lease `id`, granted just now with `ttl` seconds; the first renewal
    /// comes after a third of the TTL.
    pub fn start(client: Client, id: i64, ttl: i64) -> KeepAlive {
        let (tx, state) = watch::channel(State {
            renewals: 0,
            ttl,
            lost: None,
        });
        let task = tokio::spawn(renew(client, id, ttl, tx));
        KeepAlive { id, state, task }
    }

    /// The lease kept alive.
    pub fn id(&self) -> i64 {
        self.id
    }

    /// Waits for the next renewal and returns the TTL it gave; `Err` once the lease is lost.
    pub async fn renewed(&mut self) -> Result<i64> {
        let seen = self.state.borrow_and_update().renewals;
        let state = self
            .state
            .wait_for(|s| s.renewals > seen || s.lost.is_some())
            .await
            .map_err(|_| Error::Protocol("keepalive task ended".into()))?;
        match &state.lost {
            Some(e) => Err(e.clone()),
            None => Ok(state.ttl),
        }
    }

    /// Waits until the lease is lost, and says why.
    pub async fn lost(&mut self) -> Error {
        match self.state.wait_for(|s| s.lost.is_some()).await {
            Ok(state) => state
                .lost
                .clone()
                .unwrap_or_else(|| Error::Protocol("keepalive state without a loss".into())),
            Err(_) => Error::Protocol("keepalive task ended".into()),
        }
    }
}

/// Pause between retries of a renewal that failed.
const RETRY: Duration = Duration::from_millis(500);
/// Shortest time given to one renewal.
const MIN_CALL: Duration = Duration::from_millis(100);

async fn renew(client: Client, id: i64, ttl: i64, tx: watch::Sender<State>) {
    let secs = |t: i64| Duration::from_secs(u64::try_from(t).unwrap_or(0).max(1));
    let mut period = secs(ttl) / 3;
    // Granted (or renewed) at the latest now: it lives at least until then.
    let mut expires = Instant::now() + secs(ttl);
    let mut next = Instant::now() + period;
    let not_found = KvError::LeaseNotFound.to_string();
    loop {
        tokio::time::sleep_until(next).await;
        let sent = Instant::now();
        let budget = expires
            .saturating_duration_since(sent)
            .min(client.config().timeout)
            .max(MIN_CALL);
        let why = match client.keep_alive_within(id, budget).await {
            Ok(ttl) if ttl > 0 => {
                expires = sent + secs(ttl);
                period = secs(ttl) / 3;
                next = sent + period;
                tx.send_modify(|s| {
                    s.renewals += 1;
                    s.ttl = ttl;
                });
                continue;
            }
            Ok(_) => Error::Server(not_found.clone()),
            Err(Error::Server(msg)) if msg == not_found => Error::Server(msg),
            Err(e) if Instant::now() >= expires => Error::Timeout(format!(
                "lease {id:016x} expired: no keepalive got through for its TTL ({e})"
            )),
            Err(_) => {
                next = (Instant::now() + RETRY).min(expires);
                continue;
            }
        };
        tx.send_modify(|s| s.lost = Some(why));
        return;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_parsed_strictly() {
        let pair = |a, b| Frame::Array(vec![Frame::Integer(a), Frame::Integer(b)]);
        assert_eq!(id_and_ttl(pair(7, 10), "x", None), Ok((7, 10)));
        assert_eq!(id_and_ttl(pair(7, 10), "x", Some(7)), Ok((7, 10)));
        assert!(matches!(
            id_and_ttl(pair(8, 10), "x", Some(7)),
            Err(Error::Protocol(_))
        ));
        assert!(matches!(
            id_and_ttl(Frame::Integer(7), "x", None),
            Err(Error::Protocol(_))
        ));
        assert!(matches!(
            id_and_ttl(Frame::Array(vec![Frame::Integer(7)]), "x", None),
            Err(Error::Protocol(_))
        ));
        let gone = LeaseTimeToLive {
            id: 1,
            ttl: -1,
            granted_ttl: 0,
            keys: vec![],
        };
        assert!(gone.expired());
    }

    #[tokio::test]
    async fn a_keepalive_with_no_cluster_is_lost_after_its_ttl() {
        // Nothing listens on port 1: every renewal fails, so the lease counts as lost once a
        // whole TTL passed without one.
        let config = crate::ClientConfig::new(["127.0.0.1:1"]);
        let client = Client::new(config).unwrap();
        let start = Instant::now();
        let mut ka = client.keep_alive(5, 1);
        let err = ka.renewed().await.unwrap_err();
        assert!(matches!(err, Error::Timeout(_)), "{err}");
        assert!(start.elapsed() >= Duration::from_secs(1));
        assert!(matches!(ka.lost().await, Error::Timeout(_)));
    }
}
