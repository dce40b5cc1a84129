//! Client commands: parsed from request frames, and turned back into frames by clients.
//!
//! One file per command; each type's doc comment shows its wire format. Parsing is strict:
//! `Command::from_frame` rejects wrong arity and leftover arguments with the error text Redis
//! uses, so `redis-cli` users see familiar messages. Write commands may end in
//! `REQID <client> <seq>`, which makes client retries exactly-once.

mod args;
mod cas;
mod compat;
mod del;
mod get;
mod ping;
mod put;
mod range;
mod status;

pub use args::Args;
pub use cas::Cas;
pub use compat::Compat;
pub use del::{Del, DelTarget};
pub use get::Get;
pub use ping::Ping;
pub use put::{Put, PutReply};
pub use range::{prefix_end, KeyRange, Range, RangeView};
pub use status::Status;

use bytes::Bytes;

use crate::error::{Error, Result};
use crate::frame::Frame;

/// Every request a replica understands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `PING [message]`
    Ping(Ping),
    /// `SET` or `PUT`: write one key.
    Put(Put),
    /// `GET`: read one key.
    Get(Get),
    /// `DEL` / `DELRANGE`: delete keys.
    Del(Del),
    /// `CAS`: compare-and-swap one key's value.
    Cas(Cas),
    /// `RANGE`: read a range of keys.
    Range(Range),
    /// `STATUS`: the replica's view of the cluster.
    Status(Status),
    /// Redis housekeeping commands that clients send on their own (COMMAND, CONFIG, ...).
    Compat(Compat),
    /// `QUIT`: reply `+OK` and close the connection.
    Quit,
}

impl Command {
    /// Parses a request frame (an array of bulk strings).
    ///
    /// # Errors
    /// [`Error::InvalidCommand`] with a Redis-style message; the connection stays usable.
    pub fn from_frame(frame: Frame) -> Result<Command> {
        let parts = match frame {
            Frame::Array(parts) if !parts.is_empty() => parts,
            Frame::Array(_) => return Err(Error::invalid("empty command")),
            _ => return Err(Error::invalid("a request must be an array of bulk strings")),
        };
        let mut parts = parts.into_iter();
        let verb = match parts.next() {
            Some(Frame::Bulk(b)) => String::from_utf8_lossy(&b).to_ascii_lowercase(),
            Some(Frame::Simple(s)) => s.to_ascii_lowercase(),
            _ => return Err(Error::invalid("command name must be a string")),
        };
        let rest: Vec<Frame> = parts.collect();
        let mut args = Args::new(verb.clone(), rest);
        let command = match verb.as_str() {
            "ping" => Command::Ping(Ping::parse(&mut args)?),
            "set" => Command::Put(Put::parse(&mut args, PutReply::Ok)?),
            "put" => Command::Put(Put::parse(&mut args, PutReply::Revision)?),
            "get" => Command::Get(Get::parse(&mut args)?),
            "del" => Command::Del(Del::parse_keys(&mut args)?),
            "delrange" => Command::Del(Del::parse_range(&mut args)?),
            "cas" => Command::Cas(Cas::parse(&mut args)?),
            "range" => Command::Range(Range::parse(&mut args)?),
            "status" => Command::Status(Status::parse(&mut args)?),
            "quit" => {
                args.finish()?;
                Command::Quit
            }
            other => match Compat::parse(other, &mut args)? {
                Some(c) => Command::Compat(c),
                None => {
                    let first: Vec<String> = args
                        .rest()
                        .unwrap_or_default()
                        .iter()
                        .take(3)
                        .map(|b| format!("'{}'", b.escape_ascii()))
                        .collect();
                    return Err(Error::invalid(format!(
                        "unknown command '{}', with args beginning with: {}",
                        other,
                        first.join(" ")
                    )));
                }
            },
        };
        Ok(command)
    }

    /// The request frame for this command, as a client sends it.
    pub fn to_frame(&self) -> Frame {
        let words: Vec<Bytes> = match self {
            Command::Ping(c) => c.words(),
            Command::Put(c) => c.words(),
            Command::Get(c) => c.words(),
            Command::Del(c) => c.words(),
            Command::Cas(c) => c.words(),
            Command::Range(c) => c.words(),
            Command::Status(c) => c.words(),
            Command::Compat(c) => c.words(),
            Command::Quit => vec![Bytes::from_static(b"QUIT")],
        };
        Frame::command(words)
    }

    /// True for commands that change the store and so go through the log.
    pub fn is_write(&self) -> bool {
        matches!(self, Command::Put(_) | Command::Del(_) | Command::Cas(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Consistency, RequestId};

    fn parse(words: &[&str]) -> Result<Command> {
        Command::from_frame(Frame::command(words.iter().map(|w| w.to_string())))
    }

    fn roundtrip(cmd: Command) {
        assert_eq!(Command::from_frame(cmd.to_frame()).unwrap(), cmd);
    }

    #[test]
    fn every_command_roundtrips() {
        let req = Some(RequestId { client: 9, seq: 3 });
        roundtrip(Command::Ping(Ping { message: None }));
        roundtrip(Command::Ping(Ping {
            message: Some("hi".into()),
        }));
        for reply in [PutReply::Ok, PutReply::Revision] {
            roundtrip(Command::Put(Put {
                key: "k".into(),
                value: "v".into(),
                if_revision: Some(4),
                request: req,
                reply,
            }));
        }
        roundtrip(Command::Get(Get {
            key: "k".into(),
            consistency: Consistency::Serializable,
        }));
        roundtrip(Command::Del(Del {
            target: DelTarget::Keys(vec!["a".into(), "b".into()]),
            request: req,
        }));
        roundtrip(Command::Del(Del {
            target: DelTarget::Range(KeyRange::prefix("p/".into())),
            request: None,
        }));
        roundtrip(Command::Cas(Cas {
            key: "k".into(),
            expected: "1".into(),
            new: "2".into(),
            request: req,
        }));
        roundtrip(Command::Range(Range {
            range: KeyRange {
                start: "a".into(),
                end: Some("b".into()),
            },
            limit: Some(10),
            view: RangeView::KeysOnly,
            consistency: Consistency::Serializable,
        }));
        roundtrip(Command::Range(Range {
            range: KeyRange::prefix("".into()),
            limit: None,
            view: RangeView::WithRevisions,
            consistency: Consistency::Linearizable,
        }));
        roundtrip(Command::Status(Status));
        roundtrip(Command::Quit);
    }

    #[test]
    fn verbs_are_case_insensitive() {
        assert!(matches!(parse(&["sEt", "k", "v"]), Ok(Command::Put(_))));
    }

    #[test]
    fn redis_style_errors() {
        let msg = |r: Result<Command>| r.unwrap_err().to_string();
        assert_eq!(
            msg(parse(&["GET"])),
            "wrong number of arguments for 'get' command"
        );
        assert_eq!(
            msg(parse(&["FLY", "a"])),
            "unknown command 'fly', with args beginning with: 'a'"
        );
        assert_eq!(msg(parse(&["GET", "k", "NOPE"])), "syntax error");
        assert_eq!(msg(parse(&["SET", "k", "v", "EX", "10"])), "syntax error");
        assert_eq!(
            msg(parse(&["SET", "k", "v", "IFREV", "x"])),
            "value is not an integer or out of range"
        );
        assert!(parse(&["CAS", "k", "v"]).is_err());
        assert!(parse(&["DEL"]).is_err());
        assert!(Command::from_frame(Frame::Integer(3)).is_err());
    }

    #[test]
    fn request_id_is_taken_from_the_tail() {
        match parse(&["DEL", "a", "b", "REQID", "7", "8"]).unwrap() {
            Command::Del(d) => {
                assert_eq!(d.target, DelTarget::Keys(vec!["a".into(), "b".into()]));
                assert_eq!(d.request, Some(RequestId { client: 7, seq: 8 }));
            }
            other => panic!("{other:?}"),
        }
    }
}
