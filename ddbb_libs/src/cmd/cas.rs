//! `CAS key expected new`

use bytes::Bytes;

use super::args::push_request_id;
use super::put::parse_request_id;
use super::Args;
use crate::error::{Error, Result};
use crate::types::RequestId;

/// Atomically replaces a key's value if it currently equals `expected`.
///
/// # Format
/// `CAS key expected new [REQID client seq]` → `:1` swapped, `:0` not (value differs or the
/// key is absent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cas {
    /// The key.
    pub key: Bytes,
    /// The value the key must hold now.
    pub expected: Bytes,
    /// The value to store.
    pub new: Bytes,
    /// Optional request id for exactly-once retries.
    pub request: Option<RequestId>,
}

impl Cas {
    pub(crate) fn parse(args: &mut Args) -> Result<Cas> {
        if args.remaining() != 3 && args.remaining() != 6 {
            return Err(args.arity_error());
        }
        let key = args.next_bytes()?;
        let expected = args.next_bytes()?;
        let new = args.next_bytes()?;
        let request = if args.remaining() == 3 {
            if !args.next_bytes()?.eq_ignore_ascii_case(b"REQID") {
                return Err(Error::invalid("syntax error"));
            }
            Some(parse_request_id(args)?)
        } else {
            None
        };
        Ok(Cas {
            key,
            expected,
            new,
            request,
        })
    }

    pub(crate) fn words(&self) -> Vec<Bytes> {
        let mut w = vec![
            Bytes::from_static(b"CAS"),
            self.key.clone(),
            self.expected.clone(),
            self.new.clone(),
        ];
        push_request_id(&mut w, &self.request);
        w
    }
}
