//! Checkpoints: bounded disk use, reopen, and crashes at every step of writing one.

use super::{copy_dir, open, segment_files};
use crate::storage::{
    suite::{ballot, dump, put, puts, small_segments, stopsign, Dump, KvSnapshot},
    Wal, WalOptions,
};
use omnipaxos::storage::{Snapshot, Storage, StorageOp};
use std::{fs, path::Path};

const MAX: usize = 80;

/// 60 entries over many small segments, then a snapshot-style compaction up to 50.
fn compacted_wal(dir: &Path, options: WalOptions) -> Wal<crate::storage::suite::TestEntry> {
    let mut wal = open(dir, options);
    wal.set_promise(ballot(2, 3)).unwrap();
    wal.set_accepted_round(ballot(2, 3)).unwrap();
    for i in 0..60 {
        wal.append_entry(put(i)).unwrap();
        wal.set_decided_idx(i as usize + 1).unwrap();
        wal.sync().unwrap();
    }
    wal.write_atomically(vec![
        StorageOp::Trim(50),
        StorageOp::SetCompactedIdx(50),
        StorageOp::SetSnapshot(Some(KvSnapshot::create(&puts(0, 50)))),
    ])
    .unwrap();
    wal
}

#[test]
fn checkpoint_bounds_disk_use_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = compacted_wal(dir.path(), small_segments());
    let before = wal.stats();
    assert!(before.segments > 5);
    let cp = wal.checkpoint().unwrap();
    let after = wal.stats();
    assert_eq!(after.segments, 1);
    assert_eq!(cp.removed_segments, before.segments);
    assert_eq!(after.disk_bytes, cp.bytes);
    assert!(
        after.disk_bytes < before.disk_bytes / 3,
        "{before:?} -> {after:?}"
    );
    assert_eq!(after.checkpoint_compacted_idx, 50);
    assert_eq!(after.checkpoints, 1);
    assert_eq!(segment_files(dir.path()).len(), 1);
    let expected = dump(&wal, MAX);
    drop(wal);
    let mut wal = open(dir.path(), small_segments());
    assert_eq!(dump(&wal, MAX), expected);
    assert_eq!(wal.recovery().checkpoint_seq, Some(cp.seq));
    assert_eq!(
        wal.recovery().records,
        0,
        "nothing was written after the checkpoint"
    );
    // Records after the checkpoint go to its segment and beyond.
    for i in 60..70 {
        wal.append_entry(put(i)).unwrap();
        wal.sync().unwrap();
    }
    wal.set_stopsign(Some(stopsign())).unwrap();
    wal.sync().unwrap();
    let expected = dump(&wal, MAX);
    drop(wal);
    assert_eq!(dump(&open(dir.path(), small_segments()), MAX), expected);
}

#[test]
fn checkpoint_makes_unsynced_writes_durable() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = compacted_wal(dir.path(), WalOptions::default());
    wal.append_entries(puts(60, 63)).unwrap(); // not synced
    wal.checkpoint().unwrap();
    let expected = dump(&wal, MAX);
    drop(wal);
    assert_eq!(
        dump(&open(dir.path(), WalOptions::default()), MAX),
        expected
    );
}

#[test]
fn crash_after_checkpoint_before_old_segments_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = compacted_wal(dir.path(), small_segments());
    wal.sync().unwrap();
    let old = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), old.path());
    let n_old = segment_files(old.path()).len();
    wal.checkpoint().unwrap();
    let expected = dump(&wal, MAX);
    drop(wal);
    // Put the old segments back, as if the deletions never reached the disk.
    copy_dir(old.path(), dir.path());
    assert_eq!(segment_files(dir.path()).len(), n_old + 1);
    let wal = open(dir.path(), small_segments());
    assert_eq!(dump(&wal, MAX), expected);
    assert_eq!(wal.recovery().removed_segments, n_old);
    assert_eq!(segment_files(dir.path()).len(), 1);
}

#[test]
fn crash_before_checkpoint_rename_uses_the_old_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = compacted_wal(dir.path(), small_segments());
    wal.sync().unwrap();
    let expected = dump(&wal, MAX);
    let seq = wal.stats().records;
    let segments = wal.stats().segments;
    drop(wal);
    // A half-written checkpoint temp file (what a crash mid-checkpoint leaves).
    let tmp = dir
        .path()
        .join("checkpoints")
        .join(format!("{seq:020}.ckpt.tmp"));
    fs::write(&tmp, [9u8; 37]).unwrap();
    let wal = open(dir.path(), small_segments());
    assert_eq!(dump(&wal, MAX), expected);
    assert_eq!(wal.stats().segments, segments);
    assert!(!tmp.exists(), "leftover temp file must be removed");
}

#[test]
fn checkpoint_replaces_an_empty_active_segment_of_the_same_name() {
    // With tiny segments every sync rolls, so the active segment is empty and has the name the
    // checkpoint takes.
    let dir = tempfile::tempdir().unwrap();
    let opts = WalOptions {
        segment_bytes: 1,
        ..WalOptions::default()
    };
    let mut wal = compacted_wal(dir.path(), opts.clone());
    wal.sync().unwrap();
    assert_eq!(wal.stats().pending_bytes, 0);
    wal.checkpoint().unwrap();
    assert_eq!(segment_files(dir.path()).len(), 1);
    wal.append_entry(put(60)).unwrap();
    wal.sync().unwrap();
    let expected = dump(&wal, MAX);
    drop(wal);
    assert_eq!(dump(&open(dir.path(), opts), MAX), expected);
}

#[test]
fn fresh_wal_checkpoint_and_repeated_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = open(dir.path(), WalOptions::default());
    wal.checkpoint().unwrap();
    wal.checkpoint().unwrap();
    let empty: Dump = dump(&wal, 5);
    drop(wal);
    let mut wal = open(dir.path(), WalOptions::default());
    assert_eq!(dump(&wal, 5), empty);
    for round in 0..3u64 {
        wal.append_entries(puts(round * 5, round * 5 + 5)).unwrap();
        wal.trim(round as usize * 5 + 2).unwrap();
        wal.checkpoint().unwrap();
    }
    assert_eq!(segment_files(dir.path()).len(), 1);
    let expected = dump(&wal, 20);
    drop(wal);
    assert_eq!(dump(&open(dir.path(), WalOptions::default()), 20), expected);
}

#[test]
fn torn_record_after_a_checkpoint_is_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = compacted_wal(dir.path(), WalOptions::default());
    wal.checkpoint().unwrap();
    wal.append_entry(put(60)).unwrap();
    wal.sync().unwrap();
    let expected = dump(&wal, MAX);
    wal.append_entry(put(61)).unwrap();
    wal.sync().unwrap();
    drop(wal);
    let file = segment_files(dir.path()).pop().unwrap();
    let len = fs::metadata(&file).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&file)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    assert_eq!(
        dump(&open(dir.path(), WalOptions::default()), MAX),
        expected
    );
}

/// With `checkpoint_on_snapshot`, a batch that installs a snapshot is durable when the call
/// returns: it was written as a checkpoint, and older segments are gone.
#[test]
fn a_snapshot_batch_becomes_a_checkpoint_at_once() {
    use crate::storage::suite::checkpointing;
    let dir = tempfile::tempdir().unwrap();
    let mut wal = open(dir.path(), checkpointing());
    for i in 0..30 {
        wal.append_entry(put(i)).unwrap();
    }
    wal.set_decided_idx(30).unwrap();
    wal.sync().unwrap();
    let before = wal.stats().checkpoints;
    wal.write_atomically(vec![
        StorageOp::Trim(20),
        StorageOp::SetCompactedIdx(20),
        StorageOp::SetSnapshot(Some(KvSnapshot::create(&puts(0, 20)))),
    ])
    .unwrap();
    assert_eq!(wal.stats().checkpoints, before + 1);
    assert_eq!(wal.stats().checkpoint_compacted_idx, 20);
    let expected = dump(&wal, 40);
    drop(wal); // no sync: a crash right after the call
    let wal = open(dir.path(), checkpointing());
    assert_eq!(dump(&wal, 40), expected);
    assert_eq!(segment_files(dir.path()).len(), 1, "older segments deleted");
}
