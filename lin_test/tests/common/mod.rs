//! Running the `lin_test` binary as a test: bounded, output kept on failure, never leaving a
//! process behind.
#![allow(dead_code)] // each test file uses a different part

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a run may take to exit after SIGINT (it heals, kills, writes, checks).
const INTERRUPT_GRACE: Duration = Duration::from_secs(60);

/// One finished `lin_test run`.
pub struct Finished {
    /// Its exit status.
    pub status: ExitStatus,
    /// Everything it printed (stdout and stderr).
    pub output: String,
    /// The run directory.
    pub out: PathBuf,
    /// Holds the temp dir until the test decides to keep it.
    dir: Option<tempfile::TempDir>,
}

impl Finished {
    /// Keeps the run directory (for a failing test) and returns its path.
    pub fn keep(&mut self) -> PathBuf {
        if let Some(dir) = self.dir.take() {
            let kept = dir.keep();
            return kept.join("run");
        }
        self.out.clone()
    }

    /// The network backend the run used, from its report line.
    pub fn network(&self) -> &str {
        if self.output.contains("network faults: iptables") {
            "iptables"
        } else if self.output.contains("network faults: proxy") {
            "proxy"
        } else {
            "unknown"
        }
    }

    /// Reads a file of the run directory.
    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.out.join(name))
            .unwrap_or_else(|e| panic!("{} is missing: {e}", self.out.join(name).display()))
    }

    /// Asserts that the run exited with `code` and printed `verdict` (its verdict line, or
    /// the start of it).
    pub fn expect_verdict(&mut self, code: i32, verdict: &str) {
        let got = self.status.code();
        self.check(
            got == Some(code),
            &format!("expected exit {code} ({verdict}), got {got:?}"),
        );
        self.check(
            self.output.contains(verdict),
            &format!("the summary does not say '{verdict}'"),
        );
    }

    /// Asserts that `nemesis.log` shows a fault of each of `families` starting.
    pub fn expect_faults(&mut self, families: &[&str]) {
        let nemesis = self.read("nemesis.log");
        for family in families {
            self.check(
                nemesis.contains(&format!("start {family}")),
                &format!("no {family} in nemesis.log"),
            );
        }
    }

    /// Asserts that `lin_test check` on the run directory's `file` exits with `code` and
    /// prints `says`.
    pub fn expect_check(&mut self, file: &str, code: i32, says: &str) {
        let (got, out) = check_file(&self.out.join(file));
        self.check(
            got == Some(code) && out.contains(says),
            &format!("lin_test check {file}: {got:?}\n{out}"),
        );
    }

    /// Asserts, keeping the run directory and showing the output if it fails.
    pub fn check(&mut self, ok: bool, what: &str) {
        if !ok {
            let kept = self.keep();
            panic!(
                "{what}\nrun directory kept: {}\n--- lin_test output ---\n{}",
                kept.display(),
                self.output
            );
        }
    }
}

fn send_signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) has no memory-safety preconditions; `pid` is our unreaped child.
    unsafe {
        libc::kill(pid as libc::pid_t, signal);
    }
}

/// Runs `lin_test run ARGS --out <temp>/run`, giving it `limit` before interrupting it
/// (SIGINT, so that it cleans up) and [`INTERRUPT_GRACE`] more before killing it.
pub fn run_lin_test(args: &[&str], limit: Duration) -> Finished {
    let dir = tempfile::Builder::new()
        .prefix("lin_test-it-")
        .tempdir()
        .expect("temp dir");
    let out = dir.path().join("run");
    let log_path = dir.path().join("output.txt");
    let log = std::fs::File::create(&log_path).expect("output file");
    let child = Command::new(env!("CARGO_BIN_EXE_lin_test"))
        .arg("run")
        .args(args)
        .arg("--out")
        .arg(&out)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("dup output file"))
        .stderr(log)
        .spawn()
        .expect("lin_test starts");
    let pid = child.id();
    let (done_tx, done_rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let mut child = child;
        let status = child.wait();
        let _ = done_tx.send(());
        status
    });
    if done_rx.recv_timeout(limit).is_err() {
        eprintln!("lin_test ran over {limit:?}: interrupting it");
        send_signal(pid, libc::SIGINT);
        if done_rx.recv_timeout(INTERRUPT_GRACE).is_err() {
            send_signal(pid, libc::SIGKILL);
        }
    }
    let status = waiter
        .join()
        .expect("waiter thread")
        .expect("wait for lin_test");
    let output = std::fs::read_to_string(&log_path).unwrap_or_default();
    Finished {
        status,
        output,
        out,
        dir: Some(dir),
    }
}

/// Runs `lin_test run --workload WORKLOAD`, each of `options` as `--flag value`, then the
/// bare `flags`, with [`run_lin_test`]'s `limit`.
pub fn run_workload(
    workload: &str,
    options: &[(&str, &str)],
    flags: &[&str],
    limit: Duration,
) -> Finished {
    let mut args = vec!["--workload", workload];
    for (flag, value) in options {
        args.extend([*flag, *value]);
    }
    args.extend_from_slice(flags);
    run_lin_test(&args, limit)
}

/// Runs `one` (a run of a replica with an UNSAFE flag) until it exits with 1, at most
/// `attempts` times, insisting each time that nothing is left behind; returns that run and
/// its attempt number, or panics with every attempt's output.
pub fn until_caught(
    attempts: usize,
    what: &str,
    mut one: impl FnMut() -> Finished,
) -> (Finished, usize) {
    let mut outputs = Vec::new();
    for attempt in 1..=attempts {
        let mut run = one();
        assert_nothing_left(&mut run);
        if run.status.code() == Some(1) {
            return (run, attempt);
        }
        eprintln!(
            "attempt {attempt}: nothing caught (exit {:?})",
            run.status.code()
        );
        outputs.push(run.output.clone());
    }
    panic!(
        "{what} were not caught in {attempts} runs:\n{}",
        outputs.join("\n-----\n")
    );
}

/// The number after `label` in `text` (`"acquisitions: 38 ("` with label `"acquisitions: "`).
pub fn number_after(text: &str, label: &str) -> Option<u64> {
    let rest = &text[text.find(label)? + label.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Runs `lin_test check FILE` and returns its exit code and stdout.
pub fn check_file(path: &Path) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_lin_test"))
        .arg("check")
        .arg(path)
        .output()
        .expect("lin_test check runs");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
    )
}

/// Says loudly which network backend a run used, and insists on iptables where CI provides
/// it (root with `CI=true`).
pub fn report_network(finished: &mut Finished) {
    let network = finished.network().to_string();
    // SAFETY: geteuid(2) cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if network == "iptables" {
        eprintln!("partitions were injected with iptables rules");
        return;
    }
    eprintln!(
        "NOTE: iptables partitions SKIPPED ({}): partitions used the tester's link proxy instead",
        if root {
            "iptables unavailable"
        } else {
            "not running as root"
        }
    );
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    finished.check(
        !(ci && root),
        "CI=true as root, but the run did not use iptables: install the iptables package",
    );
}

/// Asserts that no replica and no iptables chain of `pid` is left.
pub fn assert_nothing_left(finished: &mut Finished) {
    let chains = Command::new("iptables")
        .args(["-w", "-S"])
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let block = finished
        .output
        .lines()
        .find_map(|l| l.split("replicas on ").nth(1))
        .map(|b| b.trim_end_matches("/24").trim_end_matches(".0").to_string());
    let leftover_chain = chains.lines().any(|l| {
        l.starts_with("-N DDBB_LT_")
            && l.split('_')
                .nth(2)
                .and_then(|pid| pid.parse::<u32>().ok())
                .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
    });
    finished.check(
        !leftover_chain,
        "an iptables chain of a finished run is left",
    );
    if let Some(block) = block {
        // Any process still listening in the run's address block would be a leftover.
        let listening = Command::new("ss")
            .args(["-ltnH"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let left = listening.lines().any(|l| l.contains(&format!("{block}.")));
        finished.check(!left, "a replica of the run still listens");
    }
}
