//! The writers: paced puts under the run's prefix, each stamped with a sequence number, and
//! the clock that records when each put was sent and acknowledged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use ddbb_proto::etcdserverpb::kv_client::KvClient;
use ddbb_proto::etcdserverpb::PutRequest;
use tokio::time::Instant;

use super::stream::ns_since;
use crate::driver::{etcd_channel, status_text, Timeouts};

/// Digits of the sequence number at the start of every value.
const SEQ_DIGITS: usize = 12;
/// Keys the writers cycle through under the prefix.
pub const KEYS: usize = 100;

/// Send and acknowledgement times of every planned put, in ns since the run's base instant
/// (0: not yet), shared by the writers and the watchers.
#[derive(Debug)]
pub struct Clock {
    /// The run's time origin.
    pub base: Instant,
    /// When put `i` was sent.
    pub sent: Vec<AtomicU64>,
    /// When put `i` was acknowledged to its writer.
    pub acked: Vec<AtomicU64>,
}

impl Clock {
    /// A clock for `puts` puts starting now.
    pub fn new(puts: usize) -> Clock {
        Clock {
            base: Instant::now(),
            sent: (0..puts).map(|_| AtomicU64::new(0)).collect(),
            acked: (0..puts).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    /// Planned puts.
    pub fn len(&self) -> usize {
        self.sent.len()
    }

    /// Now, in ns since the base (at least 1).
    pub fn now_ns(&self) -> u64 {
        ns_since(self.base)
    }
}

/// Key of put `seq` under `prefix`.
pub fn key(prefix: &str, seq: usize) -> String {
    format!("{prefix}k{:03}", seq % KEYS)
}

/// Value of put `seq`: its sequence number, then padding to `size` bytes.
pub fn value(seq: usize, size: usize) -> Vec<u8> {
    let mut v = format!("{seq:0SEQ_DIGITS$}").into_bytes();
    v.resize(size.max(SEQ_DIGITS), b'v');
    v
}

/// The sequence number at the start of `value`, if it is one of ours.
pub fn parse_seq(value: &[u8]) -> Option<usize> {
    std::str::from_utf8(value.get(..SEQ_DIGITS)?)
        .ok()?
        .parse()
        .ok()
}

/// What the writers did.
#[derive(Debug, Default)]
pub struct Written {
    /// Puts acknowledged.
    pub acked: u64,
    /// Puts that failed (or got no answer in time).
    pub errors: u64,
    /// The first failure.
    pub first_error: Option<String>,
    /// When the last put was acknowledged, ns on the run's clock.
    pub last_ack_ns: u64,
}

/// Sends every put of `clock` to `url` at `rate` puts/s in total, from `writers` sequential
/// writers sharing one gRPC channel; put `i` is due at `i / rate` s and is sent then or, when
/// its writer is late, as soon as the previous one returns.
///
/// # Errors
/// When the channel cannot be made.
pub async fn write(
    url: &str,
    prefix: &str,
    clock: Arc<Clock>,
    rate: f64,
    writers: usize,
    value_size: usize,
) -> Result<Written> {
    let channel = etcd_channel(url, Timeouts::STEADY.op)?;
    let mut tasks = tokio::task::JoinSet::new();
    let writers = writers.max(1);
    for w in 0..writers {
        let mut kv = KvClient::new(channel.clone());
        let (clock, prefix) = (clock.clone(), prefix.to_string());
        tasks.spawn(async move {
            let mut out = Written::default();
            for seq in (w..clock.len()).step_by(writers) {
                let due = clock.base + Duration::from_secs_f64(seq as f64 / rate);
                tokio::time::sleep_until(due).await;
                let put = PutRequest {
                    key: key(&prefix, seq).into_bytes().into(),
                    value: value(seq, value_size).into(),
                    ..PutRequest::default()
                };
                clock.sent[seq].store(clock.now_ns(), Ordering::Release);
                let result = tokio::time::timeout(Timeouts::STEADY.op, kv.put(put)).await;
                let now = clock.now_ns();
                match result {
                    Ok(Ok(_)) => {
                        clock.acked[seq].store(now, Ordering::Release);
                        out.acked += 1;
                        out.last_ack_ns = out.last_ack_ns.max(now);
                    }
                    Ok(Err(status)) => {
                        out.errors += 1;
                        out.first_error.get_or_insert_with(|| status_text(&status));
                    }
                    Err(_) => {
                        out.errors += 1;
                        out.first_error
                            .get_or_insert_with(|| "no answer within 5 s".to_string());
                    }
                }
            }
            out
        });
    }
    let mut total = Written::default();
    while let Some(done) = tasks.join_next().await {
        let out = done?;
        total.acked += out.acked;
        total.errors += out.errors;
        total.last_ack_ns = total.last_ack_ns.max(out.last_ack_ns);
        if total.first_error.is_none() {
            total.first_error = out.first_error;
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_carry_their_sequence_number() {
        let v = value(4711, 256);
        assert_eq!(v.len(), 256);
        assert_eq!(parse_seq(&v), Some(4711));
        assert_eq!(parse_seq(&value(3, 4)), Some(3));
        assert_eq!(parse_seq(b"ready"), None);
        assert_eq!(key("p/", 123), "p/k023");
    }
}
