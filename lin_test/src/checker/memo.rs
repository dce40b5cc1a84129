//! The search's memory of explored configurations, and the bitsets it stores.
//!
//! A configuration is (set of placed operations, model state). Storing the whole set as a
//! bitset costs n bits per configuration, which for long single-key histories is the whole
//! memory budget, so the set is stored compactly: required operations are numbered in
//! invocation order, and every required operation below the first unplaced one (the
//! *watermark*) is placed, so only the bitset words from the watermark to the highest placed
//! one are kept, plus the bitset of placed optional operations (few, after pruning). The
//! watermark is part of the key, which makes the encoding exact.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// "No entry" in bucket chains.
const NONE: u32 = u32::MAX;

/// A fixed-size set of small integers.
#[derive(Debug, Clone)]
pub(super) struct Bitset {
    words: Vec<u64>,
}

impl Bitset {
    /// An empty set able to hold `0..n`.
    pub fn new(n: usize) -> Self {
        Bitset {
            words: vec![0; n.div_ceil(64)],
        }
    }

    pub fn insert(&mut self, i: u32) {
        self.words[(i / 64) as usize] |= 1 << (i % 64);
    }

    pub fn remove(&mut self, i: u32) {
        self.words[(i / 64) as usize] &= !(1 << (i % 64));
    }

    /// The smallest member-free index `>= from`, or the capacity rounded up to 64 if none.
    pub fn first_absent_from(&self, from: u32) -> u32 {
        let mut w = (from / 64) as usize;
        if w >= self.words.len() {
            return from;
        }
        // Treat bits below `from` in the first word as present.
        let mut word = self.words[w] | ((1u64 << (from % 64)) - 1);
        loop {
            if word != u64::MAX {
                return w as u32 * 64 + (!word).trailing_zeros();
            }
            w += 1;
            match self.words.get(w) {
                Some(&next) => word = next,
                None => return w as u32 * 64,
            }
        }
    }

    pub fn words(&self) -> &[u64] {
        &self.words
    }
}

/// A configuration in compact form, borrowed from the search.
pub(super) struct ConfigKey<'s> {
    /// A hash of the whole configuration, computed incrementally by the search.
    pub hash: u64,
    pub state: u32,
    /// The first unplaced required operation.
    pub watermark: u32,
    /// Words of the required bitset from `watermark / 64` up to the highest placed one.
    pub required_words: &'s [u64],
    /// The optional bitset.
    pub optional_words: &'s [u64],
}

/// One stored configuration.
struct Entry {
    /// Where its words start in `Memo::words`.
    offset: usize,
    /// How many of them are required-bitset words (the rest are optional ones).
    required_len: u32,
    state: u32,
    watermark: u32,
    /// The next entry in the same bucket.
    next: u32,
}

/// The set of explored configurations: one arena of words, entries chained per hash bucket,
/// so a lookup allocates nothing.
pub(super) struct Memo {
    /// Optional-bitset words per entry (the same for every configuration of one search).
    optional_len: usize,
    words: Vec<u64>,
    entries: Vec<Entry>,
    buckets: HashMap<u64, u32, BuildHasherDefault<PrehashedHasher>>,
}

impl Memo {
    /// An empty memo for configurations with `optional_len` optional-bitset words.
    pub fn new(optional_len: usize) -> Self {
        Memo {
            optional_len,
            words: Vec::new(),
            entries: Vec::new(),
            buckets: HashMap::default(),
        }
    }

    /// Adds a configuration; `false` if it was already there.
    pub fn insert(&mut self, key: &ConfigKey<'_>) -> bool {
        let head = self.buckets.get(&key.hash).copied().unwrap_or(NONE);
        let mut i = head;
        while i != NONE {
            let e = &self.entries[i as usize];
            if e.state == key.state
                && e.watermark == key.watermark
                && self.stored_words(e) == (key.required_words, key.optional_words)
            {
                return false;
            }
            i = e.next;
        }
        debug_assert_eq!(key.optional_words.len(), self.optional_len);
        let Ok(required_len) = u32::try_from(key.required_words.len()) else {
            // Unreachable for any history that fits in memory; storing nothing only costs time.
            return true;
        };
        let offset = self.words.len();
        self.words.extend_from_slice(key.required_words);
        self.words.extend_from_slice(key.optional_words);
        self.entries.push(Entry {
            offset,
            required_len,
            state: key.state,
            watermark: key.watermark,
            next: head,
        });
        self.buckets
            .insert(key.hash, (self.entries.len() - 1) as u32);
        true
    }

    /// Configurations stored.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Approximate heap use in bytes.
    pub fn bytes(&self) -> usize {
        self.words.capacity() * 8
            + self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.buckets.capacity() * 16
    }

    fn stored_words(&self, e: &Entry) -> (&[u64], &[u64]) {
        let required_end = e.offset + e.required_len as usize;
        (
            &self.words[e.offset..required_end],
            &self.words[required_end..required_end + self.optional_len],
        )
    }
}

/// A hasher for keys that are already uniformly distributed 64-bit hashes.
#[derive(Default)]
pub(super) struct PrehashedHasher(u64);

impl Hasher for PrehashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only `write_u64` is used by `Memo`; fold anything else in for completeness.
        for &b in bytes {
            self.0 = mix(self.0 ^ u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// SplitMix64's finaliser: a bijective, well-mixing map of 64 bits.
pub(super) fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key<'a>(
        hash: u64,
        state: u32,
        watermark: u32,
        req: &'a [u64],
        opt: &'a [u64],
    ) -> ConfigKey<'a> {
        ConfigKey {
            hash,
            state,
            watermark,
            required_words: req,
            optional_words: opt,
        }
    }

    #[test]
    fn memo_tells_new_configurations_from_known_ones() {
        let mut memo = Memo::new(1);
        assert!(memo.insert(&key(7, 0, 0, &[1, 2], &[0])));
        assert!(!memo.insert(&key(7, 0, 0, &[1, 2], &[0])));
        assert!(
            memo.insert(&key(7, 0, 0, &[1, 3], &[0])),
            "same hash, other set"
        );
        assert!(memo.insert(&key(7, 1, 0, &[1, 2], &[0])), "other state");
        assert!(
            memo.insert(&key(7, 0, 64, &[1, 2], &[0])),
            "other watermark"
        );
        assert!(
            memo.insert(&key(7, 0, 0, &[1], &[2])),
            "same words, split differently"
        );
        assert!(
            memo.insert(&key(7, 0, 0, &[1, 2], &[1])),
            "other optional set"
        );
        assert!(!memo.insert(&key(7, 0, 0, &[1, 3], &[0])));
        assert_eq!(memo.len(), 6);
        assert!(memo.bytes() > 0);
    }

    #[test]
    fn bitset_finds_the_first_absent_member() {
        let mut set = Bitset::new(130);
        assert_eq!(set.words().len(), 3);
        assert_eq!(set.first_absent_from(0), 0);
        for i in 0..70 {
            set.insert(i);
        }
        assert_eq!(set.first_absent_from(0), 70);
        assert_eq!(set.first_absent_from(3), 70);
        assert_eq!(set.first_absent_from(75), 75);
        set.remove(5);
        assert_eq!(set.first_absent_from(0), 5);
        assert_eq!(set.first_absent_from(6), 70);
        for i in 70..130 {
            set.insert(i);
        }
        assert_eq!(set.first_absent_from(6), 130);
        assert_eq!(set.words()[2], (1 << 2) - 1);
        assert_eq!(Bitset::new(0).first_absent_from(0), 0);
    }
}
