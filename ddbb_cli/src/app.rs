//! What `ddbb` runs: the parsed command line dispatched to a one-shot command, the REPL, or
//! the playground with the REPL on it. The top of the layering (see the crate doc), so that
//! [`cli`], [`playground`] and [`repl`] do not depend on each other in a cycle.

use std::process::ExitCode;
use std::time::Instant;

use ddbb_client::{Client, ClientConfig};

use crate::cli::{self, say, Cli, CliError, Command, GlobalArgs, PlaygroundArgs};
use crate::playground::{self, Playground, LEADER_DEADLINE};
use crate::repl;

/// Runs a parsed command line; `Ok` carries the exit status of a command that ran.
pub fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let global = cli.global;
    match cli.command {
        None => {
            let client = cli::client(&global)?;
            let runtime = cli::multi_thread_runtime()?;
            repl::run(&runtime, client, repl_defaults(&global), None)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Playground(args)) => {
            run_playground(&args, &global)?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Kv(command)) => cli::one_shot(&global, &command),
    }
}

/// The REPL's default output options, from the command line.
pub fn repl_defaults(global: &GlobalArgs) -> repl::Defaults {
    repl::Defaults {
        format: global.output.write_out.unwrap_or_default(),
        hex: global.output.hex,
    }
}

/// `ddbb playground`: starts the cluster, runs the REPL on it, stops it on exit.
pub fn run_playground(args: &PlaygroundArgs, global: &GlobalArgs) -> Result<(), CliError> {
    let runtime = cli::multi_thread_runtime()?;
    let mut playground = runtime.block_on(Playground::start(
        args.nodes,
        args.data_dir.clone(),
        args.port_base,
    ))?;
    playground::remove_temp_dir_on_signal(&runtime, &playground);
    playground::print_banner(&playground);
    let start = Instant::now();
    match runtime.block_on(playground.wait_for_leader(LEADER_DEADLINE)) {
        Some(id) => say(&format!(
            "Leader: replica {id} (elected in {} ms).",
            start.elapsed().as_millis()
        )),
        None => say(&format!("No leader after {LEADER_DEADLINE:?}; try .nodes.")),
    }
    say(
        "Try: put greeting hello | get greeting | .leader | .kill <leader> | get greeting | .nodes\n\
         'help' lists commands, '.help' meta-commands; Ctrl-D or 'exit' stops the cluster.",
    );
    let client =
        Client::new(ClientConfig::new(playground.endpoints()).with_timeout(global.timeout))?;
    let result = repl::run(
        &runtime,
        client,
        repl_defaults(global),
        Some(&mut playground),
    );
    let kept = (!playground.is_temporary()).then(|| playground.data_dir().to_path_buf());
    runtime.block_on(playground.stop());
    match kept {
        Some(dir) => say(&format!(
            "Playground stopped; data kept in {}.",
            dir.display()
        )),
        None => say("Playground stopped; its temp dir was removed."),
    }
    result
}
