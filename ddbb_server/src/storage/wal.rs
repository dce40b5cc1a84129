//! [`Wal`]: OmniPaxos storage that keeps an in-memory image and appends every change to
//! checksummed records in segment files. The format and the rules are in the
//! [`storage`](super) module doc.

use super::{
    checkpoint::{self, CheckpointMode, InFlight, Job, Written},
    disk::{self, DiskRef},
    error::WalError,
    fault::{FaultDisk, FaultInjector},
    image::Image,
    op::{codec, format_word, op_ref, BatchRef, OpRef},
    record,
    replay::{self, Recovered, RecoveryInfo},
    segment::{ActiveSegment, SegmentFile},
};
use bincode::Options;
use omnipaxos::{
    ballot_leader_election::Ballot,
    storage::{Entry, StopSign, Storage, StorageOp, StorageResult},
};
use serde::{de::DeserializeOwned, Serialize};
use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

/// Log entries the WAL can store: OmniPaxos entries that serde can encode.
///
/// (With omnipaxos' `serde` feature, `T::Snapshot` is already `Serialize + DeserializeOwned`.)
pub trait WalEntry: Entry<Snapshot: Send> + Serialize + DeserializeOwned + Send + 'static {}

impl<T> WalEntry for T where T: Entry<Snapshot: Send> + Serialize + DeserializeOwned + Send + 'static
{}

/// Default size at which [`Wal::sync`] starts a new segment.
pub const DEFAULT_SEGMENT_BYTES: u64 = 64 << 20;

/// Default amount of encoded records buffered in memory before a storage call writes them to the
/// OS (without fsync) to bound memory during a long burst.
pub const DEFAULT_WRITE_BUFFER_BYTES: usize = 1 << 20;

/// Tunables of a [`Wal`].
#[derive(Clone, Debug)]
pub struct WalOptions {
    /// A segment whose size reaches this many bytes is closed by the next `sync` and a new one
    /// started. Segments can exceed it by the records of one burst.
    pub segment_bytes: u64,
    /// Buffered bytes above which a storage call writes the buffer to the OS (never fsyncs).
    pub write_buffer_bytes: usize,
    /// `false`: `sync` and `checkpoint` write to the OS but never fsync. For benchmarks only:
    /// a power failure can then lose acknowledged writes or leave a WAL that refuses to open.
    pub fsync: bool,
    /// The file system (the real one by default; an in-memory [`CrashDisk`](disk::CrashDisk)
    /// in crash tests and the simulator).
    pub disk: DiskRef,
    /// Makes writes and fsyncs fail after a number of operations (tests, disk-failure drills).
    pub fault: Option<FaultInjector>,
    /// Write a `write_atomically` batch that installs a snapshot as a checkpoint of the
    /// resulting image, at once, instead of as a record (the snapshot is then encoded once,
    /// not twice: a record now and a checkpoint at the next sync). The replica sets this: its
    /// snapshot is the whole key-value state.
    pub checkpoint_on_snapshot: bool,
    /// Where a checkpoint that follows a local compaction (OmniPaxos' own `snapshot`) is
    /// encoded and written: `Background` on the replica, so the loop never stalls on it.
    /// Checkpoints that must be durable at once (a snapshot installed from the leader, an
    /// explicit [`Wal::checkpoint`]) are always written inline.
    pub checkpoint_mode: CheckpointMode,
    /// A local compaction starts a checkpoint only once this many bytes (and at least as many
    /// as the previous checkpoint's size) were logged since the last one, so rewriting the
    /// whole state costs no more than the log it replaces. Until then the compaction lives in
    /// memory only (losing it in a crash means the log was not compacted). 0: every time.
    pub checkpoint_min_bytes: u64,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            write_buffer_bytes: DEFAULT_WRITE_BUFFER_BYTES,
            fsync: true,
            disk: disk::os(),
            fault: None,
            checkpoint_on_snapshot: false,
            checkpoint_mode: CheckpointMode::Inline,
            checkpoint_min_bytes: 0,
        }
    }
}

/// What one [`Wal::sync`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Records made durable by this call (storage calls and `write_atomically` batches).
    pub records: u64,
    /// Bytes made durable by this call.
    pub bytes: u64,
    /// Whether an fdatasync was issued (false when nothing was pending or `fsync` is off).
    pub fsynced: bool,
}

/// What one checkpoint did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckpointStats {
    /// The checkpoint holds the image before this record (its file name).
    pub seq: u64,
    /// Size of the checkpoint file in bytes.
    pub bytes: u64,
    /// Older segments deleted.
    pub removed_segments: usize,
}

/// Counters and sizes for metrics and `STATUS`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WalStats {
    /// Bytes in segment files (written to the OS, synced or not).
    pub disk_bytes: u64,
    /// Encoded bytes still in the userspace buffer.
    pub pending_bytes: u64,
    /// Number of segment files.
    pub segments: usize,
    /// Absolute index of the first log entry held (the trimmed prefix).
    pub log_start: usize,
    /// Number of log entries held.
    pub log_len: usize,
    /// Compacted index as stored by OmniPaxos.
    pub compacted_idx: usize,
    /// Decided index as stored by OmniPaxos.
    pub decided_idx: usize,
    /// Compacted index captured by the latest checkpoint (or found at open).
    pub checkpoint_compacted_idx: usize,
    /// fsync/fdatasync calls issued since open (segment, checkpoint and directory syncs).
    pub fsyncs: u64,
    /// Records appended since open.
    pub records: u64,
    /// Checkpoints written since open.
    pub checkpoints: u64,
}

/// Durable OmniPaxos storage: an in-memory image plus an append-only, segmented record log.
///
/// Storage methods only append to a userspace buffer; call [`sync`](Self::sync) before anything
/// that depends on them leaves the node. See the [`storage`](super) module doc.
#[derive(Debug)]
pub struct Wal<T: WalEntry> {
    dir: PathBuf,
    /// `dir/checkpoints`.
    checkpoint_dir: PathBuf,
    /// Checkpoint files on disk, oldest first (normally one).
    checkpoints: Vec<Written>,
    /// A checkpoint started and not finished.
    in_flight: Option<InFlight<T>>,
    /// Another local compaction happened while a checkpoint was under way.
    checkpoint_wanted: bool,
    /// Compacted index of the image the latest started checkpoint holds.
    checkpoint_covers: usize,
    /// Bytes appended to segments since the latest checkpoint started.
    logged_since_checkpoint: u64,
    /// `options.disk`, behind the fault injector when there is one.
    disk: DiskRef,
    options: WalOptions,
    image: Image<T>,
    active: ActiveSegment,
    /// Segments before the active one, oldest first.
    closed: Vec<SegmentFile>,
    /// Encoded records not yet written to the active segment.
    pending: Vec<u8>,
    /// Sequence number the next record gets.
    next_seq: u64,
    /// Bytes were written to the active segment since its last fdatasync.
    unsynced: bool,
    /// A record written since the last fdatasync must be durable before anything leaves the
    /// node. Only decided-index updates are exempt (see `set_decided_idx`).
    must_fsync: bool,
    unsynced_bytes: u64,
    unsynced_records: u64,
    /// The first write/fsync error; once set nothing more is written.
    poison: Option<WalError>,
    stats: WalStats,
    recovery: RecoveryInfo,
}

/// Whether a `write_atomically` batch is OmniPaxos' local compaction (`try_snapshot`).
fn is_local_compaction<T: Entry>(ops: &[StorageOp<T>]) -> bool {
    matches!(
        ops,
        [
            StorageOp::Trim(_),
            StorageOp::SetCompactedIdx(_),
            StorageOp::SetSnapshot(Some(_))
        ]
    )
}

/// Encodes `payload` as one record at the end of `buf`; on error `buf` is left unchanged.
pub(crate) fn encode_record<V: Serialize + ?Sized>(
    buf: &mut Vec<u8>,
    payload: &V,
) -> Result<(), WalError> {
    let start = record::begin(buf);
    buf.extend_from_slice(&format_word());
    let res = codec()
        .serialize_into(&mut *buf, payload)
        .map_err(|e| WalError::Encode(e.to_string()))
        .and_then(|()| record::finish(buf, start));
    if res.is_err() {
        buf.truncate(start);
    }
    res
}

impl<T: WalEntry> Wal<T> {
    /// Opens (creating if needed) the WAL in `dir` and replays it into memory.
    ///
    /// Replay starts at the newest segment that begins with a checkpoint (older ones are then
    /// deleted) or at segment 0. A torn record at the end of the last segment is cut off with a
    /// warning.
    ///
    /// # Errors
    /// `Corrupt` (naming file and offset) for a bad record anywhere but the tail of the last
    /// segment, an undecodable record, or a missing segment; `Io` if the directory is unusable.
    pub fn open(dir: impl AsRef<Path>, options: WalOptions) -> Result<Self, WalError> {
        let dir = dir.as_ref().to_path_buf();
        if !options.fsync {
            tracing::warn!(dir = %dir.display(), "WAL fsync is OFF: a power failure can lose acknowledged writes");
        }
        let disk: DiskRef = match &options.fault {
            Some(fault) => Arc::new(FaultDisk {
                inner: options.disk.clone(),
                fault: fault.clone(),
            }),
            None => options.disk.clone(),
        };
        let r = replay::recover::<T>(&*disk, &dir, &options)?;
        Ok(Self::assemble(dir, disk, options, r))
    }

    fn assemble(dir: PathBuf, disk: DiskRef, options: WalOptions, r: Recovered<T>) -> Self {
        let Recovered {
            image,
            active,
            closed,
            next_seq,
            info: recovery,
            checkpoints,
        } = r;
        let stats = WalStats {
            checkpoint_compacted_idx: image.compacted_idx,
            ..WalStats::default()
        };
        Wal {
            checkpoint_dir: dir.join(checkpoint::DIR),
            dir,
            disk,
            checkpoints,
            in_flight: None,
            checkpoint_wanted: false,
            checkpoint_covers: image.compacted_idx,
            logged_since_checkpoint: 0,
            options,
            image,
            active,
            closed,
            pending: Vec::new(),
            must_fsync: false,
            next_seq,
            unsynced: false,
            unsynced_bytes: 0,
            unsynced_records: 0,
            poison: None,
            stats,
            recovery,
        }
    }

    /// Writes buffered records to the OS and fdatasyncs the active segment, once.
    ///
    /// Cheap when nothing changed since the last call. May start a new segment (and fsync the
    /// directory) when the active one reached `segment_bytes`.
    ///
    /// # Errors
    /// The error that poisoned the WAL, now or in an earlier storage call. After an error the
    /// WAL writes nothing more; stop the replica (reads still work).
    pub fn sync(&mut self) -> Result<SyncStats, WalError> {
        self.check_poison()?;
        self.finish_checkpoint(false)?;
        self.sync_records()
    }

    /// Writes and fdatasyncs the buffered records (the body of `sync`).
    fn sync_records(&mut self) -> Result<SyncStats, WalError> {
        if self.pending.is_empty() && !self.unsynced {
            return Ok(SyncStats::default());
        }
        self.flush_pending()?;
        if self.options.fsync && !self.must_fsync {
            // Only decided-index updates are pending: hand them to the OS, and let the next
            // fdatasync carry them (etcd's raft does the same with its commit index).
            return Ok(SyncStats::default());
        }
        let fsynced = if self.options.fsync {
            if let Err(e) = self.active.sync() {
                return Err(self.poisoned_by(e));
            }
            self.stats.fsyncs += 1;
            true
        } else {
            false
        };
        self.must_fsync = false;
        let out = SyncStats {
            records: self.unsynced_records,
            bytes: self.unsynced_bytes,
            fsynced,
        };
        self.unsynced = false;
        self.unsynced_bytes = 0;
        self.unsynced_records = 0;
        if self.active.len >= self.options.segment_bytes {
            self.roll()?;
        }
        Ok(out)
    }

    /// Writes the whole in-memory image (without the compacted prefix) to a checkpoint file,
    /// makes it durable, and deletes the segments and checkpoints it supersedes. Returns once
    /// all that is done (a checkpoint still under way is finished first).
    ///
    /// Call it after OmniPaxos compacted the log. Crash-safe at every step: the checkpoint is
    /// written to a temp file, fdatasynced, renamed into place and the directory fsynced before
    /// anything is deleted; open uses the newest checkpoint. Everything written before the call
    /// is durable afterwards.
    ///
    /// # Errors
    /// `Encode` leaves everything unchanged; an I/O error poisons the WAL.
    pub fn checkpoint(&mut self) -> Result<CheckpointStats, WalError> {
        self.check_poison()?;
        self.wait_for_checkpoint()?;
        self.start_checkpoint(CheckpointMode::Inline)?;
        match self.finish_checkpoint(true)? {
            Some(stats) => Ok(stats),
            None => Err(WalError::InvalidOp(
                "inline checkpoint did not finish".into(),
            )),
        }
    }

    /// Runs a checkpoint started in [`CheckpointMode::Deferred`], and finishes it.
    ///
    /// # Errors
    /// The checkpoint's error (the WAL is then poisoned).
    pub fn run_deferred_checkpoint(&mut self) -> Result<Option<CheckpointStats>, WalError> {
        self.check_poison()?;
        self.finish_checkpoint(true)
    }

    /// Like [`sync`](Self::sync), and if the log was compacted since the latest checkpoint was
    /// started (a compaction not written as a checkpoint by `checkpoint_on_snapshot`), starts
    /// one in `checkpoint_mode`, so old segments go away without stalling the caller.
    ///
    /// # Errors
    /// As [`sync`](Self::sync).
    pub fn sync_and_compact(&mut self) -> Result<SyncStats, WalError> {
        self.check_poison()?;
        if self.image.compacted_idx > self.checkpoint_covers && self.checkpoint_due() {
            self.start_checkpoint(self.options.checkpoint_mode)?;
        }
        self.sync()
    }

    /// Whether enough was logged since the latest checkpoint to write another (see
    /// [`WalOptions::checkpoint_min_bytes`]).
    fn checkpoint_due(&self) -> bool {
        let last = self.checkpoints.last().map_or(0, |c| c.bytes);
        self.logged_since_checkpoint >= self.options.checkpoint_min_bytes.max(last)
    }

    /// Whether a checkpoint is under way.
    pub fn checkpoint_in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    /// Starts a checkpoint of the image as it is now: syncs the records so far, rolls to a new
    /// segment for the records after it, and hands an O(1)-ish clone of the image to a [`Job`].
    /// With one already under way, only notes that another is wanted.
    fn start_checkpoint(&mut self, mode: CheckpointMode) -> Result<(), WalError> {
        if self.in_flight.is_some() {
            self.checkpoint_wanted = true;
            return Ok(());
        }
        self.checkpoint_wanted = false;
        // Every segment but the last must be complete on disk (recovery refuses a torn
        // non-last segment), so the one being closed is synced first, decided-index updates
        // included: `sync` leaves those to the next fdatasync, which a closed segment never
        // gets (a power cut would leave a gap before the next segment; found by ddbb-sim).
        if self.unsynced || !self.pending.is_empty() {
            self.must_fsync = true;
        }
        self.sync_records()?;
        if self.active.len > 0 {
            self.roll()?;
        }
        self.checkpoint_covers = self.image.compacted_idx;
        self.logged_since_checkpoint = 0;
        let job = Job {
            disk: self.disk.clone(),
            dir: self.checkpoint_dir.clone(),
            seq: self.next_seq,
            image: self.image.clone(),
            fsync: self.options.fsync,
        };
        self.in_flight = Some(InFlight::start(job, mode));
        Ok(())
    }

    /// Blocks until the checkpoint under way (if any) is finished.
    fn wait_for_checkpoint(&mut self) -> Result<(), WalError> {
        while self.in_flight.is_some() {
            if self.finish_checkpoint(true)?.is_none() {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
        }
        Ok(())
    }

    /// If the checkpoint under way is written, deletes what it supersedes and updates the
    /// stats; starts the next one if another compaction asked for it meanwhile.
    fn finish_checkpoint(
        &mut self,
        run_deferred: bool,
    ) -> Result<Option<CheckpointStats>, WalError> {
        let written = match checkpoint::poll(&mut self.in_flight, run_deferred) {
            None => return Ok(None),
            Some(Ok(written)) => written,
            Some(Err(e)) => return Err(self.poisoned_by(e)),
        };
        let removed = self.remove_superseded(&written);
        self.stats.checkpoints += 1;
        self.stats.checkpoint_compacted_idx = self.image.compacted_idx;
        if self.options.fsync {
            self.stats.fsyncs += 2;
        }
        tracing::debug!(
            seq = written.seq,
            bytes = written.bytes,
            removed,
            "WAL checkpoint written"
        );
        let stats = CheckpointStats {
            seq: written.seq,
            bytes: written.bytes,
            removed_segments: removed,
        };
        self.checkpoints.push(written);
        if self.checkpoint_wanted {
            self.start_checkpoint(self.options.checkpoint_mode)?;
        }
        Ok(Some(stats))
    }

    /// Deletes segments wholly before `written` and older checkpoints. Cleanup only: leftovers
    /// are ignored and removed by the next open.
    fn remove_superseded(&mut self, written: &Written) -> usize {
        let mut removed = 0;
        let (old, kept): (Vec<SegmentFile>, Vec<SegmentFile>) = std::mem::take(&mut self.closed)
            .into_iter()
            .partition(|seg| seg.seq < written.seq);
        self.closed = kept;
        // A checkpoint of the same name was just replaced by this one, not superseded.
        let old_checkpoints: Vec<Written> = std::mem::take(&mut self.checkpoints)
            .into_iter()
            .filter(|c| c.seq < written.seq)
            .collect();
        let paths = old
            .iter()
            .map(|s| &s.path)
            .chain(old_checkpoints.iter().map(|c| &c.path));
        for path in paths {
            match self.disk.remove_file(path) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "cannot remove a file superseded by a checkpoint")
                }
            }
        }
        removed
    }

    /// Sizes and counters, for metrics and `STATUS`.
    pub fn stats(&self) -> WalStats {
        WalStats {
            disk_bytes: self.closed.iter().map(|s| s.len).sum::<u64>()
                + self.active.len
                + self.checkpoints.iter().map(|c| c.bytes).sum::<u64>(),
            pending_bytes: self.pending.len() as u64,
            segments: self.closed.len() + 1,
            log_start: self.image.log_start,
            log_len: self.image.log.len(),
            compacted_idx: self.image.compacted_idx,
            decided_idx: self.image.decided_idx,
            ..self.stats
        }
    }

    /// What `open` found on disk.
    pub fn recovery(&self) -> &RecoveryInfo {
        &self.recovery
    }

    /// The error that stopped the WAL from writing, if any.
    pub fn poison(&self) -> Option<&WalError> {
        self.poison.as_ref()
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options the WAL was opened with.
    pub fn options(&self) -> &WalOptions {
        &self.options
    }

    fn check_poison(&self) -> Result<(), WalError> {
        match &self.poison {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Remembers the first write/fsync error; from now on nothing is written.
    fn poisoned_by(&mut self, e: WalError) -> WalError {
        tracing::error!(error = %e, "WAL write failed; no further writes, the replica must stop");
        if self.poison.is_none() {
            self.poison = Some(e.clone());
        }
        self.pending = Vec::new();
        e
    }

    /// Writes the buffer to the active segment (no fsync).
    fn flush_pending(&mut self) -> Result<(), WalError> {
        self.check_poison()?;
        if self.pending.is_empty() {
            return Ok(());
        }
        self.unsynced = true;
        let before = self.active.len;
        let res = self.active.write(&self.pending);
        self.unsynced_bytes += self.active.len.saturating_sub(before);
        self.logged_since_checkpoint += self.active.len.saturating_sub(before);
        if let Err(e) = res {
            return Err(self.poisoned_by(e));
        }
        self.pending.clear();
        // One huge record (a big AcceptSync) must not pin its buffer forever.
        if self.pending.capacity() > 4 * self.options.write_buffer_bytes.max(1 << 16) {
            self.pending.shrink_to(self.options.write_buffer_bytes);
        }
        Ok(())
    }

    /// Closes the active segment (already fdatasynced by `sync`) and starts the next one.
    fn roll(&mut self) -> Result<(), WalError> {
        // The new file's directory entry must be durable before records in it are synced.
        let fsync = self.options.fsync;
        let next = match ActiveSegment::create(
            &*self.disk,
            &self.dir,
            self.next_seq,
            fsync,
            "next segment",
        ) {
            Ok(next) => next,
            Err(e) => return Err(self.poisoned_by(e)),
        };
        if fsync {
            self.stats.fsyncs += 1;
        }
        let old = std::mem::replace(&mut self.active, next);
        self.closed.push(old.info());
        Ok(())
    }

    /// Appends one record holding `payload` to the buffer. Does nothing once poisoned.
    fn log<V: Serialize + ?Sized>(&mut self, payload: &V) -> Result<(), WalError> {
        if self.poison.is_some() {
            return Ok(());
        }
        encode_record(&mut self.pending, payload)?;
        self.must_fsync = true;
        self.next_seq += 1;
        self.unsynced_records += 1;
        self.stats.records += 1;
        Ok(())
    }

    fn log_op(&mut self, op: OpRef<'_, T, T::Snapshot>) -> Result<(), WalError> {
        self.log(std::slice::from_ref(&op))
    }

    /// After a change: bound the buffer by handing it to the OS. An error poisons the WAL and
    /// surfaces from the next `sync`; the storage call itself succeeds (OmniPaxos would panic).
    fn after_write(&mut self) {
        if self.pending.len() >= self.options.write_buffer_bytes {
            let _ = self.flush_pending();
        }
    }

    /// `write_atomically`: validate the whole batch, encode it as one record, then apply it.
    fn write_batch(&mut self, ops: Vec<StorageOp<T>>) -> Result<(), WalError> {
        let mut shape = self.image.shape();
        for op in &ops {
            shape.step(&op_ref(op)).map_err(WalError::InvalidOp)?;
        }
        let installs_snapshot = ops
            .iter()
            .any(|op| matches!(op, StorageOp::SetSnapshot(Some(_))));
        if installs_snapshot && self.options.checkpoint_on_snapshot && self.poison.is_none() {
            // The checkpoint holds the whole resulting image, so it is as atomic as a record.
            // A local compaction (OmniPaxos' own snapshot: exactly Trim, SetCompactedIdx,
            // SetSnapshot) need not be durable before anything leaves: losing it in a crash
            // only means the log was not compacted, so it is written off the loop, and only
            // once enough was logged since the last checkpoint. A snapshot installed from the
            // leader must be durable at once.
            let local = is_local_compaction(&ops);
            for op in ops {
                self.image.apply_storage_op(op);
            }
            let result = if local && !self.checkpoint_due() {
                Ok(())
            } else if local {
                self.start_checkpoint(self.options.checkpoint_mode)
                    .and_then(|()| self.finish_checkpoint(false).map(|_| ()))
            } else {
                self.wait_for_checkpoint()
                    .and_then(|()| self.start_checkpoint(CheckpointMode::Inline))
                    .and_then(|()| self.finish_checkpoint(true).map(|_| ()))
            };
            if let Err(e) = result {
                // I/O errors poisoned the WAL already; an encoding error must too, since the
                // image now holds what no record describes.
                if self.poison.is_none() {
                    self.poison = Some(e);
                }
            }
            return Ok(());
        }
        self.log(&BatchRef(&ops))?;
        for op in ops {
            self.image.apply_storage_op(op);
        }
        self.after_write();
        Ok(())
    }

    fn append_entries_inner(&mut self, entries: Vec<T>) -> Result<(), WalError> {
        self.log_op(OpRef::AppendEntries(&entries))?;
        self.image.log.extend(entries);
        self.after_write();
        Ok(())
    }

    fn append_on_prefix_inner(&mut self, from: usize, entries: Vec<T>) -> Result<(), WalError> {
        self.image
            .shape()
            .append_on_prefix(from, entries.len())
            .map_err(WalError::InvalidOp)?;
        self.log_op(OpRef::AppendOnPrefix(from, &entries))?;
        self.image.append_on_prefix(from, entries);
        self.after_write();
        Ok(())
    }

    /// Logs a small op and applies `f` to the image.
    fn set(
        &mut self,
        op: OpRef<'_, T, T::Snapshot>,
        f: impl FnOnce(&mut Image<T>),
    ) -> Result<(), WalError> {
        self.log_op(op)?;
        f(&mut self.image);
        self.after_write();
        Ok(())
    }
}

impl<T: WalEntry> Storage<T> for Wal<T> {
    fn write_atomically(&mut self, ops: Vec<StorageOp<T>>) -> StorageResult<()> {
        Ok(self.write_batch(ops)?)
    }

    fn append_entry(&mut self, entry: T) -> StorageResult<()> {
        self.log_op(OpRef::AppendEntries(std::slice::from_ref(&entry)))?;
        self.image.log.push(entry);
        self.after_write();
        Ok(())
    }

    fn append_entries(&mut self, entries: Vec<T>) -> StorageResult<()> {
        Ok(self.append_entries_inner(entries)?)
    }

    fn append_on_prefix(&mut self, from_idx: usize, entries: Vec<T>) -> StorageResult<()> {
        Ok(self.append_on_prefix_inner(from_idx, entries)?)
    }

    fn set_promise(&mut self, n_prom: Ballot) -> StorageResult<()> {
        Ok(self.set(OpRef::SetPromise(n_prom), |i| i.promise = Some(n_prom))?)
    }

    fn set_decided_idx(&mut self, ld: usize) -> StorageResult<()> {
        let must_fsync = self.must_fsync;
        let result = self.set(OpRef::SetDecidedIdx(ld), |i| i.decided_idx = ld);
        // The decided index is derived state: an entry decided by a majority of accepts stays
        // decided (a new leader re-learns it in its prepare phase), so a lost decided-index
        // update after a crash only delays the replica's view. No fsync needed for it alone.
        self.must_fsync = must_fsync;
        Ok(result?)
    }

    fn get_decided_idx(&self) -> StorageResult<usize> {
        Ok(self.image.decided_idx)
    }

    fn set_accepted_round(&mut self, na: Ballot) -> StorageResult<()> {
        Ok(self.set(OpRef::SetAcceptedRound(na), |i| i.accepted_round = Some(na))?)
    }

    fn get_accepted_round(&self) -> StorageResult<Option<Ballot>> {
        Ok(self.image.accepted_round)
    }

    fn get_entries(&self, from: usize, to: usize) -> StorageResult<Vec<T>> {
        Ok(self.image.entries(from, to))
    }

    fn get_log_len(&self) -> StorageResult<usize> {
        Ok(self.image.log.len())
    }

    fn get_suffix(&self, from: usize) -> StorageResult<Vec<T>> {
        Ok(self.image.suffix(from))
    }

    fn get_promise(&self) -> StorageResult<Option<Ballot>> {
        Ok(self.image.promise)
    }

    fn set_stopsign(&mut self, s: Option<StopSign>) -> StorageResult<()> {
        self.log_op(OpRef::SetStopsign(s.as_ref()))?;
        self.image.stopsign = s;
        self.after_write();
        Ok(())
    }

    fn get_stopsign(&self) -> StorageResult<Option<StopSign>> {
        Ok(self.image.stopsign.clone())
    }

    fn trim(&mut self, idx: usize) -> StorageResult<()> {
        Ok(self.set(OpRef::Trim(idx), |i| i.trim(idx))?)
    }

    fn set_compacted_idx(&mut self, idx: usize) -> StorageResult<()> {
        Ok(self.set(OpRef::SetCompactedIdx(idx), |i| i.compacted_idx = idx)?)
    }

    fn get_compacted_idx(&self) -> StorageResult<usize> {
        Ok(self.image.compacted_idx)
    }

    fn set_snapshot(&mut self, snapshot: Option<T::Snapshot>) -> StorageResult<()> {
        self.log_op(OpRef::SetSnapshot(snapshot.as_ref()))?;
        self.image.snapshot = snapshot;
        self.after_write();
        Ok(())
    }

    fn get_snapshot(&self) -> StorageResult<Option<T::Snapshot>> {
        Ok(self.image.snapshot.clone())
    }
}
