//! Running one shared command ([`KvCommand`]) against a cluster, producing a [`Report`].

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::time::Instant;

use bytes::Bytes;
use ddbb_libs::cmd::{KeyRange, RangeView};
use ddbb_libs::{Consistency, KeyValue};

use super::args::{ConsistencyArg, GetArgs, KvCommand, MemberCommand};
use super::CliError;
use crate::client::{Client, EndpointStatus, RangeOptions, RangeReply};
use crate::output::{unhex, Member, Report};
use crate::Error;

/// True when `command` takes its value from stdin (`put KEY` without a value).
pub fn needs_stdin(command: &KvCommand) -> bool {
    matches!(command, KvCommand::Put(p) if p.value.is_none())
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

/// Runs `command`; `stdin` holds the value for `put KEY` when [`needs_stdin`] said so.
pub async fn execute(
    client: &Client,
    command: &KvCommand,
    hex: bool,
    stdin: Option<Bytes>,
) -> Result<Report, CliError> {
    let arg = |s: &OsStr| arg_bytes(s, hex);
    let report = match command {
        KvCommand::Put(p) => {
            let key = arg(&p.key)?;
            let value = match (&p.value, stdin) {
                (Some(v), _) => arg(v)?,
                (None, Some(v)) => v,
                (None, None) => return Err(CliError::Usage("missing VALUE for put".into())),
            };
            match p.if_revision {
                Some(rev) => Report::Put(client.put_if_revision(key, value, rev).await?),
                None => Report::Put(Some(client.put(key, value).await?)),
            }
        }
        KvCommand::Get(g) => get(client, g, hex).await?,
        KvCommand::Del(d) => {
            let key = arg(&d.key)?;
            let deleted = if d.prefix {
                client.delete_range(KeyRange::prefix(key)).await?
            } else if let Some(end) = &d.range_end {
                client.delete_range(range_to(key, arg(end)?)).await?
            } else {
                client.delete([key]).await?
            };
            Report::Deleted(deleted)
        }
        KvCommand::Cas(c) => Report::Cas(
            client
                .cas(arg(&c.key)?, arg(&c.expected)?, arg(&c.new)?)
                .await?,
        ),
        KvCommand::Status => Report::Status(client.status_all().await),
        KvCommand::Member {
            command: MemberCommand::List,
        } => Report::Members(members(client).await?),
        KvCommand::Ping => {
            let start = Instant::now();
            client.ping().await?;
            Report::Pong(start.elapsed())
        }
    };
    Ok(report)
}

async fn get(client: &Client, g: &GetArgs, hex: bool) -> Result<Report, CliError> {
    let key = arg_bytes(&g.key, hex)?;
    let range = if g.prefix {
        KeyRange::prefix(key)
    } else if let Some(end) = &g.range_end {
        range_to(key, arg_bytes(end, hex)?)
    } else {
        // Exactly one key: [key, key\0).
        let mut end = key.to_vec();
        end.push(0);
        KeyRange {
            start: key,
            end: Some(Bytes::from(end)),
        }
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
    let options = RangeOptions {
        limit: g.limit,
        view,
        consistency,
        ..RangeOptions::default()
    };
    let kvs = match client.range(range, options).await? {
        RangeReply::Count(n) => return Ok(Report::Count(n)),
        RangeReply::Revisions(kvs) => kvs,
        RangeReply::Keys(keys) => keys
            .into_iter()
            .map(|key| KeyValue {
                key,
                value: Bytes::new(),
                ..KeyValue::default()
            })
            .collect(),
        RangeReply::Pairs(_) => {
            return Err(Error::Protocol("pairs where revisions were asked for".into()).into())
        }
    };
    Ok(Report::Kvs {
        kvs,
        keys_only: g.keys_only,
        values_only: g.print_value_only,
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
