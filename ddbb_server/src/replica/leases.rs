//! [`LeaseClock`]: when each lease expires by this replica's clock, and which expired leases
//! the leader should revoke.
//!
//! Lease *state* is replicated (`state::mvcc::lease`); lease *time* is not. Every replica
//! restarts a lease's countdown when it applies its grant or a keepalive (keepalives go
//! through the log, so they reach the leader from any replica), but only the leader acts:
//! when a countdown runs out it proposes a revocation, which deletes the keys where it is
//! applied. A replica that becomes leader restarts every countdown at the full TTL (as etcd's
//! new leader does), so no lease expires before its TTL has passed since its last keepalive
//! by any leader's clock. A leader cut off from the quorum can propose, but nothing it
//! proposes is decided, so it expires nothing. Time is counted in the loop's ticks, so the
//! simulator's virtual clock drives it too.
//!
//! Planted bug for lin_test's lock workload (hidden `--unsafe-follower-lease-expiry`): every
//! replica acts on its own countdowns, followers included, and a follower's countdowns run
//! [`UNSAFE_FOLLOWER_SPEEDUP`] times fast (a skewed clock), so leases are revoked long before
//! their TTL has passed since the last keepalive.

use std::collections::HashMap;
use std::time::Duration;

use crate::state::mvcc::MvccStore;

/// How many times fast a follower's lease clock runs under `--unsafe-follower-lease-expiry`.
pub const UNSAFE_FOLLOWER_SPEEDUP: u64 = 10;

/// Countdowns per lease, in ticks of the replica loop.
#[derive(Debug)]
pub struct LeaseClock {
    tick: Duration,
    /// Tick at which each lease expires.
    deadlines: HashMap<i64, u64>,
    /// Leases whose revocation was proposed, and when (not proposed again before
    /// `repropose_ticks` have passed).
    revoking: HashMap<i64, u64>,
    leading: bool,
    /// UNSAFE (tests only): followers expire leases too, by a clock running
    /// [`UNSAFE_FOLLOWER_SPEEDUP`] times fast.
    unsafe_follower_expiry: bool,
}

impl LeaseClock {
    /// No leases yet; `tick` is the length of one loop tick.
    pub fn new(tick: Duration) -> LeaseClock {
        LeaseClock {
            tick: tick.max(Duration::from_micros(1)),
            deadlines: HashMap::new(),
            revoking: HashMap::new(),
            leading: false,
            unsafe_follower_expiry: false,
        }
    }

    /// UNSAFE, tests only: lets every replica expire leases by its own clock, a follower's
    /// running [`UNSAFE_FOLLOWER_SPEEDUP`] times fast (`--unsafe-follower-lease-expiry`).
    pub fn with_unsafe_follower_expiry(mut self, on: bool) -> LeaseClock {
        self.unsafe_follower_expiry = on;
        self
    }

    fn ticks(&self, ttl_secs: i64) -> u64 {
        let ttl = Duration::from_secs(u64::try_from(ttl_secs).unwrap_or(0));
        let ticks = u64::try_from(ttl.as_nanos() / self.tick.as_nanos().max(1)).unwrap_or(u64::MAX);
        if self.unsafe_follower_expiry && !self.leading {
            ticks / UNSAFE_FOLLOWER_SPEEDUP
        } else {
            ticks
        }
    }

    /// A grant or keepalive of lease `id` (TTL `ttl` seconds) was applied at tick `now`.
    pub fn renew(&mut self, id: i64, ttl: i64, now: u64) {
        self.deadlines
            .insert(id, now.saturating_add(self.ticks(ttl)));
        self.revoking.remove(&id);
    }

    /// Lease `id` was revoked.
    pub fn forget(&mut self, id: i64) {
        self.deadlines.remove(&id);
        self.revoking.remove(&id);
    }

    /// Restarts every lease of `store` at its full TTL (a new leader, or a state installed
    /// from a snapshot), and forgets leases the store does not have.
    pub fn restart_all(&mut self, store: &MvccStore, now: u64) {
        self.deadlines.clear();
        self.revoking.clear();
        for (id, lease) in store.leases() {
            let deadline = now.saturating_add(self.ticks(lease.ttl));
            self.deadlines.insert(id, deadline);
        }
    }

    /// Tells the clock whether this replica leads now; becoming leader restarts every
    /// countdown.
    pub fn set_leading(&mut self, leading: bool, store: &MvccStore, now: u64) {
        let became = leading && !self.leading;
        self.leading = leading;
        if became {
            self.restart_all(store, now);
        }
    }

    /// The leases the leader should revoke at tick `now`: expired, and not proposed within
    /// the last `repropose_ticks`. Empty unless this replica leads (or the unsafe follower
    /// expiry is on).
    pub fn expired(&mut self, now: u64, repropose_ticks: u64) -> Vec<i64> {
        if !self.leading && !self.unsafe_follower_expiry {
            return Vec::new();
        }
        let mut due: Vec<i64> = self
            .deadlines
            .iter()
            .filter(|(_, deadline)| **deadline <= now)
            .map(|(id, _)| *id)
            .filter(|id| {
                self.revoking
                    .get(id)
                    .is_none_or(|at| now >= at.saturating_add(repropose_ticks))
            })
            .collect();
        due.sort_unstable();
        for id in &due {
            self.revoking.insert(*id, now);
        }
        due
    }

    /// Whole seconds left on lease `id` by this replica's clock (rounded up), if it has one.
    pub fn remaining_secs(&self, id: i64, now: u64) -> Option<i64> {
        let left = self.deadlines.get(&id)?.saturating_sub(now);
        let nanos = u128::from(left) * self.tick.as_nanos();
        Some(i64::try_from(nanos.div_ceil(1_000_000_000)).unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddbb_libs::kv::LeaseGrantRequest;

    fn store_with(leases: &[(i64, i64)]) -> MvccStore {
        let mut store = MvccStore::new();
        for &(id, ttl) in leases {
            store.lease_grant(&LeaseGrantRequest { id, ttl }).unwrap();
        }
        store
    }

    #[test]
    fn only_the_leader_expires_and_only_after_the_ttl() {
        let mut clock = LeaseClock::new(Duration::from_millis(10));
        let store = store_with(&[(7, 2)]);
        clock.renew(7, 2, 0); // 2 s = 200 ticks
        assert!(
            clock.expired(1_000, 50).is_empty(),
            "a follower expires nothing"
        );
        clock.set_leading(true, &store, 100); // becoming leader: full TTL again from tick 100
        assert!(clock.expired(299, 50).is_empty());
        assert_eq!(clock.expired(300, 50), [7]);
        assert!(
            clock.expired(320, 50).is_empty(),
            "proposed: not again at once"
        );
        assert_eq!(clock.expired(350, 50), [7], "again after repropose_ticks");
        clock.forget(7);
        assert!(clock.expired(10_000, 50).is_empty());
    }

    #[test]
    fn keepalives_push_the_deadline_and_ttl_rounds_up() {
        let mut clock = LeaseClock::new(Duration::from_millis(10));
        let store = store_with(&[(1, 5)]);
        clock.set_leading(true, &store, 0);
        for now in (0..2_000).step_by(100) {
            clock.renew(1, 5, now); // a keepalive every second
            assert!(clock.expired(now + 99, 50).is_empty());
        }
        assert_eq!(clock.remaining_secs(1, 1_900), Some(5));
        assert_eq!(clock.remaining_secs(1, 1_901), Some(5), "4.99 s rounds up");
        assert_eq!(clock.remaining_secs(1, 2_400), Some(0));
        assert_eq!(clock.remaining_secs(2, 0), None);
        assert_eq!(clock.expired(2_400, 50), [1]);
    }

    #[test]
    fn unsafe_follower_expiry_expires_on_a_followers_fast_clock() {
        let mut clock =
            LeaseClock::new(Duration::from_millis(10)).with_unsafe_follower_expiry(true);
        clock.renew(7, 2, 0); // 2 s = 200 ticks, a tenth of that on a follower
        assert!(clock.expired(19, 50).is_empty());
        assert_eq!(clock.expired(20, 50), [7], "a follower revokes after 0.2 s");
    }

    #[test]
    fn losing_and_regaining_leadership_restarts_countdowns() {
        let mut clock = LeaseClock::new(Duration::from_millis(10));
        let store = store_with(&[(1, 1), (2, 3)]);
        clock.set_leading(true, &store, 0);
        clock.set_leading(false, &store, 50);
        clock.set_leading(true, &store, 1_000);
        assert!(clock.expired(1_099, 50).is_empty());
        assert_eq!(clock.expired(1_100, 50), [1]);
        clock.forget(1); // its revocation was applied
        assert_eq!(clock.expired(1_300, 50), [2]);
    }
}
