//! etcd's `HashKV`: a checksum of the MVCC history up to a revision, to compare replicas
//! (`etcdctl endpoint hashkv --cluster`): replicas that applied the same log agree on it.

use super::history::ChangeKind;
use super::{KvError, MvccStore};

/// The answer to a `HashKV` at some revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KvHash {
    /// CRC-32 (IEEE) over every retained change at or below the revision, in key then
    /// revision order.
    pub hash: u32,
    /// The store's current revision (etcd's header revision).
    pub revision: i64,
    /// The store's compacted revision.
    pub compact_revision: i64,
}

/// Hashes every change the store retains with a main revision at or below `revision` (0 or
/// negative: the current revision): for each key in order, each change's key, revision
/// `(main, sub)`, and for a put its create revision, version, lease and value; a tombstone is
/// marked as such. Like etcd's, the hash covers what is retained, so a compaction changes the
/// hash of the revisions it reaches; replicas that applied the same log agree.
///
/// # Errors
/// [`KvError::FutureRev`] above the current revision; [`KvError::Compacted`] at or below the
/// compacted revision (as etcd's `HashByRev`).
pub fn hash_kv(store: &MvccStore, revision: i64) -> Result<KvHash, KvError> {
    let rev = if revision <= 0 {
        store.revision
    } else {
        revision
    };
    if rev > store.revision {
        return Err(KvError::FutureRev);
    }
    if revision > 0 && store.compacted > 0 && rev <= store.compacted {
        return Err(KvError::Compacted);
    }
    let mut h = crc32fast::Hasher::new();
    for (key, history) in store.keys.iter() {
        for change in history.changes() {
            if change.revision.main > rev {
                break;
            }
            h.update(&(key.len() as u64).to_le_bytes());
            h.update(key);
            h.update(&change.revision.main.to_le_bytes());
            h.update(&change.revision.sub.to_le_bytes());
            match &change.kind {
                ChangeKind::Put {
                    value,
                    create_revision,
                    version,
                    lease,
                } => {
                    h.update(&[1]);
                    h.update(&create_revision.to_le_bytes());
                    h.update(&version.to_le_bytes());
                    h.update(&lease.to_le_bytes());
                    h.update(&(value.len() as u64).to_le_bytes());
                    h.update(value);
                }
                ChangeKind::Tombstone => h.update(&[0]),
            }
        }
    }
    Ok(KvHash {
        hash: h.finalize(),
        revision: store.revision,
        compact_revision: store.compacted,
    })
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::state::mvcc::{CompactionRequest, DeleteRangeRequest, PutRequest};

    fn put(s: &mut MvccStore, k: &'static str, v: &'static str) {
        s.put(&PutRequest::new(Bytes::from(k), Bytes::from(v)))
            .unwrap();
    }

    #[test]
    fn equal_histories_hash_equal_and_any_change_shows() {
        let mut a = MvccStore::new();
        let mut b = MvccStore::new();
        for s in [&mut a, &mut b] {
            put(s, "k1", "v1");
            put(s, "k2", "v2");
        }
        let at3 = hash_kv(&a, 3).unwrap();
        assert_eq!(at3, hash_kv(&b, 0).unwrap());
        assert_eq!(at3.revision, 3);

        put(&mut a, "k1", "v1b");
        // The past is unchanged; the present is not.
        assert_eq!(hash_kv(&a, 3).unwrap().hash, at3.hash);
        assert_ne!(hash_kv(&a, 0).unwrap().hash, at3.hash);
        assert_ne!(hash_kv(&a, 2).unwrap().hash, at3.hash);

        // A delete (tombstone) differs from the same put history without it.
        a.delete_range(&DeleteRangeRequest::key(Bytes::from("k2")))
            .unwrap();
        put(&mut b, "k1", "v1b");
        assert_eq!(hash_kv(&a, 4).unwrap(), {
            let mut h = hash_kv(&b, 4).unwrap();
            h.revision = 5;
            h
        });
        assert_ne!(hash_kv(&a, 5).unwrap().hash, hash_kv(&b, 4).unwrap().hash);
    }

    #[test]
    fn revisions_out_of_range_are_refused_as_etcd() {
        let mut s = MvccStore::new();
        put(&mut s, "a", "1");
        put(&mut s, "a", "2");
        put(&mut s, "a", "3");
        assert_eq!(hash_kv(&s, 5), Err(KvError::FutureRev));
        s.compact(&CompactionRequest {
            revision: 3,
            physical: false,
        })
        .unwrap();
        assert_eq!(hash_kv(&s, 2), Err(KvError::Compacted));
        assert_eq!(hash_kv(&s, 3), Err(KvError::Compacted));
        let now = hash_kv(&s, 0).unwrap();
        assert_eq!((now.revision, now.compact_revision), (4, 3));
        assert_eq!(hash_kv(&s, 4).unwrap(), now);
    }
}
