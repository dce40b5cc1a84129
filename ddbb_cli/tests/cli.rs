//! One-shot `ddbb` commands against a live in-process 3-replica cluster: output in the
//! simple, json and table formats, and exit codes of failures.

mod common;

use common::{ddbb, ddbb_on, dead_endpoint, etcd_put_get, etcdctl, etcdctl_installed, TestCluster};

#[test]
fn put_get_del_in_all_three_formats() {
    let cluster = TestCluster::start(3);
    let e = cluster.endpoints();
    let e = e.as_str();

    assert_eq!(ddbb_on(e, &["put", "greeting", "hello"]).ok().out(), "OK\n");
    assert_eq!(
        ddbb_on(e, &["get", "greeting"]).ok().out(),
        "greeting\nhello\n"
    );
    assert_eq!(
        ddbb_on(e, &["get", "greeting", "--print-value-only"])
            .ok()
            .out(),
        "hello\n"
    );

    let json = ddbb_on(e, &["-w", "json", "get", "greeting"]).ok().json();
    assert_eq!(json["count"], 1);
    let kv = &json["kvs"][0];
    assert_eq!(kv["key"], "greeting");
    assert_eq!(kv["value"], "hello");
    assert_eq!(kv["version"], 1);
    let first_revision = kv["mod_revision"].as_u64().unwrap();
    assert_eq!(kv["create_revision"].as_u64(), Some(first_revision));

    let table = ddbb_on(e, &["get", "greeting", "-w", "table"]).ok().out();
    assert!(
        table.contains("|   KEY    | VALUE | CREATE REVISION | MOD REVISION | VERSION |"),
        "{table}"
    );
    assert!(table.contains("| greeting | hello |"), "{table}");
    assert!(table.starts_with("+----------+"), "{table}");

    let put = ddbb_on(e, &["-w", "json", "put", "greeting", "hi"])
        .ok()
        .json();
    assert!(put["revision"].as_u64().unwrap() > first_revision, "{put}");
    let table = ddbb_on(e, &["-w", "table", "put", "other", "x"]).ok().out();
    assert!(table.contains("REVISION"), "{table}");

    // Serializable reads answer from the first endpoint's state, which applied our writes.
    assert_eq!(
        ddbb_on(
            e,
            &[
                "get",
                "greeting",
                "--consistency",
                "s",
                "--print-value-only"
            ]
        )
        .ok()
        .out(),
        "hi\n"
    );

    assert_eq!(ddbb_on(e, &["del", "greeting"]).ok().out(), "1\n");
    assert_eq!(
        ddbb_on(e, &["-w", "json", "del", "greeting"]).ok().json()["deleted"],
        0
    );
    assert!(ddbb_on(e, &["-w", "table", "del", "other"])
        .ok()
        .out()
        .contains("| 1       |"));

    // A missing key is not an error: exit 0, nothing printed (etcdctl does the same).
    let missing = ddbb_on(e, &["get", "greeting"]).ok();
    assert_eq!(missing.out(), "");
    let json = ddbb_on(e, &["get", "greeting", "-w", "json"]).ok().json();
    assert_eq!(json, serde_json::json!({"count": 0, "kvs": []}));
}

#[test]
fn ranges_prefixes_cas_and_revision_guards() {
    let cluster = TestCluster::start(3);
    let e = cluster.endpoints();
    let e = e.as_str();
    for (k, v) in [("a/1", "x"), ("a/2", "y"), ("a/3", "z"), ("b/1", "w")] {
        ddbb_on(e, &["put", k, v]).ok();
    }
    assert_eq!(
        ddbb_on(e, &["get", "a/", "--prefix"]).ok().out(),
        "a/1\nx\na/2\ny\na/3\nz\n"
    );
    assert_eq!(
        ddbb_on(e, &["get", "a/", "--prefix", "--keys-only"])
            .ok()
            .out(),
        "a/1\na/2\na/3\n"
    );
    assert_eq!(
        ddbb_on(e, &["get", "a/", "--prefix", "--keys-only", "--limit", "2"])
            .ok()
            .out(),
        "a/1\na/2\n"
    );
    assert_eq!(
        ddbb_on(e, &["get", "a/1", "a/3", "--keys-only"]).ok().out(),
        "a/1\na/2\n"
    );
    assert_eq!(
        ddbb_on(e, &["get", "a/", "--prefix", "--count-only"])
            .ok()
            .out(),
        "3\n"
    );
    assert_eq!(
        ddbb_on(e, &["-w", "json", "get", "", "--prefix", "--count-only"])
            .ok()
            .json(),
        serde_json::json!({"count": 4})
    );
    let keys = ddbb_on(e, &["-w", "json", "get", "", "--prefix", "--keys-only"])
        .ok()
        .json();
    assert_eq!(keys["kvs"][3], serde_json::json!({"key": "b/1"}));
    assert_eq!(ddbb_on(e, &["del", "a/", "--prefix"]).ok().out(), "3\n");
    assert_eq!(
        ddbb_on(e, &["get", "", "--prefix", "--keys-only"])
            .ok()
            .out(),
        "b/1\n"
    );

    // cas: OK and exit 0 when it swaps; exit 1 with one line on stderr when not.
    assert_eq!(ddbb_on(e, &["cas", "b/1", "w", "v"]).ok().out(), "OK\n");
    let failed = ddbb_on(e, &["cas", "b/1", "w", "v2"]).fails(1);
    assert!(failed.stderr.contains("compare failed"), "{failed:?}");
    assert_eq!(failed.out(), "");
    let failed = ddbb_on(e, &["-w", "json", "cas", "b/1", "nope", "x"]).fails(1);
    assert_eq!(failed.json(), serde_json::json!({"swapped": false}));
    assert!(ddbb_on(e, &["-w", "table", "cas", "b/1", "v", "u"])
        .ok()
        .out()
        .contains("| true    |"));

    // put --if-revision 0 creates only if absent.
    ddbb_on(e, &["put", "new", "1", "--if-revision", "0"]).ok();
    let guarded = ddbb_on(e, &["put", "new", "2", "--if-revision", "0"]).fails(1);
    assert!(guarded.stderr.contains("revision guard"), "{guarded:?}");
    assert_eq!(
        ddbb_on(e, &["get", "new", "--print-value-only"]).ok().out(),
        "1\n"
    );
}

#[test]
fn stdin_values_and_hex_are_binary_safe() {
    let cluster = TestCluster::start(3);
    let e = cluster.endpoints();
    let e = e.as_str();
    // `echo v | ddbb put k`: the trailing newline is dropped.
    let r = ddbb(&["--endpoints", e, "put", "k1"], Some(b"line one\n"));
    assert_eq!(r.ok().out(), "OK\n");
    assert_eq!(
        ddbb_on(e, &["get", "k1", "--print-value-only"]).ok().out(),
        "line one\n"
    );

    // --hex on input and output; raw bytes when stdout is not a terminal.
    ddbb_on(e, &["--hex", "put", "6b32", "00ff0a"]).ok();
    let raw = ddbb_on(e, &["get", "k2", "--print-value-only"]).ok();
    assert_eq!(raw.stdout, b"\x00\xff\n\n");
    assert_eq!(
        ddbb_on(e, &["get", "6b32", "--hex"]).ok().out(),
        "6b32\n00ff0a\n"
    );
    let json = ddbb_on(e, &["-w", "json", "get", "k2"]).ok().json();
    assert_eq!(json["kvs"][0]["key"], "6b32");
    assert_eq!(json["kvs"][0]["value"], "00ff0a");
    assert_eq!(json["kvs"][0]["hex"], true);
    let table = ddbb_on(e, &["-w", "table", "get", "k2"]).ok().out();
    assert!(table.contains(r"| k2  | \x00\xff\n |"), "{table}");

    let r = ddbb(&["--endpoints", e, "--hex", "put", "6b33"], Some(b"6869\n"));
    r.ok();
    assert_eq!(
        ddbb_on(e, &["get", "k3", "--print-value-only"]).ok().out(),
        "hi\n"
    );
}

#[test]
fn status_and_member_list_cover_every_endpoint() {
    let cluster = TestCluster::start(3);
    let e = cluster.endpoints();
    let e = e.as_str();

    let simple = ddbb_on(e, &["status"]).ok().out();
    let lines: Vec<&str> = simple.lines().collect();
    assert_eq!(lines.len(), 3, "{simple}");
    for (i, line) in lines.iter().enumerate() {
        let fields: Vec<&str> = line.split(", ").collect();
        assert_eq!(fields[0], cluster.endpoint(i as u64 + 1));
        assert_eq!(fields[1], (i + 1).to_string());
        // The replica's etcd gRPC address, from its config.
        assert_eq!(fields[9], cluster.grpc_endpoint(i as u64 + 1), "{line}");
    }
    let leaders = lines
        .iter()
        .filter(|l| l.split(", ").nth(2) == Some("true"))
        .count();
    assert_eq!(leaders, 1, "{simple}");

    let json = ddbb_on(e, &["-w", "json", "status"]).ok().json();
    let all = json.as_array().unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[1]["status"]["id"], 2);
    assert_eq!(all[1]["status"]["members"], serde_json::json!([1, 2, 3]));
    assert_eq!(all[1]["status"]["grpc_addr"], cluster.grpc_endpoint(2));

    let table = ddbb_on(e, &["-w", "table", "status"]).ok().out();
    assert!(
        table.contains("IS LEADER") && table.contains("WAL SIZE") && table.contains("GRPC ADDRESS"),
        "{table}"
    );
    assert_eq!(table.lines().count(), 3 + 4, "{table}");

    // An unreachable endpoint is a row with an error; the command still succeeds.
    let dead = dead_endpoint(1);
    let mixed = format!("{dead},{e}");
    let table = ddbb_on(&mixed, &["--timeout", "2s", "-w", "table", "status"])
        .ok()
        .out();
    assert!(
        table.contains(&dead) && table.contains("unavailable"),
        "{table}"
    );
    // ...and if none answers, it fails.
    ddbb_on(&dead, &["--timeout", "1s", "status"]).fails(1);

    assert_eq!(
        ddbb_on(e, &["member", "list"]).ok().out().lines().count(),
        3
    );
    let members = ddbb_on(e, &["-w", "json", "member", "list"]).ok().json();
    let members = members["members"].as_array().unwrap();
    assert_eq!(members.len(), 3);
    assert_eq!(members.iter().filter(|m| m["is_leader"] == true).count(), 1);
    assert_eq!(members[2]["endpoint"], cluster.endpoint(3));
    let table = ddbb_on(e, &["-w", "table", "member", "list"]).ok().out();
    assert!(table.contains("| ID | STATUS |"), "{table}");
    assert_eq!(ddbb_on(e, &["ping"]).ok().out(), "PONG\n");
}

#[test]
fn failures_exit_non_zero_with_one_line() {
    // Unreachable endpoints: exit 1, `unavailable`.
    let dead = format!("{},{}", dead_endpoint(1), dead_endpoint(2));
    let r = ddbb_on(&dead, &["--timeout", "1s", "get", "k"]).fails(1);
    assert!(r.stderr.starts_with("Error: unavailable"), "{r:?}");
    ddbb_on(&dead, &["--timeout", "1s", "put", "k", "v"]).fails(1);

    // Bad arguments: exit 2.
    for args in [
        &["get"][..],
        &["put"],
        &["frobnicate"],
        &["get", "k", "--consistency", "q"],
        &["--timeout", "soon", "get", "k"],
        &["-w", "yaml", "get", "k"],
        &["get", "k", "--keys-only", "--count-only"],
        &["--hex", "put", "6", "x"],
        &["--endpoints", "no-port", "get", "k"],
        &["member"],
    ] {
        let r = ddbb(args, None);
        assert_eq!(r.code, 2, "{args:?}: {r:?}");
        if args != ["member"] {
            r.fails(2);
        }
    }

    // Help and version are not errors.
    let help = ddbb(&["--help"], None).ok().out();
    for word in [
        "playground",
        "put",
        "get",
        "del",
        "cas",
        "status",
        "member",
        "--endpoints",
        "--write-out",
        "--timeout",
        "--hex",
        "Exit status",
    ] {
        assert!(help.contains(word), "--help lacks {word}: {help}");
    }
    assert!(ddbb(&["get", "--help"], None)
        .ok()
        .out()
        .contains("--print-value-only"));
    assert!(ddbb(&["playground", "--help"], None)
        .ok()
        .out()
        .contains("--data-dir"));
    assert!(ddbb(&["--version"], None).ok().out().starts_with("ddbb "));
}

#[test]
fn server_errors_are_reported() {
    let cluster = TestCluster::start(3);
    // Values are limited to 1 MiB by default: the replica answers -ERR.
    let big = vec![b'x'; 1024 * 1024 + 1];
    let r = ddbb(
        &["--endpoints", &cluster.endpoints(), "put", "big"],
        Some(&big),
    )
    .fails(1);
    assert!(r.stderr.contains("value too large"), "{r:?}");
}

/// The revision a `put` wrote at (`-w json`).
fn put_rev(e: &str, key: &str, value: &str) -> i64 {
    let json = ddbb_on(e, &["-w", "json", "put", key, value]).ok().json();
    json["revision"].as_i64().expect("a revision")
}

/// `ddbb txn` with `input` on stdin.
fn txn(e: &str, extra: &[&str], input: &str) -> common::Run {
    let mut args = vec!["--endpoints", e];
    args.extend_from_slice(extra);
    args.push("txn");
    ddbb(&args, Some(input.as_bytes()))
}

#[test]
fn txn_from_stdin_prints_like_etcdctl() {
    let cluster = TestCluster::start(3);
    let e = cluster.endpoints();
    let e = e.as_str();
    let first = put_rev(e, "k", "v1");
    ddbb_on(e, &["put", "other", "x"]).ok();

    // Compare on the value: success runs put, get and del; output as etcdctl 3.4 prints it.
    let input = "value(\"k\") = \"v1\"\n\nput k v2\nget k\ndel other\nget missing\n\nput k bad\n\n";
    assert_eq!(
        txn(e, &[], input).ok().out(),
        "SUCCESS\n\nOK\n\nk\nv2\n\n1\n\n"
    );
    // The same again fails the compare: the failure branch runs, exit status still 0.
    let input = "value(\"k\") = \"v1\"\n\nput k bad\n\nget k --print-value-only\n\n";
    assert_eq!(txn(e, &[], input).ok().out(), "FAILURE\n\nv2\n");

    // Compare on the mod revision (etcdctl's quoted numbers), with --prev-kv in the branch.
    let json = ddbb_on(e, &["-w", "json", "get", "k"]).ok().json();
    let modrev = json["kvs"][0]["mod_revision"].as_i64().unwrap();
    assert!(modrev > first);
    let input =
        format!("mod(\"k\") = \"{modrev}\"\nversion(\"k\") != \"5\"\n\nput k v3 --prev-kv\n\n\n");
    assert_eq!(txn(e, &[], &input).ok().out(), "SUCCESS\n\nOK\nk\nv2\n");
    let input = format!("mod(\"k\") > \"{}\"\n\n\nget k --keys-only\n", modrev + 1);
    assert_eq!(txn(e, &[], &input).ok().out(), "FAILURE\n\nk\n");
    // create("k") = "0": only if absent.
    let input = "create(\"fresh\") = \"0\"\n\nput fresh 1\n\n";
    assert_eq!(txn(e, &[], input).ok().out(), "SUCCESS\n\nOK\n");
    assert_eq!(txn(e, &[], input).ok().out(), "FAILURE\n");

    // -w json: etcd's shape, with the header revision.
    let input = "value(\"k\") = \"v3\"\nlease(\"k\") = \"0\"\n\nput k v4\nget k\n\n\n";
    let json = txn(e, &["-w", "json"], input).ok().json();
    assert_eq!(json["succeeded"], true);
    let revision = json["header"]["revision"].as_i64().unwrap();
    assert_eq!(json["responses"][0]["response_put"]["revision"], revision);
    let kv = &json["responses"][1]["response_range"]["kvs"][0];
    assert_eq!(
        (kv["value"].as_str(), kv["mod_revision"].as_i64()),
        (Some("v4"), Some(revision))
    );
    let table = txn(e, &["-w", "table"], input).ok().out();
    assert!(table.contains("| FAILURE |"), "{table}");

    // Bad input is exit 2 before anything is sent; a refused txn is etcd's error, exit 1.
    let r = txn(e, &[], "value(\"k\") == \"v4\"\n\n").fails(2);
    assert!(r.stderr.contains("malformed comparison"), "{r:?}");
    txn(e, &[], "\ncas k a b\n\n").fails(2);
    let r = txn(e, &[], "\nput k 1\ndel k\n\n").fails(1);
    assert_eq!(
        r.stderr,
        "Error: etcdserver: duplicate key given in txn request\n"
    );
    assert_eq!(
        ddbb_on(e, &["get", "k", "--print-value-only"]).ok().out(),
        "v4\n"
    );
}

#[test]
fn history_sorting_prev_kvs_compaction_and_alarms() {
    let cluster = TestCluster::start(3);
    let e = cluster.endpoints();
    let e = e.as_str();

    // get --rev reads an overwritten key as it was.
    let r1 = put_rev(e, "h", "one");
    let r2 = put_rev(e, "h", "two");
    assert_eq!(
        ddbb_on(e, &["get", "h", "--rev", &r1.to_string()])
            .ok()
            .out(),
        "h\none\n"
    );
    assert_eq!(
        ddbb_on(e, &["get", "h", "--rev", &r2.to_string()])
            .ok()
            .out(),
        "h\ntwo\n"
    );
    assert_eq!(
        ddbb_on(e, &["get", "h", "--rev", &(r1 - 1).to_string()])
            .ok()
            .out(),
        ""
    );

    // Sorting: etcdctl's flag names and values (any case).
    for (k, v) in [("s/a", "3"), ("s/b", "1"), ("s/c", "2")] {
        ddbb_on(e, &["put", k, v]).ok();
    }
    ddbb_on(e, &["put", "s/a", "4"]).ok(); // s/a now has the highest mod revision
    let keys = |args: &[&str]| {
        let mut all = vec!["get", "s/", "--prefix", "--keys-only"];
        all.extend_from_slice(args);
        ddbb_on(e, &all)
            .ok()
            .out()
            .lines()
            .collect::<Vec<_>>()
            .join(",")
    };
    assert_eq!(keys(&[]), "s/a,s/b,s/c");
    assert_eq!(keys(&["--order", "descend"]), "s/c,s/b,s/a");
    assert_eq!(keys(&["--sort-by", "value"]), "s/b,s/c,s/a");
    assert_eq!(
        keys(&["--sort-by", "MODIFY", "--order", "DESCEND"]),
        "s/a,s/c,s/b"
    );
    assert_eq!(
        keys(&["--sort-by", "create", "--order", "ascend"]),
        "s/a,s/b,s/c"
    );
    assert_eq!(
        keys(&["--sort-by", "version", "--order", "descend", "--limit", "1"]),
        "s/a"
    );
    assert_eq!(
        ddbb_on(e, &["get", "s/b", "--from-key", "--keys-only"])
            .ok()
            .out(),
        "s/b\ns/c\n"
    );
    ddbb_on(e, &["get", "s/", "--sort-by", "size"]).fails(2);

    // put/del --prev-kv print the previous kvs after OK / the count.
    assert_eq!(
        ddbb_on(e, &["put", "h", "three", "--prev-kv"]).ok().out(),
        "OK\nh\ntwo\n"
    );
    assert_eq!(
        ddbb_on(e, &["put", "new", "x", "--prev-kv"]).ok().out(),
        "OK\n"
    );
    let json = ddbb_on(e, &["-w", "json", "put", "h", "four", "--prev-kv"])
        .ok()
        .json();
    assert_eq!(json["prev_kv"]["value"], "three");
    assert_eq!(
        ddbb_on(e, &["del", "s/b", "--from-key", "--prev-kv"])
            .ok()
            .out(),
        "2\ns/b\n1\ns/c\n2\n"
    );
    assert_eq!(ddbb_on(e, &["del", "gone", "--prev-kv"]).ok().out(), "0\n");

    // compaction: etcdctl's line; reads below it fail with etcd's text and exit 1.
    let now = put_rev(e, "h", "five");
    assert_eq!(
        ddbb_on(e, &["compaction", &now.to_string(), "--physical"])
            .ok()
            .out(),
        format!("compacted revision {now}\n")
    );
    let r = ddbb_on(e, &["get", "h", "--rev", &r1.to_string()]).fails(1);
    assert_eq!(
        r.stderr,
        "Error: etcdserver: mvcc: required revision has been compacted\n"
    );
    assert_eq!(
        ddbb_on(e, &["get", "h", "--rev", &now.to_string()])
            .ok()
            .out(),
        "h\nfive\n"
    );
    let r = ddbb_on(e, &["compaction", &r2.to_string()]).fails(1);
    assert!(
        r.stderr.contains("required revision has been compacted"),
        "{r:?}"
    );
    let r = ddbb_on(e, &["get", "h", "--rev", &(now + 100).to_string()]).fails(1);
    assert_eq!(
        r.stderr,
        "Error: etcdserver: mvcc: required revision is a future revision\n"
    );

    // No alarm raised: list and disarm print nothing.
    assert_eq!(ddbb_on(e, &["alarm", "list"]).ok().out(), "");
    assert_eq!(ddbb_on(e, &["alarm", "disarm"]).ok().out(), "");
    assert_eq!(
        ddbb_on(e, &["-w", "json", "alarm", "list"]).ok().json(),
        serde_json::json!({"alarms": []})
    );
    assert!(ddbb_on(e, &["-w", "table", "alarm", "list"])
        .ok()
        .out()
        .contains("| MEMBER ID | ALARM |"));
}

#[test]
fn the_grpc_address_that_status_shows_serves_etcd_clients() {
    let cluster = TestCluster::start(3);
    let e = cluster.endpoints();
    let json = ddbb_on(&e, &["-w", "json", "status"]).ok().json();
    let grpc: Vec<String> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"]["grpc_addr"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(grpc.len(), 3);
    // etcd's client, through a follower or the leader alike, sees what RESP writes and the
    // other way round.
    let value = cluster.block_on(etcd_put_get(&grpc[1], "from-grpc", "g"));
    assert_eq!(value, b"g");
    assert_eq!(
        ddbb_on(&e, &["get", "from-grpc", "--print-value-only"])
            .ok()
            .out(),
        "g\n"
    );
    if etcdctl_installed() {
        ddbb_on(&e, &["put", "from-resp", "r"]).ok();
        let (ok, out) = etcdctl(&grpc.join(","), &["get", "--prefix", "from-"]);
        assert!(ok, "{out}");
        assert_eq!(out, "from-grpc\ng\nfrom-resp\nr\n");
    }
}

/// The first `n` lines a long-running command prints; then it gets SIGINT (Ctrl-C) and its
/// exit code is returned too.
fn first_lines(mut cmd: std::process::Command, n: usize) -> (String, Option<i32>) {
    use std::io::{BufRead, BufReader};
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut text = String::new();
    for _ in 0..n {
        out.read_line(&mut text).expect("a line");
    }
    let pid = child.id().to_string();
    std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("kill -INT");
    (text, child.wait().expect("wait").code())
}

/// `ddbb watch` from a past revision prints what `etcdctl watch` prints for the same history,
/// `-w json` gives one object per response, and Ctrl-C (SIGINT) ends it with status 0.
#[test]
fn watch_prints_like_etcdctl() {
    use std::process::Command;

    let cluster = TestCluster::start(3);
    let e = cluster.endpoints();
    for args in [
        &["put", "w/a", "1"][..],
        &["put", "w/b", "2"],
        &["put", "w/a", "3"],
        &["del", "w/a"],
        &["put", "other", "x"],
    ] {
        ddbb_on(&e, args).ok();
    }
    let expected = "PUT\nw/a\n1\nPUT\nw/b\n2\nPUT\nw/a\n1\nw/a\n3\nDELETE\nw/a\n3\nw/a\n\n";
    let lines = expected.lines().count();
    let watch = ["watch", "w/", "--prefix", "--rev", "2", "--prev-kv"];
    let mut ours = Command::new(env!("CARGO_BIN_EXE_ddbb"));
    ours.args(["--endpoints", &e]).args(watch);
    let (text, code) = first_lines(ours, lines);
    assert_eq!(text, expected);
    assert_eq!(code, Some(0), "Ctrl-C ends a watch with status 0");

    let mut json = Command::new(env!("CARGO_BIN_EXE_ddbb"));
    json.args([
        "--endpoints",
        &e,
        "-w",
        "json",
        "watch",
        "w/b",
        "--rev",
        "2",
    ]);
    let (line, _) = first_lines(json, 1);
    let v: serde_json::Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(v["events"][0]["type"], "PUT");
    assert_eq!(v["events"][0]["kv"]["key"], "w/b");
    assert_eq!(v["events"][0]["kv"]["mod_revision"], 3);

    if etcdctl_installed() {
        let mut etcdctl = Command::new("etcdctl");
        etcdctl
            .env("ETCDCTL_API", "3")
            .args(["--endpoints", &cluster.grpc_endpoint(1)])
            .args(watch);
        let (theirs, _) = first_lines(etcdctl, lines);
        assert_eq!(text, theirs, "ddbb watch and etcdctl watch differ");
    }
}
