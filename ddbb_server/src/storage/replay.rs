//! Recovery: turning the segment files of a data directory back into an in-memory image.
//!
//! Replay starts at the newest segment whose first record is a checkpoint (or at segment 0),
//! checks that segment names chain (each starts where the previous one ended), cuts a torn tail
//! off the last segment and refuses everything else that is damaged. Rules: see the
//! [`storage`](super) module doc, "Recovery".

use super::{
    checkpoint::{self, Written},
    disk::{durable, Disk, OpenMode},
    error::WalError,
    image::Image,
    op::{codec, strip_format, Op},
    record::{self, Parsed},
    segment::{self, ActiveSegment, SegmentFile},
    wal::{WalEntry, WalOptions},
};
use bincode::Options;
use std::path::Path;

/// What [`Wal::open`](super::Wal::open) found on disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryInfo {
    /// Segments replayed (see [`RecoveryInfo::is_empty`] for "the WAL held nothing").
    pub segments: usize,
    /// Records replayed.
    pub records: u64,
    /// Bytes replayed.
    pub bytes: u64,
    /// Sequence number of the checkpoint replay started from, if any.
    pub checkpoint_seq: Option<u64>,
    /// Bytes of torn tail cut from the last segment (0 if the tail was clean).
    pub truncated_bytes: u64,
    /// Segments deleted because a newer checkpoint supersedes them.
    pub removed_segments: usize,
}

impl RecoveryInfo {
    /// Whether the WAL held nothing at all: no checkpoint and no record (a new replica, or one
    /// whose disk was lost).
    pub fn is_empty(&self) -> bool {
        self.checkpoint_seq.is_none() && self.records == 0
    }
}

/// What recovery hands to the `Wal`.
pub(crate) struct Recovered<T: WalEntry> {
    pub image: Image<T>,
    /// The segment to append to.
    pub active: ActiveSegment,
    /// The segments before it, oldest first.
    pub closed: Vec<SegmentFile>,
    /// Sequence number of the next record.
    pub next_seq: u64,
    pub info: RecoveryInfo,
    /// The checkpoint replay started from (at most one is kept).
    pub checkpoints: Vec<Written>,
}

/// Opens or creates the WAL in `dir` and replays it: the newest checkpoint, then the records
/// from its sequence number on.
pub(crate) fn recover<T: WalEntry>(
    disk: &dyn Disk,
    dir: &Path,
    options: &WalOptions,
) -> Result<Recovered<T>, WalError> {
    durable::create_dir_all(disk, dir, options.fsync, "wal dir")
        .map_err(|e| WalError::io("create_dir", dir, e))?;
    let ckpt_dir = dir.join(checkpoint::DIR);
    durable::create_dir_all(disk, &ckpt_dir, options.fsync, "checkpoint dir")
        .map_err(|e| WalError::io("create_dir", &ckpt_dir, e))?;
    let mut checkpoints = list_checkpoints(disk, &ckpt_dir)?;
    let mut info = RecoveryInfo::default();
    let newest = checkpoints.pop();
    let (mut image, start) = match &newest {
        Some(newest) => {
            info.checkpoint_seq = Some(newest.seq);
            (load_checkpoint::<T>(disk, &newest.path)?, newest.seq)
        }
        None => (Image::default(), 0),
    };
    let superseded_checkpoints = checkpoints;
    let mut segments = segment::list(disk, dir)?;
    // A segment is superseded when the next one starts at or before the checkpoint.
    let keep_from = segments
        .iter()
        .enumerate()
        .rev()
        .find(|(_, seg)| seg.seq <= start)
        .map_or(0, |(i, _)| i);
    let superseded: Vec<SegmentFile> = segments.drain(..keep_from).collect();
    if let Some(first) = segments.first() {
        if first.seq > start {
            return Err(WalError::corrupt(
                &first.path,
                0,
                format!(
                    "segment starts at record {} but recovery needs records from {start} on \
                     (the checkpoint's or the first): a segment is missing",
                    first.seq
                ),
            ));
        }
    }
    let next_seq = replay_segments(disk, &mut image, &mut segments, start, &mut info, options)?;
    remove_all(disk, superseded.iter().map(|s| &s.path), &mut info);
    remove_all(
        disk,
        superseded_checkpoints.iter().map(|c| &c.path),
        &mut info,
    );
    let active = match segments.pop() {
        Some(last) => ActiveSegment::reopen(disk, &last)?,
        None => ActiveSegment::create(disk, dir, next_seq, options.fsync, "first segment")?,
    };
    tracing::info!(
        dir = %dir.display(),
        segments = info.segments,
        records = info.records,
        bytes = info.bytes,
        checkpoint = ?info.checkpoint_seq,
        truncated_bytes = info.truncated_bytes,
        log_start = image.log_start,
        log_len = image.log.len(),
        decided_idx = image.decided_idx,
        "WAL recovered"
    );
    Ok(Recovered {
        image,
        active,
        closed: segments,
        next_seq,
        info,
        checkpoints: newest.into_iter().collect(),
    })
}

/// Checkpoint files in `dir`, oldest first; unfinished ones (never renamed) are deleted.
fn list_checkpoints(disk: &dyn Disk, dir: &Path) -> Result<Vec<Written>, WalError> {
    let mut out = Vec::new();
    for entry in disk
        .list(dir)
        .map_err(|e| WalError::io("read_dir", dir, e))?
    {
        let path = dir.join(&entry.name);
        if checkpoint::is_tmp(&entry.name) {
            tracing::info!(file = %path.display(), "removing unfinished checkpoint");
            disk.remove_file(&path)
                .map_err(|e| WalError::io("remove", &path, e))?;
        } else if let Some(seq) = checkpoint::parse_name(&entry.name) {
            out.push(Written {
                seq,
                path,
                bytes: entry.len,
            });
        }
    }
    out.sort_by_key(|c| c.seq);
    Ok(out)
}

/// Reads a checkpoint file: exactly one intact record holding one `Checkpoint` op. It was
/// fdatasynced before its rename, so any damage is corruption.
fn load_checkpoint<T: WalEntry>(disk: &dyn Disk, path: &Path) -> Result<Image<T>, WalError> {
    let data = disk.read(path).map_err(|e| WalError::io("read", path, e))?;
    let (payload, next) = match record::parse_at(&data, 0) {
        Parsed::Record { payload, next } => (payload, next),
        Parsed::Bad(bad) => return Err(WalError::corrupt(path, 0, bad.reason())),
        Parsed::End => return Err(WalError::corrupt(path, 0, "empty checkpoint file")),
    };
    if next != data.len() {
        return Err(WalError::corrupt(
            path,
            next as u64,
            "data after the checkpoint record",
        ));
    }
    let payload = strip_format(payload).map_err(|reason| WalError::corrupt(path, 0, reason))?;
    let ops: Vec<Op<T, T::Snapshot>> = codec()
        .with_limit(payload.len() as u64)
        .deserialize(payload)
        .map_err(|e| WalError::corrupt(path, 0, format!("undecodable checkpoint: {e}")))?;
    match <[Op<T, T::Snapshot>; 1]>::try_from(ops) {
        Ok([Op::Checkpoint(c)]) => Ok(Image::from(*c)),
        _ => Err(WalError::corrupt(path, 0, "not a checkpoint record")),
    }
}

/// Replays `segments` (which start at or before `start`) from record `start` on, cutting a
/// torn tail off the last one; returns the next sequence number.
fn replay_segments<T: WalEntry>(
    disk: &dyn Disk,
    image: &mut Image<T>,
    segments: &mut [SegmentFile],
    start: u64,
    info: &mut RecoveryInfo,
    options: &WalOptions,
) -> Result<u64, WalError> {
    let mut next_seq = segments.first().map_or(start, |s| s.seq);
    let last = segments.len().saturating_sub(1);
    for (i, seg) in segments.iter_mut().enumerate() {
        if seg.seq != next_seq {
            return Err(WalError::corrupt(
                &seg.path,
                0,
                format!(
                    "segment starts at record {} but the previous segment ends before record {next_seq}: a segment is missing or damaged",
                    seg.seq
                ),
            ));
        }
        let data = disk
            .read(&seg.path)
            .map_err(|e| WalError::io("read", &seg.path, e))?;
        let cursor = Cursor {
            next_seq: &mut next_seq,
            apply_from: start,
        };
        let end = replay_segment(image, cursor, info, seg, &data, i == last)?;
        if end < data.len() {
            // Only reachable for the last segment (replay_segment refuses otherwise).
            truncate(disk, &seg.path, end as u64, options.fsync)?;
            info.truncated_bytes = (data.len() - end) as u64;
        }
        seg.len = end as u64;
        info.segments += 1;
        info.bytes += end as u64;
    }
    Ok(next_seq.max(start))
}

/// Deletes superseded files; a failure only leaves them for the next open.
fn remove_all<'a>(
    disk: &dyn Disk,
    paths: impl Iterator<Item = &'a std::path::PathBuf>,
    info: &mut RecoveryInfo,
) {
    for path in paths {
        match disk.remove_file(path) {
            Ok(()) => info.removed_segments += 1,
            Err(e) => {
                tracing::warn!(file = %path.display(), error = %e, "cannot remove a file superseded by a checkpoint")
            }
        }
    }
}

/// Where replay stands: the sequence number of the next record, and the first one to apply
/// (records before it are covered by the checkpoint).
struct Cursor<'a> {
    next_seq: &'a mut u64,
    apply_from: u64,
}

/// Replays the records of one segment into `image`; returns where valid data ends.
fn replay_segment<T: WalEntry>(
    image: &mut Image<T>,
    cursor: Cursor<'_>,
    info: &mut RecoveryInfo,
    seg: &SegmentFile,
    data: &[u8],
    is_last: bool,
) -> Result<usize, WalError> {
    let mut off = 0;
    loop {
        match record::parse_at(data, off) {
            Parsed::End => return Ok(off),
            Parsed::Record { payload, next } => {
                let payload = strip_format(payload)
                    .map_err(|reason| WalError::corrupt(&seg.path, off as u64, reason))?;
                let ops: Vec<Op<T, T::Snapshot>> = codec()
                    .with_limit(payload.len() as u64)
                    .deserialize(payload)
                    .map_err(|e| {
                        WalError::corrupt(
                            &seg.path,
                            off as u64,
                            format!("undecodable payload: {e}"),
                        )
                    })?;
                let covered = *cursor.next_seq < cursor.apply_from;
                for op in ops.into_iter().filter(|_| !covered) {
                    // The writer validated this; a record that would leave a hole is damage.
                    if let Op::AppendOnPrefix(from, es) = &op {
                        image
                            .shape()
                            .append_on_prefix(*from, es.len())
                            .map_err(|r| WalError::corrupt(&seg.path, off as u64, r))?;
                    }
                    image.apply(op);
                }
                info.records += u64::from(!covered);
                *cursor.next_seq += 1;
                off = next;
            }
            Parsed::Bad(bad) if is_last && bad.is_torn_tail(data, off) => {
                tracing::warn!(
                    file = %seg.path.display(),
                    offset = off,
                    cut_bytes = data.len() - off,
                    reason = %bad.reason(),
                    "WAL ends in a torn record (crash during a write); truncating it"
                );
                return Ok(off);
            }
            Parsed::Bad(bad) => {
                let mut reason = bad.reason();
                reason.push_str(if is_last {
                    " (followed by more data)"
                } else {
                    " (not the last segment)"
                });
                return Err(WalError::corrupt(&seg.path, off as u64, reason));
            }
        }
    }
}

/// Cuts a torn tail off a segment, durably when fsync is on.
fn truncate(disk: &dyn Disk, path: &Path, len: u64, fsync: bool) -> Result<(), WalError> {
    let mut file = disk
        .open(path, OpenMode::Existing)
        .map_err(|e| WalError::io("open", path, e))?;
    file.set_len(len)
        .map_err(|e| WalError::io("truncate", path, e))?;
    if fsync {
        file.sync_data()
            .map_err(|e| WalError::io("fdatasync", path, e))?;
    }
    Ok(())
}
