//! Durability with real processes: kill -9 under load, whole-cluster crash, catch-up through a
//! snapshot, a full disk, and the guard against a replica that lost its disk.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use ddbb_libs::Frame;
use ddbb_server::storage::disk::{journal, CrashModel, PowerCut};

/// What a writer knows about one key: the last acknowledged value, and values written after it
/// whose outcome is unknown (they may or may not have taken effect).
#[derive(Default, Clone, Debug)]
struct KeyLedger {
    acked: Option<String>,
    unknown_after: Vec<String>,
}

type Ledger = Arc<Mutex<HashMap<String, KeyLedger>>>;

/// Writes unique values to its own keys until `until`, moving to another replica on failure.
async fn writer(
    id: usize,
    addrs: Vec<std::net::SocketAddr>,
    ledger: Ledger,
    until: Instant,
) -> (u64, u64) {
    let (mut acked, mut failed) = (0u64, 0u64);
    let mut target = id % addrs.len();
    let mut client: Option<TestClient> = None;
    let mut n = 0u64;
    while Instant::now() < until {
        if client.is_none() {
            target = (target + 1) % addrs.len();
            client =
                tokio::time::timeout(Duration::from_secs(1), TestClient::connect(addrs[target]))
                    .await
                    .ok()
                    .and_then(|c| c.ok());
            if client.is_none() {
                continue;
            }
        }
        n += 1;
        let key = format!("w{id}-k{}", n % 5);
        let value = format!("w{id}-v{n}");
        let c = client.as_mut().expect("connected");
        let reply =
            tokio::time::timeout(Duration::from_secs(4), c.try_cmd(&["SET", &key, &value])).await;
        let mut ledger = ledger.lock().expect("ledger");
        let entry = ledger.entry(key).or_default();
        match reply {
            Ok(Ok(Frame::Simple(s))) if s == "OK" => {
                entry.acked = Some(value);
                entry.unknown_after.clear();
                acked += 1;
            }
            _ => {
                // Timeout, error reply or broken connection: the write may have happened.
                entry.unknown_after.push(value);
                failed += 1;
                client = None;
            }
        }
    }
    (acked, failed)
}

/// Reads every key of the ledger linearizably and checks it against what was acknowledged.
async fn check_ledger(cluster: &Cluster, ledger: &Ledger) -> usize {
    let ledger = ledger.lock().expect("ledger").clone();
    let mut checked = 0;
    for id in cluster.alive() {
        let mut c = TestClient::connect_when_up(cluster.addr(id)).await;
        for (key, known) in &ledger {
            let got = c.cmd(&["GET", key]).await;
            let got = match got {
                Frame::Bulk(b) => Some(String::from_utf8_lossy(&b).into_owned()),
                Frame::Null => None,
                other => panic!("GET {key} on replica {id}: {other:?}"),
            };
            let allowed = got == known.acked
                || got
                    .as_ref()
                    .is_some_and(|v| known.unknown_after.contains(v));
            assert!(
                allowed,
                "replica {id}, key {key}: read {got:?}, last acknowledged {:?}, unknown after it {:?}",
                known.acked, known.unknown_after
            );
            checked += 1;
        }
    }
    checked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9_of_any_replica_and_of_all_at_once() {
    let mut cluster = Cluster::start(
        3,
        &["--request-timeout-ms", "2000", "--snapshot-every", "100"],
    );
    cluster.wait_for_leader().await;
    let ledger: Ledger = Arc::default();
    let until = Instant::now() + Duration::from_secs(14);
    let writers = spawn_writers(&cluster, &ledger, until);

    // Nemesis: kill -9 a replica every ~2 s (a different one each time, the leader included)
    // and restart it at once, while the writers run.
    let mut kills = 0;
    let mut victim = 1u64;
    while Instant::now() + Duration::from_secs(2) < until {
        tokio::time::sleep(Duration::from_millis(1800)).await;
        cluster.kill(victim);
        cluster.restart(victim);
        kills += 1;
        victim = victim % 3 + 1;
    }
    let acked = acknowledged(writers).await;
    assert!(kills >= 4, "only {kills} kills");
    assert!(
        acked > 100,
        "only {acked} acknowledged writes: the cluster barely worked"
    );

    // Power cut: every replica at once, then all back.
    for id in 1..=3 {
        cluster.kill(id);
    }
    for id in 1..=3 {
        cluster.restart(id);
    }
    cluster.wait_for_leader().await;
    let checked = check_ledger(&cluster, &ledger).await;
    assert_eq!(checked, 3 * 40, "8 writers x 5 keys, read on 3 replicas");
    for id in 1..=3 {
        let st = status(cluster.addr(id)).await.expect("status");
        assert!(st.wal_bytes > 0, "replica {id} has a WAL");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_far_behind_catches_up_through_a_snapshot() {
    let mut cluster = Cluster::start(3, &["--snapshot-every", "20"]);
    let leader = cluster.wait_for_leader().await;
    let lagger = leader % 3 + 1;
    cluster.kill(lagger);
    let mut c = TestClient::connect_when_up(cluster.addr(leader)).await;
    // 300 writes over 10 keys: a small state, so a snapshot every 20 writes.
    for i in 0..300 {
        let (key, value) = (format!("key{}", i % 10), format!("v{i}"));
        assert_eq!(c.cmd(&["SET", &key, &value]).await, ok());
    }
    let before = status(cluster.addr(leader)).await.expect("status");
    assert!(
        before.compacted_index >= 250,
        "the leader compacted its log: {before:?}"
    );
    cluster.restart(lagger);
    let mut deadline = Deadline::new("the restarted replica to catch up");
    loop {
        if let Ok(st) = status(cluster.addr(lagger)).await {
            if st.applied_index >= before.decided_index && st.snapshot_index > 0 {
                break;
            }
        }
        deadline.pause().await;
    }
    let mut r = TestClient::connect_when_up(cluster.addr(lagger)).await;
    for k in 0..10 {
        assert_eq!(
            r.cmd(&["GET", &format!("key{k}")]).await,
            bulk(&format!("v{}", 290 + k))
        );
    }
    assert_eq!(
        r.cmd(&["RANGE", "key", "", "COUNTONLY"]).await,
        Frame::Integer(10)
    );
    let leader_status = status(cluster.addr(leader)).await.expect("status");
    let lagger_status = status(cluster.addr(lagger)).await.expect("status");
    assert_eq!(leader_status.revision, lagger_status.revision);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_whose_disk_was_wiped_refuses_to_rejoin_without_join() {
    let mut cluster = Cluster::start(3, &[]);
    let leader = cluster.wait_for_leader().await;
    let mut c = TestClient::connect_when_up(cluster.addr(leader)).await;
    assert_eq!(c.cmd(&["SET", "k", "v"]).await, ok());
    let victim = leader % 3 + 1;
    // Let the victim take part (its Accepted/Promise makes peers record it as a member).
    let mut deadline = Deadline::new("the victim to apply the write");
    while status(cluster.addr(victim))
        .await
        .map(|s| s.keys)
        .unwrap_or(0)
        < 1
    {
        deadline.pause().await;
    }
    cluster.kill(victim);
    std::fs::remove_dir_all(cluster.data_dir(victim)).expect("wipe");
    cluster.restart(victim);
    let exit = cluster.wait_exit(victim).await;
    assert!(!exit.success(), "a wiped replica must refuse to start");
    let log = cluster.log(victim);
    assert!(log.contains("--join"), "the error names the way out: {log}");

    cluster.restart_with(victim, &["--join"]);
    let mut r = TestClient::connect_when_up(cluster.addr(victim)).await;
    assert_eq!(r.cmd(&["GET", "k"]).await, bulk("v"));
    assert_eq!(r.cmd(&["SET", "k2", "v2"]).await, ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_replica_starting_late_on_an_empty_dir_joins() {
    // Replicas 1 and 2 form the cluster and write; 3 starts late on an empty data dir.
    // Nobody has seen it take part, so the guard lets it join.
    let mut cluster = Cluster::configure(3, &[]);
    cluster.restart(1);
    cluster.restart(2);
    let leader = cluster.wait_for_leader().await;
    let mut c = TestClient::connect_when_up(cluster.addr(leader)).await;
    assert_eq!(c.cmd(&["SET", "early", "1"]).await, ok());
    cluster.restart(3);
    let mut r = TestClient::connect_when_up(cluster.addr(3)).await;
    let mut deadline = Deadline::new("the late replica to serve the early write");
    while r.cmd(&["GET", "early"]).await != bulk("1") {
        deadline.pause().await;
    }
}

/// Mounts a small tmpfs for a replica's data dir; `None` where the machine does not allow it.
fn small_tmpfs(path: &std::path::Path, size: &str) -> Option<()> {
    std::fs::create_dir_all(path).ok()?;
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(path)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !ok {
        eprintln!("SKIPPED: cannot mount a tmpfs here (needs root)");
        return None;
    }
    Some(())
}

struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_stops_the_replica_cleanly_and_it_recovers_when_space_is_back() {
    let mut cluster = Cluster::start(3, &["--snapshot-every", "0"]);
    let leader = cluster.wait_for_leader().await;
    let victim = leader % 3 + 1;
    // Move the victim's data dir onto a 2 MiB tmpfs.
    cluster.kill(victim);
    let dir = cluster.data_dir(victim);
    let saved = cluster.dir.path().join("saved");
    std::fs::rename(&dir, &saved).expect("move data dir");
    if small_tmpfs(&dir, "2m").is_none() {
        return;
    }
    let _unmount = Unmount(dir.clone());
    let copy = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", saved.display()))
        .arg(&dir)
        .status()
        .expect("cp");
    assert!(copy.success());
    cluster.restart(victim);

    // Fill it: 1 KiB values through the leader until the victim dies of ENOSPC.
    let mut c = TestClient::connect_when_up(cluster.addr(leader)).await;
    let value = "x".repeat(1024);
    let mut deadline = Deadline::new("the victim to stop on a full disk");
    let mut written = 0;
    loop {
        for _ in 0..50 {
            assert_eq!(
                c.cmd(&["SET", &format!("fill{written}"), &value]).await,
                ok()
            );
            written += 1;
        }
        if let Some(status) = cluster.try_exit(victim) {
            assert!(!status.success(), "exit status on ENOSPC must be an error");
            break;
        }
        deadline.pause().await;
    }
    let log = cluster.log(victim);
    assert!(
        log.contains("storage failure") || log.contains("No space left"),
        "a clear error: {log}"
    );
    // The others carry on, and the victim comes back once there is space again.
    assert_eq!(c.cmd(&["SET", "after", "full"]).await, ok());
    let grown = std::process::Command::new("mount")
        .args(["-o", "remount,size=64m"])
        .arg(&dir)
        .status()
        .expect("remount");
    assert!(grown.success());
    cluster.restart(victim);
    let mut r = TestClient::connect_when_up(cluster.addr(victim)).await;
    let mut deadline = Deadline::new("the victim to catch up after the disk was grown");
    while r.cmd(&["GET", "after"]).await != bulk("full") {
        deadline.pause().await;
    }
    assert_eq!(r.cmd(&["GET", "fill0"]).await, bulk(&value));
    cluster.kill(victim);
}

/// A whole-cluster power cut: kill -9 every replica, replay each one's I/O journal onto the
/// model of its disk, and replace its data dir with what the cut leaves (synced file data,
/// directory entries as of their directory's last fsync).
fn cut_power(cluster: &mut Cluster, disks: &mut [CrashModel], journals: &[PathBuf]) {
    for id in 1..=3 {
        cluster.kill(id);
    }
    for id in 1..=3u64 {
        let model = &mut disks[id as usize - 1];
        let ops = journal::replay(model, &journals[id as usize - 1]).expect("replay journal");
        *model = model.power_cut(PowerCut::SyncedOnly);
        let dir = cluster.data_dir(id);
        std::fs::remove_dir_all(&dir).expect("remove the data dir");
        if model.exists(&dir) {
            model
                .materialize(&dir, &dir)
                .expect("materialize the data dir");
        }
        assert!(
            dir.join("wal").exists(),
            "replica {id}'s WAL did not survive the cut ({ops} journaled operations)"
        );
    }
}

/// Starts 8 writers that run until `until`.
fn spawn_writers(
    cluster: &Cluster,
    ledger: &Ledger,
    until: Instant,
) -> Vec<tokio::task::JoinHandle<(u64, u64)>> {
    (0..8)
        .map(|i| {
            tokio::spawn(writer(
                i,
                cluster.client_addrs.clone(),
                ledger.clone(),
                until,
            ))
        })
        .collect()
}

/// Waits for the writers; returns how many writes they had acknowledged.
async fn acknowledged(writers: Vec<tokio::task::JoinHandle<(u64, u64)>>) -> u64 {
    let mut acked = 0;
    for w in writers {
        acked += w.await.expect("writer").0;
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn power_cut_of_the_whole_cluster_keeps_every_acknowledged_write() {
    let mut cluster = Cluster::configure(3, &["--request-timeout-ms", "2000"]);
    let root = cluster.dir.path().to_path_buf();
    let mut disks: Vec<CrashModel> = (0..3)
        .map(|_| CrashModel::with_dirs(&[&root]).expect("model"))
        .collect();
    let ledger: Ledger = Arc::default();
    // Two rounds: a fresh cluster without snapshots (new data dirs and first segments must be
    // durable by themselves), then one that checkpoints every 300 writes.
    for (round, snapshot_every) in [(1, "0"), (2, "300")] {
        let journals: Vec<PathBuf> = (1..=3)
            .map(|id| root.join(format!("replica-{id}.journal{round}")))
            .collect();
        for id in 1..=3u64 {
            let j = journals[id as usize - 1].to_string_lossy().into_owned();
            cluster.restart_with(
                id,
                &[
                    "--io-journal",
                    &j,
                    "--snapshot-every",
                    snapshot_every,
                    "--checkpoint-min-bytes",
                    "0",
                ],
            );
        }
        cluster.wait_for_leader().await;
        let until = Instant::now() + Duration::from_secs(4);
        let acked = acknowledged(spawn_writers(&cluster, &ledger, until)).await;
        assert!(
            acked > 100,
            "round {round}: only {acked} acknowledged writes"
        );
        cut_power(&mut cluster, &mut disks, &journals);
        println!("power cut drill, round {round}: {acked} acknowledged writes before the cut");
    }
    for id in 1..=3 {
        cluster.restart(id);
    }
    cluster.wait_for_leader().await;
    let checked = check_ledger(&cluster, &ledger).await;
    assert_eq!(checked, 3 * 40, "8 writers x 5 keys, read on 3 replicas");
}
