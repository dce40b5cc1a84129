//! `redis-cli` and `redis-benchmark` against a 3-replica cluster, unchanged.
//!
//! The tools come from Debian's `redis-tools` (installed by `.ci/run`). Without them the tests
//! say that they skipped, except under CI (`CI=true`), where a missing tool is a failure.

mod common;

use std::process::Command;

use common::*;

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().expect("run tool");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_cli_reads_and_writes() {
    let Some(cli) = tool("redis-cli", "redis-tools") else {
        return;
    };
    let cluster = Cluster::start(3, &[]);
    cluster.wait_for_leader().await;
    let port = |id: u64| cluster.addr(id).port().to_string();
    let cli_cmd = |id: u64, args: &[&str]| {
        let mut c = Command::new(&cli);
        c.args(["-h", "127.0.0.1", "-p", &port(id)]).args(args);
        run(&mut c)
    };
    assert_eq!(cli_cmd(1, &["PING"]), (true, "PONG\n".into()));
    assert_eq!(
        cli_cmd(1, &["SET", "greeting", "hello world"]),
        (true, "OK\n".into())
    );
    assert_eq!(
        cli_cmd(2, &["GET", "greeting"]),
        (true, "hello world\n".into())
    );
    assert_eq!(
        cli_cmd(3, &["CAS", "greeting", "hello world", "bye"]),
        (true, "1\n".into())
    );
    assert_eq!(
        cli_cmd(3, &["DEL", "greeting", "nothing"]),
        (true, "1\n".into())
    );
    let (_, text) = cli_cmd(1, &["NOSUCH", "x"]);
    assert!(text.contains("ERR unknown command"), "{text}");
    let (ok, text) = cli_cmd(2, &["STATUS"]);
    assert!(
        ok && text.contains("leader") && text.contains("decided_index"),
        "{text}"
    );
    // Interactive mode reads commands from stdin.
    let mut c = Command::new(&cli);
    c.args(["-h", "127.0.0.1", "-p", &port(1)])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped());
    let mut child = c.spawn().expect("spawn redis-cli");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(stdin, "SET a 1\nGET a\nRANGE \"\" \"\"").expect("write");
    }
    let out = child.wait_with_output().expect("redis-cli");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("OK") && text.contains('1') && text.contains('a'),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_benchmark_runs_without_error_replies() {
    let Some(bench) = tool("redis-benchmark", "redis-tools") else {
        return;
    };
    let cluster = Cluster::start(3, &[]);
    cluster.wait_for_leader().await;
    for id in [1u64, 2] {
        let (ok, text) = run(Command::new(&bench).args([
            "-h",
            "127.0.0.1",
            "-p",
            &cluster.addr(id).port().to_string(),
            "-t",
            "ping,set,get",
            "-n",
            "20000",
            "-c",
            "50",
            "-q",
        ]));
        assert!(ok, "redis-benchmark failed: {text}");
        assert!(
            !text.to_lowercase().contains("error"),
            "error replies: {text}"
        );
        for test in ["PING_INLINE", "PING_MBULK", "SET", "GET"] {
            assert!(
                text.lines()
                    .any(|l| l.contains(&format!("{test}: ")) && l.contains("requests per second")),
                "no result for {test}: {text}"
            );
        }
    }
}
