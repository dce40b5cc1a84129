//! etcd members: command line, leader, readiness.

use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use ddbb_proto::etcdserverpb::kv_client::KvClient;
use ddbb_proto::etcdserverpb::maintenance_client::MaintenanceClient;
use ddbb_proto::etcdserverpb::{PutRequest, StatusRequest, StatusResponse};

use crate::driver::{etcd_channel, status_text};

use super::{Cluster, CommandLine, Launcher, Timing};

/// etcd's recommended backend quota ceiling; the default 2 GiB could fill up during a long
/// run of 4 KiB puts (etcd keeps every revision until compaction).
const QUOTA_BACKEND_BYTES: u64 = 8 * 1024 * 1024 * 1024;

/// Program, arguments and environment of member `index`.
pub(super) fn command(
    launcher: &Launcher,
    cluster: &Cluster,
    index: usize,
    seq: usize,
) -> CommandLine {
    let name = |i: usize| format!("m{}", i + 1);
    let initial_cluster = cluster
        .members
        .iter()
        .map(|m| format!("{}=http://{}", name(m.index), m.peer_addr()))
        .collect::<Vec<_>>()
        .join(",");
    let m = &cluster.members[index];
    let peer_url = format!("http://{}", m.peer_addr());
    let client_url = format!("http://{}", m.client_addr());
    let mut args = vec![
        format!("--name={}", name(index)),
        format!("--data-dir={}", m.data_dir.display()),
        format!("--listen-peer-urls={peer_url}"),
        format!("--initial-advertise-peer-urls={peer_url}"),
        format!("--listen-client-urls={client_url}"),
        format!("--advertise-client-urls={client_url}"),
        format!("--initial-cluster={initial_cluster}"),
        "--initial-cluster-state=new".to_string(),
        format!(
            "--initial-cluster-token=ddbb-bench-{}-{seq}",
            std::process::id()
        ),
        format!("--quota-backend-bytes={QUOTA_BACKEND_BYTES}"),
        "--logger=zap".to_string(),
        "--log-outputs=stderr".to_string(),
        "--log-level=warn".to_string(),
    ];
    if cluster.timing == Timing::Matched {
        args.push("--heartbeat-interval=10".to_string());
        args.push("--election-timeout=100".to_string());
    }
    (launcher.etcd_bin.clone(), args, Vec::new())
}

/// Member `index`'s status (its id and the leader it knows), within 2 s.
async fn status(cluster: &Cluster, index: usize) -> Result<StatusResponse> {
    const TIMEOUT: Duration = Duration::from_secs(2);
    let endpoint = &cluster.endpoints()[index];
    let mut client = MaintenanceClient::new(etcd_channel(endpoint, TIMEOUT)?);
    match tokio::time::timeout(TIMEOUT, client.status(StatusRequest {})).await {
        Ok(Ok(response)) => Ok(response.into_inner()),
        Ok(Err(status)) => bail!("member {}: {}", index + 1, status_text(&status)),
        Err(_) => bail!("member {}: no status within {TIMEOUT:?}", index + 1),
    }
}

pub(super) async fn leader(cluster: &Cluster) -> Result<usize> {
    let mut ids = Vec::new();
    let mut leaders = Vec::new();
    for i in cluster.alive() {
        let status = status(cluster, i).await?;
        let me = status.header.map(|h| h.member_id).unwrap_or(0);
        ids.push((me, i));
        leaders.push(status.leader);
    }
    let Some(&leader) = leaders.first() else {
        bail!("no member is running");
    };
    if leader == 0 || leaders.iter().any(|l| *l != leader) {
        bail!("members do not agree on a leader: {leaders:x?}");
    }
    ids.iter()
        .find(|(id, _)| *id == leader)
        .map(|(_, i)| *i)
        .ok_or_else(|| anyhow!("the leader {leader:x} is not a running member"))
}

/// One write through any member: each endpoint in turn gets 3 s until one succeeds.
pub(super) async fn probe_write(cluster: &Cluster) -> Result<()> {
    const TIMEOUT: Duration = Duration::from_secs(3);
    let mut last = anyhow!("no endpoint");
    for endpoint in cluster.endpoints() {
        let mut kv = KvClient::new(etcd_channel(&endpoint, TIMEOUT)?);
        let put = PutRequest {
            key: "bench-probe".into(),
            value: "ready".into(),
            ..PutRequest::default()
        };
        match tokio::time::timeout(TIMEOUT, kv.put(put)).await {
            Ok(Ok(_)) => return Ok(()),
            Ok(Err(status)) => last = anyhow!("{endpoint}: {}", status_text(&status)),
            Err(_) => last = anyhow!("{endpoint}: no answer within {TIMEOUT:?}"),
        }
    }
    Err(last)
}
