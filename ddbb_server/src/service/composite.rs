//! Client commands that take several round trips to the replica loop, each run as a task
//! whose final answer goes to the command's reply slot: Redis' expiry habits over leases
//! (`SET ... EX|PX`, `EXPIRE`, `TTL`) and the `--unsafe-split-txns` test mode.

use bytes::Bytes;
use ddbb_libs::kv::{
    KvError, LeaseGrantRequest, LeaseTimeToLiveResponse, PutRequest, RangeRequest, TxnRequest,
    WriteOutcome, WriteRequest, WriteResponse,
};
use ddbb_libs::Consistency;
use tokio::sync::{mpsc, oneshot};

use crate::replica::{LeaseAnswer, LeaseQuery, Request, Response};

/// `SET/PUT ... EX|PX`: grants a lease of the TTL (whole seconds, rounded up), then writes with
/// it. Answers the put's outcome (or the grant's error).
pub async fn put_with_expiry(
    mut put: WriteRequest,
    expire_ms: u64,
    requests: mpsc::Sender<Request>,
    reply: oneshot::Sender<Response>,
) {
    let Some((lease, reply)) = grant(&requests, expire_ms, reply).await else {
        return;
    };
    attach_lease(&mut put, lease);
    if let Some(outcome) = write(&requests, put).await {
        let _ = reply.send(Response::Write(outcome));
    }
}

/// Puts `lease` on the put (a plain put, or the put inside `IFREV`'s Txn).
fn attach_lease(op: &mut WriteRequest, lease: i64) {
    match op {
        WriteRequest::Put(p) => p.lease = lease,
        WriteRequest::Txn(t) => {
            for op in t.success.iter_mut() {
                if let ddbb_libs::kv::RequestOp::Put(p) = op {
                    p.lease = lease;
                }
            }
        }
        _ => {}
    }
}

/// `EXPIRE key seconds`: a new lease, then the key moved to it with its value kept
/// (`ignore_value`; a missing key answers `KeyNotFound`, rendered `:0`).
pub async fn expire(
    key: Bytes,
    seconds: i64,
    requests: mpsc::Sender<Request>,
    reply: oneshot::Sender<Response>,
) {
    let ms = u64::try_from(seconds).unwrap_or(0).saturating_mul(1000);
    let Some((lease, reply)) = grant(&requests, ms, reply).await else {
        return;
    };
    let put = WriteRequest::Put(PutRequest {
        key,
        ignore_value: true,
        lease,
        ..PutRequest::default()
    });
    let Some(outcome) = write(&requests, put).await else {
        return;
    };
    if outcome.result == Err(KvError::KeyNotFound) {
        // No key: the lease has nothing to do.
        let _ = write(&requests, WriteRequest::LeaseRevoke(lease)).await;
    }
    let _ = reply.send(Response::Write(outcome));
}

/// `TTL key`: the key (linearizable read), then its lease's remaining TTL. Answers a
/// time-to-live whose `ttl` is the reply: seconds left, -1 without a lease, -2 without a key.
pub async fn ttl(key: Bytes, requests: mpsc::Sender<Request>, reply: oneshot::Sender<Response>) {
    let (tx, rx) = oneshot::channel();
    let read = Request::Read {
        query: RangeRequest::key(key),
        consistency: Consistency::Linearizable,
        reply: tx,
    };
    if requests.send(read).await.is_err() {
        return;
    }
    let Ok(Response::Read(read)) = rx.await else {
        return;
    };
    let answer = |revision, ttl| {
        let t = LeaseTimeToLiveResponse {
            ttl,
            ..LeaseTimeToLiveResponse::default()
        };
        Response::Lease(revision, LeaseAnswer::TimeToLive(t))
    };
    let lease = match read.result.map(|r| r.kvs.into_iter().next()) {
        Ok(Some(kv)) => kv.lease,
        Ok(None) => {
            let _ = reply.send(answer(read.revision, -2));
            return;
        }
        Err(e) => {
            let _ = reply.send(Response::Read(crate::replica::ReadOutcome {
                revision: read.revision,
                result: Err(e),
            }));
            return;
        }
    };
    if lease == 0 {
        let _ = reply.send(answer(read.revision, -1));
        return;
    }
    let (tx, rx) = oneshot::channel();
    let query = LeaseQuery::TimeToLive {
        id: lease,
        keys: false,
    };
    if requests
        .send(Request::Lease { query, reply: tx })
        .await
        .is_err()
    {
        return;
    }
    if let Ok(Response::Lease(revision, LeaseAnswer::TimeToLive(t))) = rx.await {
        // A lease gone meanwhile: the key is going too.
        let _ = reply.send(answer(revision, if t.ttl < 0 { -2 } else { t.ttl }));
    }
}

/// Grants a lease of `ttl_ms` (whole seconds, rounded up): its id, and `reply` back for the
/// next step; `None` when the grant failed (its outcome was sent on `reply`) or the loop is
/// gone.
async fn grant(
    requests: &mpsc::Sender<Request>,
    ttl_ms: u64,
    reply: oneshot::Sender<Response>,
) -> Option<(i64, oneshot::Sender<Response>)> {
    let ttl = i64::try_from(ttl_ms.div_ceil(1000)).unwrap_or(i64::MAX);
    let grant = WriteRequest::LeaseGrant(LeaseGrantRequest { ttl, id: 0 });
    let outcome = write(requests, grant).await?;
    match &outcome.result {
        Ok(WriteResponse::LeaseGrant(g)) => Some((g.id, reply)),
        _ => {
            let _ = reply.send(Response::Write(outcome));
            None
        }
    }
}

/// `--unsafe-split-txns`: the compares and the first operation of each branch as one write,
/// then every further operation of the branch that ran as a write of its own, so other
/// clients can see the transaction half done. Tests only.
pub async fn split_txn(
    txn: TxnRequest,
    requests: mpsc::Sender<Request>,
    reply: oneshot::Sender<Response>,
) {
    let first = TxnRequest {
        compare: txn.compare,
        success: txn.success.iter().take(1).cloned().collect(),
        failure: txn.failure.iter().take(1).cloned().collect(),
    };
    let Some(mut outcome) = write_and_wait(&requests, first).await else {
        return;
    };
    let Ok(WriteResponse::Txn(combined)) = &mut outcome.result else {
        let _ = reply.send(Response::Write(outcome));
        return;
    };
    let rest = if combined.succeeded {
        txn.success
    } else {
        txn.failure
    };
    for op in rest.into_iter().skip(1) {
        let single = TxnRequest {
            success: vec![op],
            ..TxnRequest::default()
        };
        let Some(next) = write_and_wait(&requests, single).await else {
            return;
        };
        match next.result {
            Ok(WriteResponse::Txn(t)) => combined.responses.extend(t.responses),
            _ => break,
        }
        outcome.revision = next.revision;
    }
    let _ = reply.send(Response::Write(outcome));
}

async fn write_and_wait(requests: &mpsc::Sender<Request>, txn: TxnRequest) -> Option<WriteOutcome> {
    write(requests, WriteRequest::Txn(txn)).await
}

/// Sends one write to the loop and waits for its outcome (`None`: the loop is gone).
async fn write(requests: &mpsc::Sender<Request>, op: WriteRequest) -> Option<WriteOutcome> {
    let (reply, rx) = oneshot::channel();
    requests
        .send(Request::Write {
            id: None,
            op,
            reply,
        })
        .await
        .ok()?;
    match rx.await.ok()? {
        Response::Write(outcome) => Some(outcome),
        _ => None,
    }
}
