//! Scripted interleavings the random runs find only by luck: a write forwarded to a leader
//! that dies at once (omnipaxos issue #136: the forward is lost), and a leader change while a
//! follower is being caught up by snapshot.

use std::time::Duration;

use bytes::Bytes;
use ddbb_libs::kv::{PutRequest, WriteRequest, WriteResponse};
use ddbb_libs::NodeId;
use sim::scenario::Scenario;

const ALL: [NodeId; 3] = [1, 2, 3];
const LIMIT: Duration = Duration::from_secs(10);

fn put(key: &str, value: &str) -> WriteRequest {
    WriteRequest::Put(PutRequest::new(
        Bytes::copy_from_slice(key.as_bytes()),
        Bytes::copy_from_slice(value.as_bytes()),
    ))
}

fn value(s: &mut Scenario, id: NodeId, key: &str) -> Option<Bytes> {
    s.local_get(id, key.as_bytes()).flatten().map(|kv| kv.value)
}

#[test]
fn a_write_forwarded_to_a_leader_that_dies_is_applied_once() {
    for seed in 0..10 {
        let mut s = Scenario::calm(seed, 3);
        let leader = s.wait_for_leader(&ALL, LIMIT).expect("a leader");
        let follower = ALL.iter().copied().find(|p| *p != leader).unwrap();
        let others: Vec<NodeId> = ALL.iter().copied().filter(|p| *p != leader).collect();
        // The follower forwards the write, and the leader dies before it can accept it (the
        // crash keeps only what it had synced).
        s.crash(leader);
        let write = s.write(follower, put("once", "1"), LIMIT);
        let revision = match write.map(|o| (o.revision, o.result)) {
            Some((rev, Ok(WriteResponse::Put(_)))) => rev,
            other => panic!("seed {seed}: the write was not re-proposed: {other:?}"),
        };
        assert!(
            s.leader_among(&others).is_some(),
            "seed {seed}: a new leader"
        );
        s.restart(leader);
        s.run_for(Duration::from_secs(2));
        for p in ALL {
            assert_eq!(
                value(&mut s, p, "once").as_deref(),
                Some(&b"1"[..]),
                "seed {seed}"
            );
            let status = s.status(p).expect("running");
            assert_eq!(
                status.revision, revision as u64,
                "seed {seed}: applied exactly once"
            );
        }
        assert!(s.failures().is_empty(), "seed {seed}: {:?}", s.failures());
    }
}

#[test]
fn a_leader_change_during_a_snapshot_catch_up_loses_nothing() {
    for seed in 0..10 {
        let mut s = Scenario::calm(seed, 3);
        s.set_snapshot_every(5);
        let leader = s.wait_for_leader(&ALL, LIMIT).expect("a leader");
        let lagging = ALL.iter().copied().find(|p| *p != leader).unwrap();
        // Restart everyone so the short snapshot interval applies.
        for p in ALL {
            s.crash(p);
            s.restart(p);
        }
        let leader = s.wait_for_leader(&ALL, LIMIT).expect("a leader again");
        let lagging = if lagging == leader {
            ALL.iter().copied().find(|p| *p != leader).unwrap()
        } else {
            lagging
        };
        s.isolate(lagging);
        let writer = ALL.iter().copied().find(|p| *p != lagging).unwrap();
        for i in 0..40 {
            let outcome = s.write(writer, put(&format!("k{}", i % 7), &i.to_string()), LIMIT);
            assert!(
                matches!(outcome.map(|o| o.result), Some(Ok(_))),
                "seed {seed}: write {i}"
            );
        }
        // Heal: the leader catches the lagging replica up with a snapshot; kill the leader a
        // few milliseconds into it.
        s.heal();
        s.run_for(Duration::from_millis(3));
        let leader = s.leader_among(&ALL).unwrap_or(writer);
        s.crash(leader);
        let rest: Vec<NodeId> = ALL.iter().copied().filter(|p| *p != leader).collect();
        s.wait_for_leader(&rest, LIMIT).expect("a new leader");
        let last = s.write(rest[0], put("after", "x"), LIMIT);
        assert!(
            matches!(last.map(|o| o.result), Some(Ok(_))),
            "seed {seed}: cluster works"
        );
        s.restart(leader);
        s.run_for(Duration::from_secs(3));
        for p in ALL {
            for k in 0..7 {
                let want = (0..40).filter(|i| i % 7 == k).max().unwrap().to_string();
                assert_eq!(
                    value(&mut s, p, &format!("k{k}")).as_deref(),
                    Some(want.as_bytes()),
                    "seed {seed}: replica {p} key k{k}"
                );
            }
            assert!(
                value(&mut s, p, "after").is_some(),
                "seed {seed}: replica {p}"
            );
        }
        assert!(s.failures().is_empty(), "seed {seed}: {:?}", s.failures());
    }
}
