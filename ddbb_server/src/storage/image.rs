//! The in-memory image of everything OmniPaxos stored: what `MemoryStorage` holds, with the
//! index arithmetic made total (no underflow on indices below the trimmed prefix).
//!
//! All reads of the WAL are served from here, so they see writes that are not yet synced.

use super::op::{Checkpoint, CheckpointRef, LogShape, Op};
use omnipaxos::{
    ballot_leader_election::Ballot,
    storage::{Entry, StopSign, StorageOp},
};

/// The replica's storage state. Log indices are absolute: `log[i]` has index `log_start + i`.
#[derive(Debug, Clone)]
pub(crate) struct Image<T: Entry> {
    /// Entries `log_start..log_start + log.len()`.
    pub log: Vec<T>,
    /// Absolute index of `log[0]`: how far the log was trimmed (MemoryStorage's `trimmed_idx`).
    pub log_start: usize,
    pub promise: Option<Ballot>,
    pub accepted_round: Option<Ballot>,
    pub decided_idx: usize,
    pub compacted_idx: usize,
    pub snapshot: Option<T::Snapshot>,
    pub stopsign: Option<StopSign>,
}

impl<T: Entry> Default for Image<T> {
    fn default() -> Self {
        Image {
            log: Vec::new(),
            log_start: 0,
            promise: None,
            accepted_round: None,
            decided_idx: 0,
            compacted_idx: 0,
            snapshot: None,
            stopsign: None,
        }
    }
}

impl<T: Entry> Image<T> {
    /// Absolute index one past the last entry held.
    pub(crate) fn log_end(&self) -> usize {
        self.log_start + self.log.len()
    }

    /// Current bounds of the log, for validating a batch.
    pub(crate) fn shape(&self) -> LogShape {
        LogShape {
            start: self.log_start,
            end: self.log_end(),
        }
    }

    /// Entries `[from, to)`, or nothing unless all of them are held.
    pub(crate) fn entries(&self, from: usize, to: usize) -> Vec<T> {
        if from < self.log_start || from > to || to > self.log_end() {
            return Vec::new();
        }
        self.log[from - self.log_start..to - self.log_start].to_vec()
    }

    /// Entries `[from, end)`, or nothing if `from` is below the trimmed prefix or past the end.
    pub(crate) fn suffix(&self, from: usize) -> Vec<T> {
        if from < self.log_start || from >= self.log_end() {
            return Vec::new();
        }
        self.log[from - self.log_start..].to_vec()
    }

    /// Truncates the log at `from` and appends `entries` at `from..`; entries that fall below
    /// `log_start` are compacted and dropped. The caller has checked `LogShape::append_on_prefix`
    /// (a `from` past the end with entries is a no-op here rather than a hole).
    pub(crate) fn append_on_prefix(&mut self, from: usize, entries: Vec<T>) {
        if from > self.log_end() {
            return;
        }
        if from >= self.log_start {
            self.log.truncate(from - self.log_start);
            self.log.extend(entries);
        } else {
            self.log.clear();
            let skip = self.log_start - from;
            self.log.extend(entries.into_iter().skip(skip));
        }
    }

    /// Drops entries below `idx`; never moves the start backwards.
    pub(crate) fn trim(&mut self, idx: usize) {
        if idx <= self.log_start {
            return;
        }
        let n = (idx - self.log_start).min(self.log.len());
        self.log.drain(..n);
        self.log_start = idx;
    }

    /// Applies one operation decoded from disk. `LogShape::step` has accepted it.
    pub(crate) fn apply(&mut self, op: Op<T, T::Snapshot>) {
        match op {
            Op::AppendEntries(es) => self.log.extend(es),
            Op::AppendOnPrefix(from, es) => self.append_on_prefix(from, es),
            Op::SetPromise(b) => self.promise = Some(b),
            Op::SetDecidedIdx(i) => self.decided_idx = i,
            Op::SetAcceptedRound(b) => self.accepted_round = Some(b),
            Op::SetCompactedIdx(i) => self.compacted_idx = i,
            Op::Trim(i) => self.trim(i),
            Op::SetStopsign(s) => self.stopsign = s,
            Op::SetSnapshot(s) => self.snapshot = s,
            Op::Checkpoint(c) => *self = Image::from(*c),
        }
    }

    /// Applies one operation of a `write_atomically` batch that was validated as a whole.
    pub(crate) fn apply_storage_op(&mut self, op: StorageOp<T>) {
        match op {
            StorageOp::AppendEntry(e) => self.log.push(e),
            StorageOp::AppendEntries(es) => self.log.extend(es),
            StorageOp::AppendOnPrefix(from, es) => self.append_on_prefix(from, es),
            StorageOp::SetPromise(b) => self.promise = Some(b),
            StorageOp::SetDecidedIndex(i) => self.decided_idx = i,
            StorageOp::SetAcceptedRound(b) => self.accepted_round = Some(b),
            StorageOp::SetCompactedIdx(i) => self.compacted_idx = i,
            StorageOp::Trim(i) => self.trim(i),
            StorageOp::SetStopsign(s) => self.stopsign = s,
            StorageOp::SetSnapshot(s) => self.snapshot = s,
        }
    }

    /// Borrows the whole image as a checkpoint payload.
    pub(crate) fn as_checkpoint(&self) -> CheckpointRef<'_, T, T::Snapshot> {
        CheckpointRef {
            log_start: self.log_start,
            promise: self.promise,
            accepted_round: self.accepted_round,
            decided_idx: self.decided_idx,
            compacted_idx: self.compacted_idx,
            stopsign: self.stopsign.as_ref(),
            snapshot: self.snapshot.as_ref(),
            log: &self.log,
        }
    }
}

impl<T: Entry> From<Checkpoint<T, T::Snapshot>> for Image<T> {
    fn from(c: Checkpoint<T, T::Snapshot>) -> Self {
        Image {
            log: c.log,
            log_start: c.log_start,
            promise: c.promise,
            accepted_round: c.accepted_round,
            decided_idx: c.decided_idx,
            compacted_idx: c.compacted_idx,
            snapshot: c.snapshot,
            stopsign: c.stopsign,
        }
    }
}
