//! Lease scenarios in the simulator (virtual time, real replica cores): a leader change with
//! live keepalives expires nothing, an isolated old leader expires nothing, and a lease with no
//! keepalive expires after its TTL and not before.

use std::time::Duration;

use bytes::Bytes;
use ddbb_libs::kv::{LeaseGrantRequest, PutRequest, WriteRequest, WriteResponse};
use ddbb_libs::NodeId;
use sim::scenario::Scenario;

const ALL: [NodeId; 3] = [1, 2, 3];
const LIMIT: Duration = Duration::from_secs(5);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A cluster with a leader, a lease of `ttl` seconds granted through `via` and key `k` on it.
fn leased_key(mut s: Scenario, ttl: i64, via: NodeId) -> (Scenario, NodeId, i64) {
    let leader = s.wait_for_leader(&ALL, LIMIT).expect("a leader");
    let grant = WriteRequest::LeaseGrant(LeaseGrantRequest { ttl, id: 0 });
    let id = match s.write(via, grant, LIMIT).map(|o| o.result) {
        Some(Ok(WriteResponse::LeaseGrant(g))) => g.id,
        other => panic!("grant failed: {other:?}"),
    };
    let put = WriteRequest::Put(PutRequest {
        lease: id,
        ..PutRequest::new(Bytes::from_static(b"k"), Bytes::from_static(b"v"))
    });
    let put = s.write(via, put, LIMIT).map(|o| o.result);
    assert!(matches!(put, Some(Ok(_))), "{put:?}");
    (s, leader, id)
}

fn keep_alive(s: &mut Scenario, via: NodeId, id: i64) -> bool {
    let outcome = s.write(via, WriteRequest::LeaseKeepAlive(id), ms(400));
    matches!(outcome.map(|o| o.result), Some(Ok(_)))
}

fn has_key(s: &mut Scenario, id: NodeId) -> Option<bool> {
    s.local_get(id, b"k").map(|kv| kv.is_some())
}

#[test]
fn a_leader_change_with_live_keepalives_expires_nothing_and_an_old_leader_neither() {
    for seed in 0..8 {
        let (mut s, leader, id) = leased_key(Scenario::new(seed, 3), 2, 1);
        let others: Vec<NodeId> = ALL.iter().copied().filter(|p| *p != leader).collect();
        // Cut the leader off: it goes on believing it leads, and its clock expires the lease,
        // but nothing it proposes can be decided.
        s.isolate(leader);
        let start = s.now();
        while s.now() - start < Duration::from_secs(8) {
            keep_alive(&mut s, others[0], id);
            s.run_for(ms(300));
            for p in &others {
                assert_ne!(
                    has_key(&mut s, *p),
                    Some(false),
                    "seed {seed}: expired on {p}"
                );
            }
        }
        assert!(
            s.leader_among(&others).is_some(),
            "seed {seed}: the majority elected"
        );
        s.heal();
        let start = s.now();
        while s.now() - start < Duration::from_secs(3) {
            keep_alive(&mut s, others[1], id);
            s.run_for(ms(300));
        }
        for p in ALL {
            assert_eq!(
                has_key(&mut s, p),
                Some(true),
                "seed {seed}: key lost on {p}"
            );
        }
        assert!(s.failures().is_empty(), "seed {seed}: {:?}", s.failures());
    }
}

#[test]
fn without_keepalives_a_lease_expires_after_its_ttl_and_not_before() {
    for seed in 0..8 {
        // A calm network: on a lossy one leadership may change every second, and each new
        // leader restarts the countdown (as it must), so the lease may live on.
        let (mut s, leader, _) = leased_key(Scenario::calm(seed, 3), 2, 2);
        let granted = s.now();
        // Not before the TTL: the leader restarted its countdown when it applied the grant,
        // which was before `granted`.
        s.run_for(ms(1_500));
        for p in ALL {
            assert_eq!(
                has_key(&mut s, p),
                Some(true),
                "seed {seed}: gone early on {p}"
            );
        }
        // Gone on every replica soon after the TTL (a tick plus a log round trip).
        let mut gone = false;
        while s.now() - granted < Duration::from_secs(4) {
            s.run_for(ms(50));

            if ALL.iter().all(|p| has_key(&mut s, *p) == Some(false)) {
                gone = true;
                break;
            }
        }
        assert!(gone, "seed {seed}: leader {leader} never expired the lease");
        assert!(s.failures().is_empty(), "seed {seed}: {:?}", s.failures());
    }
}
