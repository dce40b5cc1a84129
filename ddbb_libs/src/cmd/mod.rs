//! Client commands: parsed from request frames, and turned back into frames by clients.
//!
//! One file per command; each type's doc comment shows its wire format. Parsing is strict:
//! `Command::from_frame` rejects wrong arity and leftover arguments with the error text Redis
//! uses, so `redis-cli` users see familiar messages. Write commands may end in
//! `REQID <client> <seq>`, which makes client retries exactly-once.

mod admin;
mod args;
mod cas;
mod compat;
mod del;
mod get;
mod lease;
mod ping;
mod put;
mod range;
mod render;
mod request;
mod status;
mod txn;
mod watch;

pub use admin::{Alarm, Compact};
pub use args::Args;
pub use cas::Cas;
pub use compat::Compat;
pub use del::{Del, DelTarget};
pub use get::Get;
pub use lease::{Expire, Lease};
pub use ping::Ping;
pub use put::{Put, PutReply};
pub use range::{prefix_end, KeyRange, Range, RangeView};
pub use render::{parse_kvs, render_error, TxnReply};
pub use request::KvRequest;
pub use status::Status;
pub use txn::{Txn, MAX_TXN_DEPTH};
pub use watch::{parse_watch_response, render_watch_response, WatchKv};

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
    /// `TXN`: compares, then one branch of operations, as one revision.
    Txn(Txn),
    /// `COMPACT`: drop old history.
    Compact(Compact),
    /// `ALARM LIST|DISARM`.
    Alarm(Alarm),
    /// `STATUS`: the replica's view of the cluster.
    Status(Status),
    /// Redis housekeeping commands that clients send on their own (COMMAND, CONFIG, ...).
    Compat(Compat),
    /// `LEASE GRANT|REVOKE|KEEPALIVE|TTL|LIST`.
    Lease(Lease),
    /// `EXPIRE key seconds` (through a new lease).
    Expire(Expire),
    /// `TTL key`: seconds left on the key's lease.
    Ttl(Bytes),
    /// `WATCHKV`: create a watch; the connection becomes a watch stream.
    WatchKv(WatchKv),
    /// `UNWATCHKV id`: cancel a watch of this connection.
    Unwatch(i64),
    /// `WATCHPROGRESS`: a progress push once every watch of the connection caught up.
    WatchProgress,
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
        Command::parse_words(parts, 0)
    }

    /// Parses a command's words (verb first); `depth` counts enclosing `TXN`s.
    pub(crate) fn parse_words(parts: Vec<Frame>, depth: usize) -> Result<Command> {
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
            "txn" => Command::Txn(Txn::parse(&mut args, depth)?),
            "compact" => Command::Compact(Compact::parse(&mut args)?),
            "alarm" => Command::Alarm(Alarm::parse(&mut args)?),
            "status" => Command::Status(Status::parse(&mut args)?),
            "lease" => Command::Lease(Lease::parse(&mut args)?),
            "expire" => Command::Expire(Expire::parse(&mut args)?),
            "ttl" => Command::Ttl(lease::parse_ttl(&mut args)?),
            "watchkv" => Command::WatchKv(WatchKv::parse(&mut args)?),
            "unwatchkv" => Command::Unwatch(watch::parse_unwatch(&mut args)?),
            "watchprogress" => {
                args.finish()?;
                Command::WatchProgress
            }
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
        Frame::command(self.words())
    }

    /// The command's words, verb first.
    pub fn words(&self) -> Vec<Bytes> {
        match self {
            Command::Ping(c) => c.words(),
            Command::Put(c) => c.words(),
            Command::Get(c) => c.words(),
            Command::Del(c) => c.words(),
            Command::Cas(c) => c.words(),
            Command::Range(c) => c.words(),
            Command::Txn(c) => c.words(),
            Command::Compact(c) => c.words(),
            Command::Alarm(c) => c.words(),
            Command::Status(c) => c.words(),
            Command::Compat(c) => c.words(),
            Command::Lease(c) => c.words(),
            Command::Expire(c) => c.words(),
            Command::Ttl(key) => vec![Bytes::from_static(b"TTL"), key.clone()],
            Command::WatchKv(c) => c.words(),
            Command::Unwatch(id) => vec![
                Bytes::from_static(b"UNWATCHKV"),
                Bytes::from(id.to_string()),
            ],
            Command::WatchProgress => vec![Bytes::from_static(b"WATCHPROGRESS")],
            Command::Quit => vec![Bytes::from_static(b"QUIT")],
        }
    }

    /// True for commands that go through the log.
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Command::Put(_)
                | Command::Del(_)
                | Command::Cas(_)
                | Command::Txn(_)
                | Command::Compact(_)
                | Command::Alarm(_)
                | Command::Expire(_)
                | Command::Lease(Lease::Grant { .. } | Lease::Revoke(_) | Lease::KeepAlive(_))
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kv::{SortOrder, SortTarget};
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
                lease: 5,
                expire_ms: None,
                prev_kv: true,
                request: req,
                reply,
            }));
            roundtrip(Command::Put(Put {
                key: "k".into(),
                value: "v".into(),
                if_revision: None,
                lease: 0,
                expire_ms: Some(1500),
                prev_kv: false,
                request: None,
                reply,
            }));
        }
        for lease in [
            Lease::Grant { ttl: 5, id: 0 },
            Lease::Grant { ttl: 5, id: 9 },
            Lease::Revoke(9),
            Lease::KeepAlive(9),
            Lease::TimeToLive { id: 9, keys: true },
            Lease::TimeToLive { id: 9, keys: false },
            Lease::List,
        ] {
            roundtrip(Command::Lease(lease));
        }
        roundtrip(Command::Expire(Expire {
            key: "k".into(),
            seconds: 3,
        }));
        roundtrip(Command::Ttl("k".into()));
        roundtrip(Command::Get(Get {
            key: "k".into(),
            revision: 12,
            consistency: Consistency::Serializable,
        }));
        roundtrip(Command::Del(Del {
            target: DelTarget::Keys(vec!["a".into(), "b".into()]),
            prev_kv: true,
            request: req,
        }));
        roundtrip(Command::Del(Del {
            target: DelTarget::Range(KeyRange::prefix("p/".into())),
            prev_kv: false,
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
            revision: 3,
            sort: Some((SortTarget::Mod, SortOrder::Descend)),
            filters: [1, 2, 3, 4],
            consistency: Consistency::Serializable,
        }));
        roundtrip(Command::Range(Range {
            range: KeyRange::prefix("".into()),
            limit: None,
            view: RangeView::WithRevisions,
            revision: 0,
            sort: None,
            filters: [0; 4],
            consistency: Consistency::Linearizable,
        }));
        let txn = parse(&[
            "TXN", "IF", "VALUE", "k", "=", "v", "IFRANGE", "MOD", "a", "b", "<", "7", "THEN", "3",
            "SET", "k", "v2", "THEN", "2", "GET", "k", "ELSE", "9", "TXN", "IF", "VERSION", "k",
            ">", "0", "REQID", "1", "2",
        ]);
        assert!(txn.is_err(), "REQID inside a nested TXN is refused");
        let txn = parse(&[
            "TXN", "IF", "VALUE", "k", "=", "v", "IFRANGE", "MOD", "a", "b", "<", "7", "THEN", "3",
            "SET", "k", "v2", "THEN", "2", "GET", "k", "ELSE", "6", "TXN", "IF", "LEASE", "k",
            "!=", "0", "REQID", "1", "2",
        ])
        .unwrap();
        let Command::Txn(t) = &txn else {
            panic!("{txn:?}")
        };
        assert_eq!(
            (t.compare.len(), t.success.len(), t.failure.len()),
            (2, 2, 1)
        );
        assert_eq!(t.request, Some(RequestId { client: 1, seq: 2 }));
        roundtrip(txn);
        roundtrip(Command::Compact(Compact {
            revision: 9,
            physical: true,
            request: req,
        }));
        roundtrip(Command::Alarm(Alarm::Disarm));
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
        assert_eq!(
            msg(parse(&["SET", "k", "v", "EX", "0"])),
            "invalid expire time in 'set' command"
        );
        assert_eq!(
            msg(parse(&["SET", "k", "v", "EX", "1", "LEASE", "2"])),
            "syntax error"
        );
        assert_eq!(
            msg(parse(&["SET", "k", "v", "IFREV", "x"])),
            "value is not an integer or out of range"
        );
        assert!(parse(&["CAS", "k", "v"]).is_err());
        assert_eq!(
            msg(parse(&["TXN", "THEN", "1", "STATUS"])),
            "a TXN operation must be GET, RANGE, SET, PUT, DEL, DELRANGE, CAS or TXN"
        );
        assert_eq!(
            msg(parse(&["TXN", "THEN", "9", "GET", "k"])),
            "TXN operation word count out of range"
        );
        assert!(parse(&["TXN", "IF", "SIZE", "k", "=", "1"]).is_err());
        assert!(parse(&["TXN", "IF", "MOD", "k", "~", "1"]).is_err());
        assert!(parse(&["TXN", "IF", "MOD", "k", "=", "x"]).is_err());
        let deep = (0..=MAX_TXN_DEPTH + 1).fold(vec!["GET".to_string(), "k".into()], |inner, _| {
            let mut w = vec!["TXN".to_string(), "THEN".into(), inner.len().to_string()];
            w.extend(inner);
            w
        });
        assert!(
            Command::from_frame(Frame::command(deep)).is_err(),
            "too deep"
        );
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
