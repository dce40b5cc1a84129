//! The last phase of a run: the recorded history written, checked by its workload's checker
//! and reported, once the cluster is down.

use std::time::Duration;

use crate::checker::append::check_append;
use crate::checker::lock::{check_lock, LockCheckOptions};
use crate::checker::watch::{check_watch, WatchCheckOptions};
use crate::checker::{check_operations, CheckOptions};
use crate::error::Result;
use crate::history::pair_operations;
use crate::nemesis::FaultRecord;
use crate::network::NetMode;
use crate::recorder::Entry;
use crate::report::{self, Overall, Phase, RunBasics, RunReport};
use crate::txn_history::pair_txns;
use crate::watch_history::{puts, watcher_logs};
use crate::watcher::CatchUp;

use super::{harness, RunConfig, RunOutcome, WorkloadKind};

/// Everything a run collected, for its check and report.
pub(super) struct Collected {
    /// First line of the summary.
    pub title: String,
    /// Lines under the title (the timing notes are added here).
    pub notes: Vec<String>,
    /// The recorded history.
    pub entries: Vec<Entry>,
    /// The faults injected.
    pub faults: Vec<FaultRecord>,
    /// When the workload ended (ns on the recorder's clock).
    pub workload_end: i64,
    /// When the final reads (or the catch-up) started, if they did.
    pub final_start: Option<i64>,
    /// When the run ended, before the cluster went down.
    pub end: i64,
    /// The watch workload's final revision and how many watchers caught up with it.
    pub catch_up: Option<(i64, CatchUp)>,
    /// True if the run was stopped early: no final reads.
    pub interrupted: bool,
    /// The network backend used.
    pub network: NetMode,
}

impl Collected {
    /// The parts of the report that every workload's has.
    fn basics(&self, phases: Vec<Phase>, overall: Overall) -> RunBasics<'_> {
        RunBasics {
            title: self.title.clone(),
            notes: &self.notes,
            entries: &self.entries,
            faults: &self.faults,
            phases,
            overall,
        }
    }

    /// Adds the notes on how long the run's parts took (the check took `check`), and whether
    /// it was interrupted before its last phase.
    fn note_timing(&mut self, last: &str, check: Duration) {
        self.notes.push(format!(
            "workload {:.1} s, recovery and {last} {:.1} s, check {:.3} s",
            report::secs(self.workload_end),
            report::secs(self.end - self.workload_end),
            check.as_secs_f64()
        ));
        if self.interrupted {
            self.notes
                .push(format!("INTERRUPTED: stopped early, no {last}"));
        }
    }
}

/// Writes the history, checks it with the workload's checker, writes the report and prints
/// the summary.
///
/// # Errors
/// [`crate::Error::Io`] if the run directory cannot be written, [`crate::Error::Harness`] if
/// the history does not pair up or the checker fails.
pub(super) async fn check_and_report(
    config: &RunConfig,
    mut collected: Collected,
) -> Result<RunOutcome> {
    let out = &config.out;
    report::write_history(out, &collected.entries)?;
    let phases = report::phases(
        &collected.faults,
        collected.workload_end,
        collected.final_start,
        collected.end,
    );
    let (overall, summary) = match config.workload {
        WorkloadKind::Register => check_registers(config, &mut collected, phases).await?,
        WorkloadKind::Txn => check_txns(config, &mut collected, phases).await?,
        WorkloadKind::Watch => check_watch_logs(config, &mut collected, phases).await?,
        WorkloadKind::Lock => check_locks(config, &mut collected, phases).await?,
    };
    println!("\n{summary}");
    let files = match config.workload {
        WorkloadKind::Register => "history, summary and timelines",
        _ => "history and summary",
    };
    println!("{files}: {}/index.html", out.display());
    Ok(RunOutcome {
        overall,
        out: out.clone(),
        network: collected.network,
        summary,
        interrupted: collected.interrupted,
    })
}

/// Runs a checker on a blocking thread.
async fn off_thread<T: Send + 'static>(check: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(check)
        .await
        .map_err(|e| harness(format!("the checker failed: {e}")))
}

/// The register workload: every key checked for linearizability, with timelines.
async fn check_registers(
    config: &RunConfig,
    c: &mut Collected,
    phases: Vec<Phase>,
) -> Result<(Overall, String)> {
    let ops = pair_operations(&report::client_events(&c.entries))?;
    println!(
        "checking {} operations on {} keys...",
        ops.len(),
        report::keys(&c.entries).len()
    );
    let check_started = std::time::Instant::now();
    let options = CheckOptions {
        timeout: Some(config.check_timeout),
        ..CheckOptions::default()
    };
    let checked_ops = ops.clone();
    let reports = off_thread(move || check_operations(&checked_ops, &options)).await?;
    c.note_timing(config.workload.last_phase().0, check_started.elapsed());
    let overall = Overall::from_reports(&reports);
    let run_report = RunReport {
        run: c.basics(phases, overall.clone()),
        ops: &ops,
        reports: &reports,
        clients: config.clients,
        nodes: config.nodes,
    };
    let summary = report::write_report(&config.out, &run_report)?;
    Ok((overall, summary))
}

/// The txn workload: the list-append transactions checked for strict serializability.
async fn check_txns(
    config: &RunConfig,
    c: &mut Collected,
    phases: Vec<Phase>,
) -> Result<(Overall, String)> {
    let txns = pair_txns(&report::txn_events(&c.entries))?;
    println!("checking {} transactions...", txns.len());
    let checked = txns.clone();
    let check = off_thread(move || check_append(&checked)).await?;
    c.note_timing(config.workload.last_phase().0, check.elapsed);
    let overall = Overall::from_append(&check);
    let txn_report = report::TxnRunReport {
        run: c.basics(phases, overall.clone()),
        txns: &txns,
        check: &check,
    };
    let summary = report::write_txn_report(&config.out, &txn_report)?;
    Ok((overall, summary))
}

/// The watch workload: every watcher's log checked against one common revision order.
async fn check_watch_logs(
    config: &RunConfig,
    c: &mut Collected,
    phases: Vec<Phase>,
) -> Result<(Overall, String)> {
    let records = report::watch_records(&c.entries);
    let (puts, logs) = (puts(&records), watcher_logs(&records));
    println!(
        "checking {} watchers' logs against {} puts...",
        logs.len(),
        puts.len()
    );
    let options = WatchCheckOptions {
        final_revision: c.catch_up.map(|(r, _)| r),
        contiguous: true,
    };
    let check = off_thread(move || check_watch(&puts, &logs, options)).await?;
    c.note_timing(config.workload.last_phase().0, check.elapsed);
    let overall = Overall::from_watch(&check);
    let watch_report = report::WatchRunReport {
        run: c.basics(phases, overall.clone()),
        check: &check,
        caught_up: c.catch_up.map(|(_, done)| done),
    };
    let summary = report::write_watch_report(&config.out, &watch_report)?;
    Ok((overall, summary))
}

/// The lock workload: guarded writes, lost increments and lease lifetimes checked.
async fn check_locks(
    config: &RunConfig,
    c: &mut Collected,
    phases: Vec<Phase>,
) -> Result<(Overall, String)> {
    let records = report::lock_records(&c.entries);
    println!("checking {} lock events...", records.len());
    let check = off_thread(move || check_lock(&records, LockCheckOptions::default())).await?;
    c.note_timing(config.workload.last_phase().0, check.elapsed);
    let overall = Overall::from_lock(&check);
    let lock_report = report::LockRunReport {
        run: c.basics(phases, overall.clone()),
        check: &check,
    };
    let summary = report::write_lock_report(&config.out, &lock_report)?;
    Ok((overall, summary))
}
