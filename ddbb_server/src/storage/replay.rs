//! Recovery: turning the segment files of a data directory back into an in-memory image.
//!
//! Replay starts at the newest segment whose first record is a checkpoint (or at segment 0),
//! checks that segment names chain (each starts where the previous one ended), cuts a torn tail
//! off the last segment and refuses everything else that is damaged. Rules: see the
//! [`storage`](super) module doc, "Recovery".

use super::{
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
    /// Segments replayed. 0 means the directory held no WAL: a fresh replica (use this for the
    /// "refuse to start on an empty data dir unless `--join`" guard).
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
}

/// Opens or creates the WAL in `dir` and replays it.
pub(crate) fn recover<T: WalEntry>(
    disk: &dyn Disk,
    dir: &Path,
    options: &WalOptions,
) -> Result<Recovered<T>, WalError> {
    durable::create_dir_all(disk, dir, options.fsync, "wal dir")
        .map_err(|e| WalError::io("create_dir", dir, e))?;
    let mut segments = segment::list(disk, dir)?;
    if segments.is_empty() {
        let active = ActiveSegment::create(disk, dir, 0, options.fsync, "first segment")?;
        return Ok(Recovered {
            image: Image::default(),
            active,
            closed: Vec::new(),
            next_seq: 0,
            info: RecoveryInfo::default(),
        });
    }

    // Replay from the newest checkpoint: everything before it is superseded.
    let mut start = None;
    for (i, seg) in segments.iter().enumerate().rev() {
        if segment::starts_with_checkpoint(disk, &seg.path)? {
            start = Some(i);
            break;
        }
    }
    let mut info = RecoveryInfo::default();
    let superseded: Vec<SegmentFile> = match start {
        Some(i) => {
            info.checkpoint_seq = Some(segments[i].seq);
            segments.drain(..i).collect()
        }
        None if segments[0].seq != 0 => {
            return Err(WalError::corrupt(
                &segments[0].path,
                0,
                format!(
                    "first segment starts at record {} and holds no checkpoint: earlier segments are missing",
                    segments[0].seq
                ),
            ))
        }
        None => Vec::new(),
    };

    let mut image = Image::default();
    let mut next_seq = segments[0].seq;
    let last = segments.len() - 1;
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
        let end = replay_segment(&mut image, &mut next_seq, &mut info, seg, &data, i == last)?;
        if end < data.len() {
            // Only reachable for the last segment (replay_segment refuses otherwise).
            truncate(disk, &seg.path, end as u64, options.fsync)?;
            info.truncated_bytes = (data.len() - end) as u64;
        }
        seg.len = end as u64;
        info.segments += 1;
        info.bytes += end as u64;
    }

    // Only now that the checkpoint replayed cleanly: drop what it supersedes.
    for seg in &superseded {
        match disk.remove_file(&seg.path) {
            Ok(()) => info.removed_segments += 1,
            Err(e) => {
                tracing::warn!(file = %seg.path.display(), error = %e, "cannot remove segment superseded by a checkpoint")
            }
        }
    }
    let Some(last_seg) = segments.pop() else {
        return Err(WalError::InvalidOp("no segment left after replay".into()));
    };
    let active = ActiveSegment::reopen(disk, &last_seg)?;
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
    })
}

/// Replays the records of one segment into `image`; returns where valid data ends.
fn replay_segment<T: WalEntry>(
    image: &mut Image<T>,
    next_seq: &mut u64,
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
                for op in ops {
                    // The writer validated this; a record that would leave a hole is damage.
                    if let Op::AppendOnPrefix(from, es) = &op {
                        image
                            .shape()
                            .append_on_prefix(*from, es.len())
                            .map_err(|r| WalError::corrupt(&seg.path, off as u64, r))?;
                    }
                    image.apply(op);
                }
                info.records += 1;
                *next_seq += 1;
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
