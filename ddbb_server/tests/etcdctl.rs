//! The real `etcdctl` (Debian's `etcd-client`, ETCDCTL_API=3) against a 3-replica DDBB on its
//! etcd gRPC port, unchanged. Where the expected output is not obvious, the same script runs
//! against a real `etcd` (Debian's `etcd-server`) and the outputs are compared, after zeroing
//! what legitimately differs (cluster id, member id, raft term).
//!
//! Without the tools the tests say that they skipped, except under CI (`CI=true`), where a
//! missing tool is a failure (`scripts/test` installs them).

mod common;

use std::net::SocketAddr;
use std::process::{Command, Stdio};

use common::*;
use serde_json::Value;

/// What one etcdctl call printed.
#[derive(Debug, PartialEq, Eq)]
struct Out {
    ok: bool,
    stdout: String,
    /// The `Error: ...` line, if any (the rest of stderr is timestamped client logging).
    error: String,
}

/// etcdctl against a fixed list of endpoints.
struct Ctl {
    bin: String,
    endpoints: String,
}

impl Ctl {
    fn new(bin: &str, endpoints: &[SocketAddr]) -> Ctl {
        let eps: Vec<String> = endpoints.iter().map(|a| a.to_string()).collect();
        Ctl {
            bin: bin.to_string(),
            endpoints: eps.join(","),
        }
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Out {
        let mut cmd = Command::new(&self.bin);
        cmd.env("ETCDCTL_API", "3")
            .args(["--endpoints", &self.endpoints, "--command-timeout=10s"])
            .args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn etcdctl");
        if let Some(text) = stdin {
            use std::io::Write;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(text.as_bytes())
                .expect("write stdin");
        }
        let out = child.wait_with_output().expect("etcdctl output");
        let stderr = String::from_utf8_lossy(&out.stderr);
        Out {
            ok: out.status.success(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            error: stderr
                .lines()
                .filter(|l| l.starts_with("Error:"))
                .collect::<Vec<_>>()
                .join("\n"),
        }
    }

    /// Runs and asserts success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args, None);
        assert!(out.ok, "etcdctl {args:?} failed: {out:?}");
        out.stdout
    }

    /// Waits until `endpoint health` passes (the server is up and has a leader).
    async fn wait_healthy(&self) {
        wait_until(&format!("{} to be healthy", self.endpoints), || async {
            self.run(&["endpoint", "health"], None).ok.then_some(())
        })
        .await;
    }
}

/// A 3-replica DDBB with etcdctl pointed at a follower's gRPC port, once it is healthy.
async fn ddbb_through_a_follower(ctl_bin: &str) -> (Cluster, Ctl) {
    let cluster = Cluster::start_grpc(3, &[]);
    let leader = cluster.wait_for_leader().await;
    let follower = if leader == 1 { 2 } else { 1 };
    let ctl = Ctl::new(ctl_bin, &[cluster.grpc(follower)]);
    ctl.wait_healthy().await;
    (cluster, ctl)
}

/// A real etcd with etcdctl pointed at it, once healthy; `None` without etcd installed.
async fn real_etcd(ctl_bin: &str) -> Option<(RealEtcd, Ctl)> {
    let etcd_bin = tool("etcd", "etcd-server")?;
    let etcd = RealEtcd::start(&etcd_bin);
    let ctl = Ctl::new(ctl_bin, &[etcd.client]);
    ctl.wait_healthy().await;
    Some((etcd, ctl))
}

/// Zeroes what differs between clusters in etcdctl's output: the header's cluster id, member
/// id and raft term (JSON and `-w fields`).
fn normalize(out: Out) -> Out {
    fn zero(v: &mut Value) {
        match v {
            Value::Object(map) => {
                for (k, x) in map.iter_mut() {
                    if matches!(k.as_str(), "cluster_id" | "member_id" | "raft_term") {
                        *x = Value::from(0);
                    } else {
                        zero(x);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(zero),
            _ => {}
        }
    }
    let json = out.stdout.starts_with('{') || out.stdout.starts_with('[');
    let stdout = match serde_json::from_str::<Value>(&out.stdout)
        .ok()
        .filter(|_| json)
    {
        Some(mut v) => {
            zero(&mut v);
            v.to_string()
        }
        None => out
            .stdout
            .lines()
            .map(|l| {
                for field in ["\"ClusterID\"", "\"MemberID\"", "\"RaftTerm\""] {
                    if l.starts_with(field) {
                        return format!("{field} : 0\n");
                    }
                }
                format!("{l}\n")
            })
            .collect(),
    };
    Out { stdout, ..out }
}

const TXN_A_IS_4444: &str = "value(\"a\") = \"4444\"\n\nput t yes\n\nput t no\n\n";
const TXN_A_IS_NOPE: &str = "value(\"a\") = \"nope\"\n\nput t yes\nget a\n\nput t no\nget a\n\n";

/// The script both DDBB and etcd run: (args, stdin). Revisions are the same on both (each
/// starts at 1 and the first write gets 2).
fn script() -> Vec<(Vec<&'static str>, Option<&'static str>)> {
    let c = |args: &[&'static str]| (args.to_vec(), None);
    vec![
        c(&["put", "a", "1"]),
        c(&["put", "b", "22"]),
        c(&["put", "c", "333"]),
        c(&["put", "a", "4444", "-w", "json"]),
        c(&["put", "p/x", "1"]),
        c(&["put", "p/y", "2", "--prev-kv"]),
        c(&["put", "p/y", "3", "--prev-kv", "-w", "json"]),
        c(&["get", "a"]),
        c(&["get", "a", "-w", "json"]),
        c(&["get", "--prefix", "p/", "-w", "json"]),
        c(&["get", "--prefix", "p/", "--keys-only"]),
        c(&["get", "b", "--from-key"]),
        c(&["get", "a", "--from-key", "--limit", "2", "-w", "json"]),
        c(&[
            "get",
            "a",
            "--from-key",
            "--sort-by=MODIFY",
            "--order=DESCEND",
        ]),
        c(&[
            "get",
            "a",
            "--from-key",
            "--sort-by=VALUE",
            "--order=ASCEND",
            "--keys-only",
        ]),
        c(&[
            "get",
            "a",
            "--from-key",
            "--sort-by=VERSION",
            "--limit",
            "1",
        ]),
        c(&["get", "a", "--rev", "3", "-w", "json"]),
        c(&["get", "a", "--consistency", "s", "-w", "fields"]),
        c(&["get", "nothing", "-w", "json"]),
        (vec!["txn", "-w", "json"], Some(TXN_A_IS_4444)),
        (vec!["txn"], Some(TXN_A_IS_NOPE)),
        (vec!["txn", "-w", "json"], Some(TXN_A_IS_NOPE)),
        c(&["del", "--prev-kv", "t", "-w", "json"]),
        c(&["del", "--prefix", "p/"]),
        c(&["del", "nothing"]),
        c(&["compact", "5"]),
        c(&["get", "a", "--rev", "3"]),
        c(&["get", "a", "--rev", "1000"]),
        c(&["get", "a", "--rev", "5"]),
        c(&["alarm", "list"]),
    ]
}

fn run_script(ctl: &Ctl) -> Vec<Out> {
    script()
        .into_iter()
        .map(|(args, stdin)| normalize(ctl.run(&args, stdin)))
        .collect()
}

/// The script through a follower, compared step by step with a real etcd's output (or, without
/// etcd, against the expectations that do not need it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_kv_matches_real_etcd() {
    let Some(ctl_bin) = tool("etcdctl", "etcd-client") else {
        return;
    };
    let (_cluster, ddbb) = ddbb_through_a_follower(&ctl_bin).await;
    let got = run_script(&ddbb);

    // What does not need etcd to be known.
    let at = |args: &[&str]| {
        let i = script()
            .iter()
            .position(|(a, _)| a == args)
            .expect("step in script");
        &got[i]
    };
    assert_eq!(at(&["put", "a", "1"]).stdout, "OK\n");
    assert_eq!(at(&["get", "a"]).stdout, "a\n4444\n");
    assert_eq!(
        at(&["get", "b", "--from-key"]).stdout,
        "b\n22\nc\n333\np/x\n1\np/y\n3\n"
    );
    assert_eq!(
        at(&["get", "--prefix", "p/", "--keys-only"]).stdout,
        "p/x\n\np/y\n\n"
    );
    assert_eq!(
        at(&["get", "a", "--rev", "3"]).error,
        "Error: etcdserver: mvcc: required revision has been compacted"
    );
    assert_eq!(
        at(&["get", "a", "--rev", "1000"]).error,
        "Error: etcdserver: mvcc: required revision is a future revision"
    );
    assert_eq!(at(&["txn"]).stdout, "FAILURE\n\nOK\n\na\n4444\n");
    assert_eq!(at(&["compact", "5"]).stdout, "compacted revision 5\n");
    assert_eq!(at(&["del", "--prefix", "p/"]).stdout, "2\n");
    for (step, out) in script().iter().zip(&got) {
        let expect_ok = !matches!(step.0.as_slice(), ["get", "a", "--rev", "3" | "1000"]);
        assert_eq!(out.ok, expect_ok, "{step:?}: {out:?}");
    }

    let Some((_etcd, real)) = real_etcd(&ctl_bin).await else {
        return;
    };
    let want = run_script(&real);
    for ((step, got), want) in script().iter().zip(&got).zip(&want) {
        assert_eq!(got, want, "DDBB and etcd differ on etcdctl {:?}", step.0);
    }
}

/// Maintenance and Cluster through etcdctl, through a follower, then after the leader is
/// killed: endpoint status/health/hashkv, member list, alarm list, snapshot save.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_maintenance_and_cluster_survive_a_leader_kill() {
    let Some(ctl_bin) = tool("etcdctl", "etcd-client") else {
        return;
    };
    let mut cluster = Cluster::start_grpc(3, &[]);
    let leader = cluster.wait_for_leader().await;
    let follower = if leader == 1 { 2 } else { 1 };
    let all = Ctl::new(&ctl_bin, &cluster.grpc_addrs);
    let via_follower = Ctl::new(&ctl_bin, &[cluster.grpc(follower)]);
    via_follower.wait_healthy().await;

    for i in 0..10 {
        via_follower.ok(&["put", &format!("k{i}"), &format!("v{i}")]);
    }

    // member list: ids, names, peer and client (gRPC) URLs.
    let members: Value =
        serde_json::from_str(&via_follower.ok(&["member", "list", "-w", "json"])).unwrap();
    let members = members["members"].as_array().expect("members").clone();
    assert_eq!(members.len(), 3);
    for (i, m) in members.iter().enumerate() {
        let id = i as u64 + 1;
        assert_eq!(m["ID"].as_u64(), Some(id), "{m}");
        assert_eq!(m["name"], format!("ddbb-{id}"));
        assert_eq!(m["clientURLs"][0], format!("http://{}", cluster.grpc(id)));
    }
    // `endpoint health --cluster` dials every member's client URL.
    let health = via_follower.run(&["endpoint", "health", "--cluster"], None);
    assert!(health.ok, "{health:?}");

    // endpoint status: every replica names the same leader; revision 11 after 10 puts.
    let status: Value =
        serde_json::from_str(&all.ok(&["endpoint", "status", "-w", "json"])).unwrap();
    let status = status.as_array().expect("one status per endpoint").clone();
    assert_eq!(status.len(), 3);
    for s in &status {
        let st = &s["Status"];
        // The leader may move while the cluster settles; it is always one of the three.
        assert!((1..=3).contains(&st["leader"].as_u64().unwrap_or(0)), "{s}");
        assert_eq!(st["header"]["revision"].as_i64(), Some(11), "{s}");
        assert!(st["raftTerm"].as_u64().unwrap_or(0) >= 1, "{s}");
        assert!(st["version"].as_str().unwrap().starts_with("3.4."), "{s}");
    }

    // hashkv: every replica applied the same log, so the hashes agree.
    let hashes = wait_until("equal hashes on every replica", || async {
        let v: Value = serde_json::from_str(&all.ok(&["endpoint", "hashkv", "-w", "json"])).ok()?;
        let hashes: Vec<u64> = v
            .as_array()?
            .iter()
            .map(|e| e["HashKV"]["hash"].as_u64())
            .collect::<Option<_>>()?;
        (hashes.len() == 3 && hashes.iter().all(|h| *h == hashes[0])).then_some(hashes)
    })
    .await;
    assert_ne!(hashes[0], 0);

    assert_eq!(via_follower.ok(&["alarm", "list"]), "");

    // snapshot save writes a file etcdctl accepts (its size is a multiple of 512 plus the
    // 32-byte SHA-256 it checks for).
    let snap = cluster.dir.path().join("snap.db");
    let saved = Ctl::new(&ctl_bin, &[cluster.grpc(follower)])
        .run(&["snapshot", "save", snap.to_str().unwrap()], None);
    assert!(saved.ok, "{saved:?}");
    let len = std::fs::metadata(&snap).expect("snapshot file").len();
    assert_eq!(len % 512, 32);

    // Kill the leader; the survivors elect another and keep serving etcdctl.
    let leader = cluster.wait_for_leader().await;
    cluster.kill(leader);
    let new_leader = cluster.wait_for_leader().await;
    assert_ne!(new_leader, leader);
    let survivors: Vec<SocketAddr> = cluster.alive().iter().map(|&id| cluster.grpc(id)).collect();
    let alive = Ctl::new(&ctl_bin, &survivors);
    let through = Ctl::new(&ctl_bin, &survivors[..1]);
    wait_until("a write after the leader kill", || async {
        through
            .run(&["put", "after", "kill"], None)
            .ok
            .then_some(())
    })
    .await;
    assert_eq!(through.ok(&["get", "after"]), "after\nkill\n");
    let keys = through.ok(&["get", "k", "--prefix", "--keys-only"]);
    assert_eq!(keys.lines().filter(|l| !l.is_empty()).count(), 10, "{keys}");
    // Both survivors name the same live leader (not necessarily `new_leader`: leadership may
    // move again while the cluster settles).
    let alive_ids = cluster.alive();
    wait_until("the survivors to agree on a live leader", || async {
        let v: Value =
            serde_json::from_str(&alive.ok(&["endpoint", "status", "-w", "json"])).ok()?;
        let leaders: Vec<u64> = v
            .as_array()?
            .iter()
            .map(|s| s["Status"]["leader"].as_u64())
            .collect::<Option<_>>()?;
        let agreed = leaders.len() == 2 && leaders[0] == leaders[1];
        (agreed && alive_ids.contains(&leaders[0])).then_some(())
    })
    .await;
    assert!(alive.run(&["endpoint", "health"], None).ok);
    let snap2 = cluster.dir.path().join("snap2.db");
    assert!(
        through
            .run(&["snapshot", "save", snap2.to_str().unwrap()], None)
            .ok
    );
}

/// Starts `etcdctl watch ...` (with `stdin` written and kept open, for `-i`), reads its stdout
/// until `done` says it printed everything expected (or the deadline passes), then kills it.
fn watch_output(ctl: &Ctl, args: &[&str], stdin: Option<&str>, done: fn(&str) -> bool) -> String {
    use std::io::{BufRead, Write};
    let mut child = Command::new(&ctl.bin)
        .env("ETCDCTL_API", "3")
        .args(["--endpoints", &ctl.endpoints])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn etcdctl watch");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("write stdin");
    }
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = std::time::Instant::now() + DEADLINE;
    let mut text = String::new();
    while !done(&text) {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                text.push_str(&line);
                text.push('\n');
            }
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    drop(input);
    text
}

fn events_printed(text: &str) -> usize {
    text.lines()
        .filter(|l| *l == "PUT" || *l == "DELETE")
        .count()
}

/// Writes whose history both DDBB and etcd replay to `etcdctl watch --rev`: 8 events.
const WATCH_WRITES: &[&[&str]] = &[
    &["put", "a", "1"],
    &["put", "b", "2"],
    &["put", "a", "3"],
    &["del", "a"],
    &["put", "c/x", "1"],
    &["put", "c/y", "2"],
    &["put", "c/x", "3"],
    &["del", "--prefix", "c/"],
];

/// What `etcdctl watch` prints replaying the history written by [`WATCH_WRITES`], in several
/// modes: prefix with previous values, one key as JSON, a range, and interactive (`-i`).
fn watch_script(ctl: &Ctl) -> Vec<String> {
    for args in WATCH_WRITES {
        ctl.ok(args);
    }
    let json = |t: &str| t.matches("\"mod_revision\"").count() >= 3;
    vec![
        // Done at a line count: 9 events of 3 lines, 5 of them with 2 more for prev_kv.
        watch_output(
            ctl,
            &["watch", "--prefix", "", "--rev", "2", "--prev-kv"],
            None,
            |t| t.lines().count() >= 37,
        ),
        normalize(Out {
            ok: true,
            stdout: watch_output(ctl, &["watch", "a", "--rev", "1", "-w", "json"], None, json),
            error: String::new(),
        })
        .stdout,
        watch_output(ctl, &["watch", "b", "c/y", "--rev", "2"], None, |t| {
            t.lines().count() >= 12
        }),
        watch_output(ctl, &["watch", "-i"], Some("watch --rev 2 c/x\n"), |t| {
            t.lines().count() >= 9
        }),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_watch_matches_real_etcd() {
    let Some(ctl_bin) = tool("etcdctl", "etcd-client") else {
        return;
    };
    let (_cluster, ddbb) = ddbb_through_a_follower(&ctl_bin).await;
    let got = watch_script(&ddbb);
    assert_eq!(
        got[0],
        "PUT\na\n1\nPUT\nb\n2\nPUT\na\n1\na\n3\nDELETE\na\n3\na\n\nPUT\nc/x\n1\nPUT\nc/y\n2\n\
         PUT\nc/x\n1\nc/x\n3\nDELETE\nc/x\n3\nc/x\n\nDELETE\nc/y\n2\nc/y\n\n"
    );
    assert_eq!(events_printed(&got[2]), 4, "{}", got[2]);
    assert_eq!(events_printed(&got[3]), 3, "{}", got[3]);
    let Some((_etcd, real)) = real_etcd(&ctl_bin).await else {
        return;
    };
    let want = watch_script(&real);
    for (i, (got, want)) in got.iter().zip(&want).enumerate() {
        assert_eq!(got, want, "DDBB and etcd differ on watch script step {i}");
    }
}

/// `etcdctl lock` with 5 concurrent holders, each running a command that appends begin and end
/// markers to one file: the markers never interleave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_lock_never_has_two_holders() {
    let Some(ctl_bin) = tool("etcdctl", "etcd-client") else {
        return;
    };
    let cluster = Cluster::start_grpc(3, &[]);
    cluster.wait_for_leader().await;
    let ctl = Ctl::new(&ctl_bin, &cluster.grpc_addrs);
    ctl.wait_healthy().await;
    let file = cluster.dir.path().join("held");
    let mut holders = Vec::new();
    for i in 0..5 {
        let script = format!(
            "for n in 1 2 3; do echo begin {i} >> {f}; echo end {i} >> {f}; done",
            f = file.display()
        );
        let child = Command::new(&ctl.bin)
            .env("ETCDCTL_API", "3")
            .args([
                "--endpoints",
                &ctl.endpoints,
                "lock",
                "the-lock",
                "--",
                "sh",
                "-c",
            ])
            .arg(script)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn etcdctl lock");
        holders.push(child);
    }
    for mut h in holders {
        let status = wait_until("an etcdctl lock holder to finish", || {
            let done = h.try_wait().ok().flatten();
            async move { done }
        })
        .await;
        assert!(status.success());
    }
    let text = std::fs::read_to_string(&file).expect("markers");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 30, "{text}");
    for block in lines.chunks(6) {
        let who = block[0]
            .strip_prefix("begin ")
            .expect("a block starts with begin");
        let expected: Vec<String> = (0..3)
            .flat_map(|_| [format!("begin {who}"), format!("end {who}")])
            .collect();
        assert_eq!(block, expected, "two holders interleaved:\n{text}");
    }
}

/// Lease commands whose output does not depend on the random lease id, compared with etcd.
fn lease_script(ctl: &Ctl) -> Vec<Out> {
    let steps: &[&[&str]] = &[
        &["lease", "grant", "100000000000"],
        &["lease", "timetolive", "1234"],
        &["lease", "revoke", "1234"],
        &["lease", "keep-alive", "--once", "1234"],
        &["put", "k", "v", "--lease=1234"],
    ];
    let mut out: Vec<Out> = steps
        .iter()
        .map(|args| normalize(ctl.run(args, None)))
        .collect();
    // A granted lease, as seen by list / timetolive / revoke (ids normalized).
    let granted = ctl.ok(&["lease", "grant", "60"]);
    let id = granted
        .split_whitespace()
        .nth(1)
        .expect("lease id")
        .to_string();
    ctl.ok(&["put", "k", "v", &format!("--lease={id}")]);
    for args in [
        vec!["lease", "timetolive", id.as_str(), "--keys"],
        vec!["lease", "list"],
        vec!["lease", "revoke", id.as_str()],
        vec!["get", "k"],
    ] {
        let mut o = normalize(ctl.run(&args, None));
        o.stdout = o.stdout.replace(&id, "ID");
        // The remaining TTL may differ by a second between runs.
        o.stdout = o.stdout.replace("remaining(59s)", "remaining(60s)");
        out.push(o);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcdctl_lease_matches_real_etcd() {
    let Some(ctl_bin) = tool("etcdctl", "etcd-client") else {
        return;
    };
    let (_cluster, ddbb) = ddbb_through_a_follower(&ctl_bin).await;
    let got = lease_script(&ddbb);
    assert_eq!(
        got[0].error,
        "Error: failed to grant lease (etcdserver: too large lease TTL)"
    );
    assert_eq!(got[4].error, "Error: etcdserver: requested lease not found");
    let Some((_etcd, real)) = real_etcd(&ctl_bin).await else {
        return;
    };
    let want = lease_script(&real);
    for (i, (got, want)) in got.iter().zip(&want).enumerate() {
        assert_eq!(got, want, "DDBB and etcd differ on lease script step {i}");
    }
}
