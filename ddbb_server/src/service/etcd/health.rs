//! `grpc.health.v1.Health`: `SERVING` while this replica knows a leader, else `NOT_SERVING`,
//! for the whole server (`""`) and for `etcdserverpb.KV`; other service names are
//! `NotFound`, as gRPC's standard health server answers. `Watch` answers `Unimplemented`.

use std::sync::Arc;

use ddbb_proto::health::health_check_response::ServingStatus;
use ddbb_proto::health::health_server::Health;
use ddbb_proto::health::{HealthCheckRequest, HealthCheckResponse};
use tonic::{Request, Response, Status};

use super::Ctx;

/// The health service.
pub struct HealthService(pub(crate) Arc<Ctx>);

#[tonic::async_trait]
impl Health for HealthService {
    async fn check(
        &self,
        request: Request<HealthCheckRequest>,
    ) -> Result<Response<HealthCheckResponse>, Status> {
        match request.get_ref().service.as_str() {
            "" | "etcdserverpb.KV" => {}
            _ => return Err(Status::not_found("unknown service")),
        }
        let status = if self.0.view().leader != 0 {
            ServingStatus::Serving
        } else {
            ServingStatus::NotServing
        };
        Ok(Response::new(HealthCheckResponse {
            status: status as i32,
        }))
    }
}
