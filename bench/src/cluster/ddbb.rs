//! DDBB replicas: command line, leader, readiness.

use std::time::Duration;

use anyhow::{anyhow, bail, Result};
use ddbb_client::{Client, ClientConfig};

use super::{Cluster, CommandLine, Launcher, Timing};

/// Log filter for replicas: warnings only, as etcd's `--log-level warn`.
const LOG_FILTER: &str = "warn";

/// Program, arguments and environment of replica `index`.
pub(super) fn command(launcher: &Launcher, cluster: &Cluster, index: usize) -> Result<CommandLine> {
    let peers = cluster
        .members
        .iter()
        .map(|m| format!("{}={}", m.index + 1, m.peer_addr()))
        .collect::<Vec<_>>()
        .join(",");
    let m = &cluster.members[index];
    let (program, mut args) = match &launcher.ddbb_bin {
        Some(bin) => (bin.clone(), Vec::new()),
        None => (std::env::current_exe()?, vec!["serve".to_string()]),
    };
    args.extend([
        "--id".to_string(),
        (index + 1).to_string(),
        "--peers".to_string(),
        peers,
        "--client-addr".to_string(),
        m.client_addr(),
        "--data-dir".to_string(),
        m.data_dir.display().to_string(),
        "--fsync=true".to_string(),
    ]);
    if let Some(grpc) = m.grpc_addr() {
        let grpc_peers = cluster
            .members
            .iter()
            .filter_map(|m| Some(format!("{}={}", m.index + 1, m.grpc_addr()?)))
            .collect::<Vec<_>>()
            .join(",");
        args.extend([
            "--grpc-addr".to_string(),
            grpc,
            "--grpc-peers".to_string(),
            grpc_peers,
        ]);
    }
    if cluster.timing == Timing::Matched {
        // The defaults, spelled out: a leader is suspected after one silent 100 ms round.
        args.extend([
            "--tick-ms=10".to_string(),
            "--election-ticks=10".to_string(),
        ]);
    }
    args.extend(launcher.ddbb_args.iter().cloned());
    Ok((program, args, vec![("RUST_LOG", LOG_FILTER.to_string())]))
}

/// A client for member `index` only, with short timeouts (for status probes).
fn probe_client(cluster: &Cluster, index: usize) -> Result<Client> {
    let mut config = ClientConfig::new([cluster.members[index].client_addr()])
        .with_timeout(Duration::from_secs(2));
    config.attempt_timeout = Duration::from_secs(1);
    Ok(Client::new(config)?)
}

pub(super) async fn leader(cluster: &Cluster) -> Result<usize> {
    let alive = cluster.alive();
    let mut leaders = Vec::new();
    for &i in &alive {
        let status = probe_client(cluster, i)?
            .status()
            .await
            .map_err(|e| anyhow!("replica {}: {e}", i + 1))?;
        leaders.push((
            status.leader,
            status.is_leader && status.leader == i as u64 + 1,
        ));
    }
    let Some(&(leader, _)) = leaders.first() else {
        bail!("no replica is running");
    };
    if leader == 0 || leaders.iter().any(|(l, _)| *l != leader) {
        bail!("replicas do not agree on a leader: {leaders:?}");
    }
    if !leaders.iter().any(|(_, confirmed)| *confirmed) {
        bail!("replica {leader} does not confirm it leads");
    }
    let index = leader as usize - 1;
    if !alive.contains(&index) {
        bail!("the leader {leader} is not running");
    }
    Ok(index)
}

pub(super) async fn probe_write(cluster: &Cluster) -> Result<()> {
    let resp: Vec<String> = cluster.members.iter().map(|m| m.client_addr()).collect();
    let mut config = ClientConfig::new(resp).with_timeout(Duration::from_secs(3));
    config.attempt_timeout = Duration::from_secs(1);
    let client = Client::new(config)?;
    client.put("bench-probe", "ready").await?;
    Ok(())
}
