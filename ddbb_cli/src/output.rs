//! Rendering command results as `simple` lines, `json` or a `table`, binary-safely.
//!
//! - `simple` follows etcdctl: `get` prints the key and the value on lines of their own,
//!   `put` prints `OK` (then the previous key and value with `--prev-kv`), `del` the number
//!   deleted (then the deleted keys and values), `txn` `SUCCESS` or `FAILURE` then each
//!   request's result after a blank line, `compaction` `compacted revision N`, `alarm`
//!   `memberID:N alarm:NOSPACE ` lines, `status` one comma-separated line per endpoint,
//!   `lease` etcdctl's sentences (`lease 694d77aa9e38260f granted with TTL(10s)`). Values are written as they are when stdout is not a terminal (so
//!   `ddbb get k --print-value-only > file` round-trips any bytes); on a terminal, bytes that
//!   are not printable UTF-8 are shown escaped (`\xff`, `\n`).
//! - `json` is one compact line (a `txn` is etcd-shaped: `header.revision`, `succeeded`,
//!   `responses` of `response_put`/`response_range`/`response_delete_range`). Keys and
//!   values are strings; with `--hex`, or when a key
//!   or value is not valid UTF-8, that entry's key and value are hex and it carries
//!   `"hex": true`.
//! - `table` draws etcdctl-style boxes; cells are always escaped.
//!
//! `--hex` writes every key and value in lowercase hex in all formats.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::Duration;

use clap::ValueEnum;
use ddbb_libs::kv::{AlarmMember, EventKind, WatchResponse};
use ddbb_libs::{KeyValue, NodeId, StatusReply};
use serde_json::{json, Value};

use ddbb_client::{EndpointStatus, LeaseTimeToLive};

/// Output format, chosen with `-w`.
#[derive(ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// Plain lines, etcdctl-style.
    #[default]
    Simple,
    /// One JSON document per command.
    Json,
    /// An ASCII table.
    Table,
}

/// How to render: the format and how bytes are shown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Style {
    /// The format.
    pub format: Format,
    /// Keys and values in hex.
    pub hex: bool,
    /// Write values unescaped in the simple format (stdout is not a terminal).
    pub raw: bool,
}

/// One cluster member, as `member list` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// The replica id.
    pub id: NodeId,
    /// The client endpoint that answered as this replica, if any did.
    pub endpoint: Option<String>,
    /// True when that endpoint answered.
    pub up: bool,
    /// True when the replica is the leader.
    pub is_leader: bool,
}

/// The result of one command, ready to render.
#[derive(Clone, Debug)]
pub enum Report {
    /// `put`.
    Put {
        /// The revision of the write, or `None` when an `--if-revision` guard failed.
        revision: Option<u64>,
        /// The key before the write, with `--prev-kv` (none if it did not exist).
        prev_kv: Option<KeyValue>,
    },
    /// `get`: the keys read, in key order (values empty and revisions 0 with `keys_only`).
    Kvs {
        /// The keys.
        kvs: Vec<KeyValue>,
        /// Keys without values.
        keys_only: bool,
        /// Values without keys (simple format).
        values_only: bool,
    },
    /// `get --count-only`.
    Count(u64),
    /// `del`.
    Deleted {
        /// The number of keys deleted.
        deleted: u64,
        /// The deleted keys, with `--prev-kv`.
        prev_kvs: Vec<KeyValue>,
    },
    /// `txn`.
    Txn {
        /// Whether every compare held (the success requests ran).
        succeeded: bool,
        /// The store revision after the transaction.
        revision: i64,
        /// The result of each request that ran (`Put`, `Kvs`, `Count` or `Deleted`).
        responses: Vec<Report>,
    },
    /// `compaction`: the revision compacted at.
    Compacted(i64),
    /// `alarm list` (the alarms raised) or `alarm disarm` (the alarms cleared).
    Alarms(Vec<AlarmMember>),
    /// `cas`: whether the value was swapped.
    Cas(bool),
    /// `status`: every endpoint's answer.
    Status(Vec<EndpointStatus>),
    /// `member list`.
    Members(Vec<Member>),
    /// `ping`: how long the round trip took.
    Pong(Duration),
    /// `watch`: one response of the stream (events, or a progress notification).
    Watch(WatchResponse),
    /// `lease grant`: the lease and the TTL granted.
    LeaseGranted {
        /// The lease.
        id: i64,
        /// Its TTL, seconds.
        ttl: i64,
    },
    /// `lease revoke`.
    LeaseRevoked(i64),
    /// `lease keep-alive`: one renewal.
    LeaseKeptAlive {
        /// The lease.
        id: i64,
        /// The TTL it was renewed for.
        ttl: i64,
    },
    /// `lease timetolive`.
    LeaseTtl {
        /// What the cluster said.
        lease: LeaseTimeToLive,
        /// Whether the keys were asked for (and are shown).
        keys: bool,
    },
    /// `lease list`.
    Leases(Vec<i64>),
}

impl Report {
    /// Renders the report; may hold raw bytes (simple format, `raw` style).
    pub fn render(&self, style: Style) -> Vec<u8> {
        match style.format {
            Format::Simple => self.simple(style),
            Format::Json => {
                let mut line = self.json(style).to_string().into_bytes();
                line.push(b'\n');
                line
            }
            Format::Table => self.table(style).into_bytes(),
        }
    }

    /// Why the command counts as failed although the cluster answered (exit status 1).
    pub fn failure(&self) -> Option<String> {
        match self {
            Report::Put { revision: None, .. } => {
                Some("revision guard failed: the key was not written".into())
            }
            Report::Cas(false) => {
                Some("compare failed: the key does not hold the expected value".into())
            }
            Report::Status(all) if all.iter().all(|e| e.status.is_err()) => {
                let why = EndpointStatus::failures(all);
                Some(format!("no endpoint answered ({why})"))
            }
            Report::Members(m) if m.is_empty() => Some("no endpoint answered".into()),
            _ => None,
        }
    }

    fn simple(&self, style: Style) -> Vec<u8> {
        let mut out = Vec::new();
        let mut line = |text: &str| {
            out.extend_from_slice(text.as_bytes());
            out.push(b'\n');
        };
        match self {
            Report::Put {
                revision: Some(_),
                prev_kv,
            } => {
                line("OK");
                push_kvs(&mut out, prev_kv.iter(), false, false, style);
            }
            Report::Put { revision: None, .. } | Report::Cas(false) => {}
            Report::Kvs {
                kvs,
                keys_only,
                values_only,
            } => push_kvs(&mut out, kvs.iter(), *keys_only, *values_only, style),
            Report::Count(n) => line(&n.to_string()),
            Report::Deleted { deleted, prev_kvs } => {
                line(&deleted.to_string());
                push_kvs(&mut out, prev_kvs.iter(), false, false, style);
            }
            Report::Txn {
                succeeded,
                responses,
                ..
            } => {
                line(if *succeeded { "SUCCESS" } else { "FAILURE" });
                for r in responses {
                    out.push(b'\n');
                    out.extend(r.simple(style));
                }
            }
            Report::Compacted(rev) => line(&format!("compacted revision {rev}")),
            Report::Alarms(alarms) => {
                for a in alarms {
                    // etcd prints the protobuf text form, trailing space included.
                    line(&format!(
                        "memberID:{} alarm:{} ",
                        a.member_id,
                        a.alarm.name()
                    ));
                }
            }
            Report::Cas(true) => line("OK"),
            Report::Status(all) => {
                for row in status_rows(all) {
                    line(&row.join(", "));
                }
            }
            Report::Members(members) => {
                for row in member_rows(members) {
                    line(&row.join(", "));
                }
            }
            Report::Pong(_) => line("PONG"),
            Report::Watch(r) if r.events.is_empty() => {
                line(&format!("PROGRESS {}", r.revision));
            }
            Report::Watch(r) => {
                // etcdctl's order: the type, the previous kv if any, then the kv.
                for e in &r.events {
                    out.extend_from_slice(event_name(e.kind).as_bytes());
                    out.push(b'\n');
                    push_kvs(&mut out, e.prev_kv.iter(), false, false, style);
                    push_kvs(&mut out, std::iter::once(&e.kv), false, false, style);
                }
            }
            // etcdctl's texts, IDs as %016x.
            Report::LeaseGranted { id, ttl } => {
                line(&format!("lease {id:016x} granted with TTL({ttl}s)"))
            }
            Report::LeaseRevoked(id) => line(&format!("lease {id:016x} revoked")),
            Report::LeaseKeptAlive { id, ttl } => {
                line(&format!("lease {id:016x} keepalived with TTL({ttl})"))
            }
            Report::LeaseTtl { lease, keys } => {
                if lease.expired() {
                    line(&format!("lease {:016x} already expired", lease.id));
                } else {
                    let mut text = format!(
                        "lease {:016x} granted with TTL({}s), remaining({}s)",
                        lease.id, lease.granted_ttl, lease.ttl
                    );
                    if *keys {
                        // Go's %v of a []string: [a b c].
                        let names: Vec<String> = lease
                            .keys
                            .iter()
                            .map(|k| escaped(k, style.hex).into_owned())
                            .collect();
                        text.push_str(&format!(", attached keys([{}])", names.join(" ")));
                    }
                    line(&text);
                }
            }
            Report::Leases(ids) => {
                line(&format!("found {} leases", ids.len()));
                for id in ids {
                    line(&format!("{id:016x}"));
                }
            }
        }
        out
    }

    fn json(&self, style: Style) -> Value {
        match self {
            Report::Put { revision, prev_kv } => {
                let mut obj = json!({ "revision": revision });
                if let Some(kv) = prev_kv {
                    obj["prev_kv"] = kv_json(kv, false, style);
                }
                obj
            }
            Report::Kvs { kvs, keys_only, .. } => {
                let kvs: Vec<Value> = kvs
                    .iter()
                    .map(|kv| kv_json(kv, *keys_only, style))
                    .collect();
                json!({ "count": kvs.len(), "kvs": kvs })
            }
            Report::Count(n) => json!({ "count": n }),
            Report::Deleted { deleted, prev_kvs } => {
                let mut obj = json!({ "deleted": deleted });
                if !prev_kvs.is_empty() {
                    obj["prev_kvs"] = prev_kvs
                        .iter()
                        .map(|kv| kv_json(kv, false, style))
                        .collect();
                }
                obj
            }
            Report::Txn {
                succeeded,
                revision,
                responses,
            } => {
                let responses: Vec<Value> = responses
                    .iter()
                    .map(|r| {
                        let name = match r {
                            Report::Put { .. } => "response_put",
                            Report::Deleted { .. } => "response_delete_range",
                            _ => "response_range",
                        };
                        json!({ name: r.json(style) })
                    })
                    .collect();
                json!({
                    "header": { "revision": revision },
                    "succeeded": succeeded,
                    "responses": responses,
                })
            }
            Report::Compacted(rev) => json!({ "compacted_revision": rev }),
            Report::Alarms(alarms) => json!({
                "alarms": alarms
                    .iter()
                    .map(|a| json!({ "memberID": a.member_id, "alarm": a.alarm.name() }))
                    .collect::<Vec<_>>()
            }),
            Report::Cas(swapped) => json!({ "swapped": swapped }),
            Report::Status(all) => Value::Array(
                all.iter()
                    .map(|e| match &e.status {
                        Ok(s) => json!({ "endpoint": e.endpoint, "status": s }),
                        Err(err) => json!({ "endpoint": e.endpoint, "error": err.to_string() }),
                    })
                    .collect(),
            ),
            Report::Members(members) => json!({
                "members": members
                    .iter()
                    .map(|m| json!({
                        "id": m.id,
                        "status": if m.up { "up" } else { "unreachable" },
                        "endpoint": m.endpoint,
                        "is_leader": m.is_leader,
                    }))
                    .collect::<Vec<_>>()
            }),
            Report::Pong(took) => json!({ "pong": true, "micros": took.as_micros() as u64 }),
            Report::Watch(r) => json!({
                "header": { "revision": r.revision },
                "watch_id": r.watch_id,
                "events": r.events.iter().map(|e| {
                    let mut obj = json!({
                        "type": event_name(e.kind),
                        "kv": kv_json(&e.kv, false, style),
                    });
                    if let Some(prev) = &e.prev_kv {
                        obj["prev_kv"] = kv_json(prev, false, style);
                    }
                    obj
                }).collect::<Vec<_>>(),
                "compact_revision": r.compact_revision,
                "canceled": r.canceled,
            }),
            // etcd's field names (IDs in decimal, as etcdctl -w json prints them), without the
            // header: RESP replies carry none.
            Report::LeaseGranted { id, ttl } | Report::LeaseKeptAlive { id, ttl } => {
                json!({ "ID": id, "TTL": ttl })
            }
            Report::LeaseRevoked(id) => json!({ "ID": id, "revoked": true }),
            Report::LeaseTtl { lease, keys } => {
                let mut obj = json!({
                    "id": lease.id,
                    "ttl": lease.ttl,
                    "granted-ttl": lease.granted_ttl,
                });
                if *keys {
                    let utf8 =
                        !style.hex && lease.keys.iter().all(|k| std::str::from_utf8(k).is_ok());
                    obj["keys"] = lease
                        .keys
                        .iter()
                        .map(|k| match utf8 {
                            true => Value::String(String::from_utf8_lossy(k).into_owned()),
                            false => Value::String(hex(k)),
                        })
                        .collect();
                    if !utf8 {
                        obj["hex"] = Value::Bool(true);
                    }
                }
                obj
            }
            Report::Leases(ids) => json!({
                "leases": ids.iter().map(|id| json!({ "id": id })).collect::<Vec<_>>()
            }),
        }
    }

    /// One or more rendered tables (a `txn`: its outcome, then each request's table).
    fn table(&self, style: Style) -> String {
        let table = match self {
            Report::Put { revision, prev_kv } => {
                let rev = vec![revision.map_or("-".into(), |r| r.to_string())];
                let mut out = Table::new(&["REVISION"], vec![rev]).render();
                if let Some(kv) = prev_kv {
                    out.push_str(&kvs_table(std::slice::from_ref(kv), false, style).render());
                }
                return out;
            }
            Report::Kvs { kvs, keys_only, .. } => kvs_table(kvs, *keys_only, style),
            Report::Count(n) => Table::new(&["COUNT"], vec![vec![n.to_string()]]),
            Report::Deleted { deleted, prev_kvs } => {
                let mut out = Table::new(&["DELETED"], vec![vec![deleted.to_string()]]).render();
                if !prev_kvs.is_empty() {
                    out.push_str(&kvs_table(prev_kvs, false, style).render());
                }
                return out;
            }
            Report::Txn {
                succeeded,
                revision,
                responses,
            } => {
                let outcome = if *succeeded { "SUCCESS" } else { "FAILURE" };
                let mut out = Table::new(
                    &["RESULT", "REVISION", "RESPONSES"],
                    vec![vec![
                        outcome.to_string(),
                        revision.to_string(),
                        responses.len().to_string(),
                    ]],
                )
                .render();
                for r in responses {
                    out.push_str(&r.table(style));
                }
                return out;
            }
            Report::Compacted(rev) => {
                Table::new(&["COMPACTED REVISION"], vec![vec![rev.to_string()]])
            }
            Report::Alarms(alarms) => Table::new(
                &["MEMBER ID", "ALARM"],
                alarms
                    .iter()
                    .map(|a| vec![a.member_id.to_string(), a.alarm.name().to_string()])
                    .collect(),
            ),
            Report::Cas(s) => Table::new(&["SWAPPED"], vec![vec![s.to_string()]]),
            Report::Status(all) => Table::new(STATUS_HEADERS, status_rows(all)),
            Report::Members(m) => Table::new(MEMBER_HEADERS, member_rows(m)),
            Report::Pong(took) => Table::new(&["PONG"], vec![vec![format!("{took:.1?}")]]),
            Report::Watch(r) => {
                let cell = |b: &[u8]| escaped(b, style.hex).into_owned();
                let rows = r
                    .events
                    .iter()
                    .map(|e| {
                        vec![
                            event_name(e.kind).to_string(),
                            cell(&e.kv.key),
                            cell(&e.kv.value),
                            e.kv.mod_revision.to_string(),
                            e.prev_kv.as_ref().map_or(String::new(), |p| cell(&p.value)),
                        ]
                    })
                    .collect();
                Table::new(
                    &["TYPE", "KEY", "VALUE", "REVISION", "PREVIOUS VALUE"],
                    rows,
                )
            }
            Report::LeaseGranted { id, ttl } | Report::LeaseKeptAlive { id, ttl } => Table::new(
                &["ID", "TTL"],
                vec![vec![format!("{id:016x}"), ttl.to_string()]],
            ),
            Report::LeaseRevoked(id) => Table::new(&["REVOKED"], vec![vec![format!("{id:016x}")]]),
            Report::LeaseTtl { lease, keys } => {
                let mut headers = vec!["ID", "GRANTED TTL", "REMAINING"];
                let mut row = vec![
                    format!("{:016x}", lease.id),
                    lease.granted_ttl.to_string(),
                    lease.ttl.to_string(),
                ];
                if *keys {
                    headers.push("KEYS");
                    let names: Vec<String> = lease
                        .keys
                        .iter()
                        .map(|k| escaped(k, style.hex).into_owned())
                        .collect();
                    row.push(names.join(" "));
                }
                Table::new(&headers, vec![row])
            }
            Report::Leases(ids) => Table::new(
                &["ID"],
                ids.iter().map(|id| vec![format!("{id:016x}")]).collect(),
            ),
        };
        table.render()
    }
}

/// Key and value lines (etcdctl's `printKV`), keys only or values only.
fn push_kvs<'a>(
    out: &mut Vec<u8>,
    kvs: impl Iterator<Item = &'a KeyValue>,
    keys_only: bool,
    values_only: bool,
    style: Style,
) {
    for kv in kvs {
        if !values_only {
            push_bytes(out, &kv.key, style);
            out.push(b'\n');
        }
        if !keys_only {
            push_bytes(out, &kv.value, style);
            out.push(b'\n');
        }
    }
}

fn kvs_table(kvs: &[KeyValue], keys_only: bool, style: Style) -> Table {
    let cell = |b: &[u8]| escaped(b, style.hex).into_owned();
    if keys_only {
        let rows = kvs.iter().map(|kv| vec![cell(&kv.key)]).collect();
        return Table::new(&["KEY"], rows);
    }
    let rows = kvs
        .iter()
        .map(|kv| {
            vec![
                cell(&kv.key),
                cell(&kv.value),
                kv.create_revision.to_string(),
                kv.mod_revision.to_string(),
                kv.version.to_string(),
            ]
        })
        .collect();
    Table::new(
        &["KEY", "VALUE", "CREATE REVISION", "MOD REVISION", "VERSION"],
        rows,
    )
}

const STATUS_HEADERS: &[&str] = &[
    "ENDPOINT",
    "ID",
    "IS LEADER",
    "LEADER",
    "BALLOT",
    "REVISION",
    "DECIDED INDEX",
    "APPLIED INDEX",
    "WAL SIZE",
    "GRPC ADDRESS",
    "ERRORS",
];

fn status_rows(all: &[EndpointStatus]) -> Vec<Vec<String>> {
    all.iter()
        .map(|e| match &e.status {
            Ok(s) => status_row(&e.endpoint, s),
            Err(err) => {
                let mut row = vec![String::new(); STATUS_HEADERS.len()];
                row[0] = e.endpoint.clone();
                row[STATUS_HEADERS.len() - 1] = err.to_string();
                row
            }
        })
        .collect()
}

fn status_row(endpoint: &str, s: &StatusReply) -> Vec<String> {
    vec![
        endpoint.to_string(),
        s.id.to_string(),
        s.is_leader.to_string(),
        s.leader.to_string(),
        s.ballot.clone(),
        s.revision.to_string(),
        s.decided_index.to_string(),
        s.applied_index.to_string(),
        human_bytes(s.wal_bytes),
        if s.grpc_addr.is_empty() {
            "-".into()
        } else {
            s.grpc_addr.clone()
        },
        String::new(),
    ]
}

const MEMBER_HEADERS: &[&str] = &["ID", "STATUS", "ENDPOINT", "IS LEADER"];

fn member_rows(members: &[Member]) -> Vec<Vec<String>> {
    members
        .iter()
        .map(|m| {
            vec![
                m.id.to_string(),
                if m.up { "up" } else { "unreachable" }.to_string(),
                m.endpoint.clone().unwrap_or_else(|| "-".into()),
                m.is_leader.to_string(),
            ]
        })
        .collect()
}

fn event_name(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Put => "PUT",
        EventKind::Delete => "DELETE",
    }
}

fn kv_json(kv: &KeyValue, keys_only: bool, style: Style) -> Value {
    let utf8 = !style.hex
        && std::str::from_utf8(&kv.key).is_ok()
        && (keys_only || std::str::from_utf8(&kv.value).is_ok());
    let text = |b: &[u8]| {
        if utf8 {
            String::from_utf8_lossy(b).into_owned()
        } else {
            hex(b)
        }
    };
    let mut obj = json!({ "key": text(&kv.key) });
    if !keys_only {
        obj["value"] = json!(text(&kv.value));
        obj["create_revision"] = json!(kv.create_revision);
        obj["mod_revision"] = json!(kv.mod_revision);
        obj["version"] = json!(kv.version);
    }
    if !utf8 {
        obj["hex"] = json!(true);
    }
    obj
}

/// Appends `bytes` for the simple format: hex, raw, or escaped.
fn push_bytes(out: &mut Vec<u8>, bytes: &[u8], style: Style) {
    if style.raw && !style.hex {
        out.extend_from_slice(bytes);
    } else {
        out.extend_from_slice(escaped(bytes, style.hex).as_bytes());
    }
}

/// `bytes` as text that is safe on a terminal: hex, or printable UTF-8 as it is, or escaped.
pub fn escaped(bytes: &[u8], as_hex: bool) -> Cow<'_, str> {
    if as_hex {
        return Cow::Owned(hex(bytes));
    }
    match std::str::from_utf8(bytes) {
        Ok(s) if !s.chars().any(char::is_control) => Cow::Borrowed(s),
        Ok(s) => Cow::Owned(s.chars().flat_map(char::escape_default).collect()),
        Err(_) => Cow::Owned(bytes.escape_ascii().to_string()),
    }
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Decodes hex, ignoring whitespace.
pub fn unhex(text: &[u8]) -> Result<Vec<u8>, String> {
    let digits: Vec<u8> = text
        .iter()
        .copied()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    if !digits.len().is_multiple_of(2) {
        return Err("hex input has an odd number of digits".into());
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Ok(c - b'0'),
        b'a'..=b'f' => Ok(c - b'a' + 10),
        b'A'..=b'F' => Ok(c - b'A' + 10),
        _ => Err(format!("'{}' is not a hex digit", c.escape_ascii())),
    };
    digits
        .chunks(2)
        .map(|pair| Ok(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

/// `1234` → `1.2 kB`, etcdctl-style.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if n < 1000 {
        return format!("{n} B");
    }
    let mut value = n as f64;
    let mut unit = 0;
    value /= 1000.0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A table with etcdctl's look: boxed, centred headers, left-aligned cells.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers and rows (each as long as the headers).
    pub fn new(headers: &[&str], rows: Vec<Vec<String>>) -> Table {
        Table {
            headers: headers.iter().map(|h| h.to_string()).collect(),
            rows,
        }
    }

    /// The table as lines of text, each ending in a newline.
    pub fn render(&self) -> String {
        let width = |s: &str| s.chars().count();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let rule: String = widths.iter().fold(String::from("+"), |mut s, w| {
            s.push_str(&"-".repeat(w + 2));
            s.push('+');
            s
        });
        let mut out = String::new();
        let _ = writeln!(out, "{rule}");
        out.push('|');
        for (h, w) in self.headers.iter().zip(&widths) {
            let _ = write!(out, " {h:^w$} |");
        }
        let _ = writeln!(out, "\n{rule}");
        for row in &self.rows {
            out.push('|');
            for (cell, w) in row.iter().zip(&widths) {
                let pad = w - width(cell);
                let _ = write!(out, " {cell}{} |", " ".repeat(pad));
            }
            out.push('\n');
        }
        let _ = writeln!(out, "{rule}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddbb_client::Error;

    fn kv(key: &[u8], value: &[u8]) -> KeyValue {
        KeyValue {
            key: bytes::Bytes::copy_from_slice(key),
            value: bytes::Bytes::copy_from_slice(value),
            create_revision: 2,
            mod_revision: 3,
            version: 2,
            lease: 0,
        }
    }

    fn render(report: &Report, format: Format, hex: bool, raw: bool) -> String {
        let bytes = report.render(Style { format, hex, raw });
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[test]
    fn kvs_in_every_format() {
        let r = Report::Kvs {
            kvs: vec![kv(b"k", b"v")],
            keys_only: false,
            values_only: false,
        };
        assert_eq!(render(&r, Format::Simple, false, false), "k\nv\n");
        let json: Value = serde_json::from_str(&render(&r, Format::Json, false, false)).unwrap();
        assert_eq!(
            json,
            json!({"count": 1, "kvs": [{"key": "k", "value": "v", "create_revision": 2,
                   "mod_revision": 3, "version": 2}]})
        );
        let table = render(&r, Format::Table, false, false);
        assert!(table.contains("| KEY | VALUE | CREATE REVISION | MOD REVISION | VERSION |"));
        assert!(table.contains("| k   | v     | 2               | 3            | 2       |"));
    }

    #[test]
    fn binary_values_are_safe_unless_raw() {
        let r = Report::Kvs {
            kvs: vec![kv(b"k", b"\xff\x00a")],
            keys_only: false,
            values_only: true,
        };
        assert_eq!(r.render(Style::default()), b"\\xff\\x00a\n");
        let raw = Style {
            raw: true,
            ..Style::default()
        };
        assert_eq!(r.render(raw), b"\xff\x00a\n");
        assert_eq!(render(&r, Format::Simple, true, true), "ff0061\n");
        let json = render(&r, Format::Json, false, false);
        assert!(
            json.contains("\"key\":\"6b\"") && json.contains("\"hex\":true"),
            "{json}"
        );
        assert_eq!(escaped("tab\there".as_bytes(), false), "tab\\there");
        assert_eq!(escaped("ünïcode".as_bytes(), false), "ünïcode");
    }

    #[test]
    fn hex_roundtrips() {
        assert_eq!(hex(b"\x00\xffA"), "00ff41");
        assert_eq!(unhex(b"00ff41\n").unwrap(), b"\x00\xffA");
        assert_eq!(unhex(b"0 0F F").unwrap(), b"\x00\xff");
        assert!(unhex(b"abc").is_err());
        assert!(unhex(b"zz").is_err());
    }

    #[test]
    fn status_rows_show_errors_per_endpoint() {
        let ok = StatusReply {
            id: 1,
            leader: 1,
            is_leader: true,
            ballot: "2.0.1".into(),
            revision: 5,
            wal_bytes: 2500,
            grpc_addr: "127.0.0.1:2379".into(),
            ..StatusReply::default()
        };
        let r = Report::Status(vec![
            EndpointStatus {
                endpoint: "a:1".into(),
                status: Ok(ok),
            },
            EndpointStatus {
                endpoint: "b:2".into(),
                status: Err(Error::Unavailable("refused".into())),
            },
        ]);
        let simple = render(&r, Format::Simple, false, false);
        assert_eq!(
            simple,
            "a:1, 1, true, 1, 2.0.1, 5, 0, 0, 2.5 kB, 127.0.0.1:2379, \nb:2, , , , , , , , , , unavailable: refused\n"
        );
        assert!(r.failure().is_none());
        let json = render(&r, Format::Json, false, false);
        assert!(
            json.contains("\"error\":\"unavailable: refused\""),
            "{json}"
        );
        assert!(render(&r, Format::Table, false, false).contains("| unavailable: refused |"));
    }

    #[test]
    fn failures_for_exit_status() {
        assert!(Report::Cas(false).failure().is_some());
        assert!(Report::Cas(true).failure().is_none());
        let put = |revision| Report::Put {
            revision,
            prev_kv: None,
        };
        assert!(put(None).failure().is_some());
        assert!(put(Some(3)).failure().is_none());
        assert!(Report::Status(vec![]).failure().is_some());
    }

    #[test]
    fn txn_prev_kvs_compaction_and_alarms() {
        let txn = Report::Txn {
            succeeded: true,
            revision: 7,
            responses: vec![
                Report::Put {
                    revision: Some(7),
                    prev_kv: Some(kv(b"k", b"old")),
                },
                Report::Kvs {
                    kvs: vec![kv(b"k", b"new")],
                    keys_only: false,
                    values_only: false,
                },
                Report::Deleted {
                    deleted: 0,
                    prev_kvs: vec![],
                },
                Report::Kvs {
                    kvs: vec![],
                    keys_only: false,
                    values_only: false,
                },
            ],
        };
        assert_eq!(
            render(&txn, Format::Simple, false, false),
            "SUCCESS\n\nOK\nk\nold\n\nk\nnew\n\n0\n\n"
        );
        let json: Value = serde_json::from_str(&render(&txn, Format::Json, false, false)).unwrap();
        assert_eq!(json["header"]["revision"], 7);
        assert_eq!(json["succeeded"], true);
        assert_eq!(
            json["responses"][0]["response_put"]["prev_kv"]["value"],
            "old"
        );
        assert_eq!(
            json["responses"][1]["response_range"]["kvs"][0]["value"],
            "new"
        );
        assert_eq!(json["responses"][2]["response_delete_range"]["deleted"], 0);
        let table = render(&txn, Format::Table, false, false);
        assert!(
            table.contains("| SUCCESS | 7        | 4         |"),
            "{table}"
        );
        assert!(txn.failure().is_none());

        let del = Report::Deleted {
            deleted: 1,
            prev_kvs: vec![kv(b"k", b"v")],
        };
        assert_eq!(render(&del, Format::Simple, false, false), "1\nk\nv\n");
        assert_eq!(
            render(&Report::Compacted(5), Format::Simple, false, false),
            "compacted revision 5\n"
        );
        let alarms = Report::Alarms(vec![AlarmMember {
            member_id: 2,
            alarm: ddbb_libs::kv::AlarmType::NoSpace,
        }]);
        assert_eq!(
            render(&alarms, Format::Simple, false, false),
            "memberID:2 alarm:NOSPACE \n"
        );
        assert_eq!(
            render(&alarms, Format::Json, false, false),
            "{\"alarms\":[{\"alarm\":\"NOSPACE\",\"memberID\":2}]}\n"
        );
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(25_000), "25.0 kB");
        assert_eq!(human_bytes(3_400_000), "3.4 MB");
    }
}
