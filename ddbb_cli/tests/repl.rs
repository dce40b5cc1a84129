//! The REPL driven through a real pseudo-terminal: commands, history recall, completion,
//! errors, colours, Ctrl-C and Ctrl-D.

mod common;

use std::process::Command;

use expectrl::{ControlCode, Regex};

use common::{Pty, TestCluster};

/// Up arrow, as a terminal sends it.
const UP: &str = "\x1b[A";

fn spawn_repl(endpoints: &str, history: &std::path::Path) -> Pty {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ddbb"));
    cmd.args(["--endpoints", endpoints])
        .env("DDBB_HISTORY", history)
        .env("TERM", "xterm")
        .env_remove("NO_COLOR")
        .env_remove("DDBB_ENDPOINTS");
    Pty::spawn(cmd)
}

#[test]
fn repl_runs_commands_recalls_history_completes_and_exits_on_ctrl_d() {
    let cluster = TestCluster::start(3);
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history");
    let mut p = spawn_repl(&cluster.endpoints(), &history);

    // The prompt names the endpoint in use and the leader (coloured: this is a terminal).
    p.expect(Regex(
        r"\x1b\[\?2004h[^\n]*ddbb[^\n]*127\.0\.0\.1:\d+[^\n]*leader \d[^\n]*\)> ",
    ));

    p.line("put greeting hello");
    p.expect("OK");
    // Latency in a dimmed line.
    p.expect(Regex(r"\x1b\[2m\(\d+\.\d+ ms\)\x1b\[0m"));
    p.prompt();

    p.line("get greeting");
    p.expect("greeting\r\nhello\r\n");
    p.prompt();

    p.line("put greeting 'hello world'");
    p.expect("OK");
    p.prompt();

    // History: Up twice recalls `get greeting`.
    p.keys(UP);
    p.keys(UP);
    p.keys("\r");
    p.expect("greeting\r\nhello world\r\n");
    p.prompt();

    // Completion: `sta<Tab>` becomes `status `.
    p.keys("sta\t");
    p.expect("status");
    p.keys("\r");
    p.expect(Regex(r"127\.0\.0\.1:\d+, 1, (true|false), \d"));
    p.prompt();

    // The same flags as one-shot mode.
    p.line("get greeting -w json");
    p.expect(r#""value":"hello world""#);
    p.prompt();

    // Errors are one line and the REPL goes on.
    p.line("get");
    p.expect(Regex("Error:.*required arguments were not provided"));
    p.prompt();
    p.line("frobnicate");
    p.expect(Regex("Error:.*unrecognized subcommand 'frobnicate'"));
    p.prompt();
    p.line("put k 'unclosed");
    p.expect(Regex("Error:.*unclosed single quote"));
    p.prompt();

    // help and help <command>.
    p.line("help");
    p.expect("cas <KEY> <EXPECTED> <NEW>");
    p.prompt();
    p.line("help get");
    p.expect("--print-value-only");
    p.prompt();

    // Ctrl-C drops the line being typed.
    p.keys("del greeting");
    p.control(ControlCode::EndOfText);
    p.prompt();
    p.line("get greeting --print-value-only");
    p.expect("hello world\r\n");
    p.prompt();

    // Ctrl-D exits cleanly.
    p.control(ControlCode::EndOfTransmission);
    assert_eq!(p.exit_code(), 0);

    let saved = std::fs::read_to_string(&history).unwrap();
    assert!(saved.contains("put greeting hello"), "{saved}");
    assert!(saved.contains("get greeting -w json"), "{saved}");
    assert!(
        !saved.contains("del greeting"),
        "a cancelled line is not history: {saved}"
    );
}

#[test]
fn history_persists_across_sessions() {
    let cluster = TestCluster::start(3);
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history");

    let mut p = spawn_repl(&cluster.endpoints(), &history);
    p.prompt();
    p.line("put persisted yes");
    p.expect("OK");
    p.prompt();
    p.line("exit");
    assert_eq!(p.exit_code(), 0);

    let mut p = spawn_repl(&cluster.endpoints(), &history);
    p.prompt();
    p.keys(UP); // `exit`
    p.keys(UP);
    p.expect("put persisted yes");
    p.control(ControlCode::EndOfText); // drop the recalled line
    p.prompt();
    p.line("get persisted --print-value-only");
    p.expect("yes\r\n");
    p.prompt();
    p.control(ControlCode::EndOfTransmission);
    assert_eq!(p.exit_code(), 0);
}

#[test]
fn repl_reads_piped_lines_without_colours() {
    let cluster = TestCluster::start(3);
    let input = b"put piped yes\nget piped --print-value-only\nget\nexit\n";
    let endpoints = cluster.endpoints();
    let r = common::ddbb(&["--endpoints", &endpoints], Some(input));
    assert_eq!(r.code, 0, "{r:?}");
    let out = r.out();
    assert!(out.contains("OK\n") && out.contains("yes\n"), "{out}");
    assert!(!out.contains('\x1b') && !r.stderr.contains('\x1b'), "{r:?}");
    assert!(r.stderr.contains("Error:"), "{r:?}");
}

#[test]
fn repl_txn_prompts_for_each_section() {
    let cluster = TestCluster::start(3);
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn_repl(&cluster.endpoints(), &dir.path().join("history"));
    p.prompt();
    p.line("put t 1");
    p.expect("OK");
    p.prompt();

    // Each line of a txn is read by a new readline (bracketed paste on) with the prompt
    // `> `; wait for it before typing, as keys typed ahead of a readline are dropped.
    let sub_prompt = |p: &mut Pty| p.expect(Regex(r"\x1b\[\?2004h[^\n]*?> "));
    let typed = |p: &mut Pty, line: &str| {
        p.line(line);
        sub_prompt(p);
    };
    p.line("txn");
    p.expect("compares:");
    sub_prompt(&mut p);
    // A bad line is reported at once and may be typed again.
    p.line("value(\"t\") == \"1\"");
    p.expect(Regex("Error:.*malformed comparison"));
    sub_prompt(&mut p);
    typed(&mut p, "value(\"t\") = \"1\"");
    p.line("");
    p.expect("success requests (get, put, del):");
    sub_prompt(&mut p);
    typed(&mut p, "put t 2 --prev-kv");
    typed(&mut p, "get t");
    p.line("");
    p.expect("failure requests (get, put, del):");
    sub_prompt(&mut p);
    typed(&mut p, "get t");
    p.line("");
    p.expect("SUCCESS\r\n\r\nOK\r\nt\r\n1\r\n\r\nt\r\n2\r\n");
    p.prompt();

    // The same compare now fails.
    p.line("txn");
    p.expect("compares:");
    sub_prompt(&mut p);
    typed(&mut p, "value(\"t\") = \"1\"");
    p.line("");
    p.expect("success requests");
    sub_prompt(&mut p);
    p.line("");
    p.expect("failure requests");
    sub_prompt(&mut p);
    typed(&mut p, "get t --print-value-only");
    p.line("");
    p.expect("FAILURE\r\n\r\n2\r\n");
    p.prompt();

    // Ctrl-C drops the transaction.
    p.line("txn");
    p.expect("compares:");
    sub_prompt(&mut p);
    p.control(ControlCode::EndOfText);
    p.expect(Regex("Error:.*txn cancelled"));
    p.prompt();

    p.line("help");
    p.expect("compaction <REVISION>");
    p.prompt();
    p.control(ControlCode::EndOfTransmission);
    assert_eq!(p.exit_code(), 0);
}

#[test]
fn repl_lock_and_elect_hold_until_ctrl_c_then_release() {
    let cluster = TestCluster::start(3);
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn_repl(&cluster.endpoints(), &dir.path().join("history"));
    p.prompt();

    p.line("lock door");
    let key = p.capture(r"(door/[0-9a-f]+)\r\n");
    p.control(ControlCode::EndOfText);
    p.prompt();
    // Ctrl-C revoked the lease: the key is gone.
    p.line("get door/ --prefix --count-only");
    p.expect("0\r\n");
    p.prompt();
    assert!(key.starts_with("door/"));

    p.line("elect council alpha");
    p.expect(Regex(r"council/[0-9a-f]+\r\nalpha\r\n"));
    p.control(ControlCode::EndOfText);
    p.prompt();
    p.line("get council/ --prefix --count-only");
    p.expect("0\r\n");
    p.prompt();

    p.control(ControlCode::EndOfTransmission);
    assert_eq!(p.exit_code(), 0);
}

#[test]
fn repl_watch_prints_events_until_ctrl_c() {
    let cluster = TestCluster::start(3);
    let dir = tempfile::tempdir().unwrap();
    let mut p = spawn_repl(&cluster.endpoints(), &dir.path().join("history"));
    p.prompt();
    common::ddbb_on(&cluster.endpoints(), &["put", "w/a", "1"]).ok();
    // From revision 2: the history, then what happens while watching.
    p.line("watch w/ --prefix --rev 2 --prev-kv");
    p.expect("PUT\r\nw/a\r\n1\r\n");
    common::ddbb_on(&cluster.endpoints(), &["put", "w/a", "2"]).ok();
    p.expect("PUT\r\nw/a\r\n1\r\nw/a\r\n2\r\n");
    p.control(ControlCode::EndOfText);
    p.prompt();
    p.line("get w/a --print-value-only");
    p.expect("2\r\n");
    p.prompt();
    p.control(ControlCode::EndOfTransmission);
    assert_eq!(p.exit_code(), 0);
}
