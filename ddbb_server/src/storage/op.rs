//! Record payloads: the list of storage operations one record holds, and its bincode codec.
//!
//! Writing borrows ([`OpRef`]) so entries are encoded straight into the output buffer without a
//! clone; reading owns ([`Op`]). Both enums must keep the same variant order, because the bincode
//! variant index is the on-disk tag (see the [`storage`](super) module doc and the
//! `tags_are_stable` test).

use bincode::Options;
use omnipaxos::{
    ballot_leader_election::Ballot,
    storage::{Entry, StopSign, StorageOp},
};
use serde::{ser::SerializeSeq, Deserialize, Serialize, Serializer};

/// The on-disk tag of [`Op::Checkpoint`], the one op of a checkpoint file.
#[cfg(test)]
pub(crate) const CHECKPOINT_TAG: u32 = 9;

/// The bincode configuration of every payload: fixed-width little-endian integers (so the
/// documented layout holds), no trailing bytes.
pub(crate) fn codec() -> impl Options + Copy {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
}

/// One storage operation, borrowed for encoding.
#[derive(Serialize)]
pub(crate) enum OpRef<'a, T, S> {
    /// Tag 0. `append_entry` is written as a one-element `AppendEntries`.
    AppendEntries(&'a [T]),
    /// Tag 1.
    AppendOnPrefix(usize, &'a [T]),
    /// Tag 2.
    SetPromise(Ballot),
    /// Tag 3.
    SetDecidedIdx(usize),
    /// Tag 4.
    SetAcceptedRound(Ballot),
    /// Tag 5.
    SetCompactedIdx(usize),
    /// Tag 6.
    Trim(usize),
    /// Tag 7.
    SetStopsign(Option<&'a StopSign>),
    /// Tag 8.
    SetSnapshot(Option<&'a S>),
    /// Tag 9 ([`CHECKPOINT_TAG`]): the whole image; replaces everything replayed before it.
    Checkpoint(CheckpointRef<'a, T, S>),
}

/// One storage operation, decoded from disk.
#[derive(Deserialize, Debug)]
pub(crate) enum Op<T, S> {
    AppendEntries(Vec<T>),
    AppendOnPrefix(usize, Vec<T>),
    SetPromise(Ballot),
    SetDecidedIdx(usize),
    SetAcceptedRound(Ballot),
    SetCompactedIdx(usize),
    Trim(usize),
    SetStopsign(Option<StopSign>),
    SetSnapshot(Option<S>),
    Checkpoint(Box<Checkpoint<T, S>>),
}

/// The whole in-memory image, borrowed for encoding. Field order is the on-disk order.
#[derive(Serialize)]
pub(crate) struct CheckpointRef<'a, T, S> {
    pub log_start: usize,
    pub promise: Option<Ballot>,
    pub accepted_round: Option<Ballot>,
    pub decided_idx: usize,
    pub compacted_idx: usize,
    pub stopsign: Option<&'a StopSign>,
    pub snapshot: Option<&'a S>,
    pub log: &'a [T],
}

/// The whole in-memory image, decoded from disk.
#[derive(Deserialize, Debug)]
pub(crate) struct Checkpoint<T, S> {
    pub log_start: usize,
    pub promise: Option<Ballot>,
    pub accepted_round: Option<Ballot>,
    pub decided_idx: usize,
    pub compacted_idx: usize,
    pub stopsign: Option<StopSign>,
    pub snapshot: Option<S>,
    pub log: Vec<T>,
}

/// Borrows a `StorageOp` for encoding.
pub(crate) fn op_ref<T: Entry>(op: &StorageOp<T>) -> OpRef<'_, T, T::Snapshot> {
    match op {
        StorageOp::AppendEntry(e) => OpRef::AppendEntries(std::slice::from_ref(e)),
        StorageOp::AppendEntries(es) => OpRef::AppendEntries(es),
        StorageOp::AppendOnPrefix(from, es) => OpRef::AppendOnPrefix(*from, es),
        StorageOp::SetPromise(b) => OpRef::SetPromise(*b),
        StorageOp::SetDecidedIndex(i) => OpRef::SetDecidedIdx(*i),
        StorageOp::SetAcceptedRound(b) => OpRef::SetAcceptedRound(*b),
        StorageOp::SetCompactedIdx(i) => OpRef::SetCompactedIdx(*i),
        StorageOp::Trim(i) => OpRef::Trim(*i),
        StorageOp::SetStopsign(s) => OpRef::SetStopsign(s.as_ref()),
        StorageOp::SetSnapshot(s) => OpRef::SetSnapshot(s.as_ref()),
    }
}

/// Encodes a `write_atomically` batch as one op list, without building an intermediate `Vec`.
pub(crate) struct BatchRef<'a, T: Entry>(pub &'a [StorageOp<T>]);

impl<T> Serialize for BatchRef<'_, T>
where
    T: Entry + Serialize,
{
    fn serialize<Ser: Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for op in self.0 {
            seq.serialize_element(&op_ref(op))?;
        }
        seq.end()
    }
}

/// The on-disk format this build writes and reads, in the first 4 bytes of every payload
/// (`FORMAT_MAGIC | FORMAT_VERSION`, little-endian). Version 1 was the format without this
/// word (DDBB before MVCC); its payloads start with a small op count, never with the magic.
pub const FORMAT_VERSION: u32 = 2;
const FORMAT_MAGIC: u32 = 0xDDB0_0000;
/// Bytes of the format word.
pub(crate) const FORMAT_LEN: usize = 4;

/// The format word every payload starts with.
pub(crate) fn format_word() -> [u8; FORMAT_LEN] {
    (FORMAT_MAGIC | FORMAT_VERSION).to_le_bytes()
}

/// The ops of a payload after its format word, or why this build cannot read it.
pub(crate) fn strip_format(payload: &[u8]) -> Result<&[u8], String> {
    let word = payload
        .get(..FORMAT_LEN)
        .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
        .unwrap_or(0);
    if word == FORMAT_MAGIC | FORMAT_VERSION {
        return Ok(&payload[FORMAT_LEN..]);
    }
    if word & 0xFFFF_0000 == FORMAT_MAGIC {
        return Err(format!(
            "WAL format version {} is unknown (this build reads version {FORMAT_VERSION}): it was \
             written by a newer DDBB",
            word & 0xFFFF
        ));
    }
    Err(format!(
        "this data dir was written by DDBB before MVCC (WAL format version 1); this build reads \
         version {FORMAT_VERSION} only. Upgrade path: read your keys out with the old build \
         (`ddbb range \"\" \"\"`), start the new build on empty data dirs, and write them back"
    ))
}

/// Start and end (exclusive) of the log held in memory, in absolute indices; used to validate a
/// batch before anything is encoded or applied, so a batch is either wholly valid or untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LogShape {
    pub start: usize,
    pub end: usize,
}

impl LogShape {
    /// Effect of appending `n` entries.
    pub(crate) fn append(&mut self, n: usize) {
        self.end += n;
    }

    /// Checks and applies `append_on_prefix(from, n entries)`.
    ///
    /// Entries whose index falls below `start` are compacted and skipped. `from` beyond the end is
    /// accepted only with no entries (OmniPaxos sends that when the follower holds a StopSign in
    /// the slot after its log); with entries it would leave a hole.
    pub(crate) fn append_on_prefix(&mut self, from: usize, n: usize) -> Result<(), String> {
        if from > self.end {
            if n == 0 {
                return Ok(());
            }
            return Err(format!(
                "append_on_prefix({from}, {n} entries) would leave a hole after log end {}",
                self.end
            ));
        }
        self.end = from.saturating_add(n).max(self.start);
        Ok(())
    }

    /// Effect of `trim(idx)`: never moves `start` backwards; trimming past the end empties the log
    /// and moves both bounds to `idx`.
    pub(crate) fn trim(&mut self, idx: usize) {
        if idx > self.start {
            self.start = idx;
            self.end = self.end.max(idx);
        }
    }

    /// Checks and applies one borrowed operation.
    pub(crate) fn step<T, S>(&mut self, op: &OpRef<'_, T, S>) -> Result<(), String> {
        match op {
            OpRef::AppendEntries(es) => self.append(es.len()),
            OpRef::AppendOnPrefix(from, es) => self.append_on_prefix(*from, es.len())?,
            OpRef::Trim(idx) => self.trim(*idx),
            OpRef::Checkpoint(c) => {
                self.start = c.log_start;
                self.end = c.log_start + c.log.len();
            }
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use omnipaxos::ClusterConfig;

    type Owned = Op<u64, String>;

    fn roundtrip(op: OpRef<'_, u64, String>) -> Owned {
        let bytes = codec().serialize(std::slice::from_ref(&op)).unwrap();
        let mut ops: Vec<Owned> = codec().deserialize(&bytes).unwrap();
        assert_eq!(ops.len(), 1);
        ops.pop().unwrap()
    }

    #[test]
    fn tags_are_stable() {
        let ss = StopSign::with(ClusterConfig::default(), None);
        let snap = "snap".to_string();
        let ballot = Ballot::with(1, 2, 3, 4);
        let cases: Vec<(OpRef<'_, u64, String>, u32)> = vec![
            (OpRef::AppendEntries(&[1]), 0),
            (OpRef::AppendOnPrefix(1, &[2]), 1),
            (OpRef::SetPromise(ballot), 2),
            (OpRef::SetDecidedIdx(3), 3),
            (OpRef::SetAcceptedRound(ballot), 4),
            (OpRef::SetCompactedIdx(5), 5),
            (OpRef::Trim(6), 6),
            (OpRef::SetStopsign(Some(&ss)), 7),
            (OpRef::SetSnapshot(Some(&snap)), 8),
            (
                OpRef::Checkpoint(CheckpointRef {
                    log_start: 1,
                    promise: Some(ballot),
                    accepted_round: None,
                    decided_idx: 2,
                    compacted_idx: 1,
                    stopsign: None,
                    snapshot: Some(&snap),
                    log: &[7, 8],
                }),
                CHECKPOINT_TAG,
            ),
        ];
        for (op, tag) in cases {
            let bytes = codec().serialize(std::slice::from_ref(&op)).unwrap();
            assert_eq!(&bytes[0..8], &1u64.to_le_bytes());
            assert_eq!(&bytes[8..12], &tag.to_le_bytes());
            // Owned decoding of the borrowed encoding must succeed for every variant.
            let _ = roundtrip(op);
        }
    }

    #[test]
    fn append_entries_layout_is_count_then_entries() {
        let bytes = codec()
            .serialize(std::slice::from_ref(&OpRef::<u64, String>::AppendEntries(
                &[5, 6],
            )))
            .unwrap();
        let mut expected = Vec::new();
        expected.extend_from_slice(&1u64.to_le_bytes()); // one op
        expected.extend_from_slice(&0u32.to_le_bytes()); // tag AppendEntries
        expected.extend_from_slice(&2u64.to_le_bytes()); // two entries
        expected.extend_from_slice(&5u64.to_le_bytes());
        expected.extend_from_slice(&6u64.to_le_bytes());
        assert_eq!(bytes, expected);
    }

    #[test]
    fn checkpoint_roundtrip_keeps_every_field() {
        let ss = StopSign::with(ClusterConfig::default(), Some(vec![1, 2]));
        let snap = "s".to_string();
        let op = roundtrip(OpRef::Checkpoint(CheckpointRef {
            log_start: 4,
            promise: Some(Ballot::with(1, 9, 0, 2)),
            accepted_round: Some(Ballot::with(1, 8, 0, 3)),
            decided_idx: 5,
            compacted_idx: 4,
            stopsign: Some(&ss),
            snapshot: Some(&snap),
            log: &[10, 11],
        }));
        let Op::Checkpoint(c) = op else {
            panic!("not a checkpoint")
        };
        assert_eq!(c.log_start, 4);
        assert_eq!(c.promise, Some(Ballot::with(1, 9, 0, 2)));
        assert_eq!(c.accepted_round, Some(Ballot::with(1, 8, 0, 3)));
        assert_eq!((c.decided_idx, c.compacted_idx), (5, 4));
        assert_eq!(c.stopsign, Some(ss));
        assert_eq!(c.snapshot.as_deref(), Some("s"));
        assert_eq!(c.log, vec![10, 11]);
    }

    #[test]
    fn shape_rejects_holes_and_skips_compacted_prefix() {
        let mut s = LogShape { start: 5, end: 8 };
        assert!(s.append_on_prefix(9, 1).is_err());
        assert_eq!(s, LogShape { start: 5, end: 8 });
        s.append_on_prefix(9, 0).unwrap();
        assert_eq!(s, LogShape { start: 5, end: 8 });
        s.append_on_prefix(3, 4).unwrap(); // indices 3..7, of which 5 and 6 are kept
        assert_eq!(s, LogShape { start: 5, end: 7 });
        s.append_on_prefix(1, 2).unwrap(); // wholly compacted: log becomes empty
        assert_eq!(s, LogShape { start: 5, end: 5 });
        s.trim(10);
        assert_eq!(s, LogShape { start: 10, end: 10 });
        s.trim(2);
        assert_eq!(s, LogShape { start: 10, end: 10 });
    }
}
