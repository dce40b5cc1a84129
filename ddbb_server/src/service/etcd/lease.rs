//! `etcdserverpb.Lease`: LeaseGrant, LeaseRevoke, LeaseKeepAlive (a bidi stream),
//! LeaseTimeToLive, LeaseLeases.
//!
//! Grants, revocations and keepalives go through the log (see `replica::leases` for how time
//! works); TimeToLive and Leases are answered from the receiving replica's state and clock.

use std::sync::Arc;

use ddbb_libs::kv::{KvError, LeaseGrantRequest, WriteRequest, WriteResponse};
use ddbb_proto::etcdserverpb as pb;
use ddbb_proto::etcdserverpb::lease_server::Lease;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status, Streaming};

use super::{errors, Ctx};
use crate::replica::{self, LeaseAnswer, LeaseQuery};

/// Keepalive responses produced ahead of what the client has read.
const KEEPALIVES_AHEAD: usize = 16;

/// The Lease service.
pub struct LeaseService(pub(crate) Arc<Ctx>);

impl LeaseService {
    async fn query(&self, query: LeaseQuery) -> Result<(i64, LeaseAnswer), Status> {
        match self
            .0
            .call(|reply| replica::Request::Lease { query, reply })
            .await?
        {
            replica::Response::Lease(revision, answer) => Ok((revision, answer)),
            _ => Err(errors::internal()),
        }
    }
}

/// One keepalive: the TTL the lease was renewed for, 0 if it does not exist (as etcd).
async fn keep_alive(ctx: &Ctx, id: i64) -> Result<pb::LeaseKeepAliveResponse, Status> {
    let (revision, ttl) = match ctx.write(WriteRequest::LeaseKeepAlive(id)).await {
        Ok((revision, WriteResponse::LeaseKeepAlive(k))) => (revision, k.ttl),
        Ok(_) => return Err(errors::internal()),
        Err(e) if e.message() == KvError::LeaseNotFound.to_string() => (ctx.view().revision, 0),
        Err(e) => return Err(e),
    };
    Ok(pb::LeaseKeepAliveResponse {
        header: ctx.header(revision),
        id,
        ttl,
    })
}

#[tonic::async_trait]
impl Lease for LeaseService {
    async fn lease_grant(
        &self,
        request: Request<pb::LeaseGrantRequest>,
    ) -> Result<Response<pb::LeaseGrantResponse>, Status> {
        let r = request.into_inner();
        let op = WriteRequest::LeaseGrant(LeaseGrantRequest {
            ttl: r.ttl,
            id: r.id,
        });
        match self.0.write(op).await? {
            (revision, WriteResponse::LeaseGrant(g)) => Ok(Response::new(pb::LeaseGrantResponse {
                header: self.0.header(revision),
                id: g.id,
                ttl: g.ttl,
                error: String::new(),
            })),
            _ => Err(errors::internal()),
        }
    }

    async fn lease_revoke(
        &self,
        request: Request<pb::LeaseRevokeRequest>,
    ) -> Result<Response<pb::LeaseRevokeResponse>, Status> {
        let id = request.into_inner().id;
        let (revision, _) = self.0.write(WriteRequest::LeaseRevoke(id)).await?;
        Ok(Response::new(pb::LeaseRevokeResponse {
            header: self.0.header(revision),
        }))
    }

    async fn lease_keep_alive(
        &self,
        request: Request<Streaming<pb::LeaseKeepAliveRequest>>,
    ) -> Result<Response<BoxStream<pb::LeaseKeepAliveResponse>>, Status> {
        let mut requests = request.into_inner();
        let (tx, rx) = mpsc::channel(KEEPALIVES_AHEAD);
        let ctx = self.0.clone();
        tokio::spawn(async move {
            while let Ok(Some(req)) = requests.message().await {
                let response = keep_alive(&ctx, req.id).await;
                let failed = response.is_err();
                if tx.send(response).await.is_err() || failed {
                    return;
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn lease_time_to_live(
        &self,
        request: Request<pb::LeaseTimeToLiveRequest>,
    ) -> Result<Response<pb::LeaseTimeToLiveResponse>, Status> {
        let r = request.into_inner();
        let query = LeaseQuery::TimeToLive {
            id: r.id,
            keys: r.keys,
        };
        match self.query(query).await? {
            (revision, LeaseAnswer::TimeToLive(t)) => {
                Ok(Response::new(pb::LeaseTimeToLiveResponse {
                    header: self.0.header(revision),
                    id: t.id,
                    ttl: t.ttl,
                    granted_ttl: t.granted_ttl,
                    keys: t.keys,
                }))
            }
            _ => Err(errors::internal()),
        }
    }

    async fn lease_leases(
        &self,
        _request: Request<pb::LeaseLeasesRequest>,
    ) -> Result<Response<pb::LeaseLeasesResponse>, Status> {
        match self.query(LeaseQuery::List).await? {
            (revision, LeaseAnswer::List(ids)) => Ok(Response::new(pb::LeaseLeasesResponse {
                header: self.0.header(revision),
                leases: ids.into_iter().map(|id| pb::LeaseStatus { id }).collect(),
            })),
            _ => Err(errors::internal()),
        }
    }
}
