//! `ddbb lease`, `ddbb lock` and `ddbb elect` against a live in-process 3-replica cluster:
//! etcdctl's texts, keepalives that keep keys alive and stop doing so when killed, a lock
//! that never lets two commands overlap, and an election handed over when the leader's
//! process is killed.

mod common;

use std::time::{Duration, Instant};

use common::{ddbb_on, wait_until, Background, TestCluster};

/// `lease ID granted with TTL(Ns)` → the ID.
fn granted(out: &str, ttl: i64) -> String {
    let line = out.strip_suffix('\n').expect("one line");
    let id = line
        .strip_prefix("lease ")
        .and_then(|rest| rest.strip_suffix(&format!(" granted with TTL({ttl}s)")))
        .unwrap_or_else(|| panic!("not a grant: {out:?}"));
    assert_eq!(id.len(), 16, "etcdctl prints %016x: {id}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    id.to_string()
}

/// Waits until `get PREFIX --prefix --count-only` says `n`.
fn wait_for_count(cluster: &TestCluster, e: &str, prefix: &str, n: u64) {
    cluster.block_on(wait_until(&format!("{n} keys under {prefix}"), || async {
        let out = ddbb_on(e, &["get", prefix, "--prefix", "--count-only"]).ok();
        (out.out().trim() == n.to_string()).then_some(())
    }));
}

#[test]
fn lease_commands_print_like_etcdctl_and_keep_alive_keeps_keys() {
    let cluster = TestCluster::start(3);
    let e = cluster.endpoints();
    let e = e.as_str();

    let id = granted(&ddbb_on(e, &["lease", "grant", "30"]).ok().out(), 30);
    let decimal = i64::from_str_radix(&id, 16).unwrap();
    assert_eq!(
        ddbb_on(e, &["put", "leased", "v", "--lease", &id])
            .ok()
            .out(),
        "OK\n"
    );
    let ttl = ddbb_on(e, &["lease", "timetolive", &id]).ok().out();
    let prefix = format!("lease {id} granted with TTL(30s), remaining(");
    assert!(ttl.starts_with(&prefix) && ttl.ends_with("s)\n"), "{ttl}");
    let left: i64 = ttl[prefix.len()..ttl.len() - 3].parse().unwrap();
    assert!((25..=30).contains(&left), "{ttl}");
    let keys = ddbb_on(e, &["lease", "timetolive", &id, "--keys"])
        .ok()
        .out();
    assert!(keys.ends_with(", attached keys([leased])\n"), "{keys}");
    let json = ddbb_on(e, &["-w", "json", "lease", "timetolive", &id, "--keys"])
        .ok()
        .json();
    assert_eq!(json["id"], decimal);
    assert_eq!(json["granted-ttl"], 30);
    assert_eq!(json["keys"], serde_json::json!(["leased"]));
    assert_eq!(
        ddbb_on(e, &["lease", "keep-alive", "--once", &id])
            .ok()
            .out(),
        format!("lease {id} keepalived with TTL(30)\n")
    );
    let other = ddbb_on(e, &["-w", "json", "lease", "grant", "5"])
        .ok()
        .json();
    assert_eq!(other["TTL"], 5);
    let other = format!("{:016x}", other["ID"].as_i64().unwrap());
    let list = ddbb_on(e, &["lease", "list"]).ok().out();
    assert!(list.starts_with("found 2 leases\n"), "{list}");
    assert!(
        list.contains(&format!("\n{id}\n")) && list.contains(&format!("\n{other}\n")),
        "{list}"
    );

    // Revoking deletes the key; a second revoke is etcdctl's error.
    assert_eq!(
        ddbb_on(e, &["lease", "revoke", &id]).ok().out(),
        format!("lease {id} revoked\n")
    );
    assert_eq!(ddbb_on(e, &["get", "leased"]).ok().out(), "");
    assert_eq!(
        ddbb_on(e, &["lease", "timetolive", &id]).ok().out(),
        format!("lease {id} already expired\n")
    );
    let again = ddbb_on(e, &["lease", "revoke", &id]).fails(1);
    assert_eq!(
        again.stderr,
        "Error: failed to revoke lease (etcdserver: requested lease not found)\n"
    );
    let gone = ddbb_on(e, &["lease", "keep-alive", "--once", &id]).fails(1);
    assert_eq!(
        gone.stderr,
        "Error: etcdserver: requested lease not found\n"
    );
    ddbb_on(e, &["lease", "revoke", "not-hex"]).fails(2);
    ddbb_on(e, &["put", "k", "v", "--lease", "zz"]).fails(2);

    // keep-alive renews a 2 s lease every third of its TTL: after five renewals (well past
    // the TTL) the key is still there; once the process is killed, the lease expires.
    let short = granted(&ddbb_on(e, &["lease", "grant", "2"]).ok().out(), 2);
    ddbb_on(e, &["put", "short", "v", "--lease", &short]).ok();
    let started = Instant::now();
    let mut keeper = Background::spawn(e, &["lease", "keep-alive", &short]);
    for _ in 0..5 {
        assert_eq!(
            keeper.line(),
            format!("lease {short} keepalived with TTL(2)")
        );
    }
    assert!(
        started.elapsed() > Duration::from_secs(2),
        "renewals too fast"
    );
    assert_eq!(
        ddbb_on(e, &["get", "short", "--print-value-only"])
            .ok()
            .out(),
        "v\n"
    );
    keeper.signal("KILL");
    wait_for_count(&cluster, e, "short", 0);
    assert_eq!(
        ddbb_on(e, &["lease", "timetolive", &short]).ok().out(),
        format!("lease {short} already expired\n")
    );

    // A kept-alive lease that is revoked ends the keep-alive with etcdctl's last line.
    let third = granted(&ddbb_on(e, &["lease", "grant", "3"]).ok().out(), 3);
    let mut keeper = Background::spawn(e, &["lease", "keep-alive", &third]);
    assert_eq!(
        keeper.line(),
        format!("lease {third} keepalived with TTL(3)")
    );
    ddbb_on(e, &["lease", "revoke", &third]).ok();
    loop {
        let line = keeper.line();
        if line == format!("lease {third} expired or revoked.") {
            break;
        }
        assert_eq!(line, format!("lease {third} keepalived with TTL(3)"));
    }
    assert_eq!(keeper.exit_code(), 0, "{}", keeper.stderr());
}

#[test]
fn lock_never_lets_two_holders_overlap_and_hands_out_increasing_revisions() {
    let cluster = TestCluster::start(3);
    let e = cluster.endpoints();
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let script = format!(
        "echo \"begin $ETCD_LOCK_REV $ETCD_LOCK_KEY\" >> {0}; sleep 0.2; echo \"end $ETCD_LOCK_REV\" >> {0}",
        log.display()
    );
    let start = Instant::now();
    let holders: Vec<_> = (0..5)
        .map(|_| {
            let (e, script) = (e.clone(), script.clone());
            std::thread::spawn(move || {
                ddbb_on(&e, &["lock", "--ttl", "5", "shared", "sh", "-c", &script])
            })
        })
        .collect();
    for h in holders {
        h.join().unwrap().ok();
    }
    eprintln!("5 holders took {:?}", start.elapsed());
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 10, "{text}");
    let mut last_rev = 0;
    let mut keys = std::collections::BTreeSet::new();
    for pair in lines.chunks(2) {
        let begin: Vec<&str> = pair[0].split(' ').collect();
        let [word, rev, key] = begin[..] else {
            panic!("bad line {:?} in {text}", pair[0]);
        };
        assert_eq!(word, "begin", "overlap in {text}");
        assert_eq!(pair[1], format!("end {rev}"), "overlap in {text}");
        let rev: i64 = rev.parse().unwrap();
        assert!(rev > last_rev, "fencing tokens must increase: {text}");
        last_rev = rev;
        assert!(key.starts_with("shared/"), "{text}");
        assert!(keys.insert(key.to_string()), "a key used twice: {text}");
    }
    // Every holder released: no key left, no lease left.
    assert_eq!(
        ddbb_on(&e, &["get", "shared/", "--prefix", "--count-only"])
            .ok()
            .out(),
        "0\n"
    );
    assert_eq!(
        ddbb_on(&e, &["lease", "list"]).ok().out(),
        "found 0 leases\n"
    );

    // The command's exit status is ours.
    assert_eq!(
        ddbb_on(&e, &["lock", "shared", "--", "sh", "-c", "exit 7"]).code,
        7
    );

    // Without a command: print the key (and its empty value) and hold until Ctrl-C; a
    // waiter queues behind and runs once the holder is interrupted.
    let mut holder = Background::spawn(&e, &["lock", "shared"]);
    let key = holder.line();
    assert!(key.starts_with("shared/"), "{key}");
    assert_eq!(holder.line(), "");
    let mut waiter = Background::spawn(
        &e,
        &["lock", "shared", "sh", "-c", "echo acquired $ETCD_LOCK_KEY"],
    );
    wait_for_count(&cluster, &e, "shared/", 2);
    assert_eq!(
        waiter.try_exit(),
        None,
        "the waiter ran while the lock was held"
    );
    assert_eq!(
        waiter.try_line(),
        None,
        "the waiter ran while the lock was held"
    );
    holder.signal("INT");
    assert_eq!(holder.exit_code(), 0, "{}", holder.stderr());
    let acquired = waiter.line();
    assert!(
        acquired.starts_with("acquired shared/") && acquired != format!("acquired {key}"),
        "{acquired}"
    );
    assert_eq!(waiter.exit_code(), 0, "{}", waiter.stderr());
    wait_for_count(&cluster, &e, "shared/", 0);
}

#[test]
fn elect_hands_over_when_the_leader_process_is_killed() {
    let cluster = TestCluster::start(3);
    let e = cluster.endpoints();
    let e = e.as_str();
    ddbb_on(e, &["elect", "jobs"]).fails(2);

    let mut observer = Background::spawn(e, &["elect", "-l", "jobs"]);
    let mut alpha = Background::spawn(e, &["elect", "--ttl", "2", "jobs", "alpha"]);
    let alpha_key = alpha.line();
    assert!(alpha_key.starts_with("jobs/"), "{alpha_key}");
    assert_eq!(alpha.line(), "alpha");
    assert_eq!(observer.line(), alpha_key);
    assert_eq!(observer.line(), "alpha");

    let mut beta = Background::spawn(e, &["elect", "--ttl", "2", "jobs", "beta"]);
    wait_for_count(&cluster, e, "jobs/", 2);
    assert_eq!(beta.try_exit(), None);
    assert_eq!(beta.try_line(), None, "two leaders at once");

    // kill -9: nothing resigns; the lease (2 s) expires and beta takes over.
    let killed = Instant::now();
    alpha.signal("KILL");
    let beta_key = beta.line();
    let took = killed.elapsed();
    assert!(
        beta_key.starts_with("jobs/") && beta_key != alpha_key,
        "{beta_key}"
    );
    assert_eq!(beta.line(), "beta");
    assert!(took < Duration::from_secs(15), "handover took {took:?}");
    eprintln!("handover after kill -9 took {took:?}");
    assert_eq!(observer.line(), beta_key);
    assert_eq!(observer.line(), "beta");

    // Ctrl-C resigns at once: no key is left.
    beta.signal("INT");
    assert_eq!(beta.exit_code(), 0, "{}", beta.stderr());
    assert_eq!(
        ddbb_on(e, &["get", "jobs/", "--prefix", "--count-only"])
            .ok()
            .out(),
        "0\n"
    );
    observer.signal("TERM");
    assert_eq!(observer.exit_code(), 0, "{}", observer.stderr());
}
