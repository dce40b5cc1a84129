//! Checkpoints: the whole in-memory image written to a file of its own, so that older
//! segments can be deleted, and so that it can be written off the replica loop.
//!
//! A checkpoint `<dir>/checkpoints/NNN.ckpt` holds the image as it was just before record
//! `NNN`: recovery loads the newest one and replays the records from `NNN` on. It is one record
//! (the usual framing, format word and a single `Checkpoint` op), written as `NNN.ckpt.tmp`,
//! fdatasynced, renamed and the directory fsynced. Segments wholly before `NNN` and older
//! checkpoints are deleted only after that.
//!
//! The loop only *starts* a checkpoint ([`Job`]): it clones the image (cheap: the state
//! machine's snapshot shares its structure) and rolls to a new segment starting at `NNN`. The
//! clone is encoded and written by [`Job::run`], on a thread of its own in production
//! ([`CheckpointMode::Background`]), at once ([`CheckpointMode::Inline`]), or when the owner says
//! so ([`CheckpointMode::Deferred`]: tests and the simulator, which must be deterministic).

use super::{
    disk::{durable, DiskRef, OpenMode},
    error::WalError,
    image::Image,
    op::OpRef,
    wal::{encode_record, WalEntry},
};
use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

/// Subdirectory of the WAL directory that holds checkpoints.
pub(crate) const DIR: &str = "checkpoints";
const EXT: &str = ".ckpt";
const TMP_EXT: &str = ".ckpt.tmp";

/// Where checkpoint encoding and writing runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CheckpointMode {
    /// Inside the storage call that asks for it.
    #[default]
    Inline,
    /// On a thread of its own; `sync` finishes it once written.
    Background,
    /// When the owner calls `run_deferred_checkpoint` (deterministic tests, simulation).
    Deferred,
}

/// File name of the checkpoint of the image before record `seq`.
pub(crate) fn file_name(seq: u64) -> String {
    format!("{seq:020}{EXT}")
}

/// The checkpoint sequence number in a file name, if it is a checkpoint's.
pub(crate) fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(EXT)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Whether a file name is a checkpoint that never got renamed into place.
pub(crate) fn is_tmp(name: &str) -> bool {
    name.ends_with(TMP_EXT)
}

/// A checkpoint written to disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Written {
    pub seq: u64,
    pub path: PathBuf,
    pub bytes: u64,
}

/// A checkpoint to write: the image before record `seq`.
#[derive(Debug)]
pub(crate) struct Job<T: WalEntry> {
    pub disk: DiskRef,
    pub dir: PathBuf,
    pub seq: u64,
    pub image: Image<T>,
    pub fsync: bool,
}

impl<T: WalEntry> Job<T> {
    /// Encodes the image and makes it durable under its final name.
    pub(crate) fn run(self) -> Result<Written, WalError> {
        let mut buf = Vec::new();
        encode_record(
            &mut buf,
            std::slice::from_ref(&OpRef::Checkpoint(self.image.as_checkpoint())),
        )?;
        let disk = &*self.disk;
        let tmp = self.dir.join(format!("{:020}{TMP_EXT}", self.seq));
        let path = self.dir.join(file_name(self.seq));
        let result = (|| {
            let mut file = disk
                .open(&tmp, OpenMode::CreateTruncate)
                .map_err(|e| WalError::io("create", &tmp, e))?;
            file.append(&buf)
                .map_err(|e| WalError::io("write", &tmp, e))?;
            if self.fsync {
                file.sync_data()
                    .map_err(|e| WalError::io("fdatasync", &tmp, e))?;
            }
            durable::rename(disk, &tmp, &path, self.fsync, "checkpoint")
                .map_err(|e| WalError::io("rename", &tmp, e))
        })();
        if let Err(e) = result {
            let _ = disk.remove_file(&tmp);
            return Err(e);
        }
        Ok(Written {
            seq: self.seq,
            path,
            bytes: buf.len() as u64,
        })
    }
}

/// A checkpoint started and not yet finished.
#[derive(Debug)]
pub(crate) enum InFlight<T: WalEntry> {
    /// Written by a thread; the result lands in the slot.
    Running(Arc<Mutex<Option<Result<Written, WalError>>>>),
    /// Waiting for `run_deferred_checkpoint`.
    Deferred(Job<T>),
    /// Done, to be finished by the next `sync`.
    Done(Result<Written, WalError>),
}

impl<T: WalEntry> InFlight<T> {
    /// Starts `job` as `mode` says.
    pub(crate) fn start(job: Job<T>, mode: CheckpointMode) -> Self {
        match mode {
            CheckpointMode::Inline => InFlight::Done(job.run()),
            CheckpointMode::Deferred => InFlight::Deferred(job),
            CheckpointMode::Background => {
                let slot = Arc::new(Mutex::new(None));
                let out = Arc::clone(&slot);
                let spawned = std::thread::Builder::new()
                    .name("ddbb-checkpoint".into())
                    .spawn(move || {
                        let result = job.run();
                        *out.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
                    });
                match spawned {
                    Ok(_) => InFlight::Running(slot),
                    Err(e) => InFlight::Done(Err(WalError::io(
                        "spawn checkpoint thread",
                        Path::new("."),
                        e,
                    ))),
                }
            }
        }
    }
}

/// Takes the result out of `slot` if its checkpoint is done (running a deferred one first
/// when `run_deferred`); leaves a checkpoint still under way in place.
pub(crate) fn poll<T: WalEntry>(
    slot: &mut Option<InFlight<T>>,
    run_deferred: bool,
) -> Option<Result<Written, WalError>> {
    match slot.take()? {
        InFlight::Done(result) => Some(result),
        InFlight::Deferred(job) if run_deferred => Some(job.run()),
        InFlight::Running(cell) => {
            let done = cell.lock().unwrap_or_else(|p| p.into_inner()).take();
            if done.is_none() {
                *slot = Some(InFlight::Running(cell));
            }
            done
        }
        deferred => {
            *slot = Some(deferred);
            None
        }
    }
}
