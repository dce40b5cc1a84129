//! `etcdserverpb.KV`: Range, Put, DeleteRange, Txn, Compact.
//!
//! Writes go to the loop as `Request::Write` without a request id (the replica assigns one
//! and re-proposes under it, so each is applied exactly once); ranges as `Request::Read`,
//! linearizable unless `serializable`. The Txn operation limit (`--max-txn-ops`) and the
//! duplicate-key rule are checked by the replica before proposing, as for RESP.

use std::sync::Arc;

use ddbb_libs::kv::{KvError, WriteRequest, WriteResponse};
use ddbb_libs::Consistency;
use ddbb_proto::etcdserverpb as pb;
use ddbb_proto::etcdserverpb::kv_server::Kv;
use tonic::{Request, Response, Status};

use super::{convert, errors, Ctx};
use crate::replica::{self, ReadOutcome};

/// The KV service.
pub struct KvService(pub(crate) Arc<Ctx>);

impl KvService {
    /// Proposes `op` and waits for its outcome.
    async fn write(&self, op: WriteRequest) -> Result<(i64, WriteResponse), Status> {
        self.0.write(op).await
    }
}

fn empty_key() -> Status {
    errors::kv_error(&KvError::EmptyKey)
}

#[tonic::async_trait]
impl Kv for KvService {
    async fn range(
        &self,
        request: Request<pb::RangeRequest>,
    ) -> Result<Response<pb::RangeResponse>, Status> {
        let request = request.into_inner();
        self.0.check_size(&request)?;
        if request.key.is_empty() {
            return Err(empty_key());
        }
        let query = convert::range_request(request)?;
        let consistency = if query.serializable {
            Consistency::Serializable
        } else {
            Consistency::Linearizable
        };
        let response = self
            .0
            .call(|reply| replica::Request::Read {
                query,
                consistency,
                reply,
            })
            .await?;
        match response {
            replica::Response::Read(ReadOutcome { revision, result }) => {
                let r = result.map_err(|e| errors::kv_error(&e))?;
                Ok(Response::new(convert::range_response(
                    r,
                    self.0.header(revision),
                )))
            }
            _ => Err(errors::internal()),
        }
    }

    async fn put(
        &self,
        request: Request<pb::PutRequest>,
    ) -> Result<Response<pb::PutResponse>, Status> {
        let request = request.into_inner();
        self.0.check_size(&request)?;
        if request.key.is_empty() {
            return Err(empty_key());
        }
        match self
            .write(WriteRequest::Put(convert::put_request(request)))
            .await?
        {
            (revision, WriteResponse::Put(r)) => Ok(Response::new(convert::put_response(
                r,
                self.0.header(revision),
            ))),
            _ => Err(errors::internal()),
        }
    }

    async fn delete_range(
        &self,
        request: Request<pb::DeleteRangeRequest>,
    ) -> Result<Response<pb::DeleteRangeResponse>, Status> {
        let request = request.into_inner();
        self.0.check_size(&request)?;
        if request.key.is_empty() {
            return Err(empty_key());
        }
        let op = WriteRequest::DeleteRange(convert::delete_request(request));
        match self.write(op).await? {
            (revision, WriteResponse::DeleteRange(r)) => Ok(Response::new(
                convert::delete_response(r, self.0.header(revision)),
            )),
            _ => Err(errors::internal()),
        }
    }

    async fn txn(
        &self,
        request: Request<pb::TxnRequest>,
    ) -> Result<Response<pb::TxnResponse>, Status> {
        let request = request.into_inner();
        self.0.check_size(&request)?;
        let op = WriteRequest::Txn(convert::txn_request(request)?);
        match self.write(op).await? {
            (revision, WriteResponse::Txn(r)) => Ok(Response::new(convert::txn_response(
                r,
                self.0.header(revision),
                revision,
            ))),
            _ => Err(errors::internal()),
        }
    }

    async fn compact(
        &self,
        request: Request<pb::CompactionRequest>,
    ) -> Result<Response<pb::CompactionResponse>, Status> {
        let request = request.into_inner();
        let op = WriteRequest::Compact(convert::compaction_request(request));
        match self.write(op).await? {
            (revision, WriteResponse::Compact(_)) => Ok(Response::new(pb::CompactionResponse {
                header: self.0.header(revision),
            })),
            _ => Err(errors::internal()),
        }
    }
}
