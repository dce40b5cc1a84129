//! `GET key [REV rev] [SERIALIZABLE]`

use bytes::Bytes;

use super::args::{keyword, push_consistency};
use super::Args;
use crate::error::{Error, Result};
use crate::types::Consistency;

/// Reads one key.
///
/// # Format
/// `GET key [REV rev] [SERIALIZABLE]` → bulk value, or nil if absent. `REV rev` reads the
/// key as it was at that revision. Linearizable unless `SERIALIZABLE` (then answered from the
/// replica's local state at once).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Get {
    /// The key.
    pub key: Bytes,
    /// Read at this revision (0: current).
    pub revision: i64,
    /// Linearizable (default) or serializable.
    pub consistency: Consistency,
}

impl Get {
    pub(crate) fn parse(args: &mut Args) -> Result<Get> {
        if args.remaining() == 0 {
            return Err(args.arity_error());
        }
        let key = args.next_bytes()?;
        let mut get = Get {
            key,
            revision: 0,
            consistency: Consistency::Linearizable,
        };
        while args.remaining() > 0 {
            match keyword(&args.next_bytes()?).as_str() {
                "REV" => get.revision = args.next_i64()?,
                "SERIALIZABLE" => get.consistency = Consistency::Serializable,
                "LINEARIZABLE" => get.consistency = Consistency::Linearizable,
                _ => return Err(Error::invalid("syntax error")),
            }
        }
        Ok(get)
    }

    pub(crate) fn words(&self) -> Vec<Bytes> {
        let mut w = vec![Bytes::from_static(b"GET"), self.key.clone()];
        if self.revision != 0 {
            w.push(Bytes::from_static(b"REV"));
            w.push(Bytes::from(self.revision.to_string()));
        }
        push_consistency(&mut w, self.consistency);
        w
    }
}
