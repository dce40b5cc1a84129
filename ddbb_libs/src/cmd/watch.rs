//! `WATCHKV`, `UNWATCHKV`, `WATCHPROGRESS`: etcd's watch over RESP, and the push frames that
//! carry its responses.
//!
//! Redis' `WATCH` is optimistic locking, so the watch command is `WATCHKV`. Like Redis'
//! `SUBSCRIBE`, the first `WATCHKV` turns the connection into a watch stream: from then on the
//! server pushes responses as they come, and the connection accepts only `WATCHKV`,
//! `UNWATCHKV`, `WATCHPROGRESS`, `PING` and `QUIT`.

use bytes::Bytes;

use super::args::keyword;
use super::Args;
use crate::error::{Error, Result};
use crate::frame::Frame;
use crate::kv::{prefix_end, Event, EventKind, KeyValue, WatchCreateRequest, WatchResponse};

/// Creates a watch on this connection.
///
/// # Format
/// `WATCHKV key [END end | PREFIX] [REV start] [PREVKV] [NOPUT] [NODELETE] [PROGRESS]
/// [FRAGMENT] [ID id]`: `END` as a range end (`END \0`: every key `>= key`), `PREFIX` every key
/// starting with `key`, `REV` the first revision to report (default: the next change),
/// `PROGRESS` periodic progress pushes, `ID` a watch id of the client's choice. Replies with a
/// push (see [`render_watch_response`]): `created`, or `refused` with etcd's reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchKv(pub WatchCreateRequest);

impl WatchKv {
    pub(crate) fn parse(args: &mut Args) -> Result<WatchKv> {
        if args.remaining() == 0 {
            return Err(args.arity_error());
        }
        let mut req = WatchCreateRequest {
            key: args.next_bytes()?,
            ..WatchCreateRequest::default()
        };
        while args.remaining() > 0 {
            match keyword(&args.next_bytes()?).as_str() {
                "END" => req.range_end = args.next_bytes()?,
                "PREFIX" => req.range_end = prefix_end(&req.key),
                "REV" => req.start_revision = args.next_i64()?,
                "PREVKV" => req.prev_kv = true,
                "NOPUT" => req.no_put = true,
                "NODELETE" => req.no_delete = true,
                "PROGRESS" => req.progress_notify = true,
                "FRAGMENT" => req.fragment = true,
                "ID" => req.watch_id = args.next_i64()?,
                _ => return Err(Error::invalid("syntax error")),
            }
        }
        Ok(WatchKv(req))
    }

    pub(crate) fn words(&self) -> Vec<Bytes> {
        let r = &self.0;
        let mut w = vec![Bytes::from_static(b"WATCHKV"), r.key.clone()];
        if !r.range_end.is_empty() {
            w.push(Bytes::from_static(b"END"));
            w.push(r.range_end.clone());
        }
        if r.start_revision != 0 {
            w.push(Bytes::from_static(b"REV"));
            w.push(Bytes::from(r.start_revision.to_string()));
        }
        let flags: [(bool, &'static [u8]); 5] = [
            (r.prev_kv, b"PREVKV"),
            (r.no_put, b"NOPUT"),
            (r.no_delete, b"NODELETE"),
            (r.progress_notify, b"PROGRESS"),
            (r.fragment, b"FRAGMENT"),
        ];
        w.extend(
            flags
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, f)| Bytes::from_static(f)),
        );
        if r.watch_id != 0 {
            w.push(Bytes::from_static(b"ID"));
            w.push(Bytes::from(r.watch_id.to_string()));
        }
        w
    }
}

/// `UNWATCHKV id`: cancels a watch of this connection (pushes `canceled`; nothing if there is
/// no such watch, as etcd).
pub(crate) fn parse_unwatch(args: &mut Args) -> Result<i64> {
    if args.remaining() != 1 {
        return Err(args.arity_error());
    }
    args.next_i64()
}

/// A watch push: `["watch", kind, watch_id, revision, compact_revision, cancel_reason,
/// fragment, events]`, `kind` one of `created`, `refused` (created and cancelled at once),
/// `canceled`, `events`, `progress`; each event `[PUT|DELETE, kv, prev_kv or nil]` with kvs as
/// [`KeyValue::to_frame`].
pub fn render_watch_response(r: &WatchResponse) -> Frame {
    let kind = match (r.created, r.canceled) {
        (true, true) => "refused",
        (true, false) => "created",
        (false, true) => "canceled",
        _ if r.events.is_empty() => "progress",
        _ => "events",
    };
    let events = r.events.iter().map(render_event).collect();
    Frame::Array(vec![
        Frame::Bulk(Bytes::from_static(b"watch")),
        Frame::Bulk(Bytes::from_static(kind.as_bytes())),
        Frame::Integer(r.watch_id),
        Frame::Integer(r.revision),
        Frame::Integer(r.compact_revision),
        Frame::Bulk(Bytes::from(r.cancel_reason.clone())),
        Frame::Integer(i64::from(r.fragment)),
        Frame::Array(events),
    ])
}

fn render_event(e: &Event) -> Frame {
    let kind: &'static [u8] = match e.kind {
        EventKind::Put => b"PUT",
        EventKind::Delete => b"DELETE",
    };
    Frame::Array(vec![
        Frame::Bulk(Bytes::from_static(kind)),
        e.kv.to_frame(),
        e.prev_kv.as_ref().map_or(Frame::Null, KeyValue::to_frame),
    ])
}

/// Reads a push [`render_watch_response`] wrote (an error reply is an `Err` with its text).
pub fn parse_watch_response(frame: Frame) -> Result<WatchResponse> {
    let bad = || Error::invalid("malformed watch push");
    let items = match frame {
        Frame::Array(items) if items.len() == 8 => items,
        Frame::Error(e) => return Err(Error::invalid(e)),
        _ => return Err(bad()),
    };
    let mut it = items.into_iter();
    let mut next = || it.next().ok_or_else(bad);
    let bulk = |f: Frame| match f {
        Frame::Bulk(b) => Ok(b),
        _ => Err(bad()),
    };
    let int = |f: Frame| match f {
        Frame::Integer(n) => Ok(n),
        _ => Err(bad()),
    };
    if bulk(next()?)? != "watch" {
        return Err(bad());
    }
    let kind = bulk(next()?)?;
    let (created, canceled) = match &kind[..] {
        b"refused" => (true, true),
        b"created" => (true, false),
        b"canceled" => (false, true),
        b"events" | b"progress" => (false, false),
        _ => return Err(bad()),
    };
    let watch_id = int(next()?)?;
    let revision = int(next()?)?;
    let compact_revision = int(next()?)?;
    let cancel_reason = String::from_utf8_lossy(&bulk(next()?)?).into_owned();
    let fragment = int(next()?)? != 0;
    let Frame::Array(events) = next()? else {
        return Err(bad());
    };
    Ok(WatchResponse {
        watch_id,
        revision,
        created,
        canceled,
        compact_revision,
        cancel_reason,
        events: events.into_iter().map(parse_event).collect::<Result<_>>()?,
        fragment,
    })
}

fn parse_event(frame: Frame) -> Result<Event> {
    let bad = || Error::invalid("malformed watch event");
    let Frame::Array(items) = frame else {
        return Err(bad());
    };
    let mut it = items.into_iter();
    let kind = match it.next() {
        Some(Frame::Bulk(b)) if &b[..] == b"PUT" => EventKind::Put,
        Some(Frame::Bulk(b)) if &b[..] == b"DELETE" => EventKind::Delete,
        _ => return Err(bad()),
    };
    let kv = KeyValue::from_frame(it.next().ok_or_else(bad)?)?;
    let prev_kv = match it.next() {
        Some(Frame::Null) => None,
        Some(f) => Some(KeyValue::from_frame(f)?),
        None => return Err(bad()),
    };
    Ok(Event { kind, kv, prev_kv })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Command;

    #[test]
    fn watchkv_round_trips_through_words() {
        let words = [
            "WATCHKV", "k", "PREFIX", "REV", "7", "PREVKV", "NODELETE", "ID", "3",
        ];
        let frame = Frame::command(words.iter().map(|w| Bytes::from(w.to_string())));
        let Command::WatchKv(w) = Command::from_frame(frame).unwrap() else {
            panic!("not a WATCHKV");
        };
        assert_eq!(&w.0.range_end[..], b"l");
        assert_eq!((w.0.start_revision, w.0.watch_id), (7, 3));
        assert!(w.0.prev_kv && w.0.no_delete && !w.0.no_put);
        let again = Command::from_frame(Frame::command(w.words())).unwrap();
        assert_eq!(again, Command::WatchKv(w));
    }

    #[test]
    fn pushes_round_trip() {
        let kv = KeyValue {
            key: Bytes::from_static(b"k"),
            value: Bytes::from_static(b"v"),
            create_revision: 2,
            mod_revision: 3,
            version: 2,
            lease: 0,
        };
        let responses = [
            WatchResponse {
                created: true,
                ..WatchResponse::new(0, 5)
            },
            WatchResponse {
                created: true,
                canceled: true,
                cancel_reason: "mvcc: watcher range is empty".into(),
                ..WatchResponse::new(-1, 5)
            },
            WatchResponse {
                events: vec![
                    Event {
                        kind: EventKind::Put,
                        kv: kv.clone(),
                        prev_kv: None,
                    },
                    Event {
                        kind: EventKind::Delete,
                        kv: KeyValue {
                            key: kv.key.clone(),
                            mod_revision: 4,
                            ..KeyValue::default()
                        },
                        prev_kv: Some(kv),
                    },
                ],
                fragment: true,
                ..WatchResponse::new(1, 4)
            },
            WatchResponse {
                canceled: true,
                compact_revision: 3,
                ..WatchResponse::new(2, 9)
            },
            WatchResponse::new(-1, 9),
        ];
        for r in responses {
            assert_eq!(parse_watch_response(render_watch_response(&r)).unwrap(), r);
        }
        assert!(parse_watch_response(Frame::Array(vec![])).is_err());
    }
}
