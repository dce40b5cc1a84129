//! Durable storage for OmniPaxos: a write-ahead log (WAL) with group commit, crash recovery and
//! checkpoints, and the [`StorageControl`] seam through which the replica loop syncs it.
//!
//! [`Wal`] implements `omnipaxos::storage::Storage` (all 20 methods). It keeps an in-memory
//! image of what OmniPaxos stored — promise, accepted round, decided index, compacted index,
//! snapshot, stopsign and the log suffix — exactly like `MemoryStorage`, and appends every change
//! as one checksummed record to segment files in a data directory. Reads come from the image,
//! so they see writes that are not yet synced. [`SharedWal`] is a cloneable handle: OmniPaxos owns
//! one clone as its storage, the replica loop keeps another to call [`SharedWal::sync`],
//! [`SharedWal::checkpoint`] and [`SharedWal::stats`].
//!
//! Parts: `record` (framing and checksums), `op` (what a record holds, and its encoding),
//! `image` (the in-memory state), `segment` (files), `replay` (recovery), `wal` (the storage
//! itself), `shared` (the handle), [`disk`] (the file-system seam: the OS, an in-memory crash
//! model, a journaling disk for power-cut drills, and the durable create/rename helpers),
//! `fault` (fault injection), `error`; `suite` and `tests` are the tests (`tests/crash.rs`:
//! a power cut after every file-system operation of a workload).
//!
//! # Files
//!
//! The data directory holds segment files named after the sequence number of their first record,
//! as 20 zero-padded decimal digits: `00000000000000000000.wal`, `00000000000000001234.wal`, ...
//! Records are numbered consecutively from 0 across all segments, so segment *k+1* is named
//! `name(k) + records(k)`; a gap means a segment is missing. `checkpoints/NNN.ckpt` holds the
//! whole image as it was before record `NNN` (see `checkpoint`); `NNN.ckpt.tmp` is one being
//! written, deleted on open. Other files are ignored.
//!
//! # Record format
//!
//! A segment is a sequence of records, nothing else (no file header):
//!
//! ```text
//! offset  size  field
//! 0       4     payload length L, u32 little-endian, 1 <= L <= u32::MAX
//! 4       4     CRC-32 (IEEE, as crc32fast computes it) of the L payload bytes, u32 little-endian
//! 8       L     payload
//! ```
//!
//! The payload is a format word, then bincode 1.3 with fixed-width little-endian integers
//! (`usize` as u64) of a list of operations, applied in order:
//!
//! ```text
//! payload   = format:u32  count:u64  op{count}
//! format    = 0xDDB00000 | version   (version 2 now; an unknown one is refused by name, and a
//!             payload without the word is DDBB's pre-MVCC format 1, refused with the upgrade
//!             path)
//! op        = tag:u32  body
//! tag body
//!  0  AppendEntries     n:u64 T{n}                  (append_entry is written as n = 1)
//!  1  AppendOnPrefix    from:u64 n:u64 T{n}
//!  2  SetPromise        Ballot
//!  3  SetDecidedIdx     u64
//!  4  SetAcceptedRound  Ballot
//!  5  SetCompactedIdx   u64
//!  6  Trim              u64
//!  7  SetStopsign       0:u8 | 1:u8 StopSign
//!  8  SetSnapshot       0:u8 | 1:u8 T::Snapshot
//!  9  Checkpoint        log_start:u64 promise:Option<Ballot> accepted_round:Option<Ballot>
//!                       decided_idx:u64 compacted_idx:u64 stopsign:Option<StopSign>
//!                       snapshot:Option<T::Snapshot> n:u64 T{n}
//! Ballot    = config_id:u32 n:u32 priority:u32 pid:u64
//! Option<X> = 0:u8 | 1:u8 X
//! ```
//!
//! `T`, `T::Snapshot` and `StopSign` are encoded by their serde impls. Each storage call writes one
//! record with one op; `write_atomically` writes one record with all its ops; a checkpoint file
//! is one record with a single `Checkpoint` op. The state machine's snapshot inside a checkpoint
//! carries its own format version too (`state::mvcc::snapshot`).
//!
//! # Recovery
//!
//! [`Wal::open`] loads the newest checkpoint (deleting older ones) and replays the records from
//! its sequence number on, or every record from 0 without one; segments wholly before the
//! checkpoint are deleted. A bad record at the end of the **last** segment — a short header, a
//! payload running past the end of the file, or a bad checksum / zero length followed only by
//! zero bytes — is what a crash during an append leaves: it is truncated with a
//! `tracing::warn`. A bad record anywhere else, a record that does not decode, a damaged
//! checkpoint, or a missing segment makes `open` fail with [`WalError::Corrupt`], naming the
//! file and byte offset.
//!
//! # To ensure correctness
//!
//! * **A name is durable only once its directory is fsynced** (POSIX; ext4 and XFS often do it
//!   as a side effect of an fsync, but nothing promises it). Every directory and file that
//!   recovery depends on is therefore created or renamed through [`disk::durable`], which
//!   fsyncs the parent before returning: the data dir (its parent, `"data dir"`), `wal/` (the
//!   data dir, `"wal dir"`), the first segment (`"first segment"`) and every later one (`"next
//!   segment"`, before a record is written to it), `checkpoints/` (`"checkpoint dir"`), a
//!   checkpoint's rename (`"checkpoint"`, before older segments are deleted) and the member
//!   record (`"members"`: temp file, fdatasync, rename, fsync). Any later state file must use
//!   the same helpers.
//!   `storage::tests::crash` cuts the power after every file-system operation of a workload
//!   under these strict rules and shows that dropping any one of these fsyncs loses
//!   acknowledged data.
//! * **Nothing is durable until [`Wal::sync`] returns `Ok`.** Storage methods only append to a
//!   userspace buffer (handed to the OS, without fsync, when it exceeds `write_buffer_bytes`).
//!   OmniPaxos treats `Ok` from a storage method as durable, so the owner must call `sync`
//!   after handling a burst of events and *before* sending `take_outgoing_messages()` or
//!   replying to clients: sync before send, sync before reply. One `sync` = one fdatasync for the
//!   whole burst (group commit).
//! * **Atomicity.** One storage call or one `write_atomically` batch is one record, and a record
//!   is replayed wholly or not at all (checksum). A batch is validated before anything is encoded,
//!   and encoded before anything is applied, so an `Err` leaves the image untouched.
//! * **Errors.** OmniPaxos panics on `Err` from a storage method, so a write error inside a
//!   storage method does not fail that call: it *poisons* the WAL. From then on no byte is written
//!   (not even by `sync` or `checkpoint`), the in-memory image keeps serving OmniPaxos, and every
//!   `sync`/`checkpoint` returns the error. The owner must then stop the replica without sending
//!   or replying; after a restart `open` yields at least everything covered by a successful
//!   `sync` (a failed fsync is never retried: after it the page cache cannot be trusted).
//!   `Err` is returned from a storage method only for `Encode` (a failing `Serialize`) and
//!   `InvalidOp` (a call that would leave a hole in the log), both bugs, both without effect.
//! * **Segments.** A new segment is started only after fdatasyncing the full one (by `sync`, or
//!   when a checkpoint starts), and the directory is fsynced after creating the new file, so
//!   every segment but the last is complete on disk and a bad record in one is real corruption.
//! * **Checkpoints.** Starting one syncs the records so far, rolls to a new segment at `NNN`
//!   and clones the image (O(1) for the state machine's persistent maps); the clone is encoded
//!   and written as `checkpoints/NNN.ckpt.tmp`, fdatasynced, renamed and its directory fsynced,
//!   and only then are older segments and checkpoints deleted (deletions need no fsync: a file
//!   that comes back is superseded and deleted on open). A crash before the rename leaves the
//!   old files, which still hold everything. The replica writes the checkpoint of its own
//!   compaction on another thread ([`CheckpointMode::Background`]): losing it in a crash only
//!   means the log was not compacted, since the records after `NNN` replay onto either image
//!   (indices are absolute). A snapshot installed from the leader is checkpointed inline,
//!   because the replica vouches for it as soon as the call returns.
//! * **Indices** are absolute ("as if never compacted"). `trim(idx)` drops entries below `idx`
//!   (also past the end: the log is then empty and the next append gets index `idx`) and never
//!   moves the start back; `get_entries`/`get_suffix` return an empty vec unless every requested
//!   entry is held; `append_on_prefix(from, es)` drops entries of `es` that fall below the trimmed
//!   prefix and refuses a `from` beyond the end unless `es` is empty (a no-op OmniPaxos issues when
//!   a StopSign occupies that slot). OmniPaxos computes `accepted_idx = get_log_len() +
//!   get_compacted_idx() (+1 with a stopsign)` on start, which holds as long as it trims and sets
//!   the compacted index together, as it always does.
//! * **Dropping** a `Wal` without `sync` discards buffered records, exactly like a crash.
//! * One process per data directory: the WAL takes no lock file.
//! * With `fsync: false` a power failure can lose acknowledged writes, and can even leave a
//!   non-last segment incomplete (then `open` refuses with `Corrupt`). A process crash is safe.
//!
//! # Caveats
//!
//! * A corrupted *length field* in the last segment that points past the end of the file is
//!   indistinguishable from a torn append and is truncated like one (etcd's WAL has the same
//!   limit). Only the last segment is affected, and only its records after the damage.
//! * A format change bumps `op::FORMAT_VERSION`; recovery refuses other versions by name.

mod checkpoint;
mod control;
mod decided_prefix;
pub mod disk;
mod error;
mod fault;
mod image;
mod op;
mod record;
mod replay;
mod segment;
mod shared;
mod wal;

#[cfg(test)]
mod suite;
#[cfg(test)]
pub(crate) mod tests;

/// Creates `data_dir` durably (and its missing ancestors) and returns where the WAL lives in
/// it, `<data_dir>/wal` (which [`Wal::open`] creates durably).
pub fn prepare_data_dir(
    disk: &dyn disk::Disk,
    data_dir: &std::path::Path,
    fsync: bool,
) -> std::io::Result<std::path::PathBuf> {
    disk::durable::create_dir_all(disk, data_dir, fsync, "data dir")?;
    Ok(data_dir.join("wal"))
}

pub use checkpoint::CheckpointMode;
pub use control::{memory, MemoryControl, StorageControl, StorageStats};
pub use decided_prefix::DecidedPrefix;
pub use error::WalError;
pub use fault::FaultInjector;
pub use replay::RecoveryInfo;
pub use shared::SharedWal;
pub use wal::{
    CheckpointStats, SyncStats, Wal, WalEntry, WalOptions, WalStats, DEFAULT_SEGMENT_BYTES,
    DEFAULT_WRITE_BUFFER_BYTES,
};
