//! Restart round-trips, crashes (drop without sync), torn tails and corruption.

use super::{copy_dir, open, record_bounds, segment_files};
use crate::storage::{
    suite::{ballot, dump, put, puts, small_segments, stopsign, Dump, KvSnapshot, TestEntry},
    Wal, WalError, WalOptions,
};
use omnipaxos::storage::{Snapshot, Storage, StorageOp};
use std::{fs, path::Path};

const MAX: usize = 20;

/// Writes a small history; returns the dump after the next-to-last sync, the dump at the end,
/// and the range of the last record (one `write_atomically` batch) in the only segment.
fn history(dir: &Path) -> (Dump, Dump, std::ops::Range<usize>) {
    let mut wal = open(dir, WalOptions::default());
    wal.set_promise(ballot(1, 1)).unwrap();
    for i in 0..5 {
        wal.append_entry(put(i)).unwrap();
    }
    wal.set_accepted_round(ballot(1, 1)).unwrap();
    wal.set_decided_idx(4).unwrap();
    wal.set_stopsign(Some(stopsign())).unwrap();
    wal.set_stopsign(None).unwrap();
    wal.sync().unwrap();
    let before = dump(&wal, MAX);
    wal.write_atomically(vec![
        StorageOp::AppendEntries(puts(5, 8)),
        StorageOp::SetDecidedIndex(8),
        StorageOp::Trim(2),
        StorageOp::SetCompactedIdx(2),
        StorageOp::SetSnapshot(Some(KvSnapshot::create(&puts(0, 2)))),
    ])
    .unwrap();
    wal.sync().unwrap();
    let after = dump(&wal, MAX);
    drop(wal);
    let files = segment_files(dir);
    assert_eq!(files.len(), 1);
    let data = fs::read(&files[0]).unwrap();
    let last = record_bounds(&data).pop().unwrap();
    assert_eq!(last.end, data.len());
    (before, after, last)
}

/// Writes `bytes` as the only segment of a fresh directory and opens it.
fn open_bytes(bytes: &[u8]) -> (tempfile::TempDir, Result<Wal<TestEntry>, WalError>) {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("00000000000000000000.wal"), bytes).unwrap();
    let wal = Wal::open(dir.path(), WalOptions::default());
    (dir, wal)
}

#[test]
fn restart_roundtrip_keeps_every_field() {
    let dir = tempfile::tempdir().unwrap();
    let (_, after, _) = history(dir.path());
    let wal = open(dir.path(), WalOptions::default());
    assert_eq!(dump(&wal, MAX), after);
    assert_eq!(wal.recovery().records, 11);
    assert_eq!(wal.recovery().truncated_bytes, 0);
}

#[test]
fn writes_after_recovery_continue_the_log() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..4u64 {
        let mut wal = open(dir.path(), small_segments());
        assert_eq!(wal.get_log_len().unwrap(), (round * 10) as usize);
        wal.append_entries(puts(round * 10, round * 10 + 10))
            .unwrap();
        for i in 0..10 {
            wal.set_decided_idx((round * 10 + i) as usize).unwrap();
        }
        wal.sync().unwrap();
        let expected = dump(&wal, 50);
        drop(wal);
        let wal = open(dir.path(), small_segments());
        assert_eq!(dump(&wal, 50), expected);
    }
    assert!(
        segment_files(dir.path()).len() > 3,
        "small segments must roll"
    );
}

#[test]
fn reads_see_unsynced_writes_and_a_crash_loses_only_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = open(dir.path(), WalOptions::default());
    wal.append_entries(puts(0, 3)).unwrap();
    wal.sync().unwrap();
    let synced = dump(&wal, MAX);
    wal.append_entries(puts(3, 6)).unwrap();
    wal.set_decided_idx(5).unwrap();
    assert_eq!(
        wal.get_suffix(0).unwrap(),
        puts(0, 6),
        "reads come from memory"
    );
    drop(wal); // no sync: like a crash
    assert_eq!(dump(&open(dir.path(), WalOptions::default()), MAX), synced);
}

#[test]
fn sync_is_skipped_when_nothing_is_pending() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = open(dir.path(), WalOptions::default());
    let s = wal.sync().unwrap();
    assert!(!s.fsynced);
    assert_eq!(s.records, 0);
    wal.append_entry(put(0)).unwrap();
    wal.set_decided_idx(1).unwrap();
    wal.write_atomically(vec![StorageOp::AppendEntry(put(1))])
        .unwrap();
    let s = wal.sync().unwrap();
    assert!(s.fsynced);
    assert_eq!(s.records, 3);
    assert!(s.bytes > 0);
    assert_eq!(wal.stats().fsyncs, 1);
    assert!(!wal.sync().unwrap().fsynced);
    assert_eq!(wal.stats().fsyncs, 1);
    assert_eq!(wal.stats().pending_bytes, 0);
    assert_eq!(wal.stats().disk_bytes, s.bytes);
}

#[test]
fn fsync_off_still_writes_to_the_os() {
    let dir = tempfile::tempdir().unwrap();
    let opts = WalOptions {
        fsync: false,
        segment_bytes: 128,
        ..WalOptions::default()
    };
    let mut wal = open(dir.path(), opts.clone());
    for i in 0..20 {
        wal.append_entry(put(i)).unwrap();
        let s = wal.sync().unwrap();
        assert!(!s.fsynced);
        assert_eq!(s.records, 1);
    }
    wal.checkpoint().unwrap();
    wal.append_entry(put(20)).unwrap();
    wal.sync().unwrap();
    assert_eq!(wal.stats().fsyncs, 0);
    let expected = dump(&wal, 30);
    drop(wal);
    assert_eq!(dump(&open(dir.path(), opts), 30), expected);
}

#[test]
fn torn_tail_at_every_byte_of_the_last_record_is_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let (before, after, last) = history(dir.path());
    let data = fs::read(&segment_files(dir.path())[0]).unwrap();
    for cut in last.start..last.end {
        let (tmp, wal) = open_bytes(&data[..cut]);
        let mut wal = wal.unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
        // The batch is wholly absent: write_atomically is all-or-nothing across a crash.
        assert_eq!(dump(&wal, MAX), before, "cut at {cut}");
        assert_eq!(wal.recovery().truncated_bytes, (cut - last.start) as u64);
        // The truncated segment accepts new records.
        wal.append_entry(put(99)).unwrap();
        wal.sync().unwrap();
        let expected = dump(&wal, MAX);
        drop(wal);
        assert_eq!(
            dump(&open(tmp.path(), WalOptions::default()), MAX),
            expected
        );
    }
    let (_tmp, wal) = open_bytes(&data);
    assert_eq!(dump(&wal.unwrap(), MAX), after);
}

#[test]
fn bad_checksum_in_the_final_record_is_a_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let (before, _, last) = history(dir.path());
    let mut data = fs::read(&segment_files(dir.path())[0]).unwrap();
    data[last.end - 3] ^= 0x10;
    let (_tmp, wal) = open_bytes(&data);
    assert_eq!(dump(&wal.unwrap(), MAX), before);
}

#[test]
fn zero_filled_tail_is_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let (before, after, last) = history(dir.path());
    let data = fs::read(&segment_files(dir.path())[0]).unwrap();
    // The file system extended the file with zeros after the last record.
    let mut padded = data.clone();
    padded.extend_from_slice(&[0; 4096]);
    let (_tmp, wal) = open_bytes(&padded);
    let wal = wal.unwrap();
    assert_eq!(dump(&wal, MAX), after);
    assert_eq!(wal.recovery().truncated_bytes, 4096);
    // The last record's blocks never made it: zeros where it should be.
    let mut zeroed = data.clone();
    zeroed[last.start..].fill(0);
    let (_tmp, wal) = open_bytes(&zeroed);
    assert_eq!(dump(&wal.unwrap(), MAX), before);
    // Half of its payload is zeros: bad checksum followed only by zeros.
    let mut half = data;
    half[(last.start + last.end) / 2..].fill(0);
    half.extend_from_slice(&[0; 100]);
    let (_tmp, wal) = open_bytes(&half);
    assert_eq!(dump(&wal.unwrap(), MAX), before);
}

#[test]
fn flipped_bit_in_a_middle_record_is_refused_with_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    history(dir.path());
    let file = segment_files(dir.path())[0].clone();
    let data = fs::read(&file).unwrap();
    let bounds = record_bounds(&data);
    let middle = bounds[bounds.len() / 2].clone();
    // Every byte of the checksum and payload, and the low bits of the length (a length that
    // points past the end of the file is indistinguishable from a torn tail; see module doc).
    let mut positions: Vec<(usize, u8)> = (middle.start + 4..middle.end)
        .map(|p| (p, 1 << (p % 8)))
        .collect();
    positions.extend([(middle.start, 1), (middle.start, 2), (middle.start, 4)]);
    for (pos, bit) in positions {
        let mut bad = data.clone();
        bad[pos] ^= bit;
        let (tmp, wal) = open_bytes(&bad);
        let err = wal.expect_err("a corrupt middle record must be refused");
        let WalError::Corrupt { offset, .. } = &err else {
            panic!("byte {pos}: unexpected error {err}")
        };
        assert_eq!(*offset, middle.start as u64, "byte {pos}");
        let msg = err.to_string();
        assert!(msg.contains("00000000000000000000.wal"), "{msg}");
        assert!(msg.contains(&format!("offset {}", middle.start)), "{msg}");
        // Refusing must not have modified the file.
        assert_eq!(
            fs::read(tmp.path().join("00000000000000000000.wal")).unwrap(),
            bad
        );
    }
}

#[test]
fn undecodable_record_with_valid_checksum_is_refused() {
    let mut data = Vec::new();
    let start = crate::storage::record::begin(&mut data);
    data.extend_from_slice(&crate::storage::op::format_word());
    data.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 77, 0, 0, 0]); // one op with tag 77
    crate::storage::record::finish(&mut data, start).unwrap();
    let (_tmp, wal) = open_bytes(&data);
    let err = wal.unwrap_err();
    assert!(matches!(err, WalError::Corrupt { offset: 0, .. }), "{err}");
    assert!(err.to_string().contains("undecodable"), "{err}");
}

/// A record in the format without a version word (before MVCC), or from a newer version.
fn record_with_prefix(prefix: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    let start = crate::storage::record::begin(&mut data);
    data.extend_from_slice(prefix);
    data.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0]);
    crate::storage::record::finish(&mut data, start).unwrap();
    data
}

#[test]
fn other_format_versions_are_refused_by_name() {
    let (_tmp, old) = open_bytes(&record_with_prefix(&[]));
    let msg = old.unwrap_err().to_string();
    assert!(
        msg.contains("before MVCC") && msg.contains("Upgrade path"),
        "{msg}"
    );
    let newer = (0xDDB0_0000u32 | 9).to_le_bytes();
    let (_tmp, new) = open_bytes(&record_with_prefix(&newer));
    let msg = new.unwrap_err().to_string();
    assert!(msg.contains("WAL format version 9 is unknown"), "{msg}");
}

/// A WAL spread over several segments; returns the final dump.
fn multi_segment(dir: &Path) -> Dump {
    let mut wal = open(dir, small_segments());
    for i in 0..30 {
        wal.append_entry(put(i)).unwrap();
        wal.set_decided_idx(i as usize).unwrap();
        wal.sync().unwrap();
    }
    let d = dump(&wal, 40);
    assert!(wal.stats().segments >= 4);
    d
}

#[test]
fn torn_record_in_a_segment_that_is_not_the_last_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    multi_segment(dir.path());
    let files = segment_files(dir.path());
    let data = fs::read(&files[1]).unwrap();
    let last = record_bounds(&data).pop().unwrap();
    fs::write(&files[1], &data[..last.end - 1]).unwrap();
    let err = Wal::<TestEntry>::open(dir.path(), small_segments()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, WalError::Corrupt { .. }), "{msg}");
    assert!(msg.contains(&files[1].display().to_string()), "{msg}");
    assert!(msg.contains(&format!("offset {}", last.start)), "{msg}");
    assert!(msg.contains("not the last segment"), "{msg}");
}

#[test]
fn missing_segment_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    multi_segment(dir.path());
    let files = segment_files(dir.path());
    fs::remove_file(&files[2]).unwrap();
    let err = Wal::<TestEntry>::open(dir.path(), small_segments()).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
    // Losing the first segment (without a checkpoint) is refused too.
    let dir = tempfile::tempdir().unwrap();
    multi_segment(dir.path());
    fs::remove_file(&segment_files(dir.path())[0]).unwrap();
    let err = Wal::<TestEntry>::open(dir.path(), small_segments()).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}

#[test]
fn multi_segment_torn_tail_is_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let full = multi_segment(dir.path());
    let files = segment_files(dir.path());
    let last_file = files.last().unwrap();
    let data = fs::read(last_file).unwrap();
    if let Some(last) = record_bounds(&data).pop() {
        fs::write(last_file, &data[..last.end - 2]).unwrap();
        // The last record of each pass is its set_decided_idx.
        let wal = open(dir.path(), small_segments());
        assert_eq!(wal.get_decided_idx().unwrap(), full.decided_idx - 1);
        assert_eq!(wal.get_log_len().unwrap(), full.log_len);
    }
    // An empty last segment (crash right after a roll) is fine.
    let dir2 = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), dir2.path());
    let wal = open(dir2.path(), small_segments());
    assert_eq!(wal.recovery().truncated_bytes, 0);
}

#[test]
fn unknown_files_are_ignored_and_garbage_names_do_not_matter() {
    let dir = tempfile::tempdir().unwrap();
    let (_, after, _) = history(dir.path());
    fs::write(dir.path().join("README"), b"not a segment").unwrap();
    fs::write(dir.path().join("12.wal"), b"not ours either").unwrap();
    assert_eq!(dump(&open(dir.path(), WalOptions::default()), MAX), after);
}

#[test]
fn entry_written_after_unencodable_one_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = open(dir.path(), WalOptions::default());
    wal.append_entry(put(0)).unwrap();
    assert!(wal.append_entry(TestEntry::Unencodable(3)).is_err());
    wal.append_entry(put(1)).unwrap();
    wal.sync().unwrap();
    drop(wal);
    assert_eq!(
        open(dir.path(), WalOptions::default())
            .get_suffix(0)
            .unwrap(),
        puts(0, 2)
    );
}

#[test]
fn recovery_info_tells_a_fresh_directory_from_an_existing_wal() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = open(dir.path(), WalOptions::default());
    assert_eq!(wal.recovery().segments, 0, "fresh");
    wal.sync().unwrap();
    drop(wal);
    // Even an existing WAL without records is not fresh.
    let mut wal = open(dir.path(), WalOptions::default());
    assert_eq!(wal.recovery().segments, 1);
    assert_eq!(wal.recovery().records, 0);
    assert!(wal.recovery().is_empty(), "nothing was ever stored");
    // A WAL whose only content is a checkpoint holds state: the replica is not new.
    wal.append_entry(crate::storage::suite::put(1)).unwrap();
    wal.checkpoint().unwrap();
    drop(wal);
    let wal = open(dir.path(), WalOptions::default());
    assert_eq!(wal.recovery().records, 0);
    assert!(!wal.recovery().is_empty());
}

/// Group commit skips the fdatasync when only the decided index changed: that update is
/// derived state (the next real write's fdatasync carries it), like etcd's commit index.
#[test]
fn a_decided_index_update_alone_is_not_fsynced() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = open(dir.path(), WalOptions::default());
    wal.append_entry(put(0)).unwrap();
    assert!(wal.sync().unwrap().fsynced, "an append is fsynced");
    let fsyncs = wal.stats().fsyncs;
    wal.set_decided_idx(1).unwrap();
    assert!(!wal.sync().unwrap().fsynced);
    assert_eq!(wal.stats().fsyncs, fsyncs);
    wal.set_promise(ballot(2, 1)).unwrap();
    wal.set_decided_idx(1).unwrap();
    assert!(wal.sync().unwrap().fsynced, "a promise with it is fsynced");
    assert_eq!(wal.stats().fsyncs, fsyncs + 1);
    // The decided index handed to the OS survives a process crash (not a power cut).
    drop(wal);
    let wal = open(dir.path(), WalOptions::default());
    assert_eq!(wal.get_decided_idx().unwrap(), 1);
}
