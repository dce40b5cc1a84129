//! `etcdserverpb.Cluster`: MemberList from the configuration. Membership changes (MemberAdd,
//! MemberRemove, MemberUpdate, MemberPromote) answer `Unimplemented` until DDBB has them.
//!
//! A member's id is its replica id, its name `ddbb-<id>`, its peer URL `http://<peer addr>`
//! and its client URL `http://<gRPC addr>`: this replica's `--grpc-addr`, the others' from
//! `--grpc-peers` (a member whose gRPC address is not known has no client URL, so
//! `etcdctl --cluster` skips it).

use std::sync::Arc;

use ddbb_proto::etcdserverpb as pb;
use ddbb_proto::etcdserverpb::cluster_server::Cluster;
use tonic::{Request, Response, Status};

use super::{Ctx, MemberInfo};

/// The Cluster service.
pub struct ClusterService(pub(crate) Arc<Ctx>);

/// How `MemberList` shows one member.
pub fn member(info: &MemberInfo) -> pb::Member {
    pb::Member {
        id: info.id,
        name: format!("ddbb-{}", info.id),
        peer_ur_ls: vec![format!("http://{}", info.peer_addr)],
        client_ur_ls: info
            .grpc_addr
            .iter()
            .map(|a| format!("http://{a}"))
            .collect(),
        is_learner: false,
    }
}

#[tonic::async_trait]
impl Cluster for ClusterService {
    async fn member_list(
        &self,
        _request: Request<pb::MemberListRequest>,
    ) -> Result<Response<pb::MemberListResponse>, Status> {
        Ok(Response::new(pb::MemberListResponse {
            header: self.0.header(self.0.view().revision),
            members: self.0.config().members.iter().map(member).collect(),
        }))
    }
}
