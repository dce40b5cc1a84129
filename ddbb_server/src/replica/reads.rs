//! Linearizable reads waiting for their read barrier.
//!
//! A read gets a barrier at the current end of the pass's batch of writes; reads with no write
//! between them share one. The barriers ride in the pass's log entry at those positions, and
//! when this replica applies the entry up to a barrier, the reads waiting on it (or on an
//! older one) are answered from the state at that point. A barrier not applied within
//! `repropose_ticks` is replaced by a new one at the end of a later entry, which covers the
//! older reads too.

use std::collections::VecDeque;

use ddbb_libs::kv::RangeRequest;
use tokio::sync::oneshot;

use super::{ReadOutcome, Response};
use crate::entry::ReadBarrier;
use crate::state::KvState;

struct PendingRead {
    barrier: u64,
    query: RangeRequest,
    reply: oneshot::Sender<Response>,
}

/// Reads waiting on barriers, in barrier order.
#[derive(Default)]
pub(super) struct PendingReads {
    queue: VecDeque<PendingRead>,
    next_barrier: u64,
    /// Barriers of the entry being built, positioned among its writes.
    marks: Vec<ReadBarrier>,
    /// Add a barrier at the end of the entry being built (to retry waiting reads).
    wanted: bool,
    last_proposed_tick: u64,
}

impl PendingReads {
    /// Queues a read behind a barrier placed after the first `writes_so_far` writes of the
    /// entry being built.
    pub(super) fn push(
        &mut self,
        query: RangeRequest,
        reply: oneshot::Sender<Response>,
        writes_so_far: usize,
    ) {
        let barrier = self.barrier_at(writes_so_far);
        self.queue.push_back(PendingRead {
            barrier,
            query,
            reply,
        });
    }

    fn barrier_at(&mut self, after: usize) -> u64 {
        let after = after as u32;
        match self.marks.last() {
            Some(mark) if mark.after == after => mark.number,
            _ => {
                self.next_barrier += 1;
                self.marks.push(ReadBarrier {
                    after,
                    number: self.next_barrier,
                });
                self.next_barrier
            }
        }
    }

    /// Asks for a fresh barrier if reads have waited `repropose_ticks` since the last one was
    /// proposed (it may have been forwarded to a dead leader), or right away with `force`
    /// (after a snapshot skipped the entries holding their barriers).
    pub(super) fn retry_if_stale(&mut self, now: u64, repropose_ticks: u64, force: bool) {
        if !self.queue.is_empty() && (force || now >= self.last_proposed_tick + repropose_ticks) {
            self.wanted = true;
        }
    }

    /// The barriers for the entry being proposed at tick `now`, which holds `writes` writes.
    pub(super) fn take_marks(&mut self, writes: usize, now: u64) -> Vec<ReadBarrier> {
        if std::mem::take(&mut self.wanted) {
            self.barrier_at(writes);
        }
        if !self.marks.is_empty() {
            self.last_proposed_tick = now;
        }
        std::mem::take(&mut self.marks)
    }

    /// Answers every read waiting on barrier `number` or an older one, from `state`. Any
    /// write acknowledged before those reads arrived precedes the barrier in the log.
    pub(super) fn answer_up_to(&mut self, number: u64, state: &KvState) {
        while self.queue.front().is_some_and(|r| r.barrier <= number) {
            if let Some(read) = self.queue.pop_front() {
                let outcome = ReadOutcome::serve(&read.query, state);
                let _ = read.reply.send(Response::Read(outcome));
            }
        }
    }

    /// Number of reads waiting.
    pub(super) fn len(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(reads: &mut PendingReads, writes_so_far: usize) -> oneshot::Receiver<Response> {
        let (tx, rx) = oneshot::channel();
        reads.push(RangeRequest::key("k"), tx, writes_so_far);
        rx
    }

    /// What a read of the absent key "k" answers on an empty state.
    fn nothing() -> Response {
        Response::Read(ReadOutcome {
            revision: 1,
            result: Ok(Default::default()),
        })
    }

    #[test]
    fn barriers_sit_where_reads_arrived_among_the_writes() {
        let mut reads = PendingReads::default();
        let _a = read(&mut reads, 0);
        let _b = read(&mut reads, 0); // no write in between: same barrier
        let _c = read(&mut reads, 2);
        let marks = reads.take_marks(3, 7);
        assert_eq!(
            marks,
            vec![
                ReadBarrier {
                    after: 0,
                    number: 1
                },
                ReadBarrier {
                    after: 2,
                    number: 2
                }
            ]
        );
        assert!(reads.take_marks(0, 8).is_empty(), "marks are taken once");
    }

    #[test]
    fn a_barrier_answers_its_reads_and_older_ones_only() {
        let mut reads = PendingReads::default();
        let mut a = read(&mut reads, 0);
        let mut b = read(&mut reads, 1);
        reads.take_marks(1, 0);
        let state = KvState::new();
        reads.answer_up_to(1, &state);
        assert_eq!(a.try_recv().unwrap(), nothing());
        assert!(b.try_recv().is_err());
        assert_eq!(reads.len(), 1);
        reads.answer_up_to(2, &state);
        assert_eq!(b.try_recv().unwrap(), nothing());
    }

    #[test]
    fn stale_reads_get_a_new_barrier_that_covers_them() {
        let mut reads = PendingReads::default();
        let mut a = read(&mut reads, 0);
        reads.take_marks(0, 10);
        reads.retry_if_stale(12, 5, false);
        assert!(reads.take_marks(0, 12).is_empty(), "not stale yet");
        reads.retry_if_stale(15, 5, false);
        let marks = reads.take_marks(4, 15);
        assert_eq!(
            marks,
            vec![ReadBarrier {
                after: 4,
                number: 2
            }]
        );
        reads.answer_up_to(2, &KvState::new());
        assert!(a.try_recv().is_ok());
    }
}
