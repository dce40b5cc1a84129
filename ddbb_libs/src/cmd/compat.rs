//! Redis housekeeping commands that `redis-cli` and `redis-benchmark` send on their own.

use bytes::Bytes;

use super::Args;
use crate::error::Result;
use crate::frame::Frame;

/// A Redis command answered for compatibility only; none of them touches the store.
///
/// # Format
/// `COMMAND [...]` → empty array (redis-cli asks for command docs to show hints);
/// `CONFIG GET param` → `[param, value]` for `save` and `appendonly` (redis-benchmark reads
/// them), an empty array for others;
/// `SELECT 0` → `+OK` (other databases: error); `ECHO msg` → bulk;
/// `CLIENT ...` → `+OK`; `INFO [section]` → a short bulk text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Compat {
    /// `COMMAND ...`
    CommandDocs(Vec<Bytes>),
    /// `CONFIG GET ...` (and other CONFIG subcommands, which are refused)
    Config(Vec<Bytes>),
    /// `SELECT db`
    Select(Bytes),
    /// `ECHO msg`
    Echo(Bytes),
    /// `CLIENT ...`
    Client(Vec<Bytes>),
    /// `INFO [section]`
    Info(Vec<Bytes>),
}

impl Compat {
    /// Parses `verb`'s arguments if it is one of the compatibility commands.
    pub(crate) fn parse(verb: &str, args: &mut Args) -> Result<Option<Compat>> {
        Ok(Some(match verb {
            "command" => Compat::CommandDocs(args.rest()?),
            "config" => Compat::Config(args.rest()?),
            "client" => Compat::Client(args.rest()?),
            "info" => Compat::Info(args.rest()?),
            "select" | "echo" => {
                if args.remaining() != 1 {
                    return Err(args.arity_error());
                }
                let arg = args.next_bytes()?;
                if verb == "select" {
                    Compat::Select(arg)
                } else {
                    Compat::Echo(arg)
                }
            }
            _ => return Ok(None),
        }))
    }

    pub(crate) fn words(&self) -> Vec<Bytes> {
        let (verb, rest): (&'static [u8], Vec<Bytes>) = match self {
            Compat::CommandDocs(a) => (b"COMMAND", a.clone()),
            Compat::Config(a) => (b"CONFIG", a.clone()),
            Compat::Client(a) => (b"CLIENT", a.clone()),
            Compat::Info(a) => (b"INFO", a.clone()),
            Compat::Select(a) => (b"SELECT", vec![a.clone()]),
            Compat::Echo(a) => (b"ECHO", vec![a.clone()]),
        };
        let mut w = vec![Bytes::from_static(verb)];
        w.extend(rest);
        w
    }

    /// The reply; `info` is the text `INFO` returns (the server fills in its own fields).
    pub fn reply(&self, info: impl FnOnce() -> String) -> Frame {
        match self {
            Compat::CommandDocs(_) => Frame::Array(vec![]),
            Compat::Config(a) if a.first().is_some_and(|s| s.eq_ignore_ascii_case(b"GET")) => {
                // The two parameters redis-benchmark reads; DDBB's durability is not Redis'.
                let mut pairs = Vec::new();
                for param in &a[1..] {
                    let value: &'static [u8] = match &param.to_ascii_lowercase()[..] {
                        b"save" => b"",
                        b"appendonly" => b"no",
                        _ => continue,
                    };
                    pairs.push(Frame::Bulk(param.clone()));
                    pairs.push(Frame::Bulk(Bytes::from_static(value)));
                }
                Frame::Array(pairs)
            }
            Compat::Config(_) => Frame::err("CONFIG: only CONFIG GET is supported"),
            Compat::Client(_) => Frame::Simple("OK".into()),
            Compat::Select(db) if &db[..] == b"0" => Frame::Simple("OK".into()),
            Compat::Select(_) => Frame::err("DB index is out of range"),
            Compat::Echo(m) => Frame::Bulk(m.clone()),
            Compat::Info(_) => Frame::Bulk(Bytes::from(info())),
        }
    }
}
