//! The interactive REPL: `ddbb` without a command, and the shell of `ddbb playground`.
//!
//! Lines use the one-shot syntax (`put k v`, `get k --prefix -w json`): they are split with
//! shell-like quoting ([`words`]) and parsed by the same clap definitions
//! ([`crate::cli::ReplLine`]). Besides the shared commands: `help [COMMAND]`, `exit`/`quit`,
//! and on a playground its meta-commands (`.kill 1`, `.nodes`, ...).
//!
//! - History persists in `$DDBB_HISTORY` or `~/.ddbb_history` (an empty `DDBB_HISTORY`
//!   turns it off); Up/Down recall, Ctrl-R searches.
//! - Tab completes commands, flags and flag values; a dimmed hint shows missing arguments.
//! - The prompt names the endpoint in use and the leader, refreshed before each line.
//! - After each command a dimmed line gives its latency (when stdout is a terminal).
//! - Colours only when stdin and stdout are terminals and `NO_COLOR` is unset.
//! - Ctrl-C cancels the line being typed, or the command running (`lock` and `elect` release
//!   the lock or resign first); Ctrl-D exits.
//! - `txn` prompts for its compares, success and failure requests (etcdctl's `txn -i`),
//!   checking each line as it is entered; a blank line ends a section, Ctrl-C drops the
//!   transaction.

pub mod helper;

use std::future::Future;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{CommandFactory, Parser};
use ddbb_libs::Command;
use rustyline::config::{ColorMode, CompletionType, Config};
use rustyline::error::ReadlineError;
use rustyline::history::DefaultHistory;
use rustyline::Editor;
use tokio::runtime::Runtime;

use crate::cli::{
    complain, exec, lock, say, txn, watch, write_stdout, CliError, KvCommand, ReplLine,
};
use crate::output::{Format, Style};
use crate::playground::Playground;
use crate::words;
use ddbb_client::Client;
use helper::{Mode, ReplHelper, BUILTINS};

/// How long the prompt waits for `STATUS` before showing the leader as unknown.
const PROMPT_STATUS_TIMEOUT: Duration = Duration::from_millis(700);
/// Most lines kept in the history file.
const HISTORY_LINES: usize = 1000;

/// Output options that apply unless a line gives its own `-w` or `--hex`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Defaults {
    /// Output format.
    pub format: Format,
    /// Keys and values in hex.
    pub hex: bool,
}

/// What the loop does after a line.
enum Flow {
    Continue,
    Exit,
}

/// The history file: `$DDBB_HISTORY`, else `~/.ddbb_history`; `None` when turned off.
pub fn history_path() -> Option<PathBuf> {
    match std::env::var_os("DDBB_HISTORY") {
        Some(p) if p.is_empty() => None,
        Some(p) => Some(PathBuf::from(p)),
        None => std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".ddbb_history")),
    }
}

/// Runs the REPL until Ctrl-D or `exit`; `playground` adds its meta-commands.
pub fn run(
    runtime: &Runtime,
    client: Client,
    defaults: Defaults,
    playground: Option<&mut Playground>,
) -> Result<(), CliError> {
    let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let color = interactive && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let config = Config::builder()
        .max_history_size(HISTORY_LINES)
        .map_err(editor_error)?
        .history_ignore_dups(true)
        .map_err(editor_error)?
        .history_ignore_space(true)
        .auto_add_history(false)
        .completion_type(CompletionType::List)
        .color_mode(if color {
            ColorMode::Enabled
        } else {
            ColorMode::Disabled
        })
        .build();
    let mut editor: Editor<ReplHelper, DefaultHistory> =
        Editor::with_config(config).map_err(editor_error)?;
    let (meta, nodes) = match &playground {
        Some(p) => (Playground::meta_commands(), p.len()),
        None => (Vec::new(), 0),
    };
    editor.set_helper(Some(ReplHelper::new(meta, nodes, color)));
    let history = history_path();
    if let Some(path) = &history {
        let _ = editor.load_history(path); // a missing file is a fresh history
    }
    // From here on SIGINT never kills the process (a playground must stop cleanly): while a
    // line is edited Ctrl-C is a key; while a command runs it cancels the command; in
    // between it is ignored.
    #[cfg(unix)]
    {
        let _entered = runtime.enter();
        let mut sigint = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
        runtime.spawn(async move { while sigint.recv().await.is_some() {} });
    }
    let mut repl = Repl {
        runtime,
        client,
        defaults,
        playground,
        color,
        interactive,
    };
    if interactive && repl.playground.is_none() {
        say(&format!(
            "ddbb REPL on {}. Type 'help' for commands, Tab to complete, Ctrl-D to quit.",
            repl.client.config().endpoints.join(",")
        ));
    }
    loop {
        let (plain, colored) = repl.prompt();
        if let Some(h) = editor.helper() {
            h.set_prompt(&plain, &colored);
        }
        match editor.readline(&plain) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                    if let Some(path) = &history {
                        let _ = editor.save_history(path);
                    }
                }
                if let Flow::Exit = repl.handle(&line, &mut editor) {
                    break;
                }
            }
            Err(ReadlineError::Interrupted) => continue, // Ctrl-C: drop the line
            Err(ReadlineError::Eof) => break,            // Ctrl-D
            Err(e) => return Err(editor_error(e)),
        }
    }
    if let Some(path) = &history {
        let _ = editor.save_history(path);
    }
    Ok(())
}

/// A line-editor failure (terminal I/O) as a CLI error.
fn editor_error(e: ReadlineError) -> CliError {
    CliError::Io(std::io::Error::other(format!("line editor: {e}")))
}

/// The REPL's state between lines.
struct Repl<'a, 'p> {
    runtime: &'a Runtime,
    client: Client,
    defaults: Defaults,
    playground: Option<&'p mut Playground>,
    color: bool,
    interactive: bool,
}

impl Repl<'_, '_> {
    /// The prompt, plain and coloured: `ddbb 127.0.0.1:6001 (leader 2)> `; none when the
    /// input is not a terminal (`ddbb < commands.txt` prints only results).
    fn prompt(&self) -> (String, String) {
        if !std::io::stdin().is_terminal() {
            return (String::new(), String::new());
        }
        let status = self.runtime.block_on(self.client.execute_with_timeout(
            Command::Status(ddbb_libs::cmd::Status),
            PROMPT_STATUS_TIMEOUT,
        ));
        let leader = status
            .ok()
            .and_then(|f| ddbb_libs::StatusReply::from_frame(f).ok())
            .map(|s| s.leader)
            .filter(|&l| l != 0);
        let name = if self.playground.is_some() {
            "playground"
        } else {
            "ddbb"
        };
        let endpoint = self.client.current_endpoint();
        let leader_text = match leader {
            Some(id) => format!("leader {id}"),
            None => "no leader".to_string(),
        };
        let plain = format!("{name} {endpoint} ({leader_text})> ");
        let leader_color = if leader.is_some() { "32" } else { "31" };
        let colored = format!(
            "\x1b[1m{name}\x1b[0m \x1b[36m{endpoint}\x1b[0m (\x1b[{leader_color}m{leader_text}\x1b[0m)> "
        );
        (plain, colored)
    }

    /// Runs one line (and, for `txn`, the lines that follow it).
    fn handle(&mut self, line: &str, editor: &mut Editor<ReplHelper, DefaultHistory>) -> Flow {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            return Flow::Continue;
        }
        let words = match words::split_os(trimmed) {
            Ok(w) => w,
            Err(e) => {
                self.error(&e);
                return Flow::Continue;
            }
        };
        let first = words[0].to_string_lossy().into_owned();
        match first.as_str() {
            "exit" | "quit" => return Flow::Exit,
            "help" | "?" => {
                let topic = words.get(1).map(|w| w.to_string_lossy().into_owned());
                self.help(topic.as_deref(), editor.helper());
                return Flow::Continue;
            }
            _ => {}
        }
        if first.starts_with('.') {
            self.meta(&words);
            return Flow::Continue;
        }
        let parsed = match ReplLine::try_parse_from(&words) {
            Ok(p) => p,
            Err(e) => {
                use clap::error::ErrorKind;
                match e.kind() {
                    ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                        let _ = write_stdout(e.render().to_string().as_bytes());
                    }
                    _ => self.error(&crate::cli::usage_line(&e).replace("--help", "help")),
                }
                return Flow::Continue;
            }
        };
        let hex = parsed.output.hex || self.defaults.hex;
        let mut input = None;
        if exec::is_txn(&parsed.command) {
            match self.read_txn(editor, hex) {
                Some(text) => input = Some(Bytes::from(text)),
                None => {
                    self.error("txn cancelled");
                    return Flow::Continue;
                }
            }
        } else if exec::needs_stdin(&parsed.command) {
            self.error("give the value as an argument (put KEY VALUE); quote it if it has spaces");
            return Flow::Continue;
        }
        let style = Style {
            format: parsed.output.write_out.unwrap_or(self.defaults.format),
            hex,
            raw: !std::io::stdout().is_terminal(),
        };
        if let KvCommand::Watch(args) = &parsed.command {
            let client = self.client.clone();
            if let Some(Err(e)) = self.cancellable(watch::stream(&client, args, style)) {
                self.error(&e.to_string());
            }
            return Flow::Continue;
        }
        if lock::is_stream(&parsed.command) {
            // Ctrl-C releases the lock (resigns, stops renewing) and returns to the prompt.
            let client = self.client.clone();
            let interrupted = async {
                let _ = tokio::signal::ctrl_c().await;
            };
            match self
                .runtime
                .block_on(lock::stream(&client, &parsed.command, style, interrupted))
            {
                Ok(0) => {}
                Ok(code) => self.error(&format!("the command exited with status {code}")),
                Err(e) => self.error(&e.to_string()),
            }
            return Flow::Continue;
        }
        let start = Instant::now();
        let client = self.client.clone();
        let result = self
            .cancellable(async move { exec::execute(&client, &parsed.command, hex, input).await });
        let took = start.elapsed();
        match result {
            None => self.error("cancelled"),
            Some(Ok(report)) => {
                let _ = write_stdout(&report.render(style));
                if let Some(why) = report.failure() {
                    self.error(&why);
                }
            }
            Some(Err(e)) => self.error(&e.to_string()),
        }
        self.latency(took);
        Flow::Continue
    }

    /// Reads a transaction's three sections with the line editor, checking each line as it
    /// is entered (a bad line is reported and may be typed again); `None` when Ctrl-C
    /// cancelled it. The end of input ends the remaining sections.
    fn read_txn(
        &self,
        editor: &mut Editor<ReplHelper, DefaultHistory>,
        hex: bool,
    ) -> Option<String> {
        let terminal = std::io::stdin().is_terminal();
        let prompt = if terminal { "> " } else { "" };
        let mut text = String::new();
        let result = 'sections: {
            for (i, title) in txn::SECTIONS.iter().enumerate() {
                if terminal {
                    say(title);
                }
                let mode = if i == 0 { Mode::Compare } else { Mode::Request };
                if let Some(h) = editor.helper() {
                    h.set_mode(mode);
                    h.set_prompt(prompt, prompt);
                }
                loop {
                    match editor.readline(prompt) {
                        Ok(line) => {
                            let line = line.trim();
                            if line.is_empty() {
                                text.push('\n');
                                break;
                            }
                            let checked = match mode {
                                Mode::Compare => txn::parse_compare(line, hex).map(drop),
                                _ => txn::parse_request(line, hex).map(drop),
                            };
                            match checked {
                                Ok(()) => {
                                    text.push_str(line);
                                    text.push('\n');
                                }
                                Err(e) => self.error(&e.to_string()),
                            }
                        }
                        Err(ReadlineError::Eof) => break 'sections Some(()),
                        Err(_) => break 'sections None,
                    }
                }
            }
            Some(())
        };
        if let Some(h) = editor.helper() {
            h.set_mode(Mode::Command);
        }
        result.map(|()| text)
    }

    /// Runs a playground meta-command.
    fn meta(&mut self, words: &[std::ffi::OsString]) {
        let words: Vec<String> = words
            .iter()
            .map(|w| w.to_string_lossy().into_owned())
            .collect();
        let Some(playground) = self.playground.as_deref_mut() else {
            self.error("meta-commands (.kill, .nodes, ...) exist only in `ddbb playground`");
            return;
        };
        let runtime = self.runtime;
        let result = runtime.block_on(async {
            tokio::select! {
                r = playground.meta(&words) => Some(r),
                _ = tokio::signal::ctrl_c() => None,
            }
        });
        match result {
            Some(Ok(text)) => {
                let _ = write_stdout(text.as_bytes());
            }
            Some(Err(e)) => self.error(&e.to_string()),
            None => self.error("cancelled"),
        }
    }

    /// Runs `work` on the runtime; `None` when Ctrl-C cancelled it.
    fn cancellable<T>(&self, work: impl Future<Output = T>) -> Option<T> {
        self.runtime.block_on(async {
            tokio::select! {
                r = work => Some(r),
                _ = tokio::signal::ctrl_c() => None,
            }
        })
    }

    fn help(&self, topic: Option<&str>, helper: Option<&ReplHelper>) {
        let mut out = String::new();
        match topic {
            None => {
                out.push_str(
                    "Commands (the syntax of `ddbb <command>`; `help <command>` for details):\n",
                );
                let specs = helper.map(|h| h.commands().to_vec()).unwrap_or_default();
                for spec in &specs {
                    out.push_str(&format!("  {:<28} {}\n", spec.usage(), spec.about));
                }
                for (name, about) in BUILTINS {
                    out.push_str(&format!("  {name:<28} {about}\n"));
                }
                if self.playground.is_some() {
                    out.push_str("\nPlayground meta-commands:\n");
                    for (name, about) in Playground::meta_commands() {
                        out.push_str(&format!("  {name:<28} {about}\n"));
                    }
                }
                out.push_str(
                    "\nOptions for every command: -w simple|json|table, --hex.\n\
                     Quoting: 'single', \"double with \\n \\t \\xff escapes\", back\\ slash.\n\
                     Keys: Tab completes, Up/Down and Ctrl-R recall history, Ctrl-C cancels, Ctrl-D quits.\n",
                );
            }
            Some(meta) if meta.starts_with('.') => {
                match Playground::meta_commands()
                    .into_iter()
                    .find(|(n, _)| n.starts_with(meta))
                {
                    Some((name, about)) => out.push_str(&format!("{name}: {about}\n")),
                    None => return self.error(&format!("no meta-command '{meta}'")),
                }
            }
            Some(name) => {
                let mut cmd = ReplLine::command();
                match cmd.find_subcommand_mut(name) {
                    Some(sub) => out.push_str(&sub.render_long_help().to_string()),
                    None => return self.error(&format!("no command '{name}' (try: help)")),
                }
            }
        }
        let _ = write_stdout(out.as_bytes());
    }

    fn error(&self, message: &str) {
        if self.color {
            complain(&format!("\x1b[31mError:\x1b[0m {message}"));
        } else {
            complain(&format!("Error: {message}"));
        }
    }

    fn latency(&self, took: Duration) {
        if !self.interactive {
            return;
        }
        let text = format!("({:.2} ms)", took.as_secs_f64() * 1000.0);
        if self.color {
            say(&format!("\x1b[2m{text}\x1b[0m"));
        } else {
            say(&text);
        }
    }
}
