//! The commands that hold a lease until interrupted: `lock`, `elect` and
//! `lease keep-alive`.
//!
//! `lock` and `elect` follow etcd's recipes (clientv3/concurrency): a session is a lease kept
//! alive by this process ([`KeepAlive`]); a candidate queues as the key `NAME/<lease ID in
//! hex>`, written with the lease by a `TXN` that requires the key to be new (create revision
//! 0); the key with the lowest create revision under `NAME/` holds the lock (leads). A waiting
//! candidate watches only its predecessor, the key with the largest create revision below its
//! own, until that key is deleted, then looks again; so a release wakes one waiter. Releasing
//! is revoking the lease, which deletes the key; a holder that dies releases when its lease
//! expires. Reads that a watch continues from are `TXN`s with a `RANGE`, whose reply gives
//! the revision read at (etcd's response header).

use std::future::Future;
use std::pin::Pin;

use bytes::{Bytes, BytesMut};
use ddbb_client::{Client, Error, KeepAlive, KeyRange, RangeView, WatchCreateRequest};
use ddbb_libs::cmd::{parse_kvs, Put, PutReply, Range, Txn};
use ddbb_libs::kv::{
    Compare, CompareResult, CompareTarget, EventKind, SortOrder, SortTarget, TargetUnion,
};
use ddbb_libs::{Command, Consistency, KeyValue};

use super::args::{ElectArgs, KvCommand, LeaseCommand, LockArgs};
use super::exec::{arg_bytes, single_key};
use super::{write_stdout, CliError};
use crate::output::{Format, Report, Style};

/// True for the commands [`stream`] runs.
pub fn is_stream(command: &KvCommand) -> bool {
    matches!(
        command,
        KvCommand::Lock(_)
            | KvCommand::Elect(_)
            | KvCommand::Lease {
                command: LeaseCommand::KeepAlive { once: false, .. }
            }
    )
}

/// Runs `lock`, `elect` or `lease keep-alive` until it ends or `interrupted` completes (then
/// the lock is released, the leadership given up); returns the exit status: 0, or the status
/// of `lock`'s command.
pub async fn stream(
    client: &Client,
    command: &KvCommand,
    style: Style,
    interrupted: impl Future<Output = ()>,
) -> Result<u8, CliError> {
    match command {
        KvCommand::Lock(args) => lock(client, args, style, interrupted).await,
        KvCommand::Elect(args) if args.listen => {
            observe(client, args, style, interrupted).await.map(|()| 0)
        }
        KvCommand::Elect(args) => campaign(client, args, style, interrupted).await.map(|()| 0),
        KvCommand::Lease {
            command: LeaseCommand::KeepAlive { id, .. },
        } => keep_alive(client, *id, style, interrupted)
            .await
            .map(|()| 0),
        _ => Err(CliError::Usage("not a lock, elect or keep-alive".into())),
    }
}

/// SIGINT or SIGTERM (etcdctl's signals for releasing), listened for from now on.
pub fn interrupt_signals() -> Result<impl Future<Output = ()>, CliError> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        Ok(async move {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    Ok(async {
        let _ = tokio::signal::ctrl_c().await;
    })
}

/// A lease kept alive by this process.
struct Session {
    client: Client,
    id: i64,
    keep: KeepAlive,
}

impl Session {
    async fn start(client: &Client, ttl: i64) -> Result<Session, CliError> {
        let (id, ttl) = client.lease_grant(ttl, 0).await?;
        Ok(Session {
            client: client.clone(),
            id,
            keep: client.keep_alive(id, ttl),
        })
    }

    /// `NAME/<lease ID>`: this session's key in a queue.
    fn key(&self, prefix: &[u8]) -> Bytes {
        let mut key = BytesMut::from(prefix);
        key.extend_from_slice(format!("{:x}", self.id).as_bytes());
        key.freeze()
    }

    /// Revokes the lease (deleting the session's keys); a lease already gone is fine.
    async fn close(self) -> Result<(), CliError> {
        let Session { client, id, keep } = self;
        drop(keep);
        match client.lease_revoke(id).await {
            Err(Error::Server(msg)) if msg.ends_with("requested lease not found") => Ok(()),
            other => Ok(other?),
        }
    }
}

/// `NAME/`: the prefix under which a lock's or an election's candidates queue.
fn queue_prefix(name: &[u8]) -> Bytes {
    let mut prefix = BytesMut::from(name);
    prefix.extend_from_slice(b"/");
    prefix.freeze()
}

/// Writes `key` = `value` with `lease` unless it exists (`IF CREATE key = 0`); returns its
/// create revision, which orders the queue.
async fn enqueue(client: &Client, key: &Bytes, value: Bytes, lease: i64) -> Result<i64, CliError> {
    let txn = Txn {
        compare: vec![Compare {
            result: CompareResult::Equal,
            target: CompareTarget::Create,
            key: key.clone(),
            range_end: Bytes::new(),
            target_union: Some(TargetUnion::CreateRevision(0)),
        }],
        success: vec![Command::Put(Put {
            key: key.clone(),
            value,
            if_revision: None,
            lease,
            expire_ms: None,
            prev_kv: false,
            request: None,
            reply: PutReply::Revision,
        })],
        failure: vec![Command::Range(range(single_key(key.clone()), None))],
        request: None,
    };
    let reply = client.txn(txn).await?;
    if reply.succeeded {
        return Ok(reply.revision);
    }
    // A retry found our own key (the write had applied): read its create revision.
    let kvs = match reply.replies.into_iter().next() {
        Some(frame) => parse_kvs(frame).map_err(protocol)?,
        None => return Err(protocol("TXN reply without the RANGE")),
    };
    kvs.first()
        .map(|kv| kv.create_revision)
        .ok_or_else(|| protocol("queue key neither created nor found"))
}

/// A `RANGE ... REVS` of `keys`, sorted as asked.
fn range(keys: KeyRange, sort: Option<(SortTarget, SortOrder)>) -> Range {
    Range {
        range: keys,
        limit: None,
        view: RangeView::WithRevisions,
        revision: 0,
        sort,
        filters: [0; 4],
        consistency: Consistency::Linearizable,
    }
}

/// Reads `range` linearizably inside a `TXN`, for the revision it was read at.
async fn read_at(client: &Client, range: Range) -> Result<(i64, Vec<KeyValue>), CliError> {
    let txn = Txn {
        compare: Vec::new(),
        success: vec![Command::Range(range)],
        failure: Vec::new(),
        request: None,
    };
    let reply = client.txn(txn).await?;
    match (reply.succeeded, <[_; 1]>::try_from(reply.replies)) {
        (true, Ok([frame])) => Ok((reply.revision, parse_kvs(frame).map_err(protocol)?)),
        _ => Err(protocol("a read-only TXN did not answer its one RANGE")),
    }
}

/// The oldest candidate under `prefix` (the holder, the leader), and the revision read at.
async fn first_created(
    client: &Client,
    prefix: &Bytes,
) -> Result<(i64, Option<KeyValue>), CliError> {
    let mut r = range(
        KeyRange::prefix(prefix.clone()),
        Some((SortTarget::Create, SortOrder::Ascend)),
    );
    r.limit = Some(1);
    let (rev, kvs) = read_at(client, r).await?;
    Ok((rev, kvs.into_iter().next()))
}

/// Waits until no key under `prefix` was created before revision `mine`: each time, watch the
/// youngest older key (the predecessor) until it is deleted, then look again.
async fn wait_for_turn(client: &Client, prefix: &Bytes, mine: i64) -> Result<(), CliError> {
    loop {
        let mut r = range(
            KeyRange::prefix(prefix.clone()),
            Some((SortTarget::Create, SortOrder::Descend)),
        );
        r.limit = Some(1);
        r.filters[3] = mine - 1; // MAXCREATE
        let (rev, kvs) = read_at(client, r).await?;
        let Some(predecessor) = kvs.into_iter().next() else {
            return Ok(());
        };
        wait_delete(client, predecessor.key, rev + 1).await?;
    }
}

/// Returns once `key` has a DELETE event at or after revision `from` (or the history there
/// was compacted: the caller looks again).
async fn wait_delete(client: &Client, key: Bytes, from: i64) -> Result<(), CliError> {
    let mut watcher = client.watch(WatchCreateRequest {
        key,
        start_revision: from,
        ..WatchCreateRequest::default()
    });
    while let Some(response) = watcher.next().await {
        let response = response?;
        let deleted = response.events.iter().any(|e| e.kind == EventKind::Delete);
        if deleted || response.canceled {
            return Ok(());
        }
    }
    Err(protocol("the watch ended without an answer"))
}

/// Prints `kv` as `get` prints it (etcdctl's lock and elect print the key that way).
fn print_kv(kv: KeyValue, style: Style) -> Result<(), CliError> {
    let report = Report::Kvs {
        kvs: vec![kv],
        keys_only: false,
        values_only: false,
    };
    write_stdout(&report.render(style))
}

/// Reads our own key back after acquiring (etcdctl prints it so).
async fn own_kv(client: &Client, key: &Bytes) -> Result<KeyValue, CliError> {
    let (_, kvs) = read_at(client, range(single_key(key.clone()), None)).await?;
    kvs.into_iter()
        .next()
        .ok_or_else(|| Error::Server("lock lost on init".into()).into())
}

/// Queues `key` = `value` with `lease` under `prefix` and waits for the head of the queue;
/// returns the key's create revision.
async fn acquire(
    client: &Client,
    prefix: &Bytes,
    key: &Bytes,
    value: Bytes,
    lease: i64,
) -> Result<i64, CliError> {
    let mine = enqueue(client, key, value, lease).await?;
    wait_for_turn(client, prefix, mine).await?;
    Ok(mine)
}

/// How waiting for the queue ended.
enum Turn {
    Ours(i64),
    Interrupted,
}

/// A session at the head of a queue.
struct Head {
    session: Session,
    key: Bytes,
    create_revision: i64,
}

/// Starts a session of `ttl` seconds and queues `value` under `prefix` until it is the head
/// of the queue. Interrupted (the error names `waiting_for`) or failed, it closes the session.
async fn queue_up(
    client: &Client,
    prefix: &Bytes,
    value: Bytes,
    ttl: i64,
    mut interrupted: Pin<&mut impl Future<Output = ()>>,
    expired: fn(Error) -> CliError,
    waiting_for: &'static str,
) -> Result<Head, CliError> {
    let mut session = Session::start(client, ttl).await?;
    let key = session.key(prefix);
    let turn = tokio::select! {
        r = acquire(client, prefix, &key, value, session.id) => r.map(Turn::Ours),
        _ = &mut interrupted => Ok(Turn::Interrupted),
        e = session.keep.lost() => Err(expired(e)),
    };
    match turn {
        Ok(Turn::Ours(create_revision)) => Ok(Head {
            session,
            key,
            create_revision,
        }),
        Ok(Turn::Interrupted) => {
            session.close().await?;
            Err(CliError::Interrupted(waiting_for))
        }
        Err(e) => {
            let _ = session.close().await;
            Err(e)
        }
    }
}

/// Prints the head's key and value as etcdctl does, then holds until interrupted (closing the
/// session) or until the lease is lost.
async fn hold(
    client: &Client,
    head: Head,
    style: Style,
    mut interrupted: Pin<&mut impl Future<Output = ()>>,
    expired: fn(Error) -> CliError,
) -> Result<(), CliError> {
    let Head {
        mut session, key, ..
    } = head;
    print_kv(own_kv(client, &key).await?, style)?;
    tokio::select! {
        _ = &mut interrupted => session.close().await,
        e = session.keep.lost() => Err(expired(e)),
    }
}

/// `ddbb lock NAME [COMMAND...]`.
async fn lock(
    client: &Client,
    args: &LockArgs,
    style: Style,
    interrupted: impl Future<Output = ()>,
) -> Result<u8, CliError> {
    let prefix = queue_prefix(&arg_bytes(&args.name, style.hex)?);
    let mut interrupted = std::pin::pin!(interrupted);
    let waiting = "the lock was acquired";
    let head = queue_up(
        client,
        &prefix,
        Bytes::new(),
        args.ttl,
        interrupted.as_mut(),
        session_expired,
        waiting,
    )
    .await?;
    if args.command.is_empty() {
        return hold(client, head, style, interrupted, session_expired)
            .await
            .map(|()| 0);
    }
    let Head {
        mut session,
        key,
        create_revision,
    } = head;
    let status = run_locked(&args.command, &key, create_revision, &mut session).await;
    let closed = session.close().await;
    let status = status?;
    closed?;
    Ok(status)
}

/// Runs `command` with `ETCD_LOCK_KEY` and `ETCD_LOCK_REV` set; kills it if the lock is lost.
/// Interrupts are not ours to act on meanwhile: a terminal's Ctrl-C reaches the command too,
/// and the lock is released when it exits.
async fn run_locked(
    command: &[std::ffi::OsString],
    key: &Bytes,
    rev: i64,
    session: &mut Session,
) -> Result<u8, CliError> {
    let mut child = tokio::process::Command::new(&command[0])
        .args(&command[1..])
        .env("ETCD_LOCK_KEY", os_str(key))
        .env("ETCD_LOCK_REV", rev.to_string())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            CliError::Usage(format!("cannot run {}: {e}", command[0].to_string_lossy()))
        })?;
    tokio::select! {
        status = child.wait() => Ok(exit_status(status?)),
        e = session.keep.lost() => {
            let _ = child.kill().await;
            Err(CliError::Failed { context: "lock lost, command killed", source: e })
        }
    }
}

/// A child's exit status as ours: its code, or 128 + the signal that ended it.
fn exit_status(status: std::process::ExitStatus) -> u8 {
    #[cfg(unix)]
    if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&status) {
        return u8::try_from(128 + signal).unwrap_or(255);
    }
    status
        .code()
        .map_or(1, |c| u8::try_from(c & 0xff).unwrap_or(1))
}

fn os_str(bytes: &[u8]) -> std::ffi::OsString {
    #[cfg(unix)]
    return <std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(bytes).to_os_string();
    #[cfg(not(unix))]
    String::from_utf8_lossy(bytes).into_owned().into()
}

/// `ddbb elect NAME PROPOSAL`: campaign, print the leader key and proposal, hold until
/// interrupted (then resign).
async fn campaign(
    client: &Client,
    args: &ElectArgs,
    style: Style,
    interrupted: impl Future<Output = ()>,
) -> Result<(), CliError> {
    let prefix = queue_prefix(&arg_bytes(&args.name, style.hex)?);
    let Some(proposal) = &args.proposal else {
        return Err(CliError::Usage(
            "no proposal argument but -l not set".into(),
        ));
    };
    let proposal = arg_bytes(proposal, style.hex)?;
    let mut interrupted = std::pin::pin!(interrupted);
    let waiting = "this candidate was elected";
    let head = queue_up(
        client,
        &prefix,
        proposal,
        args.ttl,
        interrupted.as_mut(),
        elect_expired,
        waiting,
    )
    .await?;
    hold(client, head, style, interrupted, elect_expired).await
}

/// `ddbb elect -l NAME`: print the leader, then each new leader (and each new proposal of
/// the current one), until interrupted.
async fn observe(
    client: &Client,
    args: &ElectArgs,
    style: Style,
    interrupted: impl Future<Output = ()>,
) -> Result<(), CliError> {
    let prefix = queue_prefix(&arg_bytes(&args.name, style.hex)?);
    tokio::select! {
        r = follow_leaders(client, &prefix, style) => r,
        _ = interrupted => Ok(()),
    }
}

async fn follow_leaders(client: &Client, prefix: &Bytes, style: Style) -> Result<(), CliError> {
    loop {
        let (rev, leader) = first_created(client, prefix).await?;
        let leader = match leader {
            Some(kv) => kv,
            None => match first_put(client, prefix, rev + 1).await? {
                Some(kv) => kv,
                None => continue, // the history was compacted: look again
            },
        };
        print_kv(leader.clone(), style)?;
        // Follow the leader's key: a new proposal is printed; its deletion ends its term.
        let mut watcher = client.watch(WatchCreateRequest {
            key: leader.key.clone(),
            start_revision: leader.mod_revision + 1,
            ..WatchCreateRequest::default()
        });
        'term: while let Some(response) = watcher.next().await {
            let response = response?;
            for e in &response.events {
                match e.kind {
                    EventKind::Put => print_kv(e.kv.clone(), style)?,
                    EventKind::Delete => break 'term,
                }
            }
            if response.canceled {
                break;
            }
        }
    }
}

/// The first key put under `prefix` at or after revision `from` (`None`: compacted).
async fn first_put(
    client: &Client,
    prefix: &Bytes,
    from: i64,
) -> Result<Option<KeyValue>, CliError> {
    let mut watcher = client.watch(WatchCreateRequest {
        key: prefix.clone(),
        range_end: ddbb_libs::kv::prefix_end(prefix),
        start_revision: from,
        ..WatchCreateRequest::default()
    });
    while let Some(response) = watcher.next().await {
        let response = response?;
        if let Some(e) = response.events.iter().find(|e| e.kind == EventKind::Put) {
            return Ok(Some(e.kv.clone()));
        }
        if response.canceled {
            return Ok(None);
        }
    }
    Err(protocol("the watch ended without an answer"))
}

/// `ddbb lease keep-alive ID`: renew now and every third of the TTL, printing each renewal,
/// until interrupted or the lease is gone (then etcdctl's `lease ... expired or revoked.`).
async fn keep_alive(
    client: &Client,
    id: i64,
    style: Style,
    interrupted: impl Future<Output = ()>,
) -> Result<(), CliError> {
    let print = |ttl| write_stdout(&Report::LeaseKeptAlive { id, ttl }.render(style));
    let gone = || match style.format {
        Format::Simple => write_stdout(format!("lease {id:016x} expired or revoked.\n").as_bytes()),
        _ => Ok(()),
    };
    let mut interrupted = std::pin::pin!(interrupted);
    let ttl = match client.lease_keep_alive_once(id).await {
        Ok(ttl) => ttl,
        Err(Error::Server(msg)) if msg.ends_with("requested lease not found") => return gone(),
        Err(e) => return Err(e.into()),
    };
    print(ttl)?;
    let mut keep = client.keep_alive(id, ttl);
    loop {
        tokio::select! {
            r = keep.renewed() => match r {
                Ok(ttl) => print(ttl)?,
                Err(Error::Server(_)) => return gone(),
                Err(e) => return Err(e.into()),
            },
            _ = &mut interrupted => return Ok(()),
        }
    }
}

fn session_expired(e: Error) -> CliError {
    CliError::Failed {
        context: "session expired",
        source: e,
    }
}

fn elect_expired(e: Error) -> CliError {
    CliError::Failed {
        context: "elect: session expired",
        source: e,
    }
}

fn protocol(e: impl std::fmt::Display) -> CliError {
    Error::Protocol(e.to_string()).into()
}
