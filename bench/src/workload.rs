//! Workloads: what each simulated client sends, one operation at a time.
//!
//! Keys are 24 bytes (`key-` and a zero-padded number), values are a fixed size per run and
//! carry a tag (the key and a version) so that a compare-and-swap can name the value it
//! expects. Every client has its own seeded random generator, so a run is reproducible.
//!
//! CAS runs use keys of their own (prefix `c` plus the run number) that only that run touches:
//! each client owns a disjoint set of them and always knows their current value, so every
//! CAS should swap; a CAS that does not is counted as a miss, not as an error.
//!
//! A `txn` is etcd-style optimistic concurrency on two random preloaded keys: compare both
//! keys' mod revisions (`> 0`: the key exists, true for every preloaded key), then put both.
//! A `get-old` reads a random key at the revision the cluster had right after the preload
//! (set with [`OpGen::with_old_revision`]), so later writes make it a read of MVCC history.

use bytes::{Bytes, BytesMut};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// Length of every key, in bytes (the shape; etcd's docs use 8).
pub const KEY_BYTES: usize = 24;

/// Keys each client owns in a CAS run.
pub const CAS_KEYS_PER_CLIENT: u64 = 4;

/// What a run asks the cluster to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Workload {
    /// Writes to random keys.
    Put,
    /// Linearizable reads of random preloaded keys.
    GetLinearizable,
    /// Serializable (local) reads of random preloaded keys.
    GetSerializable,
    /// Compare-and-swap on keys the client owns (etcd: a Txn comparing the value).
    Cas,
    /// A transaction: 2 compares (mod revisions) and 2 puts on two random keys.
    Txn,
    /// Linearizable reads of random preloaded keys at an old revision (MVCC history).
    GetOld,
    /// Linearizable reads and writes on random keys; the number is the read percentage.
    Mixed(u8),
}

impl Workload {
    /// Every workload of the comparison, in report order.
    pub const ALL: [Workload; 8] = [
        Workload::Put,
        Workload::GetLinearizable,
        Workload::GetSerializable,
        Workload::GetOld,
        Workload::Cas,
        Workload::Txn,
        Workload::Mixed(90),
        Workload::Mixed(50),
    ];

    /// Short name used in file names, CSV and tables.
    pub fn name(self) -> String {
        match self {
            Workload::Put => "put".into(),
            Workload::GetLinearizable => "get-linearizable".into(),
            Workload::GetSerializable => "get-serializable".into(),
            Workload::Cas => "cas".into(),
            Workload::Txn => "txn".into(),
            Workload::GetOld => "get-old".into(),
            Workload::Mixed(r) => format!("mixed-{r}r-{}w", 100 - r),
        }
    }
}

/// One request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Write `value` to `key`.
    Put { key: Bytes, value: Bytes },
    /// Read `key`.
    Get { key: Bytes, serializable: bool },
    /// Write `new` to `key` if its value is `expected`.
    Cas {
        key: Bytes,
        expected: Bytes,
        new: Bytes,
    },
    /// If both keys exist (mod revision > 0), put both values (two distinct keys).
    Txn {
        keys: [Bytes; 2],
        values: [Bytes; 2],
    },
    /// Read `key` linearizably at `revision`.
    GetOld { key: Bytes, revision: i64 },
}

/// The `i`-th key of the shared key space: `key-00000000000000000042` (24 bytes).
pub fn key(i: u64) -> Bytes {
    let k = format!("key-{i:0width$}", width = KEY_BYTES - 4);
    debug_assert_eq!(k.len(), KEY_BYTES);
    Bytes::from(k)
}

/// The `i`-th key of CAS run `run` (disjoint from [`key`] and from other runs).
pub fn cas_key(run: u32, i: u64) -> Bytes {
    let k = format!("c{:03}-{i:0width$}", run % 1000, width = KEY_BYTES - 5);
    debug_assert_eq!(k.len(), KEY_BYTES);
    Bytes::from(k)
}

/// A value of `size` bytes that starts with `tag` in hex (when it fits) and is padded with
/// a filler, so different tags give different values of the same size.
pub fn value(size: usize, tag: u64) -> Bytes {
    let mut v = BytesMut::with_capacity(size);
    let head = format!("{tag:016x}");
    let head = &head.as_bytes()[head.len().saturating_sub(size)..];
    v.extend_from_slice(head);
    v.resize(size, b'v');
    v.freeze()
}

/// The tag of version `version` of CAS key number `i`.
fn cas_tag(i: u64, version: u64) -> u64 {
    (i << 24) | (version & 0xff_ffff)
}

/// The value CAS key number `i` holds before a CAS run starts.
pub fn cas_initial_value(size: usize, i: u64) -> Bytes {
    value(size, cas_tag(i, 0))
}

/// Keys of a CAS run with `clients` clients.
pub fn cas_key_count(clients: usize) -> u64 {
    clients as u64 * CAS_KEYS_PER_CLIENT
}

/// The operations of one client.
#[derive(Debug)]
pub struct OpGen {
    workload: Workload,
    rng: SmallRng,
    keys: u64,
    value_size: usize,
    cas_run: u32,
    /// CAS: (key number, current version) of the keys this client owns.
    owned: Vec<(u64, u64)>,
    next_owned: usize,
    /// CAS: the operation in flight, to learn its outcome.
    pending: Option<usize>,
    /// get-old: the revision read at.
    old_revision: i64,
}

impl OpGen {
    /// The generator of client `client` of `clients`, over `keys` keys (`keys` ≥ 1).
    pub fn new(
        workload: Workload,
        keys: u64,
        value_size: usize,
        client: usize,
        clients: usize,
        seed: u64,
        cas_run: u32,
    ) -> OpGen {
        let owned = if workload == Workload::Cas {
            (0..cas_key_count(clients))
                .filter(|i| i % clients as u64 == client as u64)
                .map(|i| (i, 0))
                .collect()
        } else {
            Vec::new()
        };
        OpGen {
            workload,
            rng: SmallRng::seed_from_u64(
                seed ^ (client as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            ),
            keys: keys.max(1),
            value_size,
            cas_run,
            owned,
            next_owned: 0,
            pending: None,
            old_revision: 1,
        }
    }

    /// Sets the revision `get-old` reads at (default 1).
    pub fn with_old_revision(mut self, revision: i64) -> OpGen {
        self.old_revision = revision.max(1);
        self
    }

    /// The next operation to send.
    pub fn next_op(&mut self) -> Op {
        match self.workload {
            Workload::Put => self.put(),
            Workload::GetLinearizable => self.get(false),
            Workload::GetSerializable => self.get(true),
            Workload::GetOld => Op::GetOld {
                key: key(self.rng.gen_range(0..self.keys)),
                revision: self.old_revision,
            },
            Workload::Txn => {
                let a = self.rng.gen_range(0..self.keys);
                // A second key distinct from the first (etcd refuses a key put twice).
                let b = (a + self.rng.gen_range(1..self.keys.max(2))) % self.keys.max(2);
                Op::Txn {
                    keys: [key(a), key(b)],
                    values: [
                        value(self.value_size, self.rng.gen()),
                        value(self.value_size, self.rng.gen()),
                    ],
                }
            }
            Workload::Mixed(read_percent) => {
                if self.rng.gen_range(0..100u8) < read_percent {
                    self.get(false)
                } else {
                    self.put()
                }
            }
            Workload::Cas => {
                let slot = self.next_owned % self.owned.len().max(1);
                self.next_owned = self.next_owned.wrapping_add(1);
                let (i, version) = self.owned[slot];
                self.pending = Some(slot);
                Op::Cas {
                    key: cas_key(self.cas_run, i),
                    expected: value(self.value_size, cas_tag(i, version)),
                    new: value(self.value_size, cas_tag(i, version + 1)),
                }
            }
        }
    }

    /// Tells the generator that the last CAS swapped (`true`) or not; other ops ignore it.
    pub fn cas_outcome(&mut self, swapped: bool) {
        if let Some(slot) = self.pending.take() {
            if swapped {
                self.owned[slot].1 += 1;
            }
        }
    }

    fn put(&mut self) -> Op {
        let i = self.rng.gen_range(0..self.keys);
        let tag = self.rng.gen::<u64>();
        Op::Put {
            key: key(i),
            value: value(self.value_size, tag),
        }
    }

    fn get(&mut self, serializable: bool) -> Op {
        Op::Get {
            key: key(self.rng.gen_range(0..self.keys)),
            serializable,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_values_have_the_requested_sizes() {
        assert_eq!(key(0).len(), KEY_BYTES);
        assert_eq!(key(u32::MAX as u64).len(), KEY_BYTES);
        assert_eq!(cas_key(7, 12345).len(), KEY_BYTES);
        assert_ne!(key(1), key(2));
        assert_ne!(cas_key(1, 1), cas_key(2, 1));
        for size in [1, 8, 24, 256, 4096] {
            assert_eq!(value(size, 42).len(), size);
        }
        assert_ne!(value(24, 1), value(24, 2));
        assert_ne!(value(256, 1), value(256, 2));
    }

    fn ops(workload: Workload, n: usize) -> Vec<Op> {
        let mut generator = OpGen::new(workload, 100, 24, 0, 1, 7, 0);
        (0..n).map(|_| generator.next_op()).collect()
    }

    #[test]
    fn workloads_send_the_right_kinds_of_operation() {
        assert!(ops(Workload::Put, 100)
            .iter()
            .all(|o| matches!(o, Op::Put { value, .. } if value.len() == 24)));
        assert!(ops(Workload::GetLinearizable, 100).iter().all(|o| matches!(
            o,
            Op::Get {
                serializable: false,
                ..
            }
        )));
        assert!(ops(Workload::GetSerializable, 100).iter().all(|o| matches!(
            o,
            Op::Get {
                serializable: true,
                ..
            }
        )));
    }

    #[test]
    fn txns_put_two_distinct_preloaded_keys() {
        for op in ops(Workload::Txn, 1000) {
            let Op::Txn { keys, values } = op else {
                panic!("not a txn: {op:?}")
            };
            assert_ne!(keys[0], keys[1]);
            for k in &keys {
                assert!((0..100).any(|i| key(i) == k), "{k:?} outside the key space");
            }
            assert!(values.iter().all(|v| v.len() == 24));
        }
        // Two keys only: still two distinct ones.
        let mut generator = OpGen::new(Workload::Txn, 2, 24, 0, 1, 7, 0);
        for _ in 0..100 {
            let Op::Txn { keys, .. } = generator.next_op() else {
                unreachable!()
            };
            assert_ne!(keys[0], keys[1]);
        }
    }

    #[test]
    fn get_old_reads_preloaded_keys_at_the_given_revision() {
        let mut generator = OpGen::new(Workload::GetOld, 100, 24, 0, 1, 7, 0).with_old_revision(42);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..2000 {
            let Op::GetOld { key: k, revision } = generator.next_op() else {
                panic!("not a get-old")
            };
            assert_eq!(revision, 42);
            seen.insert(k);
        }
        assert_eq!(seen.len(), 100);
        // Without a revision it reads at 1, never at 0 (0 means "current").
        let Op::GetOld { revision, .. } = ops(Workload::GetOld, 1).remove(0) else {
            unreachable!()
        };
        assert_eq!(revision, 1);
    }

    #[test]
    fn workload_names_are_distinct() {
        let names: std::collections::BTreeSet<String> =
            Workload::ALL.iter().map(|w| w.name()).collect();
        assert_eq!(names.len(), Workload::ALL.len());
        assert!(names.contains("txn") && names.contains("get-old"));
    }

    #[test]
    fn mixed_workloads_follow_their_read_ratio() {
        for read_percent in [90u8, 50] {
            let reads = ops(Workload::Mixed(read_percent), 10_000)
                .iter()
                .filter(|o| matches!(o, Op::Get { .. }))
                .count();
            let expected = 100 * read_percent as usize;
            assert!(
                reads.abs_diff(expected) < 300,
                "{reads} reads of 10000 for {read_percent}%"
            );
        }
    }

    #[test]
    fn generation_is_reproducible_per_seed_and_client() {
        let a = OpGen::new(Workload::Put, 1000, 24, 3, 8, 1, 0).next_op();
        let b = OpGen::new(Workload::Put, 1000, 24, 3, 8, 1, 0).next_op();
        let c = OpGen::new(Workload::Put, 1000, 24, 4, 8, 1, 0).next_op();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn random_keys_stay_in_the_key_space_and_cover_it() {
        let mut seen = std::collections::BTreeSet::new();
        for op in ops(Workload::GetLinearizable, 5000) {
            let Op::Get { key: k, .. } = op else {
                unreachable!()
            };
            seen.insert(k);
        }
        assert_eq!(seen.len(), 100);
        assert!(seen.contains(&key(0)) && seen.contains(&key(99)));
    }

    #[test]
    fn cas_clients_own_disjoint_keys_and_track_versions() {
        let clients = 3;
        let mut all = Vec::new();
        for c in 0..clients {
            let mut generator = OpGen::new(Workload::Cas, 0, 24, c, clients, 1, 5);
            for _ in 0..CAS_KEYS_PER_CLIENT {
                let Op::Cas { key, expected, new } = generator.next_op() else {
                    panic!("not a CAS")
                };
                assert_ne!(expected, new);
                all.push(key);
                generator.cas_outcome(true);
            }
        }
        let distinct: std::collections::BTreeSet<_> = all.iter().collect();
        assert_eq!(distinct.len(), all.len(), "clients share keys");
        assert_eq!(all.len() as u64, cas_key_count(clients));

        // The first CAS expects the preloaded value; after a swap the next one on the same
        // key expects what was written; after a miss it expects the same value again.
        let mut generator = OpGen::new(Workload::Cas, 0, 24, 0, 1, 1, 5);
        let first = generator.next_op();
        let Op::Cas {
            key: k0,
            expected: e0,
            new: n0,
        } = first
        else {
            unreachable!()
        };
        assert_eq!(e0, cas_initial_value(24, 0));
        generator.cas_outcome(true);
        for _ in 1..CAS_KEYS_PER_CLIENT {
            generator.next_op();
            generator.cas_outcome(false);
        }
        let Op::Cas {
            key: k1,
            expected: e1,
            ..
        } = generator.next_op()
        else {
            unreachable!()
        };
        assert_eq!(k0, k1);
        assert_eq!(e1, n0);
    }
}
