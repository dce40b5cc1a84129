//! `etcdserverpb.Maintenance`: Status, Alarm, HashKV, Snapshot, Defragment. MoveLeader and
//! Hash answer `Unimplemented` (tonic's default bodies).
//!
//! - **Status**: `version` is [`super::ETCD_VERSION`]; `dbSize` and `dbSizeInUse` the MVCC
//!   store's estimated bytes (what `--quota-backend-bytes` limits); `leader` the replica this
//!   one follows (0 and the error "etcdserver: no leader" when none); `raftIndex` the decided
//!   log index; `raftAppliedIndex` the applied one; `raftTerm` the promised ballot number.
//! - **Alarm**: every action (GET included, as in etcd) goes through the log, so the list is
//!   linearizable.
//! - **HashKV**: [`crate::state::mvcc::hash_kv`] over an O(1) copy of the store, computed off
//!   the loop.
//! - **Snapshot**: streams the MVCC store and the alarms (not the client sessions) in DDBB's own
//!   format, encoded off the loop from an O(1) copy, in 32 KiB chunks, with bounded memory (a
//!   slow reader holds back the encoder). The layout satisfies `etcdctl snapshot save`: the
//!   body is zero-padded to a multiple of 512 bytes and followed by its SHA-256. It is not a
//!   bbolt file: `etcdctl snapshot restore` cannot read it. Layout:
//!   `"DDBB-SNAPSHOT\n"`, format version (u32 LE, [`SNAPSHOT_FILE_VERSION`]), body length
//!   (u64 LE), body = bincode of `(MvccStore, Vec<AlarmMember>)`, zero padding, SHA-256 of
//!   everything before it.
//! - **Defragment**: nothing to defragment (the store lives in memory); answers success.

use std::io::Write;
use std::sync::Arc;

use ddbb_libs::kv::{AlarmAction, AlarmRequest, WriteOutcome, WriteRequest, WriteResponse};
use ddbb_proto::etcdserverpb as pb;
use ddbb_proto::etcdserverpb::maintenance_server::Maintenance;
use prost::bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status};
use tracing::debug;

use super::{convert, errors, Ctx};
use crate::replica::{self, StateCopy};
use crate::state::mvcc::hash_kv;

/// The first bytes of a DDBB snapshot file.
pub const SNAPSHOT_MAGIC: &[u8] = b"DDBB-SNAPSHOT\n";
/// The snapshot file format written by `Maintenance.Snapshot`.
pub const SNAPSHOT_FILE_VERSION: u32 = 1;
/// Bytes per streamed chunk (etcd's `snapshotSendBufferSize`).
const CHUNK_BYTES: usize = 32 * 1024;
/// Chunks buffered ahead of a slow reader.
const CHUNKS_AHEAD: usize = 4;

/// The Maintenance service.
pub struct MaintenanceService(pub(crate) Arc<Ctx>);

impl MaintenanceService {
    async fn state(&self) -> Result<StateCopy, Status> {
        match self
            .0
            .call(|reply| replica::Request::State { reply })
            .await?
        {
            replica::Response::State(state) => Ok(*state),
            _ => Err(errors::internal()),
        }
    }

    async fn status_reply(&self) -> Result<ddbb_libs::StatusReply, Status> {
        match self
            .0
            .call(|reply| replica::Request::Status { reply })
            .await?
        {
            replica::Response::Status(status) => Ok(*status),
            _ => Err(errors::internal()),
        }
    }
}

/// The ballot number from `STATUS`' `round.priority.pid`.
fn ballot_number(ballot: &str) -> Option<u64> {
    ballot.split('.').next()?.parse().ok()
}

#[tonic::async_trait]
impl Maintenance for MaintenanceService {
    async fn alarm(
        &self,
        request: Request<pb::AlarmRequest>,
    ) -> Result<Response<pb::AlarmResponse>, Status> {
        let request: AlarmRequest = convert::alarm_request(request.get_ref())?;
        debug_assert!(matches!(
            request.action,
            AlarmAction::Get | AlarmAction::Activate | AlarmAction::Deactivate
        ));
        let response = self
            .0
            .call(|reply| replica::Request::Write {
                id: None,
                op: WriteRequest::Alarm(request),
                reply,
            })
            .await?;
        match response {
            replica::Response::Write(WriteOutcome {
                revision,
                result: Ok(WriteResponse::Alarm(alarms)),
            }) => Ok(Response::new(pb::AlarmResponse {
                header: self.0.header(revision),
                alarms: convert::alarm_members(&alarms),
            })),
            replica::Response::Write(WriteOutcome { result: Err(e), .. }) => {
                Err(errors::kv_error(&e))
            }
            _ => Err(errors::internal()),
        }
    }

    async fn status(
        &self,
        _request: Request<pb::StatusRequest>,
    ) -> Result<Response<pb::StatusResponse>, Status> {
        let s = self.status_reply().await?;
        let term = ballot_number(&s.ballot).unwrap_or_else(|| self.0.view().term);
        let mut header = self.0.header(s.revision as i64);
        if let Some(h) = &mut header {
            h.raft_term = term;
        }
        let errors = if s.leader == 0 {
            vec![errors::NO_LEADER.to_string()]
        } else {
            Vec::new()
        };
        Ok(Response::new(pb::StatusResponse {
            header,
            version: super::ETCD_VERSION.to_string(),
            db_size: s.db_size as i64,
            leader: s.leader,
            raft_index: s.decided_index as u64,
            raft_term: term,
            raft_applied_index: s.applied_index as u64,
            errors,
            db_size_in_use: s.db_size as i64,
            is_learner: false,
        }))
    }

    async fn defragment(
        &self,
        _request: Request<pb::DefragmentRequest>,
    ) -> Result<Response<pb::DefragmentResponse>, Status> {
        Ok(Response::new(pb::DefragmentResponse {
            header: self.0.header(self.0.view().revision),
        }))
    }

    async fn hash_kv(
        &self,
        request: Request<pb::HashKvRequest>,
    ) -> Result<Response<pb::HashKvResponse>, Status> {
        let revision = request.get_ref().revision;
        let state = self.state().await?;
        let hashed = tokio::task::spawn_blocking(move || hash_kv(&state.store, revision))
            .await
            .map_err(|_| errors::internal())?
            .map_err(|e| errors::kv_error(&e))?;
        Ok(Response::new(pb::HashKvResponse {
            header: self.0.header(hashed.revision),
            hash: hashed.hash,
            compact_revision: hashed.compact_revision,
        }))
    }

    async fn snapshot(
        &self,
        _request: Request<pb::SnapshotRequest>,
    ) -> Result<Response<BoxStream<pb::SnapshotResponse>>, Status> {
        let state = self.state().await?;
        let header = self.0.header(state.store.revision());
        let (tx, rx) = mpsc::channel(CHUNKS_AHEAD);
        tokio::task::spawn_blocking(move || {
            if let Err(e) = stream_snapshot(&state, header, &tx) {
                debug!(error = %e, "snapshot stream ended early");
                let _ = tx.blocking_send(Err(Status::internal(format!(
                    "etcdserver: snapshot failed: {e}"
                ))));
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

type Chunks = mpsc::Sender<Result<pb::SnapshotResponse, Status>>;

/// Total bytes of the snapshot file for a body of `body` bytes.
fn file_len(body: u64) -> u64 {
    let unpadded = SNAPSHOT_MAGIC.len() as u64 + 4 + 8 + body;
    unpadded.div_ceil(512) * 512 + 32
}

/// Encodes `state` into chunks on `tx` (see the module doc for the layout).
fn stream_snapshot(
    state: &StateCopy,
    header: Option<pb::ResponseHeader>,
    tx: &Chunks,
) -> std::io::Result<()> {
    let body = (&state.store, &state.alarms);
    let body_len = bincode::serialized_size(&body).map_err(std::io::Error::other)?;
    let total = file_len(body_len);
    let mut out = ChunkWriter {
        tx,
        header,
        buf: Vec::with_capacity(CHUNK_BYTES),
        hasher: Sha256::new(),
        sent: 0,
        total,
    };
    out.write_all(SNAPSHOT_MAGIC)?;
    out.write_all(&SNAPSHOT_FILE_VERSION.to_le_bytes())?;
    out.write_all(&body_len.to_le_bytes())?;
    bincode::serialize_into(&mut out, &body).map_err(std::io::Error::other)?;
    let padding = (total - 32) - (out.sent + out.buf.len() as u64);
    out.write_all(&vec![0u8; padding as usize])?;
    out.flush()?;
    let digest = out.hasher.clone().finalize();
    out.send(Bytes::copy_from_slice(&digest), false)
}

/// Hashes and cuts everything written into `SnapshotResponse` chunks.
struct ChunkWriter<'a> {
    tx: &'a Chunks,
    header: Option<pb::ResponseHeader>,
    buf: Vec<u8>,
    hasher: Sha256,
    sent: u64,
    total: u64,
}

impl ChunkWriter<'_> {
    fn send(&mut self, blob: Bytes, hash: bool) -> std::io::Result<()> {
        if hash {
            self.hasher.update(&blob);
        }
        self.sent += blob.len() as u64;
        let chunk = pb::SnapshotResponse {
            header: self.header,
            remaining_bytes: self.total.saturating_sub(self.sent),
            blob,
        };
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}

impl Write for ChunkWriter<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(CHUNK_BYTES - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK_BYTES {
            self.flush()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let blob = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(CHUNK_BYTES),
        ));
        self.send(blob, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::mvcc::{MvccStore, PutRequest};

    #[test]
    fn snapshot_files_end_with_the_sha256_etcdctl_looks_for() {
        let mut store = MvccStore::new();
        for i in 0..2000 {
            store
                .put(&PutRequest::new(format!("key{i}"), vec![b'x'; 100]))
                .unwrap();
        }
        let state = StateCopy {
            store,
            alarms: Vec::new(),
        };
        let (tx, mut rx) = mpsc::channel(1_000_000);
        stream_snapshot(&state, None, &tx).unwrap();
        drop(tx);
        let mut file = Vec::new();
        let mut last_remaining = u64::MAX;
        while let Ok(chunk) = rx.try_recv() {
            let chunk = chunk.unwrap();
            assert!(chunk.remaining_bytes < last_remaining);
            last_remaining = chunk.remaining_bytes;
            file.extend_from_slice(&chunk.blob);
        }
        assert_eq!(last_remaining, 0);
        // etcdctl's check: the size is a multiple of 512 plus a 32-byte SHA-256.
        assert_eq!(file.len() % 512, 32);
        let (body, sha) = file.split_at(file.len() - 32);
        assert_eq!(Sha256::digest(body).as_slice(), sha);
        assert!(body.starts_with(SNAPSHOT_MAGIC));
        let at = SNAPSHOT_MAGIC.len();
        let len = u64::from_le_bytes(body[at + 4..at + 12].try_into().unwrap()) as usize;
        let (decoded, alarms): (MvccStore, Vec<ddbb_libs::kv::AlarmMember>) =
            bincode::deserialize(&body[at + 12..at + 12 + len]).unwrap();
        assert_eq!(decoded, state.store);
        assert!(alarms.is_empty());
    }

    #[test]
    fn ballot_numbers_parse() {
        assert_eq!(ballot_number("7.0.2"), Some(7));
        assert_eq!(ballot_number(""), None);
    }
}
