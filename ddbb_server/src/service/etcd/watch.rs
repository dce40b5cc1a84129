//! `etcdserverpb.Watch`: the bidirectional Watch stream. Each stream is one
//! [`crate::watch::session`] task; this file only maps protobuf requests to
//! [`WatchCommand`]s and typed responses back, with etcd's header.

use std::sync::Arc;

use ddbb_proto::etcdserverpb as pb;
use ddbb_proto::etcdserverpb::watch_request::RequestUnion;
use ddbb_proto::etcdserverpb::watch_server::Watch;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;
use tonic::codegen::BoxStream;
use tonic::{Request, Response, Status, Streaming};

use super::{convert, Ctx};
use crate::watch::{session, WatchCommand};

/// Responses produced ahead of what the client has read; past it the stream stops producing
/// until the client reads (etcd's watch stream buffers 128).
const RESPONSES_AHEAD: usize = 16;

/// The Watch service.
pub struct WatchService(pub(crate) Arc<Ctx>);

/// The command a request carries (`None`: an empty request, which etcd ignores).
fn command(req: pb::WatchRequest) -> Option<WatchCommand> {
    match req.request_union? {
        RequestUnion::CreateRequest(c) => Some(WatchCommand::Create(convert::watch_create(c))),
        RequestUnion::CancelRequest(c) => Some(WatchCommand::Cancel(c.watch_id)),
        RequestUnion::ProgressRequest(_) => Some(WatchCommand::Progress),
    }
}

#[tonic::async_trait]
impl Watch for WatchService {
    async fn watch(
        &self,
        request: Request<Streaming<pb::WatchRequest>>,
    ) -> Result<Response<BoxStream<pb::WatchResponse>>, Status> {
        let commands = request.into_inner().filter_map(|r| match r {
            Ok(req) => command(req).map(Ok),
            Err(e) => Some(Err(e)),
        });
        let (tx, rx) = mpsc::channel(RESPONSES_AHEAD);
        tokio::spawn(session::run(self.0.watch.clone(), Box::pin(commands), tx));
        let ctx = self.0.clone();
        let responses = ReceiverStream::new(rx).map(move |r| {
            let header = ctx.header(r.revision);
            Ok(convert::watch_response(r, header))
        });
        Ok(Response::new(Box::pin(responses)))
    }
}
