//! The `lin_test check` command: output and exit codes.

use std::path::PathBuf;
use std::process::{Command, Output};

/// Writes `history` to a file unique to this test and runs `lin_test check` on it.
fn check(name: &str, history: &str, extra: &[&str]) -> Output {
    let path = std::env::temp_dir().join(format!("lin_test_cli_{}_{name}.edn", std::process::id()));
    std::fs::write(&path, history).expect("temp file is writable");
    let output = run(&[&["check", path.to_str().expect("utf-8 temp path")], extra].concat());
    let _ = std::fs::remove_file(&path);
    output
}

fn run(args: &[&str]) -> Output {
    Command::new(PathBuf::from(env!("CARGO_BIN_EXE_lin_test")))
        .args(args)
        .output()
        .expect("lin_test runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

const GOOD: &str = "\
{:type :invoke, :f :write, :value [1 5], :process 0, :time 0, :index 0}
{:type :ok, :f :write, :value [1 5], :process 0, :time 1, :index 1}
{:type :invoke, :f :read, :value [1 nil], :process 1, :time 2, :index 2}
{:type :ok, :f :read, :value [1 5], :process 1, :time 3, :index 3}
";

#[test]
fn a_linearizable_history_exits_0() {
    let output = check("good", GOOD, &[]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert!(
        stdout(&output).starts_with("key 1: linearizable: true\n"),
        "{output:?}"
    );
}

#[test]
fn a_violation_exits_1_and_shows_the_counterexample() {
    let bad = format!(
        "{GOOD}{{:type :invoke, :f :read, :value [2 nil], :process 1, :time 4, :index 4}}\n\
         {{:type :ok, :f :read, :value [2 7], :process 1, :time 5, :index 5}}\n"
    );
    let output = check("bad", &bad, &["--timeout", "5"]);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    let out = stdout(&output);
    assert!(out.contains("key 1: linearizable: true\n"), "{out}");
    assert!(out.contains("key 2: linearizable: false\n"), "{out}");
    assert!(out.contains("up to :index 5"), "{out}");
    assert!(out.contains("process 1 :read => 7"), "{out}");
}

#[test]
fn malformed_input_exits_2_with_the_position() {
    let output = check("malformed", "{:type :ok, :f :read\n :process 1", &[]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(err.starts_with("Error: "), "{err}");
    assert!(err.contains("line 1, column 1"), "{err}");
}

#[test]
fn a_missing_file_and_a_bad_timeout_exit_2() {
    let output = run(&["check", "/nonexistent/history.edn"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
    let output = check("timeout", GOOD, &["--timeout", "0"]);
    assert_eq!(output.status.code(), Some(2), "{output:?}");
}

#[test]
fn running_without_a_subcommand_takes_the_run_options() {
    let help = run(&["--help"]);
    assert_eq!(help.status.code(), Some(0), "{help:?}");
    let text = stdout(&help);
    for option in [
        "--nodes",
        "--nemesis",
        "--nemesis-interval",
        "--out",
        "check",
    ] {
        assert!(text.contains(option), "--help lacks {option}:\n{text}");
    }
    assert!(
        !text.lines().any(|l| l.trim_start().starts_with("serve ")),
        "the replica mode is hidden:\n{text}"
    );
    let run_help = run(&["run", "--help"]);
    assert!(stdout(&run_help).contains("--time-limit"), "{run_help:?}");
}

#[test]
fn bad_run_options_exit_2_before_starting_anything() {
    let out = std::env::temp_dir().join(format!("lin_test_cli_{}_never", std::process::id()));
    let out = out.to_str().expect("utf-8 temp path");
    for (args, message) in [
        (vec!["--nemesis", "kill,flood"], "unknown nemesis 'flood'"),
        (
            vec!["run", "--nodes", "0"],
            "--nodes must be between 1 and 9",
        ),
        (vec!["--mix", "read=0"], "at least one positive weight"),
        (vec!["--time-limit", "0"], "--time-limit must be a positive"),
    ] {
        let output = run(&[&args[..], &["--out", out]].concat());
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(err.contains(message), "{args:?}: {err}");
    }
    assert!(
        !std::path::Path::new(out).exists(),
        "no run directory is made"
    );
}
