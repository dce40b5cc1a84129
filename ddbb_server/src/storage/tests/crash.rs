//! Exhaustive crash tests, after ALICE and CrashMonkey: run a workload on the in-memory
//! [`CrashDisk`], cut the power after every prefix of its file-system operations (keeping
//! only synced data, all written data, or a torn half of it; directory entries only as
//! their directory was last synced), recover from each state, and check that recovery works
//! and that everything acknowledged before the cut is there. Then write once more on the
//! recovered state and cut again. Dropping any one site's directory fsyncs must make it fail.

use crate::storage::{
    disk::{CrashDisk, CrashModel, DiskRef, IoOp, PowerCut},
    prepare_data_dir,
    suite::{ballot, put, puts, KvSnapshot, TestEntry},
    CheckpointMode, Wal, WalOptions,
};
use crate::transport::Members;
use ddbb_libs::NodeId;
use omnipaxos::{
    ballot_leader_election::Ballot,
    storage::{Snapshot, Storage, StorageOp},
};
use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

const DATA_DIR: &str = "/t/data";

/// Every site that fsyncs a directory; each must matter.
const DIR_SYNC_SITES: [&str; 7] = [
    "data dir",
    "wal dir",
    "checkpoint dir",
    "first segment",
    "next segment",
    "checkpoint",
    "members",
];

/// What was acknowledged once `ops` file-system operations had been issued.
#[derive(Clone, Debug)]
struct Ack {
    ops: usize,
    entries: usize,
    promise: Option<Ballot>,
    members: Vec<NodeId>,
}

/// A recorded run: the operations, what was acknowledged when, and every entry appended.
struct Trace {
    initial: CrashModel,
    ops: Vec<IoOp>,
    acks: Vec<Ack>,
    appended: Vec<TestEntry>,
}

fn options(disk: &CrashDisk) -> WalOptions {
    WalOptions {
        segment_bytes: 200,
        disk: Arc::new(disk.clone()) as DiskRef,
        checkpoint_on_snapshot: true,
        // As on the replica, a local compaction's checkpoint is written off the loop; here
        // at a point the workload chooses, so the trace is deterministic.
        checkpoint_mode: CheckpointMode::Deferred,
        ..WalOptions::default()
    }
}

fn wal_dir() -> PathBuf {
    Path::new(DATA_DIR).join("wal")
}

/// The workload: a new data dir, promise, 60 appends synced in pairs with decided-index
/// updates, two local compactions whose checkpoints are written a few acknowledged writes
/// later (as the replica's background checkpoints are), two explicit checkpoints over unsynced
/// appends, segment rollovers (200-byte segments) and two member-record updates.
fn run_workload(skip_site: Option<&str>) -> Trace {
    let disk = CrashDisk::with_dirs(&["/t"]).unwrap();
    if let Some(site) = skip_site {
        disk.skip_dir_syncs(site);
    }
    let diskref: DiskRef = Arc::new(disk.clone());
    let dir = prepare_data_dir(&*diskref, Path::new(DATA_DIR), true).unwrap();
    let mut wal = Wal::<TestEntry>::open(&dir, options(&disk)).unwrap();
    let members = Members::load(diskref, Some(PathBuf::from(DATA_DIR)));
    let mut acks = Vec::new();
    let mut ack = Ack {
        ops: 0,
        entries: 0,
        promise: None,
        members: Vec::new(),
    };
    let mut appended = Vec::new();
    wal.set_promise(ballot(1, 1)).unwrap();
    wal.set_accepted_round(ballot(1, 1)).unwrap();
    wal.sync().unwrap();
    ack.promise = Some(ballot(1, 1));
    for i in 0..60u64 {
        wal.append_entry(put(i)).unwrap();
        appended.push(put(i));
        if i % 3 == 2 {
            wal.set_decided_idx(i as usize + 1).unwrap();
        }
        if i == 18 || i == 44 {
            wal.run_deferred_checkpoint().unwrap();
        }
        match i {
            14 | 40 => {
                let upto = i as usize - 4;
                wal.write_atomically(vec![
                    StorageOp::Trim(upto),
                    StorageOp::SetCompactedIdx(upto),
                    StorageOp::SetSnapshot(Some(KvSnapshot::create(&puts(0, upto as u64)))),
                ])
                .unwrap();
                wal.sync().unwrap();
            }
            22 | 50 => {
                wal.checkpoint().unwrap();
            }
            _ if i % 2 == 1 => {
                wal.sync().unwrap();
            }
            _ => continue,
        }
        ack.entries = appended.len();
        ack.ops = disk.op_count();
        acks.push(ack.clone());
        if i == 5 || i == 45 {
            let peer = if i == 5 { 2 } else { 3 };
            members.record(peer);
            ack.members.push(peer);
            ack.ops = disk.op_count();
            acks.push(ack.clone());
        }
    }
    drop(wal);
    Trace {
        initial: disk.initial(),
        ops: disk.ops(),
        acks,
        appended,
    }
}

/// Checks the state recovered from `disk` against what was acknowledged.
fn check_recovered(
    wal: &Wal<TestEntry>,
    disk: &CrashDisk,
    ack: Option<&Ack>,
    appended: &[TestEntry],
) -> Result<(), String> {
    let compacted = wal.get_compacted_idx().unwrap();
    let end = compacted + wal.get_log_len().unwrap();
    if compacted > 0 {
        let expected = KvSnapshot::create(&appended[..compacted.min(appended.len())]);
        if wal.get_snapshot().unwrap() != Some(expected) {
            return Err(format!("snapshot does not hold entries 0..{compacted}"));
        }
    }
    for idx in compacted..end {
        let got = wal.get_entries(idx, idx + 1).unwrap();
        if appended.get(idx).map(std::slice::from_ref) != Some(got.as_slice()) {
            return Err(format!("entry {idx} is {got:?}, not what was appended"));
        }
    }
    let Some(ack) = ack else { return Ok(()) };
    if end < ack.entries {
        return Err(format!(
            "acknowledged entries {end}..{} are lost",
            ack.entries
        ));
    }
    if wal.get_promise().unwrap() < ack.promise {
        return Err("acknowledged promise lost".into());
    }
    let members = Members::load(Arc::new(disk.clone()), Some(PathBuf::from(DATA_DIR)));
    if let Some(m) = ack.members.iter().find(|&&m| !members.knows(m)) {
        return Err(format!("acknowledged member {m} lost"));
    }
    Ok(())
}

/// Recovers from `cut`, checks it, writes one more entry, cuts again and checks that too.
fn recover_twice(cut: CrashModel, ack: Option<&Ack>, appended: &[TestEntry]) -> Result<(), String> {
    let disk = CrashDisk::new(cut);
    let dir = prepare_data_dir(&disk, Path::new(DATA_DIR), true).map_err(|e| e.to_string())?;
    let mut wal = Wal::<TestEntry>::open(&dir, options(&disk))
        .map_err(|e| format!("recovery failed: {e}"))?;
    check_recovered(&wal, &disk, ack, appended)?;
    // Life goes on: one more acknowledged entry, then another power cut.
    let end = wal.get_compacted_idx().unwrap() + wal.get_log_len().unwrap();
    // `check_recovered` showed every recovered entry is one of `appended`.
    let mut appended = appended[..end].to_vec();
    wal.append_entry(put(1000)).unwrap();
    appended.push(put(1000));
    wal.sync()
        .map_err(|e| format!("sync after recovery: {e}"))?;
    drop(wal);
    let disk = disk.power_cut(PowerCut::SyncedOnly);
    let wal = Wal::<TestEntry>::open(wal_dir(), options(&disk))
        .map_err(|e| format!("second recovery failed: {e}"))?;
    let mut second = ack.cloned().unwrap_or(Ack {
        ops: 0,
        entries: 0,
        promise: None,
        members: Vec::new(),
    });
    second.entries = appended.len();
    check_recovered(&wal, &disk, Some(&second), &appended)
        .map_err(|e| format!("after a second crash: {e}"))
}

/// Cuts the power after every prefix of `trace`'s operations, with every kind of cut.
/// Returns the number of crash states checked, or the first failure.
fn check_every_crash_point(trace: &Trace) -> Result<usize, String> {
    let mut model = trace.initial.clone();
    let mut checked = 0;
    for p in 0..=trace.ops.len() {
        if p > 0 {
            model.apply(&trace.ops[p - 1]).unwrap();
        }
        let ack = trace.acks.iter().rev().find(|a| a.ops <= p);
        for cut in PowerCut::ALL {
            recover_twice(model.power_cut(cut), ack, &trace.appended).map_err(|e| {
                let last = trace.ops[..p].last().map(op_name).unwrap_or_default();
                format!("power cut ({cut:?}) after {p} operations (last: {last}): {e}")
            })?;
            checked += 1;
        }
    }
    Ok(checked)
}

fn op_name(op: &IoOp) -> String {
    match op {
        IoOp::Write { handle, data } => format!("write {} bytes to handle {handle}", data.len()),
        other => format!("{other:?}"),
    }
}

#[test]
fn every_crash_point_recovers_every_acknowledged_write() {
    let started = std::time::Instant::now();
    let trace = run_workload(None);
    let sites: std::collections::BTreeSet<&str> = trace
        .ops
        .iter()
        .filter_map(|op| match op {
            IoOp::SyncDir { site, .. } => Some(site.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        sites,
        DIR_SYNC_SITES.into_iter().collect(),
        "the workload must reach every site"
    );
    let checked = check_every_crash_point(&trace).unwrap_or_else(|e| panic!("{e}"));
    // Printed for docs/BENCHMARKS.md (cargo test -- --nocapture).
    println!(
        "crash points: {} operations, {checked} crash states, {} acknowledgements, {:?}",
        trace.ops.len(),
        trace.acks.len(),
        started.elapsed()
    );
    assert!(trace.ops.len() > 150 && trace.acks.len() > 30);
}

/// The site whose fsync is implied by a later one: `checkpoints/` is created at open, and
/// `wal/` is fsynced for the first segment right after (and on every roll), which makes the
/// new entry durable too. It is kept so that the rule stays local (a helper that creates a
/// directory makes it durable), not because this workload needs it.
const IMPLIED_SITE: &str = "checkpoint dir";

#[test]
fn dropping_any_one_directory_fsync_loses_acknowledged_data() {
    let trace = run_workload(Some(IMPLIED_SITE));
    assert!(
        check_every_crash_point(&trace).is_ok(),
        "{IMPLIED_SITE:?} is covered by the fsyncs of wal/ that follow it"
    );
    for site in DIR_SYNC_SITES.into_iter().filter(|s| *s != IMPLIED_SITE) {
        let trace = run_workload(Some(site));
        let err = check_every_crash_point(&trace)
            .err()
            .unwrap_or_else(|| panic!("without the {site:?} directory fsync nothing was lost"));
        println!("without {site:?}: {err}");
        assert!(
            err.contains("lost") || err.contains("recovery failed"),
            "{site}: {err}"
        );
    }
}

/// A checkpoint that starts while only decided-index updates are unsynced (`sync` hands those
/// to the OS without an fdatasync) must still fsync the segment it closes: a closed segment is
/// never synced again, so a power cut would leave it short of the next segment's first record
/// and recovery would refuse the WAL as corrupt. Found by `ddbb-sim` (seed 187).
#[test]
fn a_checkpoint_fsyncs_the_decided_index_at_the_end_of_the_segment_it_closes() {
    let disk = CrashDisk::with_dirs(&["/t"]).unwrap();
    let diskref: DiskRef = Arc::new(disk.clone());
    let dir = prepare_data_dir(&*diskref, Path::new(DATA_DIR), true).unwrap();
    let options = WalOptions {
        segment_bytes: 1 << 20,
        ..options(&disk)
    };
    let mut wal = Wal::<TestEntry>::open(&dir, options.clone()).unwrap();
    wal.set_promise(ballot(1, 1)).unwrap();
    for i in 0..10u64 {
        wal.append_entry(put(i)).unwrap();
    }
    wal.sync().unwrap();
    wal.set_decided_idx(10).unwrap();
    wal.sync().unwrap(); // to the OS only
    wal.write_atomically(vec![
        StorageOp::Trim(5),
        StorageOp::SetCompactedIdx(5),
        StorageOp::SetSnapshot(Some(KvSnapshot::create(&puts(0, 5)))),
    ])
    .unwrap(); // starts a deferred checkpoint: closes the segment
    wal.sync().unwrap();
    let cut = disk.power_cut(PowerCut::SyncedOnly);
    drop(wal);
    let reopened = Wal::<TestEntry>::open(
        &dir,
        WalOptions {
            disk: Arc::new(cut) as DiskRef,
            ..options
        },
    );
    let wal = reopened.expect("the WAL reopens after the power cut");
    assert_eq!(wal.get_decided_idx().unwrap(), 10);
}
