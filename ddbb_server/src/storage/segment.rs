//! Segment files: naming, listing a data directory, and the segment being appended to.
//!
//! A segment is named after the sequence number of its first record, zero-padded so that
//! lexical and numeric order agree: `00000000000000000042.wal`.

use super::{
    disk::{durable, Disk, DiskFile, OpenMode},
    error::WalError,
};
use std::path::{Path, PathBuf};

/// Extension of segment files.
const SEGMENT_EXT: &str = ".wal";

/// File name of the segment whose first record has sequence number `seq`.
pub(crate) fn file_name(seq: u64) -> String {
    format!("{seq:020}{SEGMENT_EXT}")
}

/// Sequence number encoded in a segment file name, if it is one.
fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_EXT)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A segment found on disk.
#[derive(Debug, Clone)]
pub(crate) struct SegmentFile {
    pub seq: u64,
    pub path: PathBuf,
    /// Size in bytes (after any torn-tail truncation).
    pub len: u64,
}

/// Lists the segments of `dir` in sequence order.
pub(crate) fn list(disk: &dyn Disk, dir: &Path) -> Result<Vec<SegmentFile>, WalError> {
    let mut segments = Vec::new();
    let entries = disk
        .list(dir)
        .map_err(|e| WalError::io("read_dir", dir, e))?;
    for entry in entries {
        let path = dir.join(&entry.name);
        if let Some(seq) = parse_name(&entry.name).filter(|_| !entry.is_dir) {
            segments.push(SegmentFile {
                seq,
                path,
                len: entry.len,
            });
        }
    }
    segments.sort_by_key(|s| s.seq);
    Ok(segments)
}

/// The segment that records are appended to.
#[derive(Debug)]
pub(crate) struct ActiveSegment {
    pub file: Box<dyn DiskFile>,
    pub seq: u64,
    pub path: PathBuf,
    /// Bytes written to the file (synced or not).
    pub len: u64,
}

impl ActiveSegment {
    /// Creates a new, empty segment for records from `seq` on, durably (the directory is
    /// fsynced when `fsync` is on, from `site`).
    pub(crate) fn create(
        disk: &dyn Disk,
        dir: &Path,
        seq: u64,
        fsync: bool,
        site: &'static str,
    ) -> Result<Self, WalError> {
        let path = dir.join(file_name(seq));
        let file = durable::create_file(disk, &path, fsync, site)
            .map_err(|e| WalError::io("create", &path, e))?;
        Ok(ActiveSegment {
            file,
            seq,
            path,
            len: 0,
        })
    }

    /// Reopens an existing segment of `len` bytes for appending.
    pub(crate) fn reopen(disk: &dyn Disk, seg: &SegmentFile) -> Result<Self, WalError> {
        let file = disk
            .open(&seg.path, OpenMode::Existing)
            .map_err(|e| WalError::io("open", &seg.path, e))?;
        Ok(ActiveSegment {
            file,
            seq: seg.seq,
            path: seg.path.clone(),
            len: seg.len,
        })
    }

    /// Appends `bytes` (no fsync).
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<(), WalError> {
        let res = self.file.append(bytes);
        // Re-read the size on failure: a partial write still moved the end of the file.
        match res {
            Ok(()) => {
                self.len += bytes.len() as u64;
                Ok(())
            }
            Err(e) => {
                if let Ok(len) = self.file.size() {
                    self.len = len;
                }
                Err(WalError::io("write", &self.path, e))
            }
        }
    }

    /// `fdatasync`s the segment.
    pub(crate) fn sync(&mut self) -> Result<(), WalError> {
        self.file
            .sync_data()
            .map_err(|e| WalError::io("fdatasync", &self.path, e))
    }

    /// Describes this segment as a closed one.
    pub(crate) fn info(&self) -> SegmentFile {
        SegmentFile {
            seq: self.seq,
            path: self.path.clone(),
            len: self.len,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_roundtrip_and_sort_numerically() {
        assert_eq!(file_name(42), "00000000000000000042.wal");
        assert_eq!(parse_name(&file_name(42)), Some(42));
        assert_eq!(parse_name(&file_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_name("42.wal"), None);
        assert_eq!(parse_name("0000000000000000004x.wal"), None);
        assert_eq!(parse_name("00000000000000000042.wal.tmp"), None);
        assert!(file_name(9) < file_name(10));
    }
}
