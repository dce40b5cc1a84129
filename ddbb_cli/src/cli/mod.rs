//! The `ddbb` command line: etcdctl-style one-shot commands; without a command, the REPL;
//! `ddbb playground`, a local cluster with the REPL on it.
//!
//! - [`args`]: the clap definitions, shared by one-shot mode and the REPL (a REPL line is
//!   parsed by [`ReplLine`] with the same subcommands);
//! - [`exec`]: runs one command against a [`Client`] and returns a [`Report`], which
//!   [`crate::output`] renders.
//!
//! Exit status: 0 success, 1 a failed request (or a failed `cas`), 2 bad arguments.

pub mod args;
pub mod exec;
pub mod lock;
pub mod txn;
pub mod watch;

pub use args::{Cli, Command, GlobalArgs, KvCommand, OutputArgs, PlaygroundArgs, ReplLine};

use std::io::{IsTerminal, Read, Write};
use std::process::ExitCode;

use crate::output::{Report, Style};
use crate::Error;
use ddbb_client::{Client, ClientConfig};

/// Why a `ddbb` invocation failed; [`CliError::exit_code`] maps it to the exit status.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A request failed (or the input was refused by the client library). etcd's errors
    /// (`etcdserver: ...`) are shown as they are, as etcdctl shows them.
    #[error("{}", client_error_text(.0))]
    Client(#[from] Error),
    /// A request failed; like etcdctl, the message says what was being done
    /// (`failed to revoke lease (etcdserver: requested lease not found)`).
    #[error("{context} ({})", client_error_text(.source))]
    Failed {
        /// What was being done.
        context: &'static str,
        /// Why it failed.
        source: Error,
    },
    /// Interrupted before the command got what it waited for (a lock, a leadership); etcdctl
    /// says `context canceled`. Exit status 1, so that `timeout -s INT 5 ddbb lock NAME --
    /// cmd` does not look like a success.
    #[error("interrupted before {0}")]
    Interrupted(&'static str),
    /// Bad arguments or input.
    #[error("{0}")]
    Usage(String),
    /// Reading stdin, writing stdout or starting the runtime failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The playground could not start its replicas.
    #[error("playground: {0}")]
    Playground(String),
}

/// A client error as `Error: ...` shows it.
fn client_error_text(e: &Error) -> String {
    match e {
        Error::Server(msg) if msg.starts_with("etcdserver: ") => msg.clone(),
        other => other.to_string(),
    }
}

impl CliError {
    /// 2 for bad arguments or input, 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_)
            | CliError::Client(Error::InvalidInput(_))
            | CliError::Failed {
                source: Error::InvalidInput(_),
                ..
            } => 2,
            _ => 1,
        }
    }
}

/// Runs one command, prints its result; a [`Report::failure`] gives exit status 1.
pub fn one_shot(global: &GlobalArgs, command: &KvCommand) -> Result<ExitCode, CliError> {
    let client = client(global)?;
    let hex = global.output.hex;
    if let KvCommand::Watch(args) = command {
        return watch_until_interrupted(&client, args, global);
    }
    if lock::is_stream(command) {
        let style = Style {
            format: global.output.write_out.unwrap_or_default(),
            hex,
            raw: !std::io::stdout().is_terminal(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let code = runtime.block_on(async {
            let interrupted = lock::interrupt_signals()?;
            lock::stream(&client, command, style, interrupted).await
        })?;
        return Ok(ExitCode::from(code));
    }
    let stdin = if let KvCommand::Txn(t) = command {
        let prompt = t.interactive || std::io::stdin().is_terminal();
        let text = txn::read_text(&mut std::io::stdin().lock(), prompt)?;
        Some(bytes::Bytes::from(text))
    } else if exec::needs_stdin(command) {
        if std::io::stdin().is_terminal() {
            complain("(reading the value from stdin; end it with Ctrl-D)");
        }
        let mut input = Vec::new();
        std::io::stdin().lock().read_to_end(&mut input)?;
        Some(exec::stdin_value(input, hex)?)
    } else {
        None
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(exec::execute(&client, command, hex, stdin))?;
    let style = Style {
        format: global.output.write_out.unwrap_or_default(),
        hex,
        raw: !std::io::stdout().is_terminal(),
    };
    write_stdout(&report.render(style))?;
    Ok(exit_for(&report))
}

/// `ddbb watch`: prints events until Ctrl-C (exit status 0) or a failure.
fn watch_until_interrupted(
    client: &Client,
    args: &args::WatchArgs,
    global: &GlobalArgs,
) -> Result<ExitCode, CliError> {
    let style = Style {
        format: global.output.write_out.unwrap_or_default(),
        hex: global.output.hex,
        raw: !std::io::stdout().is_terminal(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        tokio::select! {
            r = watch::stream(client, args, style) => r,
            _ = tokio::signal::ctrl_c() => Ok(()),
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Prints a report's failure on stderr and returns the exit status.
fn exit_for(report: &Report) -> ExitCode {
    match report.failure() {
        Some(why) => {
            complain(&format!("Error: {why}"));
            ExitCode::from(1)
        }
        None => ExitCode::SUCCESS,
    }
}

/// The client for `--endpoints` and `--timeout`.
pub fn client(global: &GlobalArgs) -> Result<Client, CliError> {
    let endpoints: Vec<String> = global
        .endpoints
        .iter()
        .map(|e| e.trim().to_string())
        .filter(|e| !e.is_empty())
        .collect();
    Ok(Client::new(
        ClientConfig::new(endpoints).with_timeout(global.timeout),
    )?)
}

/// A runtime whose workers keep running (replicas, connections) while the REPL blocks.
pub fn multi_thread_runtime() -> Result<tokio::runtime::Runtime, CliError> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// Prints a line on stdout; a closed or broken stdout is ignored, never a panic.
pub fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|_| out.flush());
}

/// Prints a line on stderr; a closed or broken stderr is ignored, never a panic.
pub fn complain(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Writes to stdout; a closed pipe (`ddbb get ... | head -1`) is not an error.
pub fn write_stdout(bytes: &[u8]) -> Result<(), CliError> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(()),
    }
}

/// Turns a clap error into one line on stderr (help and version go to stdout) and the
/// exit status: 0 for help and version, 2 otherwise.
pub fn report_usage_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = e.print();
            ExitCode::from(2)
        }
        _ => {
            complain(&format!("Error: {}", usage_line(e)));
            ExitCode::from(2)
        }
    }
}

/// A clap error as one line, without its `error: ` prefix and usage, plus a hint.
pub fn usage_line(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let message: Vec<&str> = text
        .lines()
        .take_while(|l| !l.trim().is_empty() && !l.starts_with("Usage:"))
        .map(str::trim)
        .collect();
    let message = message.join(" ");
    let message = message.strip_prefix("error: ").unwrap_or(&message);
    format!("{message} (see --help)")
}
