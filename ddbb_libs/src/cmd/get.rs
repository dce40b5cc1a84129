//! `GET key [SERIALIZABLE]`

use bytes::Bytes;

use super::args::{keyword, push_consistency};
use super::Args;
use crate::error::{Error, Result};
use crate::types::Consistency;

/// Reads one key.
///
/// # Format
/// `GET key [SERIALIZABLE]` → bulk value, or nil if absent. Linearizable unless
/// `SERIALIZABLE` (then answered from the replica's local state at once).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Get {
    /// The key.
    pub key: Bytes,
    /// Linearizable (default) or serializable.
    pub consistency: Consistency,
}

impl Get {
    pub(crate) fn parse(args: &mut Args) -> Result<Get> {
        if args.remaining() == 0 {
            return Err(args.arity_error());
        }
        let key = args.next_bytes()?;
        let consistency = parse_consistency(args)?;
        Ok(Get { key, consistency })
    }

    pub(crate) fn words(&self) -> Vec<Bytes> {
        let mut w = vec![Bytes::from_static(b"GET"), self.key.clone()];
        push_consistency(&mut w, self.consistency);
        w
    }
}

/// Parses an optional trailing `SERIALIZABLE` / `LINEARIZABLE` and nothing else.
fn parse_consistency(args: &mut Args) -> Result<Consistency> {
    let consistency = match args.remaining() {
        0 => return Ok(Consistency::Linearizable),
        _ => match keyword(&args.next_bytes()?).as_str() {
            "SERIALIZABLE" => Consistency::Serializable,
            "LINEARIZABLE" => Consistency::Linearizable,
            _ => return Err(Error::invalid("syntax error")),
        },
    };
    args.finish()?;
    Ok(consistency)
}
