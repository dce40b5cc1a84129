//! `PING [message]`

use bytes::Bytes;

use super::Args;
use crate::error::Result;
use crate::frame::Frame;

/// `PING [message]` → `+PONG`, or the message as a bulk string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ping {
    /// Echoed back when present.
    pub message: Option<Bytes>,
}

impl Ping {
    pub(crate) fn parse(args: &mut Args) -> Result<Ping> {
        let message = match args.remaining() {
            0 => None,
            1 => Some(args.next_bytes()?),
            _ => return Err(args.arity_error()),
        };
        Ok(Ping { message })
    }

    pub(crate) fn words(&self) -> Vec<Bytes> {
        let mut w = vec![Bytes::from_static(b"PING")];
        w.extend(self.message.clone());
        w
    }

    /// The reply: `+PONG` or the echoed message.
    pub fn reply(&self) -> Frame {
        match &self.message {
            None => Frame::Simple("PONG".into()),
            Some(m) => Frame::Bulk(m.clone()),
        }
    }
}
