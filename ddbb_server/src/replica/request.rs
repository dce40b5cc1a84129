//! What the client service asks of the replica loop, and how answers become frames.

use bytes::Bytes;
use ddbb_libs::cmd::{Range, RangeView};
use ddbb_libs::{Consistency, Frame, RequestId};
use tokio::sync::oneshot;

use crate::entry::WriteOp;
use crate::state::{KvState, Outcome};

/// A request handed to the replica loop; the answer comes back on `reply`.
#[derive(Debug)]
pub enum Request {
    /// A write that goes through the log.
    Write {
        /// Client-chosen id (`REQID`), or `None` to let the replica assign one.
        id: Option<RequestId>,
        /// The change.
        op: WriteOp,
        /// How to render the outcome.
        shape: ReplyShape,
        /// Where the reply goes.
        reply: oneshot::Sender<Frame>,
    },
    /// A read.
    Read {
        /// What to read.
        query: Query,
        /// Linearizable (barrier) or serializable (local).
        consistency: Consistency,
        /// Where the reply goes.
        reply: oneshot::Sender<Frame>,
    },
    /// `STATUS`.
    Status {
        /// Where the reply goes.
        reply: oneshot::Sender<Frame>,
    },
}

/// A read of the state machine.
#[derive(Clone, Debug)]
pub enum Query {
    /// One key's value.
    Get(Bytes),
    /// A range of keys.
    Range(Range),
}

impl Query {
    /// Runs the read against `state` and renders the reply.
    pub fn run(&self, state: &KvState) -> Frame {
        match self {
            Query::Get(key) => match state.get(key) {
                Some(v) => Frame::Bulk(v.data.clone()),
                None => Frame::Null,
            },
            Query::Range(r) => {
                if r.view == RangeView::CountOnly {
                    return Frame::Integer(state.range(&r.range, None).count() as i64);
                }
                let mut items = Vec::new();
                for (k, v) in state.range(&r.range, r.limit) {
                    match r.view {
                        RangeView::Pairs => {
                            items.push(Frame::Bulk(k.clone()));
                            items.push(Frame::Bulk(v.data.clone()));
                        }
                        RangeView::KeysOnly => items.push(Frame::Bulk(k.clone())),
                        RangeView::WithRevisions => items.push(KvState::key_value(k, v).to_frame()),
                        RangeView::CountOnly => unreachable!("handled above"),
                    }
                }
                Frame::Array(items)
            }
        }
    }
}

/// The reply a write's client expects, chosen by its command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReplyShape {
    /// `SET`: `+OK`, or nil when an `IFREV` guard failed.
    Ok,
    /// `PUT`: `:revision`, or `:0` when an `IFREV` guard failed.
    Revision,
    /// `DEL`/`DELRANGE`: `:count`.
    Count,
    /// `CAS`: `:1` or `:0`.
    Swapped,
}

impl ReplyShape {
    /// Renders a write's outcome for its client.
    pub fn render(self, outcome: &Outcome) -> Frame {
        match (self, outcome) {
            (_, Outcome::Expired) => Frame::err(
                "duplicate request: it was applied earlier and its outcome is no longer remembered",
            ),
            (ReplyShape::Ok, Outcome::Put { revision: Some(_) }) => Frame::Simple("OK".into()),
            (ReplyShape::Ok, Outcome::Put { revision: None }) => Frame::Null,
            (_, Outcome::Put { revision }) => Frame::Integer(revision.unwrap_or(0) as i64),
            (_, Outcome::Deleted { count }) => Frame::Integer(*count as i64),
            (_, Outcome::Cas { swapped }) => Frame::Integer(*swapped as i64),
        }
    }
}
