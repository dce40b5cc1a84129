//! `SET key value` / `PUT key value`

use bytes::Bytes;

use super::args::{keyword, push_request_id};
use super::Args;
use crate::error::{Error, Result};
use crate::types::{RequestId, Revision};

/// Which reply the client asked for by its choice of verb.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PutReply {
    /// `SET`: `+OK`, or nil when the `IFREV` guard failed (as Redis' `SET NX`).
    Ok,
    /// `PUT`: `:revision` of the write, or `:0` when the `IFREV` guard failed.
    Revision,
}

/// Writes one key. Linearizable; replies once the write is committed.
///
/// # Format
/// `SET key value [IFREV rev] [LEASE id | EX seconds | PX millis] [PREVKV] [REQID client seq]`
/// → `+OK`; `PUT ...` the same → `:revision`
///
/// `IFREV rev` writes only if the key's `mod_revision` equals `rev` (0: the key is absent).
/// `LEASE id` attaches the key to a lease. `EX`/`PX` (Redis' expiry) grant a new lease of that
/// TTL (rounded up to whole seconds, at least the cluster's minimum) and attach the key to
/// it: the key vanishes when the lease expires. `PREVKV` makes the reply `[reply, previous kv or
/// nil]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Put {
    /// The key.
    pub key: Bytes,
    /// The new value.
    pub value: Bytes,
    /// Optional guard on the key's current `mod_revision`.
    pub if_revision: Option<Revision>,
    /// Lease to attach (0: none).
    pub lease: i64,
    /// `EX`/`PX`: attach the key to a new lease of this TTL, in milliseconds.
    pub expire_ms: Option<u64>,
    /// Also reply with the previous kv.
    pub prev_kv: bool,
    /// Optional request id for exactly-once retries.
    pub request: Option<RequestId>,
    /// Reply shape.
    pub reply: PutReply,
}

impl Put {
    pub(crate) fn parse(args: &mut Args, reply: PutReply) -> Result<Put> {
        if args.remaining() < 2 {
            return Err(args.arity_error());
        }
        let key = args.next_bytes()?;
        let value = args.next_bytes()?;
        let mut put = Put {
            key,
            value,
            if_revision: None,
            lease: 0,
            expire_ms: None,
            prev_kv: false,
            request: None,
            reply,
        };
        while args.remaining() > 0 {
            match keyword(&args.next_bytes()?).as_str() {
                "IFREV" if put.if_revision.is_none() => put.if_revision = Some(args.next_u64()?),
                "LEASE" if put.lease == 0 && put.expire_ms.is_none() => {
                    put.lease = args.next_i64()?;
                }
                "EX" if put.lease == 0 && put.expire_ms.is_none() => {
                    put.expire_ms = Some(positive(args.next_u64()?)?.saturating_mul(1000));
                }
                "PX" if put.lease == 0 && put.expire_ms.is_none() => {
                    put.expire_ms = Some(positive(args.next_u64()?)?);
                }
                "PREVKV" if !put.prev_kv => put.prev_kv = true,
                "REQID" if put.request.is_none() => put.request = Some(parse_request_id(args)?),
                _ => return Err(Error::invalid("syntax error")),
            }
        }
        Ok(put)
    }

    pub(crate) fn words(&self) -> Vec<Bytes> {
        let verb: &'static [u8] = match self.reply {
            PutReply::Ok => b"SET",
            PutReply::Revision => b"PUT",
        };
        let mut w = vec![
            Bytes::from_static(verb),
            self.key.clone(),
            self.value.clone(),
        ];
        if let Some(rev) = self.if_revision {
            w.push(Bytes::from_static(b"IFREV"));
            w.push(Bytes::from(rev.to_string()));
        }
        if self.lease != 0 {
            w.push(Bytes::from_static(b"LEASE"));
            w.push(Bytes::from(self.lease.to_string()));
        }
        if let Some(ms) = self.expire_ms {
            w.push(Bytes::from_static(b"PX"));
            w.push(Bytes::from(ms.to_string()));
        }
        if self.prev_kv {
            w.push(Bytes::from_static(b"PREVKV"));
        }
        push_request_id(&mut w, &self.request);
        w
    }
}

/// Redis' check of an expire time.
fn positive(n: u64) -> Result<u64> {
    if n == 0 {
        return Err(Error::invalid("invalid expire time in 'set' command"));
    }
    Ok(n)
}

/// Parses the two numbers after a `REQID` keyword.
pub(crate) fn parse_request_id(args: &mut Args) -> Result<RequestId> {
    Ok(RequestId {
        client: args.next_u64()?,
        seq: args.next_u64()?,
    })
}
