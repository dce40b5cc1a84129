//! Leases in the store: the replicated part of etcd's lessor (id, granted TTL, attached keys).
//!
//! Time is not here: when a lease expires is decided by the leader's clock (in the replica),
//! which then proposes its revocation through the log. Here a lease only exists or not: a put
//! naming a missing lease fails with `LeaseNotFound` (checked with the put's other state
//! checks, so in a Txn only on the branch that runs, as etcd), and a revocation deletes every
//! attached key in one revision.

use bytes::Bytes;
use imbl::OrdSet;

use super::store::Applied;
use super::{DeleteRangeRequest, KvError, MvccStore};
use ddbb_libs::kv::{LeaseGrantRequest, LeaseGrantResponse, LeaseKeepAliveResponse};

/// One lease.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Lease {
    /// The TTL it was granted with, in seconds.
    pub ttl: i64,
    /// The keys attached to it now.
    pub keys: OrdSet<Bytes>,
    /// Keepalives applied so far (what an expiry checks it was not renewed meanwhile).
    pub renewals: u64,
}

impl MvccStore {
    /// The lease `id`, if it exists.
    pub fn lease(&self, id: i64) -> Option<&Lease> {
        self.leases.get(&id)
    }

    /// Every lease, by id.
    pub fn leases(&self) -> impl Iterator<Item = (i64, &Lease)> {
        self.leases.iter().map(|(id, l)| (*id, l))
    }

    /// Grants a lease; the id (non-zero) and TTL were settled before the request entered the
    /// log. Changes no revision.
    pub fn lease_grant(&mut self, req: &LeaseGrantRequest) -> Result<LeaseGrantResponse, KvError> {
        if req.id == 0 {
            return Err(KvError::LeaseNotFound);
        }
        if req.ttl > ddbb_libs::kv::MAX_LEASE_TTL {
            return Err(KvError::LeaseTtlTooLarge);
        }
        if self.leases.contains_key(&req.id) {
            return Err(KvError::LeaseExists);
        }
        let lease = Lease {
            ttl: req.ttl,
            keys: OrdSet::new(),
            renewals: 0,
        };
        self.leases.insert(req.id, lease);
        Ok(LeaseGrantResponse {
            id: req.id,
            ttl: req.ttl,
        })
    }

    /// Revokes lease `id`: deletes its keys in one revision (with their events) and forgets it.
    pub fn lease_revoke(&mut self, id: i64) -> Result<Applied<()>, KvError> {
        let lease = self.leases.remove(&id).ok_or(KvError::LeaseNotFound)?;
        let mut write = self.begin();
        for key in lease.keys {
            let req = DeleteRangeRequest {
                key,
                ..DeleteRangeRequest::default()
            };
            self.delete_in(&mut write, &req);
        }
        Ok(self.finish(write, ()))
    }

    /// A keepalive: the TTL lease `id` is renewed for.
    pub fn lease_keepalive(&mut self, id: i64) -> Result<LeaseKeepAliveResponse, KvError> {
        let lease = self.leases.get_mut(&id).ok_or(KvError::LeaseNotFound)?;
        lease.renewals += 1;
        Ok(LeaseKeepAliveResponse { id, ttl: lease.ttl })
    }

    /// The leader's expiry of lease `id`: revokes it only if it still has `renewals`
    /// keepalives (none came since the leader decided). Returns whether it was revoked.
    pub fn lease_expire(&mut self, id: i64, renewals: u64) -> Applied<bool> {
        match self.leases.get(&id) {
            Some(lease) if lease.renewals == renewals => match self.lease_revoke(id) {
                Ok(applied) => Applied {
                    response: true,
                    events: applied.events,
                },
                Err(_) => Applied {
                    response: false,
                    events: Vec::new(),
                },
            },
            _ => Applied {
                response: false,
                events: Vec::new(),
            },
        }
    }

    /// Moves `key` from lease `from` to lease `to` (0: none) after a change.
    pub(super) fn attach(&mut self, key: &Bytes, from: i64, to: i64) {
        if from == to {
            return;
        }
        if let Some(lease) = self.leases.get_mut(&from) {
            lease.keys.remove(key);
        }
        if let Some(lease) = self.leases.get_mut(&to) {
            lease.keys.insert(key.clone());
        }
    }
}
