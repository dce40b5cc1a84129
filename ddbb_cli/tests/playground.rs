//! `ddbb playground` driven through a real pseudo-terminal: kill the leader and keep
//! writing and reading; cut and heal links; clean exit.

mod common;

use std::process::Command;

use expectrl::{ControlCode, Regex};

use common::Pty;

fn spawn_playground() -> Pty {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ddbb"));
    cmd.args(["playground", "--port-base", "0"])
        .env("DDBB_HISTORY", "")
        .env("TERM", "xterm")
        .env("NO_COLOR", "1");
    Pty::spawn(cmd)
}

/// Kills the current leader; returns its id. Leadership can move between `.leader` and
/// `.kill` (a new cluster may still settle), so a kill that hit a follower is undone and tried
/// again.
fn kill_the_leader(p: &mut Pty) -> String {
    for _ in 0..10 {
        p.line(".leader");
        let leader = p.capture(r"leader: replica (\d)");
        p.prompt();
        p.line(&format!(".kill {leader}"));
        let rest = p.capture(&format!(r"replica {leader} stopped([^\r\n]*)"));
        p.prompt();
        if rest.contains("it was the leader") {
            assert!(rest.contains("took over"), "no new leader: {rest}");
            return leader;
        }
        p.line(&format!(".restart {leader}"));
        p.expect("restarted");
        p.prompt();
    }
    panic!("the leadership never held still long enough to kill the leader");
}

#[test]
fn killing_the_leader_keeps_writes_and_linearizable_reads_working() {
    let mut p = spawn_playground();
    let data_dir = p.capture(r"data dir (\S+) \(removed on exit\)");
    assert!(std::path::Path::new(&data_dir).is_dir());
    p.capture(r"Leader: replica (\d)");
    p.prompt();

    p.line("put greeting hello");
    p.expect("OK");
    p.prompt();

    let leader = kill_the_leader(&mut p);

    p.line("put after kill");
    p.expect("OK");
    p.prompt();
    p.line("get greeting"); // linearizable: the default
    p.expect("greeting\r\nhello\r\n");
    p.prompt();
    p.line("get after --consistency l --print-value-only");
    p.expect("kill\r\n");
    p.prompt();

    p.line(".nodes");
    p.expect(Regex(format!(
        r"\| {leader} +\| [0-9.:]+ +\| [0-9.:]+ +\| down +\|"
    )));
    p.prompt();

    p.line(&format!(".restart {leader}"));
    p.expect(format!("replica {leader} restarted").as_str());
    p.prompt();

    // Ctrl-D stops the cluster and removes the temp dir.
    p.control(ControlCode::EndOfTransmission);
    p.expect("Playground stopped; its temp dir was removed.");
    assert_eq!(p.exit_code(), 0);
    assert!(
        !std::path::Path::new(&data_dir).exists(),
        "{data_dir} left behind"
    );
}

#[test]
fn cut_and_heal_show_in_nodes() {
    let mut p = spawn_playground();
    p.capture(r"Leader: replica (\d)");
    p.prompt();

    p.line(".nodes");
    p.expect("cut links: none");
    p.prompt();

    p.line(".cut 1 2");
    p.expect("link 1<->2 cut");
    p.prompt();
    p.line(".nodes");
    // Replica 1 no longer counts 2 among its connected peers, nor 2 counts 1.
    // Anchored at the line start: `| 1 |` also appears in the REVISION column.
    p.expect(Regex(r"(?m)^\| 1 +\|[^\r\n]*\| (3|-) +\|\r\n"));
    p.expect(Regex(r"(?m)^\| 2 +\|[^\r\n]*\| (3|-) +\|\r\n"));
    p.expect("cut links: 1<->2");
    p.prompt();

    // Writes still commit: 1 and 2 each still reach 3.
    p.line("put during cut");
    p.expect("OK");
    p.prompt();

    p.line(".heal");
    p.expect("every link healed");
    p.prompt();
    p.line(".nodes");
    p.expect(Regex(r"(?m)^\| 1 +\|[^\r\n]*\| 2(,3)? +\|\r\n"));
    p.expect("cut links: none");
    p.prompt();

    // Bad meta-commands are one error line; the REPL goes on.
    p.line(".cut 1 1");
    p.expect(Regex("Error:.*no link to itself"));
    p.prompt();
    p.line(".kill 7");
    p.expect(Regex("Error:.*not a replica id"));
    p.prompt();
    p.line(".bogus");
    p.expect(Regex("Error:.*unknown meta-command"));
    p.prompt();

    p.line("exit");
    assert_eq!(p.exit_code(), 0);
}

#[test]
fn playground_keeps_a_given_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("pg");
    let data_arg = data.to_str().unwrap();
    let r = common::ddbb(
        &[
            "playground",
            "--port-base",
            "0",
            "--nodes",
            "5",
            "--data-dir",
            data_arg,
        ],
        Some(b"put k v\n.nodes\nexit\n"),
    );
    assert_eq!(r.code, 0, "{r:?}");
    let out = r.out();
    assert!(out.contains("5 replicas") && out.contains("OK\n"), "{out}");
    assert!(out.contains("| 5  |"), "{out}");
    assert!(out.contains("data kept in"), "{out}");
    for id in 1..=5 {
        assert!(data.join(format!("replica-{id}")).join("wal").is_dir());
    }
}

#[test]
fn every_replica_serves_etcd_grpc_and_the_banner_says_where() {
    let mut p = spawn_playground();
    let mut grpc = Vec::new();
    for id in 1..=3 {
        grpc.push(p.capture(&format!(r"replica {id}: client \S+  peer \S+  grpc (\S+)")));
    }
    let hint = p.capture(r"(ETCDCTL_API=3 etcdctl --endpoints \S+ get --prefix \x22\x22)");
    assert!(hint.contains(&grpc.join(",")), "{hint}");
    p.capture(r"Leader: replica (\d)");
    p.prompt();

    // etcd's client writes through replica 2's gRPC port; the REPL (RESP) reads it back.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let value = runtime.block_on(common::etcd_put_get(&grpc[1], "via-grpc", "etcd"));
    assert_eq!(value, b"etcd");
    p.line("get via-grpc --print-value-only");
    p.expect("etcd\r\n");
    p.prompt();
    if common::etcdctl_installed() {
        let (ok, out) = common::etcdctl(&grpc.join(","), &["get", "--prefix", ""]);
        assert!(ok && out.contains("via-grpc\netcd\n"), "{out}");
    }
    p.line(".nodes");
    p.expect(Regex(format!(r"\| {} +\| up", grpc[2])));
    p.prompt();
    p.line("exit");
    assert_eq!(p.exit_code(), 0);
}
