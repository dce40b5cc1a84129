//! Running one shared command ([`KvCommand`]) against a cluster, producing a [`Report`].
//!
//! `put`, `get` and `del` are built as [`Request`]s (a RESP command plus how to show its
//! reply), so that one-shot commands and the requests inside a `txn` share one code path.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::time::Instant;

use bytes::Bytes;
use ddbb_libs::cmd::{
    parse_kvs, Alarm, Compact, Del, DelTarget, KeyRange, Put, PutReply, Range, RangeView, TxnReply,
};
use ddbb_libs::kv::{SortOrder, SortTarget};
use ddbb_libs::{Command, Consistency, Frame, KeyValue};

use super::args::{
    AlarmCommand, ConsistencyArg, DelArgs, GetArgs, KeyRangeArgs, KvCommand, LeaseCommand,
    MemberCommand, OrderArg, PutArgs, SortByArg,
};
use super::txn::TxnInput;
use super::CliError;
use crate::output::{unhex, Member, Report};
use ddbb_client::Error;
use ddbb_client::{Client, EndpointStatus};

/// True when `command` reads stdin: `put KEY` without a value, and `txn`.
pub fn needs_stdin(command: &KvCommand) -> bool {
    matches!(command, KvCommand::Put(p) if p.value.is_none()) || is_txn(command)
}

/// True for `txn`, whose stdin is its text (never hex-decoded as a whole).
pub fn is_txn(command: &KvCommand) -> bool {
    matches!(command, KvCommand::Txn(_))
}

/// Turns a value read from stdin into the value to write: one trailing newline is dropped
/// (so `echo v | ddbb put k` writes `v`), or hex is decoded.
pub fn stdin_value(mut input: Vec<u8>, hex: bool) -> Result<Bytes, CliError> {
    if hex {
        return unhex(&input).map(Bytes::from).map_err(CliError::Usage);
    }
    if input.last() == Some(&b'\n') {
        input.pop();
        if input.last() == Some(&b'\r') {
            input.pop();
        }
    }
    Ok(Bytes::from(input))
}

/// Runs `command`; `stdin` holds the value for `put KEY`, or the text of a `txn`, when
/// [`needs_stdin`] said so.
pub async fn execute(
    client: &Client,
    command: &KvCommand,
    hex: bool,
    stdin: Option<Bytes>,
) -> Result<Report, CliError> {
    let arg = |s: &OsStr| arg_bytes(s, hex);
    let report = match command {
        KvCommand::Put(p) => {
            let value = match (&p.value, stdin) {
                (Some(v), _) => arg(v)?,
                (None, Some(v)) => v,
                (None, None) => return Err(CliError::Usage("missing VALUE for put".into())),
            };
            run(client, &put_request(p, value, hex)?).await?
        }
        KvCommand::Get(g) => run(client, &get_request(g, hex)?).await?,
        KvCommand::Del(d) => run(client, &del_request(d, hex)?).await?,
        KvCommand::Txn(_) => {
            let text =
                stdin.ok_or_else(|| CliError::Usage("txn reads its input from stdin".into()))?;
            let input = TxnInput::parse(&String::from_utf8_lossy(&text), hex)?;
            txn(client, input).await?
        }
        KvCommand::Compaction(c) => {
            let cmd = Command::Compact(Compact {
                revision: c.revision,
                physical: c.physical,
                request: None,
            });
            match client.execute(cmd).await? {
                Frame::Simple(s) if s == "OK" => Report::Compacted(c.revision),
                other => return Err(unexpected(&other)),
            }
        }
        KvCommand::Alarm { command } => match command {
            AlarmCommand::List => Report::Alarms(client.alarm(Alarm::List).await?),
            AlarmCommand::Disarm => {
                // etcd prints the alarms it cleared; DISARM answers those still raised, so
                // list them first.
                let raised = client.alarm(Alarm::List).await?;
                client.alarm(Alarm::Disarm).await?;
                Report::Alarms(raised)
            }
        },
        KvCommand::Cas(c) => Report::Cas(
            client
                .cas(arg(&c.key)?, arg(&c.expected)?, arg(&c.new)?)
                .await?,
        ),
        KvCommand::Status => Report::Status(client.status_all().await),
        KvCommand::Member {
            command: MemberCommand::List,
        } => Report::Members(members(client).await?),
        KvCommand::Watch(_) => {
            return Err(CliError::Usage(
                "watch is a stream: run it with cli::watch::stream".into(),
            ))
        }
        KvCommand::Lease { command } => lease(client, command).await?,
        KvCommand::Lock(_) | KvCommand::Elect(_) => {
            return Err(CliError::Usage(
                "lock and elect hold a lease: run them with cli::lock::stream".into(),
            ))
        }
        KvCommand::Ping => {
            let start = Instant::now();
            client.ping().await?;
            Report::Pong(start.elapsed())
        }
    };
    Ok(report)
}

/// `lease grant|revoke|timetolive|list|keep-alive --once`, with etcdctl's error texts.
async fn lease(client: &Client, command: &LeaseCommand) -> Result<Report, CliError> {
    let failed = |context| move |source| CliError::Failed { context, source };
    Ok(match *command {
        LeaseCommand::Grant { ttl } => {
            let (id, ttl) = client
                .lease_grant(ttl, 0)
                .await
                .map_err(failed("failed to grant lease"))?;
            Report::LeaseGranted { id, ttl }
        }
        LeaseCommand::Revoke { id } => {
            client
                .lease_revoke(id)
                .await
                .map_err(failed("failed to revoke lease"))?;
            Report::LeaseRevoked(id)
        }
        LeaseCommand::Timetolive { id, keys } => Report::LeaseTtl {
            lease: client.lease_time_to_live(id, keys).await?,
            keys,
        },
        LeaseCommand::List => Report::Leases(client.lease_list().await?),
        LeaseCommand::KeepAlive { id, once: true } => Report::LeaseKeptAlive {
            id,
            ttl: client.lease_keep_alive_once(id).await?,
        },
        LeaseCommand::KeepAlive { once: false, .. } => {
            return Err(CliError::Usage(
                "lease keep-alive is a stream: run it with cli::lock::stream".into(),
            ))
        }
    })
}

/// How to show a request's reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Show {
    /// `put`: `OK`, then the previous kv if asked.
    Put,
    /// `get`: key and value lines, keys only, values only, or a count.
    Get {
        /// Keys without values.
        keys_only: bool,
        /// Values without keys (simple format).
        values_only: bool,
    },
    /// `del`: the count, then the deleted kvs if asked.
    Del,
}

/// A `put`, `get` or `del` as a RESP command, alone or inside a `TXN`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The command sent.
    pub command: Command,
    /// How its reply is shown.
    pub show: Show,
}

impl Request {
    /// The report of this request's reply frame (alone, or one item of a `TXN` reply).
    pub fn report(&self, frame: Frame) -> Result<Report, CliError> {
        let bad = |f: &Frame| unexpected(f);
        let (status, extra) = match frame {
            // `[status, previous kv(s)]` when a put or del asked for them.
            Frame::Array(mut items)
                if !matches!(self.show, Show::Get { .. }) && items.len() == 2 =>
            {
                let extra = items.pop();
                (items.pop().unwrap_or(Frame::Null), extra)
            }
            other => (other, None),
        };
        match self.show {
            Show::Put => {
                let revision = match status {
                    Frame::Integer(n) if n >= 0 => (n != 0).then_some(n as u64),
                    other => return Err(bad(&other)),
                };
                let prev_kv = match extra {
                    None | Some(Frame::Null) => None,
                    Some(kv) => Some(KeyValue::from_frame(kv).map_err(protocol)?),
                };
                Ok(Report::Put { revision, prev_kv })
            }
            Show::Del => {
                let deleted = match status {
                    Frame::Integer(n) if n >= 0 => n as u64,
                    other => return Err(bad(&other)),
                };
                let prev_kvs = match extra {
                    None => Vec::new(),
                    Some(kvs) => parse_kvs(kvs).map_err(protocol)?,
                };
                Ok(Report::Deleted { deleted, prev_kvs })
            }
            Show::Get {
                keys_only,
                values_only,
            } => {
                let kvs = match status {
                    Frame::Integer(n) if n >= 0 => return Ok(Report::Count(n as u64)),
                    Frame::Array(items) if keys_only => items
                        .into_iter()
                        .map(|f| match f {
                            Frame::Bulk(key) => Ok(KeyValue {
                                key,
                                ..KeyValue::default()
                            }),
                            other => Err(bad(&other)),
                        })
                        .collect::<Result<_, _>>()?,
                    frame @ Frame::Array(_) => parse_kvs(frame).map_err(protocol)?,
                    other => return Err(bad(&other)),
                };
                Ok(Report::Kvs {
                    kvs,
                    keys_only,
                    values_only,
                })
            }
        }
    }
}

/// Sends one request and reports its reply.
async fn run(client: &Client, request: &Request) -> Result<Report, CliError> {
    let frame = client.execute(request.command.clone()).await?;
    request.report(frame)
}

/// `put KEY VALUE [--if-revision R] [--lease ID] [--prev-kv]` (the value already read).
pub fn put_request(p: &PutArgs, value: Bytes, hex: bool) -> Result<Request, CliError> {
    Ok(Request {
        command: Command::Put(Put {
            key: arg_bytes(&p.key, hex)?,
            value,
            if_revision: p.if_revision,
            lease: p.lease.unwrap_or(0),
            expire_ms: None,
            prev_kv: p.prev_kv,
            request: None,
            reply: PutReply::Revision,
        }),
        show: Show::Put,
    })
}

/// `get KEY [RANGE_END] [options]` as a `RANGE`.
pub fn get_request(g: &GetArgs, hex: bool) -> Result<Request, CliError> {
    let range = match key_range(&g.range, hex)? {
        Target::Key(key) => single_key(key),
        Target::Range(range) => range,
    };
    let view = if g.count_only {
        RangeView::CountOnly
    } else if g.keys_only {
        RangeView::KeysOnly
    } else {
        RangeView::WithRevisions
    };
    let consistency = match g.consistency {
        ConsistencyArg::Linearizable => Consistency::Linearizable,
        ConsistencyArg::Serializable => Consistency::Serializable,
    };
    Ok(Request {
        command: Command::Range(Range {
            range,
            limit: g.limit.filter(|&l| l > 0),
            view,
            revision: g.rev,
            sort: sort(g.sort_by, g.order),
            filters: [0; 4],
            consistency,
        }),
        show: Show::Get {
            keys_only: g.keys_only,
            values_only: g.print_value_only,
        },
    })
}

/// etcd's rule: a sort target without an order sorts ascending; an order without a target
/// sorts by key.
fn sort(by: Option<SortByArg>, order: Option<OrderArg>) -> Option<(SortTarget, SortOrder)> {
    if by.is_none() && order.is_none() {
        return None;
    }
    let target = match by.unwrap_or(SortByArg::Key) {
        SortByArg::Create => SortTarget::Create,
        SortByArg::Key => SortTarget::Key,
        SortByArg::Modify => SortTarget::Mod,
        SortByArg::Value => SortTarget::Value,
        SortByArg::Version => SortTarget::Version,
    };
    let order = match order.unwrap_or(OrderArg::Ascend) {
        OrderArg::Ascend => SortOrder::Ascend,
        OrderArg::Descend => SortOrder::Descend,
    };
    Some((target, order))
}

/// `del KEY [RANGE_END] [--prefix|--from-key] [--prev-kv]`.
pub fn del_request(d: &DelArgs, hex: bool) -> Result<Request, CliError> {
    let target = match key_range(&d.range, hex)? {
        Target::Key(key) => DelTarget::Keys(vec![key]),
        Target::Range(range) => DelTarget::Range(range),
    };
    Ok(Request {
        command: Command::Del(Del {
            target,
            prev_kv: d.prev_kv,
            request: None,
        }),
        show: Show::Del,
    })
}

/// Runs a parsed `txn` and reports the outcome of the branch that ran.
async fn txn(client: &Client, input: TxnInput) -> Result<Report, CliError> {
    let (txn, success, failure) = input.into_txn();
    let reply: TxnReply = client.txn(txn).await?;
    let ran = if reply.succeeded { &success } else { &failure };
    if ran.len() != reply.replies.len() {
        return Err(protocol(format!(
            "{} replies for {} requests",
            reply.replies.len(),
            ran.len()
        )));
    }
    let responses = ran
        .iter()
        .zip(reply.replies)
        .map(|(request, frame)| request.report(frame))
        .collect::<Result<_, _>>()?;
    Ok(Report::Txn {
        succeeded: reply.succeeded,
        revision: reply.revision,
        responses,
    })
}

/// Exactly one key: `[key, key\0)`.
pub fn single_key(key: Bytes) -> KeyRange {
    let mut end = key.to_vec();
    end.push(0);
    KeyRange {
        start: key,
        end: Some(Bytes::from(end)),
    }
}

fn protocol(e: impl std::fmt::Display) -> CliError {
    Error::Protocol(e.to_string()).into()
}

fn unexpected(frame: &Frame) -> CliError {
    protocol(format!("unexpected reply {frame}"))
}

/// What a [`KeyRangeArgs`] names: one key, or a range.
pub enum Target {
    /// Exactly this key.
    Key(Bytes),
    /// `--prefix`, `--from-key` or `KEY RANGE_END`.
    Range(KeyRange),
}

/// Decodes `KEY [RANGE_END] [--prefix|--from-key]`.
pub fn key_range(r: &KeyRangeArgs, hex: bool) -> Result<Target, CliError> {
    let key = arg_bytes(&r.key, hex)?;
    Ok(if r.prefix {
        Target::Range(KeyRange::prefix(key))
    } else if r.from_key {
        Target::Range(KeyRange {
            start: key,
            end: None,
        })
    } else if let Some(end) = &r.range_end {
        Target::Range(range_to(key, arg_bytes(end, hex)?))
    } else {
        Target::Key(key)
    })
}

/// `[start, end)`; an empty `end` reaches to the last key, as on the wire.
fn range_to(start: Bytes, end: Bytes) -> KeyRange {
    KeyRange {
        start,
        end: (!end.is_empty()).then_some(end),
    }
}

/// The members every reachable endpoint knows of, with the endpoint that answered as each.
async fn members(client: &Client) -> Result<Vec<Member>, CliError> {
    let all = client.status_all().await;
    let reached: Vec<_> = all
        .iter()
        .filter_map(|e| e.status.as_ref().ok().map(|s| (e.endpoint.as_str(), s)))
        .collect();
    if reached.is_empty() {
        let why = EndpointStatus::failures(&all);
        return Err(Error::Unavailable(format!("no endpoint answered ({why})")).into());
    }
    let leader = reached
        .iter()
        .find(|(_, s)| s.is_leader)
        .map(|(_, s)| s.id)
        .or_else(|| reached.iter().map(|(_, s)| s.leader).find(|&l| l != 0))
        .unwrap_or(0);
    let ids: BTreeSet<u64> = reached
        .iter()
        .flat_map(|(_, s)| s.members.iter().copied().chain([s.id]))
        .collect();
    Ok(ids
        .into_iter()
        .map(|id| {
            let endpoint = reached
                .iter()
                .find(|(_, s)| s.id == id)
                .map(|(e, _)| e.to_string());
            Member {
                id,
                up: endpoint.is_some(),
                endpoint,
                is_leader: id == leader,
            }
        })
        .collect())
}

/// A command-line argument as bytes (any bytes on Unix), hex-decoded with `--hex`.
pub fn arg_bytes(arg: &OsStr, hex: bool) -> Result<Bytes, CliError> {
    #[cfg(unix)]
    let raw = std::os::unix::ffi::OsStrExt::as_bytes(arg).to_vec();
    #[cfg(not(unix))]
    let raw = arg.to_string_lossy().into_owned().into_bytes();
    if hex {
        return unhex(&raw).map(Bytes::from).map_err(CliError::Usage);
    }
    Ok(Bytes::from(raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_values_lose_one_newline() {
        assert_eq!(stdin_value(b"v\n".to_vec(), false).unwrap(), "v");
        assert_eq!(stdin_value(b"v\r\n".to_vec(), false).unwrap(), "v");
        assert_eq!(stdin_value(b"v\n\n".to_vec(), false).unwrap(), "v\n");
        assert_eq!(stdin_value(b"v".to_vec(), false).unwrap(), "v");
        assert_eq!(stdin_value(b"6869\n".to_vec(), true).unwrap(), "hi");
        assert!(stdin_value(b"zz".to_vec(), true).is_err());
    }

    #[test]
    fn hex_arguments() {
        assert_eq!(
            arg_bytes(OsStr::new("00ff"), true).unwrap(),
            &b"\x00\xff"[..]
        );
        assert_eq!(arg_bytes(OsStr::new("00ff"), false).unwrap(), "00ff");
        assert!(matches!(
            arg_bytes(OsStr::new("0"), true),
            Err(CliError::Usage(_))
        ));
    }

    #[test]
    fn ranges() {
        assert_eq!(range_to("a".into(), "".into()).end, None);
        assert_eq!(range_to("a".into(), "c".into()).end, Some("c".into()));
    }
}
