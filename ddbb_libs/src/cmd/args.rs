//! A cursor over a request's arguments, with Redis-style error messages.

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::types::{Consistency, RequestId};

/// The arguments of one request after its verb.
#[derive(Debug)]
pub struct Args {
    verb: String,
    parts: std::vec::IntoIter<Frame>,
}

impl Args {
    pub(crate) fn new(verb: String, parts: Vec<Frame>) -> Self {
        Args {
            verb,
            parts: parts.into_iter(),
        }
    }

    /// The command name, lower case, for error messages.
    pub fn verb(&self) -> &str {
        &self.verb
    }

    /// How many arguments are left.
    pub fn remaining(&self) -> usize {
        self.parts.len()
    }

    /// The wrong-arity error, worded as Redis words it.
    pub fn arity_error(&self) -> Error {
        Error::invalid(format!(
            "wrong number of arguments for '{}' command",
            self.verb
        ))
    }

    /// The next argument as bytes.
    pub fn next_bytes(&mut self) -> Result<Bytes> {
        match self.parts.next() {
            Some(Frame::Bulk(b)) => Ok(b),
            Some(Frame::Simple(s)) => Ok(Bytes::from(s)),
            Some(Frame::Integer(n)) => Ok(Bytes::from(n.to_string())),
            Some(_) => Err(Error::invalid("arguments must be strings")),
            None => Err(self.arity_error()),
        }
    }

    /// The next argument as text (lossy UTF-8).
    pub fn next_string(&mut self) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.next_bytes()?).into_owned())
    }

    /// The next argument as an unsigned integer.
    pub fn next_u64(&mut self) -> Result<u64> {
        let s = self.next_bytes()?;
        std::str::from_utf8(&s)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Error::invalid("value is not an integer or out of range"))
    }

    /// The next argument as a signed integer.
    pub fn next_i64(&mut self) -> Result<i64> {
        let s = self.next_bytes()?;
        std::str::from_utf8(&s)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| Error::invalid("value is not an integer or out of range"))
    }

    /// Every argument left, as bytes.
    pub fn rest(&mut self) -> Result<Vec<Bytes>> {
        let mut out = Vec::with_capacity(self.remaining());
        while self.remaining() > 0 {
            out.push(self.next_bytes()?);
        }
        Ok(out)
    }

    /// Fails if arguments are left over.
    pub fn finish(&self) -> Result<()> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(Error::invalid("syntax error"))
        }
    }
}

/// Appends ` REQID client seq` to a request under construction.
pub(crate) fn push_request_id(words: &mut Vec<Bytes>, request: &Option<RequestId>) {
    if let Some(id) = request {
        words.push(Bytes::from_static(b"REQID"));
        words.push(Bytes::from(id.client.to_string()));
        words.push(Bytes::from(id.seq.to_string()));
    }
}

/// Appends ` SERIALIZABLE` when the read is not linearizable.
pub(crate) fn push_consistency(words: &mut Vec<Bytes>, consistency: Consistency) {
    if consistency == Consistency::Serializable {
        words.push(Bytes::from_static(b"SERIALIZABLE"));
    }
}

/// Parses an option keyword (case-insensitive).
pub(crate) fn keyword(word: &[u8]) -> String {
    String::from_utf8_lossy(word).to_ascii_uppercase()
}
