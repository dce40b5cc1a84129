//! `LEASE GRANT|REVOKE|KEEPALIVE|TTL|LIST`, and Redis' expiry habits on top of leases:
//! `EXPIRE key seconds`, `TTL key` (and `SET ... EX|PX`, in `put.rs`).

use bytes::Bytes;

use super::args::keyword;
use super::Args;
use crate::error::{Error, Result};

/// etcd's lease operations.
///
/// # Format
/// - `LEASE GRANT ttl [ID id]` → `[id, ttl]` (the TTL granted: at least the cluster's minimum)
/// - `LEASE REVOKE id` → `OK`; the lease's keys are deleted in one revision
/// - `LEASE KEEPALIVE id` → `[id, ttl]`: renewed for `ttl` seconds
/// - `LEASE TTL id [KEYS]` → `[id, ttl left (-1: no such lease), granted ttl, [keys]]`
/// - `LEASE LIST` → `[id, ...]`
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lease {
    /// Grant a lease (`id` 0: the replica picks one).
    Grant {
        /// Seconds without a keepalive before it expires.
        ttl: i64,
        /// The id wanted, or 0.
        id: i64,
    },
    /// Revoke a lease.
    Revoke(i64),
    /// Renew a lease once.
    KeepAlive(i64),
    /// A lease's remaining TTL.
    TimeToLive {
        /// The lease.
        id: i64,
        /// Also list its keys.
        keys: bool,
    },
    /// Every lease id.
    List,
}

impl Lease {
    pub(crate) fn parse(args: &mut Args) -> Result<Lease> {
        if args.remaining() == 0 {
            return Err(args.arity_error());
        }
        let lease = match keyword(&args.next_bytes()?).as_str() {
            "GRANT" => {
                let ttl = args.next_i64()?;
                let id = match args.remaining() {
                    0 => 0,
                    _ if keyword(&args.next_bytes()?) == "ID" => args.next_i64()?,
                    _ => return Err(Error::invalid("syntax error")),
                };
                Lease::Grant { ttl, id }
            }
            "REVOKE" => Lease::Revoke(args.next_i64()?),
            "KEEPALIVE" => Lease::KeepAlive(args.next_i64()?),
            "TTL" => {
                let id = args.next_i64()?;
                let keys = match args.remaining() {
                    0 => false,
                    _ if keyword(&args.next_bytes()?) == "KEYS" => true,
                    _ => return Err(Error::invalid("syntax error")),
                };
                Lease::TimeToLive { id, keys }
            }
            "LIST" => Lease::List,
            _ => {
                return Err(Error::invalid(
                    "LEASE takes GRANT, REVOKE, KEEPALIVE, TTL or LIST",
                ))
            }
        };
        args.finish()?;
        Ok(lease)
    }

    pub(crate) fn words(&self) -> Vec<Bytes> {
        let n = |v: i64| Bytes::from(v.to_string());
        let mut w = vec![Bytes::from_static(b"LEASE")];
        match *self {
            Lease::Grant { ttl, id } => {
                w.extend([Bytes::from_static(b"GRANT"), n(ttl)]);
                if id != 0 {
                    w.extend([Bytes::from_static(b"ID"), n(id)]);
                }
            }
            Lease::Revoke(id) => w.extend([Bytes::from_static(b"REVOKE"), n(id)]),
            Lease::KeepAlive(id) => w.extend([Bytes::from_static(b"KEEPALIVE"), n(id)]),
            Lease::TimeToLive { id, keys } => {
                w.extend([Bytes::from_static(b"TTL"), n(id)]);
                if keys {
                    w.push(Bytes::from_static(b"KEYS"));
                }
            }
            Lease::List => w.push(Bytes::from_static(b"LIST")),
        }
        w
    }
}

/// Redis' `EXPIRE`: the key vanishes after `seconds` (rounded up to the cluster's minimum
/// TTL), through a new lease the key is moved to.
///
/// # Format
/// `EXPIRE key seconds` → `:1`, or `:0` if the key does not exist.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expire {
    /// The key.
    pub key: Bytes,
    /// Seconds until it vanishes.
    pub seconds: i64,
}

impl Expire {
    pub(crate) fn parse(args: &mut Args) -> Result<Expire> {
        if args.remaining() != 2 {
            return Err(args.arity_error());
        }
        let key = args.next_bytes()?;
        let seconds = args.next_i64()?;
        Ok(Expire { key, seconds })
    }

    pub(crate) fn words(&self) -> Vec<Bytes> {
        vec![
            Bytes::from_static(b"EXPIRE"),
            self.key.clone(),
            Bytes::from(self.seconds.to_string()),
        ]
    }
}

/// Redis' `TTL key`: seconds left on the key's lease; `-1` for a key without a lease, `-2`
/// for no key.
pub(crate) fn parse_ttl(args: &mut Args) -> Result<Bytes> {
    if args.remaining() != 1 {
        return Err(args.arity_error());
    }
    args.next_bytes()
}
