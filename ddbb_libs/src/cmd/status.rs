//! `STATUS`

use bytes::Bytes;

use super::Args;
use crate::error::Result;

/// Reports the replica's view of the cluster as a flat array of field names and values.
///
/// # Format
/// `STATUS` → `*2n` array: `id`, `leader`, `ballot`, `decided_index`, ... (see
/// [`crate::reply::StatusReply`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status;

impl Status {
    pub(crate) fn parse(args: &mut Args) -> Result<Status> {
        if args.remaining() != 0 {
            return Err(args.arity_error());
        }
        Ok(Status)
    }

    pub(crate) fn words(&self) -> Vec<Bytes> {
        vec![Bytes::from_static(b"STATUS")]
    }
}
