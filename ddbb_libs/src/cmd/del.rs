//! `DEL key [key ...]` and `DELRANGE start end` / `DELRANGE PREFIX p`

use bytes::Bytes;

use super::args::push_request_id;
use super::put::parse_request_id;
use super::range::KeyRange;
use super::Args;
use crate::error::Result;
use crate::types::RequestId;

/// What a delete removes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DelTarget {
    /// These keys.
    Keys(Vec<Bytes>),
    /// Every key in the range.
    Range(KeyRange),
}

/// Deletes keys. Linearizable; replies with the number of keys removed once committed.
///
/// # Format
/// `DEL key [key ...] [PREVKV] [REQID client seq]` → `:count`
/// `DELRANGE start end [PREVKV] [REQID client seq]` / `DELRANGE PREFIX p [...]` → `:count`
///
/// A trailing `REQID <n> <n>` is always read as a request id, and a `PREVKV` before it (or
/// last) as the flag, never as keys. With `PREVKV` the reply is `[count, [kv, ...]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Del {
    /// The keys to delete.
    pub target: DelTarget,
    /// Also reply with the deleted kvs.
    pub prev_kv: bool,
    /// Optional request id for exactly-once retries.
    pub request: Option<RequestId>,
}

impl Del {
    pub(crate) fn parse_keys(args: &mut Args) -> Result<Del> {
        let mut words = args.rest()?;
        let request = take_request_id(args, &mut words)?;
        let prev_kv = take_prev_kv(&mut words);
        if words.is_empty() {
            return Err(args.arity_error());
        }
        Ok(Del {
            target: DelTarget::Keys(words),
            prev_kv,
            request,
        })
    }

    pub(crate) fn parse_range(args: &mut Args) -> Result<Del> {
        let mut words = args.rest()?;
        let request = take_request_id(args, &mut words)?;
        let prev_kv = take_prev_kv(&mut words);
        let mut range_args = Args::new(
            args.verb().to_string(),
            words.into_iter().map(crate::frame::Frame::Bulk).collect(),
        );
        let range = KeyRange::parse(&mut range_args)?;
        range_args.finish()?;
        Ok(Del {
            target: DelTarget::Range(range),
            prev_kv,
            request,
        })
    }

    pub(crate) fn words(&self) -> Vec<Bytes> {
        let mut w = match &self.target {
            DelTarget::Keys(keys) => {
                let mut w = vec![Bytes::from_static(b"DEL")];
                w.extend(keys.iter().cloned());
                w
            }
            DelTarget::Range(range) => {
                let mut w = vec![Bytes::from_static(b"DELRANGE")];
                range.push_words(&mut w);
                w
            }
        };
        if self.prev_kv {
            w.push(Bytes::from_static(b"PREVKV"));
        }
        push_request_id(&mut w, &self.request);
        w
    }
}

/// Removes a trailing `PREVKV` flag from `words`.
fn take_prev_kv(words: &mut Vec<Bytes>) -> bool {
    let flag = words.len() > 1
        && words
            .last()
            .is_some_and(|w| w.eq_ignore_ascii_case(b"PREVKV"));
    if flag {
        words.pop();
    }
    flag
}

/// Removes a trailing `REQID client seq` from `words` when the numbers parse.
fn take_request_id(args: &Args, words: &mut Vec<Bytes>) -> Result<Option<RequestId>> {
    let n = words.len();
    if n >= 3 && words[n - 3].eq_ignore_ascii_case(b"REQID") {
        let tail: Vec<crate::frame::Frame> = words
            .drain(n - 2..)
            .map(crate::frame::Frame::Bulk)
            .collect();
        words.pop();
        let mut tail = Args::new(args.verb().to_string(), tail);
        return parse_request_id(&mut tail).map(Some);
    }
    Ok(None)
}
