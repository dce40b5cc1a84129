//! Injected disk faults: the error surfaces from the next `sync`, nothing is written after it,
//! and reopening yields what was synced.

use super::{open, segment_files};
use crate::storage::{
    suite::{ballot, dump, put, puts, Dump, KvSnapshot, TestEntry},
    FaultInjector, Wal, WalError, WalOptions,
};
use omnipaxos::storage::{Snapshot, Storage, StorageOp};
use omnipaxos_storage::memory_storage::MemoryStorage;
use std::{fs, path::Path};

const MAX: usize = 40;

fn with_fault(fault: &FaultInjector) -> WalOptions {
    WalOptions {
        segment_bytes: 300,
        fault: Some(fault.clone()),
        ..WalOptions::default()
    }
}

fn disk_bytes(dir: &Path) -> u64 {
    segment_files(dir)
        .iter()
        .map(|f| fs::metadata(f).unwrap().len())
        .sum()
}

#[test]
fn write_error_is_reported_by_the_next_sync_and_nothing_after_it_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let fault = FaultInjector::never();
    let mut wal = open(dir.path(), with_fault(&fault));
    wal.append_entries(puts(0, 3)).unwrap();
    wal.sync().unwrap();
    let synced = dump(&wal, MAX);

    fault.arm(0);
    // The storage call succeeds (OmniPaxos would panic on Err); nothing touched the disk yet.
    wal.append_entries(puts(3, 6)).unwrap();
    let err = wal.sync().unwrap_err();
    assert!(matches!(err, WalError::Io { op: "write", .. }), "{err}");
    assert!(fault.tripped());
    assert!(wal.poison().is_some());
    let size_at_failure = disk_bytes(dir.path());

    // Later calls keep serving reads and succeed, but nothing more is written.
    fault.arm(u64::MAX);
    wal.append_entries(puts(6, 9)).unwrap();
    wal.set_decided_idx(9).unwrap();
    assert_eq!(wal.get_suffix(0).unwrap(), puts(0, 9));
    assert!(wal.sync().is_err(), "the poison stays");
    assert!(wal.checkpoint().is_err());
    assert_eq!(disk_bytes(dir.path()), size_at_failure);
    drop(wal);

    let wal = open(dir.path(), WalOptions::default());
    assert_eq!(dump(&wal, MAX), synced);
    assert!(
        wal.recovery().truncated_bytes > 0,
        "the half-written record was cut"
    );
}

#[test]
fn fdatasync_error_poisons_the_wal() {
    let dir = tempfile::tempdir().unwrap();
    let fault = FaultInjector::never();
    let mut wal = open(dir.path(), with_fault(&fault));
    wal.append_entry(put(0)).unwrap();
    wal.sync().unwrap();
    let synced = dump(&wal, MAX);
    fault.arm(1); // the write succeeds, the fdatasync fails
    wal.append_entry(put(1)).unwrap();
    let err = wal.sync().unwrap_err();
    assert!(
        matches!(
            err,
            WalError::Io {
                op: "fdatasync",
                ..
            }
        ),
        "{err}"
    );
    let attempted = dump(&wal, MAX);
    wal.append_entry(put(2)).unwrap();
    assert!(wal.sync().is_err());
    drop(wal);
    // The unacknowledged record may or may not be there; the acknowledged one is.
    let got = dump(&open(dir.path(), WalOptions::default()), MAX);
    assert!(got == synced || got == attempted);
}

#[test]
fn write_error_inside_a_storage_call_surfaces_from_sync() {
    let dir = tempfile::tempdir().unwrap();
    let fault = FaultInjector::never();
    let opts = WalOptions {
        write_buffer_bytes: 1, // every storage call hands its record to the OS
        ..with_fault(&fault)
    };
    let mut wal = open(dir.path(), opts);
    wal.append_entry(put(0)).unwrap();
    wal.sync().unwrap();
    fault.arm(0);
    wal.append_entry(put(1)).unwrap(); // the write fails inside this call
    assert!(wal.poison().is_some());
    assert!(wal.sync().is_err());
    drop(wal);
    assert_eq!(
        open(dir.path(), WalOptions::default())
            .get_suffix(0)
            .unwrap(),
        puts(0, 1)
    );
}

#[test]
fn failed_checkpoint_keeps_the_old_segments() {
    let dir = tempfile::tempdir().unwrap();
    let fault = FaultInjector::never();
    let mut wal = open(dir.path(), with_fault(&fault));
    for i in 0..20 {
        wal.append_entry(put(i)).unwrap();
        wal.sync().unwrap();
    }
    wal.trim(10).unwrap();
    wal.sync().unwrap();
    let synced = dump(&wal, MAX);
    for ops in 0..3 {
        // Fail the temp-file write, its fdatasync, or the directory fsync.
        let dir2 = tempfile::tempdir().unwrap();
        super::copy_dir(dir.path(), dir2.path());
        let fault2 = FaultInjector::never();
        let mut wal2 = open(dir2.path(), with_fault(&fault2));
        fault2.arm(ops);
        assert!(wal2.checkpoint().is_err(), "ops {ops}");
        assert!(wal2.sync().is_err());
        drop(wal2);
        assert_eq!(
            dump(&open(dir2.path(), WalOptions::default()), MAX),
            synced,
            "ops {ops}"
        );
        assert!(fs::read_dir(dir2.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .ends_with(".tmp")));
    }
}

/// One step of the workload below.
fn step(wal: &mut Wal<TestEntry>, i: u64) {
    match i % 4 {
        0 => wal.append_entries(puts(i, i + 3)).unwrap(),
        1 => wal.set_promise(ballot(i as u32, 2)).unwrap(),
        2 => wal
            .write_atomically(vec![
                StorageOp::SetAcceptedRound(ballot(i as u32, 2)),
                StorageOp::SetDecidedIndex(i as usize),
                StorageOp::AppendEntry(put(1000 + i)),
            ])
            .unwrap(),
        _ => {
            let len = wal.get_log_len().unwrap();
            let start = wal.stats().log_start;
            let trim = start + len / 2;
            wal.write_atomically(vec![
                StorageOp::Trim(trim),
                StorageOp::SetCompactedIdx(trim),
                StorageOp::SetSnapshot(Some(KvSnapshot::create(&puts(0, trim as u64)))),
            ])
            .unwrap();
        }
    }
}

/// Replica-like loop: bursts of storage calls, one sync per burst, a checkpoint now and then;
/// stops at the first error. Returns the states a recovery may legitimately produce: the last
/// acknowledged one, and (since a failed write can persist a prefix of the burst) the state
/// after each storage call of the failed burst.
fn run_until_failure(dir: &Path, fault: &FaultInjector) -> Vec<Dump> {
    let mut wal = match Wal::<TestEntry>::open(dir, with_fault(fault)) {
        Ok(wal) => wal,
        // Failed while creating the first segment: nothing was ever acknowledged.
        Err(_) => return vec![dump(&MemoryStorage::<TestEntry>::default(), MAX)],
    };
    let mut since_ack = vec![dump(&wal, MAX)];
    for burst in 0..12u64 {
        for k in 0..3 {
            step(&mut wal, burst * 3 + k);
            since_ack.push(dump(&wal, MAX));
        }
        let res = if burst % 5 == 4 {
            wal.checkpoint().map(|_| ())
        } else {
            wal.sync().map(|_| ())
        };
        match res {
            Ok(()) => since_ack = vec![dump(&wal, MAX)],
            Err(_) => return since_ack,
        }
    }
    since_ack
}

#[test]
fn failing_after_every_possible_number_of_operations_loses_nothing_acknowledged() {
    let mut n = 0;
    loop {
        let dir = tempfile::tempdir().unwrap();
        let fault = FaultInjector::fail_after(n);
        let allowed = run_until_failure(dir.path(), &fault);
        let got = dump(&open(dir.path(), WalOptions::default()), MAX);
        let pos = allowed.iter().position(|d| *d == got);
        assert!(
            pos.is_some(),
            "fail after {n} ops: recovered state is not the acknowledged one nor a prefix of the failed burst"
        );
        if !fault.tripped() {
            assert!(n > 10, "the workload must issue I/O");
            break;
        }
        n += 1;
    }
}
