//! The async [`Client`]: endpoints, failover, exactly-once retries, typed commands.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use ddbb_libs::cmd::{
    Alarm, Cas, Compact, Del, DelTarget, Get, KeyRange, Ping, Put, PutReply, Range, RangeView, Txn,
    TxnReply,
};
use ddbb_libs::kv::{AlarmMember, AlarmType, SortOrder, SortTarget};
use ddbb_libs::{Command, Consistency, Frame, KeyValue, RequestId, Revision, StatusReply};
use tokio::net::TcpStream;
use tokio::time::Instant;

use crate::error::{Error, Result};
use crate::pipeline::{CallError, Pipeline};

/// Default deadline of one call, failover included (etcdctl's `--command-timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Default time one endpoint gets to answer before the call moves to the next one.
pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default time to open a TCP connection to one endpoint.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// First pause after every endpoint failed once; doubles per round up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(20);
/// Longest pause between two rounds over the endpoints.
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// How a [`Client`] reaches the cluster.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Client addresses of the replicas, `host:port`; tried in order, starting with the first.
    pub endpoints: Vec<String>,
    /// Deadline of one call, including failover to other endpoints.
    pub timeout: Duration,
    /// Longest wait for one endpoint before failing over to the next; never more than half
    /// of a call's deadline, so a call can always fail over at least once.
    pub attempt_timeout: Duration,
    /// Longest wait for a TCP connection.
    pub connect_timeout: Duration,
}

impl ClientConfig {
    /// A configuration with default timeouts.
    pub fn new<I, S>(endpoints: I) -> ClientConfig
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        ClientConfig {
            endpoints: endpoints.into_iter().map(Into::into).collect(),
            timeout: DEFAULT_TIMEOUT,
            attempt_timeout: DEFAULT_ATTEMPT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        }
    }

    /// Sets the whole-call deadline.
    pub fn with_timeout(mut self, timeout: Duration) -> ClientConfig {
        self.timeout = timeout;
        self
    }
}

/// Options of a range read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RangeOptions {
    /// At most this many keys (`None`: all).
    pub limit: Option<u64>,
    /// What to return per key.
    pub view: RangeView,
    /// Linearizable (default) or serializable.
    pub consistency: Consistency,
    /// Read at this revision (0: current).
    pub revision: i64,
    /// Sort by this, in this direction (`None`: key order).
    pub sort: Option<(SortTarget, SortOrder)>,
    /// `[min_mod, max_mod, min_create, max_create]` revision filters (0: none).
    pub filters: [i64; 4],
}

/// The result of a range read; its variant follows [`RangeOptions::view`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RangeReply {
    /// Keys and values, in key order.
    Pairs(Vec<(Bytes, Bytes)>),
    /// Keys only.
    Keys(Vec<Bytes>),
    /// The number of keys in the range.
    Count(u64),
    /// Keys with values and revisions.
    Revisions(Vec<KeyValue>),
}

/// One endpoint's answer to `STATUS`, from [`Client::status_all`].
#[derive(Clone, Debug)]
pub struct EndpointStatus {
    /// The endpoint asked.
    pub endpoint: String,
    /// Its status, or why it could not be had.
    pub status: Result<StatusReply>,
}

impl EndpointStatus {
    /// `endpoint: error; ...` for every endpoint in `all` that did not answer.
    pub fn failures(all: &[EndpointStatus]) -> String {
        all.iter()
            .filter_map(|e| {
                e.status
                    .as_ref()
                    .err()
                    .map(|err| format!("{}: {err}", e.endpoint))
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

struct Endpoint {
    addr: String,
    /// The live connection, if any; cloned out for each call.
    conn: Mutex<Option<Pipeline>>,
    /// Held while connecting, so concurrent callers share one new connection.
    connecting: tokio::sync::Mutex<()>,
}

struct Inner {
    config: ClientConfig,
    endpoints: Vec<Endpoint>,
    /// Index of the endpoint calls start with; moves on when it fails.
    preferred: AtomicUsize,
    client_id: u64,
    next_seq: AtomicU64,
}

/// An async client for a DDBB cluster; cheap to clone (clones share connections and the
/// request-id session).
///
/// - Keeps at most one connection per endpoint, opened lazily, and pipelines every concurrent
///   call on it.
/// - Every write carries a request id `(client_id, seq)`: the id is random per `Client`, the
///   seq increases per write. A write retried after a timeout or a failover carries the same
///   id, so the cluster applies it at most once.
/// - A call goes to the preferred endpoint; on a connection failure, a timeout, or a replica
///   that cannot reach a quorum in time, it is retried on the next endpoint, round-robin,
///   with a growing pause after each full round, until [`ClientConfig::timeout`].
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("endpoints", &self.inner.config.endpoints)
            .field("client_id", &self.inner.client_id)
            .finish()
    }
}

/// What one attempt on one endpoint gave.
enum Attempt {
    /// A final answer (possibly an `-ERR` that a retry would not fix).
    Done(Frame),
    /// A failure; `sent` says whether the request may have reached the replica.
    Failed { sent: bool, why: String },
}

impl Client {
    /// A client for `config`; connects lazily, on the first call.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty endpoint list or an endpoint that is not
    /// `host:port`, or a zero timeout.
    pub fn new(config: ClientConfig) -> Result<Client> {
        if config.endpoints.is_empty() {
            return Err(Error::InvalidInput("no endpoints given".into()));
        }
        for e in &config.endpoints {
            let port = e
                .rsplit_once(':')
                .map(|(host, port)| (host, port.parse::<u16>()));
            if !matches!(port, Some((host, Ok(_))) if !host.is_empty()) {
                return Err(Error::InvalidInput(format!(
                    "endpoint '{e}' is not of the form host:port"
                )));
            }
        }
        if config.timeout.is_zero() || config.attempt_timeout.is_zero() {
            return Err(Error::InvalidInput("timeouts must be positive".into()));
        }
        let endpoints = config
            .endpoints
            .iter()
            .map(|addr| Endpoint {
                addr: addr.clone(),
                conn: Mutex::new(None),
                connecting: tokio::sync::Mutex::new(()),
            })
            .collect();
        // Replicas give their own sessions the top bit; keep ours clear of it, and non-zero.
        let client_id = (rand::random::<u64>() >> 1).max(1);
        Ok(Client {
            inner: Arc::new(Inner {
                config,
                endpoints,
                preferred: AtomicUsize::new(0),
                client_id,
                next_seq: AtomicU64::new(1),
            }),
        })
    }

    /// A client with default timeouts for `endpoints` (`host:port` each).
    pub fn connect<I, S>(endpoints: I) -> Result<Client>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Client::new(ClientConfig::new(endpoints))
    }

    /// The configuration this client was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.config
    }

    /// The random session id carried by this client's writes.
    pub fn client_id(&self) -> u64 {
        self.inner.client_id
    }

    /// The endpoint the next call starts with.
    pub fn current_endpoint(&self) -> &str {
        let i = self.inner.preferred.load(Ordering::Relaxed);
        &self.inner.endpoints[i].addr
    }

    /// Writes `key` (etcd's `put`); returns the store revision of the write.
    pub async fn put(&self, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Result<Revision> {
        let cmd = Command::Put(Put {
            key: key.into(),
            value: value.into(),
            if_revision: None,
            lease: 0,
            expire_ms: None,
            prev_kv: false,
            request: None,
            reply: PutReply::Revision,
        });
        self.execute(cmd).await.and_then(int).map(|n| n as Revision)
    }

    /// Writes `key` only if its `mod_revision` is `revision` (0: only if absent); returns the
    /// revision of the write, or `None` when the guard failed.
    pub async fn put_if_revision(
        &self,
        key: impl Into<Bytes>,
        value: impl Into<Bytes>,
        revision: Revision,
    ) -> Result<Option<Revision>> {
        let cmd = Command::Put(Put {
            key: key.into(),
            value: value.into(),
            if_revision: Some(revision),
            lease: 0,
            expire_ms: None,
            prev_kv: false,
            request: None,
            reply: PutReply::Revision,
        });
        let rev = self.execute(cmd).await.and_then(int)? as Revision;
        Ok((rev != 0).then_some(rev))
    }

    /// Writes `key` with Redis' `SET` (no revision in the reply).
    pub async fn set(&self, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Result<()> {
        let cmd = Command::Put(Put {
            key: key.into(),
            value: value.into(),
            if_revision: None,
            lease: 0,
            expire_ms: None,
            prev_kv: false,
            request: None,
            reply: PutReply::Ok,
        });
        match self.execute(cmd).await? {
            Frame::Simple(s) if s == "OK" => Ok(()),
            other => unexpected(other),
        }
    }

    /// Reads `key` linearizably; `None` when absent.
    pub async fn get(&self, key: impl Into<Bytes>) -> Result<Option<Bytes>> {
        self.get_with(key, Consistency::Linearizable).await
    }

    /// Reads `key` with the given consistency; `None` when absent.
    pub async fn get_with(
        &self,
        key: impl Into<Bytes>,
        consistency: Consistency,
    ) -> Result<Option<Bytes>> {
        let cmd = Command::Get(Get {
            key: key.into(),
            revision: 0,
            consistency,
        });
        match self.execute(cmd).await? {
            Frame::Bulk(b) => Ok(Some(b)),
            Frame::Null => Ok(None),
            other => unexpected(other),
        }
    }

    /// Reads the keys in `range`, in key order, shaped by `options.view`.
    pub async fn range(&self, range: KeyRange, options: RangeOptions) -> Result<RangeReply> {
        let cmd = Command::Range(Range {
            range,
            limit: options.limit,
            view: options.view,
            revision: options.revision,
            sort: options.sort,
            filters: options.filters,
            consistency: options.consistency,
        });
        let frame = self.execute(cmd).await?;
        let bulk = |f: Frame| match f {
            Frame::Bulk(b) => Ok(b),
            other => Err(Error::Protocol(format!(
                "expected a key or value, got {other}"
            ))),
        };
        match (options.view, frame) {
            (RangeView::CountOnly, Frame::Integer(n)) if n >= 0 => Ok(RangeReply::Count(n as u64)),
            (RangeView::Pairs, Frame::Array(items)) => {
                if !items.len().is_multiple_of(2) {
                    return Err(Error::Protocol(
                        "odd number of items in a range reply".into(),
                    ));
                }
                let mut pairs = Vec::with_capacity(items.len() / 2);
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    pairs.push((bulk(k)?, bulk(v)?));
                }
                Ok(RangeReply::Pairs(pairs))
            }
            (RangeView::KeysOnly, Frame::Array(items)) => Ok(RangeReply::Keys(
                items.into_iter().map(bulk).collect::<Result<_>>()?,
            )),
            (RangeView::WithRevisions, Frame::Array(items)) => Ok(RangeReply::Revisions(
                items
                    .into_iter()
                    .map(|f| KeyValue::from_frame(f).map_err(|e| Error::Protocol(e.to_string())))
                    .collect::<Result<_>>()?,
            )),
            (_, other) => unexpected(other),
        }
    }

    /// Deletes `keys`; returns how many existed.
    pub async fn delete<I, K>(&self, keys: I) -> Result<u64>
    where
        I: IntoIterator<Item = K>,
        K: Into<Bytes>,
    {
        let keys: Vec<Bytes> = keys.into_iter().map(Into::into).collect();
        if keys.is_empty() {
            return Err(Error::InvalidInput("no keys to delete".into()));
        }
        self.delete_target(DelTarget::Keys(keys)).await
    }

    /// Deletes every key in `range`; returns how many there were.
    pub async fn delete_range(&self, range: KeyRange) -> Result<u64> {
        self.delete_target(DelTarget::Range(range)).await
    }

    async fn delete_target(&self, target: DelTarget) -> Result<u64> {
        let cmd = Command::Del(Del {
            target,
            prev_kv: false,
            request: None,
        });
        self.execute(cmd).await.and_then(int)
    }

    /// Replaces `key`'s value with `new` if it is `expected` now; true when it swapped.
    pub async fn cas(
        &self,
        key: impl Into<Bytes>,
        expected: impl Into<Bytes>,
        new: impl Into<Bytes>,
    ) -> Result<bool> {
        let cmd = Command::Cas(Cas {
            key: key.into(),
            expected: expected.into(),
            new: new.into(),
            request: None,
        });
        self.execute(cmd).await.and_then(int).map(|n| n == 1)
    }

    /// Runs a transaction (see [`Txn`]); retried exactly-once like every write.
    pub async fn txn(&self, txn: Txn) -> Result<TxnReply> {
        let frame = self.execute(Command::Txn(txn)).await?;
        TxnReply::from_frame(frame).map_err(|e| Error::Protocol(e.to_string()))
    }

    /// Compacts the history below `revision` on every replica.
    pub async fn compact(&self, revision: i64) -> Result<()> {
        let cmd = Command::Compact(Compact {
            revision,
            physical: false,
            request: None,
        });
        match self.execute(cmd).await? {
            Frame::Simple(s) if s == "OK" => Ok(()),
            other => unexpected(other),
        }
    }

    /// `ALARM LIST` or `ALARM DISARM`: the alarms raised afterwards.
    pub async fn alarm(&self, action: Alarm) -> Result<Vec<AlarmMember>> {
        let bad = || Error::Protocol("malformed ALARM reply".into());
        let Frame::Array(items) = self.execute(Command::Alarm(action)).await? else {
            return Err(bad());
        };
        items
            .into_iter()
            .map(|item| match item {
                Frame::Array(pair) => match pair.as_slice() {
                    [Frame::Integer(id), Frame::Bulk(name)] => Ok(AlarmMember {
                        member_id: *id as u64,
                        alarm: match &name[..] {
                            b"NOSPACE" => AlarmType::NoSpace,
                            b"CORRUPT" => AlarmType::Corrupt,
                            _ => AlarmType::None,
                        },
                    }),
                    _ => Err(bad()),
                },
                _ => Err(bad()),
            })
            .collect()
    }

    /// `STATUS` of whichever endpoint answers first (with failover).
    pub async fn status(&self) -> Result<StatusReply> {
        let frame = self
            .execute(Command::Status(ddbb_libs::cmd::Status))
            .await?;
        parse_status(frame)
    }

    /// `STATUS` of every endpoint, asked concurrently, in endpoint order; no failover.
    pub async fn status_all(&self) -> Vec<EndpointStatus> {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..self.inner.endpoints.len() {
            let client = self.clone();
            tasks.spawn(async move {
                let frame = client
                    .execute_on(i, Command::Status(ddbb_libs::cmd::Status))
                    .await;
                (i, frame.and_then(parse_status))
            });
        }
        let mut out: Vec<EndpointStatus> = self
            .inner
            .endpoints
            .iter()
            .map(|e| EndpointStatus {
                endpoint: e.addr.clone(),
                status: Err(Error::Unavailable("not asked".into())),
            })
            .collect();
        while let Some(done) = tasks.join_next().await {
            if let Ok((i, status)) = done {
                out[i].status = status;
            }
        }
        out
    }

    /// `PING`: succeeds when some endpoint answers.
    pub async fn ping(&self) -> Result<()> {
        match self.execute(Command::Ping(Ping { message: None })).await? {
            Frame::Simple(s) if s == "PONG" => Ok(()),
            other => unexpected(other),
        }
    }

    /// Sends any command with failover and returns the raw reply frame.
    ///
    /// A write without a request id gets the next one of this client's session. An `-ERR`
    /// reply comes back as [`Error::Server`].
    pub async fn execute(&self, command: Command) -> Result<Frame> {
        self.execute_with_timeout(command, self.inner.config.timeout)
            .await
    }

    /// Like [`Client::execute`] with its own deadline instead of [`ClientConfig::timeout`].
    pub async fn execute_with_timeout(
        &self,
        mut command: Command,
        timeout: Duration,
    ) -> Result<Frame> {
        self.assign_request_id(&mut command);
        let request = command.to_frame().serialize();
        let inner = &self.inner;
        let n = inner.endpoints.len();
        let per_attempt = attempt_timeout(&inner.config, timeout);
        let deadline = Instant::now() + timeout;
        let start = inner.preferred.load(Ordering::Relaxed);
        let mut sent = false;
        let mut errors: Vec<Option<String>> = vec![None; n];
        let mut backoff = MIN_BACKOFF;
        for attempt in 0usize.. {
            let i = (start + attempt) % n;
            match self
                .attempt(i, request.clone(), deadline, per_attempt)
                .await
            {
                Attempt::Done(frame) => {
                    if attempt > 0 {
                        // Later calls start where this one succeeded.
                        inner.preferred.store(i, Ordering::Relaxed);
                    }
                    return reply_or_error(frame);
                }
                Attempt::Failed { sent: s, why } => {
                    sent |= s;
                    // Keep an endpoint's real error over one caused by the deadline running out.
                    if errors[i].is_none() || Instant::now() < deadline {
                        errors[i] = Some(why);
                    }
                }
            }
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            if (attempt + 1) % n == 0 {
                tokio::time::sleep(backoff.min(deadline - now)).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
        let summary = errors
            .iter()
            .zip(&inner.endpoints)
            .filter_map(|(e, ep)| e.as_ref().map(|e| format!("{}: {e}", ep.addr)))
            .collect::<Vec<_>>()
            .join("; ");
        Err(if sent {
            Error::Timeout(format!(
                "no answer within {timeout:?} ({summary}); a write may still take effect"
            ))
        } else {
            Error::Unavailable(format!("no endpoint reachable ({summary})"))
        })
    }

    /// Sends `command` to endpoint `index` only (no failover), within the attempt timeout.
    /// Error messages do not repeat the endpoint.
    pub async fn execute_on(&self, index: usize, mut command: Command) -> Result<Frame> {
        if index >= self.inner.endpoints.len() {
            return Err(Error::InvalidInput(format!("no endpoint #{index}")));
        }
        self.assign_request_id(&mut command);
        let config = &self.inner.config;
        let deadline = Instant::now() + config.timeout;
        let per_attempt = attempt_timeout(config, config.timeout);
        let request = command.to_frame().serialize();
        match self.attempt(index, request, deadline, per_attempt).await {
            Attempt::Done(frame) => reply_or_error(frame),
            Attempt::Failed { sent: true, why } => Err(Error::Timeout(why)),
            Attempt::Failed { sent: false, why } => Err(Error::Unavailable(why)),
        }
    }

    fn assign_request_id(&self, command: &mut Command) {
        let slot = match command {
            Command::Put(c) => &mut c.request,
            Command::Del(c) => &mut c.request,
            Command::Cas(c) => &mut c.request,
            Command::Txn(c) => &mut c.request,
            Command::Compact(c) => &mut c.request,
            _ => return,
        };
        if slot.is_none() {
            *slot = Some(RequestId {
                client: self.inner.client_id,
                seq: self.inner.next_seq.fetch_add(1, Ordering::Relaxed),
            });
        }
    }

    /// One try on endpoint `i`, bounded by `per_attempt` and `deadline`.
    async fn attempt(
        &self,
        i: usize,
        request: Bytes,
        deadline: Instant,
        per_attempt: Duration,
    ) -> Attempt {
        let now = Instant::now();
        let until = deadline.min(now + per_attempt);
        let pipe = match self.pipeline(i, until).await {
            Ok(p) => p,
            Err(why) => {
                self.move_on_from(i);
                return Attempt::Failed { sent: false, why };
            }
        };
        let failed = |sent, why: String| {
            self.move_on_from(i);
            Attempt::Failed { sent, why }
        };
        match tokio::time::timeout_at(until, pipe.call(request)).await {
            Ok(Ok(Frame::Error(msg))) if is_retryable(&msg) => failed(true, msg),
            Ok(Ok(frame)) => Attempt::Done(frame),
            Ok(Err(CallError::NotSent)) => failed(false, "connection closed".into()),
            Ok(Err(CallError::Lost)) => failed(true, "connection lost before the reply".into()),
            Err(_) => failed(true, format!("no reply within {:?}", until - now)),
        }
    }

    /// Makes the next endpoint preferred if `i` still is.
    fn move_on_from(&self, i: usize) {
        let n = self.inner.endpoints.len();
        let _ = self.inner.preferred.compare_exchange(
            i,
            (i + 1) % n,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// Starts a watch on this client's endpoints, resuming on the next one after a failure
    /// (see [`crate::watch`]). Needs a tokio runtime.
    pub fn watch(&self, request: crate::WatchCreateRequest) -> crate::Watcher {
        crate::Watcher::start(self.inner.config.clone(), request)
    }

    /// The live connection to endpoint `i`, opening one if needed.
    async fn pipeline(&self, i: usize, until: Instant) -> Result<Pipeline, String> {
        let endpoint = &self.inner.endpoints[i];
        if let Some(p) = live(&endpoint.conn) {
            return Ok(p);
        }
        let _connecting = endpoint.connecting.lock().await;
        if let Some(p) = live(&endpoint.conn) {
            return Ok(p); // another caller connected while we waited
        }
        let until = until.min(Instant::now() + self.inner.config.connect_timeout);
        let stream = match tokio::time::timeout_at(until, TcpStream::connect(&endpoint.addr)).await
        {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("connect timed out".into()),
        };
        let pipe = Pipeline::start(stream);
        *endpoint.conn.lock().unwrap_or_else(|e| e.into_inner()) = Some(pipe.clone());
        Ok(pipe)
    }
}

/// The time one endpoint gets within a call of `timeout`.
fn attempt_timeout(config: &ClientConfig, timeout: Duration) -> Duration {
    config
        .attempt_timeout
        .min(timeout / 2)
        .max(Duration::from_millis(1))
}

fn live(slot: &Mutex<Option<Pipeline>>) -> Option<Pipeline> {
    let slot = slot.lock().unwrap_or_else(|e| e.into_inner());
    slot.as_ref().filter(|p| p.is_alive()).cloned()
}

/// Server errors another replica may not have: this one cannot reach a quorum in time, or
/// it is stopping.
fn is_retryable(msg: &str) -> bool {
    ddbb_libs::ErrorCode::of(msg).is_retryable()
}

fn reply_or_error(frame: Frame) -> Result<Frame> {
    match frame {
        Frame::Error(msg) => Err(Error::Server(
            msg.strip_prefix("ERR ").unwrap_or(&msg).to_string(),
        )),
        other => Ok(other),
    }
}

fn int(frame: Frame) -> Result<u64> {
    match frame {
        Frame::Integer(n) if n >= 0 => Ok(n as u64),
        other => unexpected(other),
    }
}

fn parse_status(frame: Frame) -> Result<StatusReply> {
    StatusReply::from_frame(frame).map_err(|e| Error::Protocol(e.to_string()))
}

fn unexpected<T>(frame: Frame) -> Result<T> {
    Err(Error::Protocol(format!("unexpected reply {frame}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_checked() {
        assert!(Client::connect(Vec::<String>::new()).is_err());
        assert!(Client::connect(["localhost"]).is_err());
        assert!(Client::connect([":6001"]).is_err());
        assert!(Client::connect(["127.0.0.1:99999"]).is_err());
        let c = Client::connect(["localhost:6001", "[::1]:6002"]).unwrap();
        assert_eq!(c.current_endpoint(), "localhost:6001");
        assert!(c.client_id() > 0 && c.client_id() < 1 << 63);
    }

    #[test]
    fn writes_get_consecutive_request_ids() {
        let c = Client::connect(["127.0.0.1:1"]).unwrap();
        let mut a = Command::Cas(Cas {
            key: "k".into(),
            expected: "a".into(),
            new: "b".into(),
            request: None,
        });
        let mut b = a.clone();
        let mut read = Command::Get(Get {
            key: "k".into(),
            revision: 0,
            consistency: Consistency::Linearizable,
        });
        c.assign_request_id(&mut a);
        c.assign_request_id(&mut read);
        c.assign_request_id(&mut b);
        let id = |cmd: &Command| match cmd {
            Command::Cas(c) => c.request.unwrap(),
            _ => unreachable!(),
        };
        assert_eq!(id(&a).client, c.client_id());
        assert_eq!(id(&b).seq, id(&a).seq + 1);
        assert!(matches!(read, Command::Get(_)));
    }

    #[tokio::test]
    async fn unreachable_endpoints_are_unavailable_not_timeout() {
        // Nothing listens on port 1 (a released free port could be reused by another test).
        let config = ClientConfig::new(["127.0.0.1:1"]).with_timeout(Duration::from_millis(300));
        let c = Client::new(config).unwrap();
        let err = c.put("k", "v").await.unwrap_err();
        assert!(matches!(err, Error::Unavailable(_)), "{err}");
        assert!(!err.maybe_applied());
    }
}
