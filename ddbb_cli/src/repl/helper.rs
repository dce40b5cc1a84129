//! rustyline integration: tab completion of commands, flags and flag values, hints with a
//! command's remaining arguments, and (on a terminal) a coloured prompt and dimmed hints.
//!
//! Everything is derived from the clap definitions ([`ReplLine`]), so the REPL completes
//! exactly what it accepts.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};

use clap::CommandFactory;
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Helper};

use crate::cli::ReplLine;
use crate::words;

/// Words the REPL itself understands, besides the shared commands.
pub const BUILTINS: &[(&str, &str)] = &[
    (
        "help",
        "Show the commands, or one command's help: help [COMMAND]",
    ),
    ("exit", "Leave the REPL (also quit, or Ctrl-D)"),
    ("quit", "Leave the REPL (also exit, or Ctrl-D)"),
];

/// What the line being typed is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// A command (the normal prompt).
    #[default]
    Command,
    /// A compare of a `txn`: `value("k") = "v"`.
    Compare,
    /// A request of a `txn`: `put`, `get` or `del`.
    Request,
}

/// The compare targets of a `txn`, with the rest of a compare as a hint.
pub const COMPARE_TARGETS: &[(&str, &str)] = &[
    ("value(\"", "KEY\") = \"VALUE\""),
    ("version(\"", "KEY\") = \"VERSION\""),
    ("create(\"", "KEY\") = \"REVISION\""),
    ("mod(\"", "KEY\") = \"REVISION\""),
    ("lease(\"", "KEY\") = \"LEASE ID (hex)\""),
];

/// The commands a `txn` request may be.
const TXN_REQUESTS: &[&str] = &["get", "put", "del"];

/// What the helper knows about one command.
#[derive(Clone, Debug)]
pub struct CommandSpec {
    /// The command's name.
    pub name: String,
    /// Its one-line description.
    pub about: String,
    /// Positional arguments as usage placeholders (`<KEY>`, `[VALUE]`).
    pub positionals: Vec<String>,
    /// Flags (`--prefix`, `-w`), the command's own and the global ones.
    pub flags: Vec<String>,
    /// Flags that take one of fixed values, with those values.
    pub flag_values: Vec<(String, Vec<String>)>,
    /// Nested subcommands (`member list`).
    pub subcommands: Vec<String>,
}

impl CommandSpec {
    /// The usage line: name, positionals and nested subcommands.
    pub fn usage(&self) -> String {
        let mut parts = vec![self.name.clone()];
        if !self.subcommands.is_empty() {
            parts.push(self.subcommands.join("|"));
        }
        parts.extend(self.positionals.iter().cloned());
        parts.join(" ")
    }
}

/// Reads the shared commands out of the clap definitions.
pub fn command_specs() -> Vec<CommandSpec> {
    let root = ReplLine::command();
    let mut global_flags = Vec::new();
    let mut global_values = Vec::new();
    collect_flags(root.get_arguments(), &mut global_flags, &mut global_values);
    root.get_subcommands()
        .map(|sub| {
            let mut flags = global_flags.clone();
            let mut flag_values = global_values.clone();
            collect_flags(sub.get_arguments(), &mut flags, &mut flag_values);
            flags.push("--help".into());
            let positionals = sub
                .get_positionals()
                .map(|a| {
                    let name = a
                        .get_value_names()
                        .and_then(|v| v.first())
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| a.get_id().to_string().to_uppercase());
                    if a.is_required_set() {
                        format!("<{name}>")
                    } else {
                        format!("[{name}]")
                    }
                })
                .collect();
            CommandSpec {
                name: sub.get_name().to_string(),
                about: sub.get_about().map(|a| a.to_string()).unwrap_or_default(),
                positionals,
                flags,
                flag_values,
                subcommands: sub
                    .get_subcommands()
                    .map(|s| s.get_name().to_string())
                    .collect(),
            }
        })
        .collect()
}

fn collect_flags<'a>(
    args: impl Iterator<Item = &'a clap::Arg>,
    flags: &mut Vec<String>,
    values: &mut Vec<(String, Vec<String>)>,
) {
    for arg in args.filter(|a| !a.is_positional()) {
        let names: Vec<String> = arg
            .get_long()
            .map(|l| format!("--{l}"))
            .into_iter()
            .chain(arg.get_short().map(|s| format!("-{s}")))
            .collect();
        let possible: Vec<String> = arg
            .get_possible_values()
            .iter()
            .filter(|v| !v.is_hide_set())
            .map(|v| v.get_name().to_string())
            .collect();
        let takes_value = arg.get_action().takes_values();
        for name in names {
            if takes_value && !possible.is_empty() {
                values.push((name.clone(), possible.clone()));
            }
            flags.push(name);
        }
    }
}

/// The rustyline helper of the REPL.
pub struct ReplHelper {
    commands: Vec<CommandSpec>,
    /// Meta-commands (`.kill`, ...) when the REPL runs on a playground.
    meta: Vec<(String, String)>,
    /// Replica ids, completed after meta-commands that take them.
    node_ids: Vec<String>,
    color: bool,
    /// The prompt as given to rustyline, and its coloured version.
    prompt: RefCell<(String, String)>,
    /// What the line being typed is.
    mode: Cell<Mode>,
}

impl ReplHelper {
    /// A helper; `meta` lists meta-commands with descriptions, `nodes` the replica count.
    pub fn new(meta: Vec<(String, String)>, nodes: usize, color: bool) -> ReplHelper {
        ReplHelper {
            commands: command_specs(),
            meta,
            node_ids: (1..=nodes).map(|i| i.to_string()).collect(),
            color,
            prompt: RefCell::new((String::new(), String::new())),
            mode: Cell::new(Mode::Command),
        }
    }

    /// Sets what the next lines are (inside a `txn`, or commands again).
    pub fn set_mode(&self, mode: Mode) {
        self.mode.set(mode);
    }

    /// The shared commands.
    pub fn commands(&self) -> &[CommandSpec] {
        &self.commands
    }

    /// Sets the next prompt's coloured form (shown when rustyline asks for `plain`).
    pub fn set_prompt(&self, plain: &str, colored: &str) {
        *self.prompt.borrow_mut() = (plain.to_string(), colored.to_string());
    }

    /// Completion candidates for the word ending at `pos`, and where that word starts.
    pub fn candidates(&self, line: &str, pos: usize) -> (usize, Vec<String>) {
        if self.mode.get() == Mode::Compare {
            let word = &line[..pos];
            let found = COMPARE_TARGETS
                .iter()
                .map(|(t, _)| t.to_string())
                .filter(|t| t.starts_with(word.trim_start()) && !word.contains('('))
                .collect();
            return (line.len() - line.trim_start().len(), found);
        }
        let start = words::word_start(line, pos);
        let word = &line[start..pos];
        let Ok(before) = words::split(&line[..start]) else {
            return (start, Vec::new());
        };
        let before: Vec<String> = before
            .into_iter()
            .map(|w| String::from_utf8_lossy(&w).into_owned())
            .collect();
        let in_txn = self.mode.get() == Mode::Request;
        let options: Vec<String> = match before.first() {
            None if in_txn => TXN_REQUESTS.iter().map(|r| r.to_string()).collect(),
            None => self
                .commands
                .iter()
                .map(|c| c.name.clone())
                .chain(BUILTINS.iter().map(|(b, _)| b.to_string()))
                .chain(self.meta.iter().map(|(m, _)| m.clone()))
                .collect(),
            Some(first) if in_txn && !TXN_REQUESTS.contains(&first.as_str()) => Vec::new(),
            Some(first) if first == "help" && before.len() == 1 => self
                .commands
                .iter()
                .map(|c| c.name.clone())
                .chain(self.meta.iter().map(|(m, _)| m.clone()))
                .collect(),
            Some(first) if first.starts_with('.') => {
                let takes_ids = matches!(first.as_str(), ".kill" | ".restart" | ".cut");
                let max_args = if first == ".cut" { 3 } else { 2 };
                if takes_ids && before.len() < max_args {
                    self.node_ids.clone()
                } else {
                    Vec::new()
                }
            }
            Some(first) => match self.commands.iter().find(|c| &c.name == first) {
                None => Vec::new(),
                Some(spec) => {
                    let prev = before.last().map(String::as_str).unwrap_or("");
                    if let Some((_, values)) = spec.flag_values.iter().find(|(f, _)| f == prev) {
                        values.clone()
                    } else if word.starts_with('-') {
                        spec.flags.clone()
                    } else if before.len() == 1 && !spec.subcommands.is_empty() {
                        spec.subcommands.clone()
                    } else {
                        Vec::new()
                    }
                }
            },
        };
        let mut matches: Vec<String> = options
            .into_iter()
            .filter(|o| o.starts_with(word))
            .collect();
        matches.sort();
        matches.dedup();
        (start, matches)
    }

    /// The hint after the cursor: the rest of a command name, or its missing arguments.
    pub fn hint_for(&self, line: &str) -> Option<String> {
        if self.mode.get() == Mode::Compare {
            // `mo` → `d("KEY") = "REVISION"`; `value("` → `KEY") = "VALUE"`.
            let typed = line.trim_start();
            let mut found = COMPARE_TARGETS.iter().filter_map(|(target, rest)| {
                let full = format!("{target}{rest}");
                let fits =
                    !typed.is_empty() && full.starts_with(typed) && typed.len() <= target.len();
                fits.then(|| full[typed.len()..].to_string())
            });
            let only = found.next()?;
            return found.next().is_none().then_some(only);
        }
        if line.trim().is_empty() {
            return None;
        }
        if self.mode.get() == Mode::Request {
            let first = line.split_whitespace().next().unwrap_or("");
            let known = TXN_REQUESTS.iter().any(|r| r.starts_with(first));
            if !known {
                return None;
            }
        }
        let ends_in_space = line.ends_with(char::is_whitespace);
        let words = words::split(line).ok()?;
        if words.len() == 1 && !ends_in_space {
            let word = String::from_utf8_lossy(&words[0]).into_owned();
            let mut names = self
                .commands
                .iter()
                .map(|c| c.name.as_str())
                .chain(self.meta.iter().map(|(m, _)| m.as_str()))
                .filter(|n| n.starts_with(&word) && n.len() > word.len());
            let only = names.next()?;
            return names
                .next()
                .is_none()
                .then(|| only[word.len()..].to_string());
        }
        if !ends_in_space {
            return None;
        }
        let name = String::from_utf8_lossy(&words[0]).into_owned();
        let spec = self.commands.iter().find(|c| c.name == name)?;
        let given = words[1..]
            .iter()
            .filter(|w| !w.starts_with(b"-"))
            .count()
            .saturating_sub(usize::from(!spec.subcommands.is_empty()));
        if !spec.subcommands.is_empty() && words.len() == 1 {
            return Some(spec.subcommands.join("|"));
        }
        let rest: Vec<&str> = spec
            .positionals
            .iter()
            .skip(given)
            .map(String::as_str)
            .collect();
        (!rest.is_empty()).then(|| rest.join(" "))
    }
}

impl Completer for ReplHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, found) = self.candidates(line, pos);
        let pairs = found
            .into_iter()
            .map(|c| Pair {
                display: c.clone(),
                // `value("` goes on with the key, not a space.
                replacement: if c.ends_with('"') { c } else { format!("{c} ") },
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for ReplHelper {
    type Hint = String;

    fn hint(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> Option<String> {
        if pos < line.len() {
            return None;
        }
        self.hint_for(line)
    }
}

impl Highlighter for ReplHelper {
    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        _default: bool,
    ) -> Cow<'b, str> {
        let stored = self.prompt.borrow();
        if self.color && stored.0 == prompt {
            Cow::Owned(stored.1.clone())
        } else {
            Cow::Borrowed(prompt)
        }
    }

    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        if self.color {
            Cow::Owned(format!("\x1b[2m{hint}\x1b[0m"))
        } else {
            Cow::Borrowed(hint)
        }
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        false
    }
}

impl Validator for ReplHelper {}

impl Helper for ReplHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    fn helper() -> ReplHelper {
        ReplHelper::new(
            vec![
                (".kill".into(), "stop".into()),
                (".nodes".into(), "list".into()),
            ],
            3,
            false,
        )
    }

    #[test]
    fn completes_commands_flags_and_values() {
        let h = helper();
        assert_eq!(h.candidates("sta", 3), (0, vec!["status".to_string()]));
        assert_eq!(h.candidates("p", 1).1, ["ping", "put"]);
        assert_eq!(
            h.candidates("get k --pre", 11),
            (6, vec!["--prefix".to_string()])
        );
        assert_eq!(h.candidates("get k --consistency ", 20).1, ["l", "s"]);
        assert_eq!(h.candidates("get k -w j", 10).1, ["json"]);
        assert_eq!(h.candidates("member ", 7).1, ["list"]);
        assert_eq!(h.candidates("help ge", 7).1, ["get"]);
        assert_eq!(h.candidates(".k", 2).1, [".kill"]);
        assert_eq!(h.candidates(".kill ", 6).1, ["1", "2", "3"]);
        assert!(h.candidates("put k v", 7).1.is_empty());
    }

    #[test]
    fn hints_name_the_missing_arguments() {
        let h = helper();
        assert_eq!(h.hint_for("sta").as_deref(), Some("tus"));
        assert_eq!(h.hint_for("p"), None); // ping or put
        assert_eq!(h.hint_for("put ").as_deref(), Some("<KEY> [VALUE]"));
        assert_eq!(h.hint_for("put k ").as_deref(), Some("[VALUE]"));
        assert_eq!(h.hint_for("cas k ").as_deref(), Some("<EXPECTED> <NEW>"));
        assert_eq!(h.hint_for("member ").as_deref(), Some("list"));
        assert_eq!(h.hint_for("put k v "), None);
        assert_eq!(h.hint_for(".no").as_deref(), Some("des"));
    }

    #[test]
    fn txn_lines_complete_compares_and_requests() {
        let h = helper();
        h.set_mode(Mode::Compare);
        assert_eq!(h.candidates("m", 1), (0, vec!["mod(\"".to_string()]));
        assert_eq!(h.candidates("", 0).1.len(), 5);
        assert_eq!(
            h.hint_for("mo").as_deref(),
            Some("d(\"KEY\") = \"REVISION\"")
        );
        assert_eq!(
            h.hint_for("value(\"").as_deref(),
            Some("KEY\") = \"VALUE\"")
        );
        assert_eq!(h.hint_for("value(\"k\") "), None);
        assert_eq!(h.hint_for("v"), None); // value or version
        h.set_mode(Mode::Request);
        assert_eq!(h.candidates("", 0).1, ["del", "get", "put"]);
        assert!(h.candidates("st", 2).1.is_empty());
        assert_eq!(h.candidates("put k v --pr", 12).1, ["--prev-kv"]);
        assert_eq!(h.hint_for("put ").as_deref(), Some("<KEY> [VALUE]"));
        assert_eq!(h.hint_for("status "), None);
        h.set_mode(Mode::Command);
        assert!(h.candidates("t", 1).1.contains(&"txn".to_string()));
        assert_eq!(h.candidates("alarm ", 6).1, ["disarm", "list"]);
        assert_eq!(
            h.candidates("get k --sort-by ", 16).1,
            ["create", "key", "modify", "value", "version"]
        );
        assert_eq!(h.candidates("get k --order ", 14).1, ["ascend", "descend"]);
        assert_eq!(h.hint_for("compaction ").as_deref(), Some("<REVISION>"));
    }

    #[test]
    fn every_command_has_a_usage() {
        let specs = command_specs();
        let put = specs.iter().find(|c| c.name == "put").unwrap();
        assert_eq!(put.usage(), "put <KEY> [VALUE]");
        assert!(put.flags.contains(&"--if-revision".to_string()));
        assert!(put.flags.contains(&"--hex".to_string()));
        assert!(specs.iter().all(|c| !c.about.is_empty()));
    }
}
