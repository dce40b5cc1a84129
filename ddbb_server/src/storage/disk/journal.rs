//! [`JournalDisk`]: the real file system plus a journal of every mutating operation, and
//! [`replay`], which applies a journal to a [`CrashModel`], whose
//! [`power_cut`](CrashModel::power_cut) then tells what the disk would hold.
//!
//! This is how a test cuts the power of real replica processes: run them with
//! `--io-journal FILE`, kill -9 them all, and restart them on data dirs rebuilt from their
//! journals. An operation is journaled right after it succeeded, with one `write(2)`, so a
//! kill -9 loses at most operations whose effect no client was told about.
//!
//! Journal format: records `[len: u32 LE][bincode IoOp]`; a torn last record is ignored.

use super::{os::OsDisk, CrashModel, DirEntry, Disk, DiskFile, IoOp, OpenMode};
use bincode::Options;
use std::{
    fs::{File, OpenOptions},
    io::{self, Write},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex,
    },
};

/// The OS file system, journaling each mutation to a file. Paths are journaled absolute.
#[derive(Debug)]
pub struct JournalDisk {
    os: OsDisk,
    journal: Arc<Journal>,
}

#[derive(Debug)]
struct Journal {
    file: Mutex<File>,
    next_handle: AtomicU64,
}

#[derive(Debug)]
struct JournalFile {
    inner: Box<dyn DiskFile>,
    handle: u64,
    journal: Arc<Journal>,
}

fn codec() -> impl Options {
    bincode::DefaultOptions::new()
        .with_fixint_encoding()
        .with_little_endian()
}

impl Journal {
    fn record(&self, op: &IoOp) -> io::Result<()> {
        let payload = codec().serialize(op).map_err(io::Error::other)?;
        let mut buf = Vec::with_capacity(payload.len() + 4);
        buf.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        buf.extend_from_slice(&payload);
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.write_all(&buf)
    }
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

impl JournalDisk {
    /// Journals to `journal` (created, or appended to when it exists).
    pub fn create(journal: &Path) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(journal)?;
        Ok(JournalDisk {
            os: OsDisk,
            journal: Arc::new(Journal {
                file: Mutex::new(file),
                // Distinct from the handles of an earlier process journaling to the same file.
                next_handle: AtomicU64::new((std::process::id() as u64) << 32),
            }),
        })
    }

    fn then<T>(&self, result: io::Result<T>, op: impl FnOnce() -> IoOp) -> io::Result<T> {
        let value = result?;
        self.journal.record(&op())?;
        Ok(value)
    }
}

impl Disk for JournalDisk {
    fn create_dir(&self, path: &Path) -> io::Result<()> {
        self.then(self.os.create_dir(path), || IoOp::CreateDir {
            path: absolute(path),
        })
    }

    fn exists(&self, path: &Path) -> bool {
        self.os.exists(path)
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn DiskFile>> {
        let handle = self.journal.next_handle.fetch_add(1, Ordering::Relaxed);
        let inner = self.then(self.os.open(path, mode), || IoOp::Open {
            handle,
            path: absolute(path),
            mode,
        })?;
        Ok(Box::new(JournalFile {
            inner,
            handle,
            journal: self.journal.clone(),
        }))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.os.read(path)
    }

    fn read_head(&self, path: &Path, n: usize) -> io::Result<Vec<u8>> {
        self.os.read_head(path, n)
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<DirEntry>> {
        self.os.list(dir)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.then(self.os.rename(from, to), || IoOp::Rename {
            from: absolute(from),
            to: absolute(to),
        })
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.then(self.os.remove_file(path), || IoOp::Remove {
            path: absolute(path),
        })
    }

    fn sync_dir(&self, dir: &Path, site: &'static str) -> io::Result<()> {
        self.then(self.os.sync_dir(dir, site), || IoOp::SyncDir {
            path: absolute(dir),
            site: site.to_string(),
        })
    }
}

impl JournalFile {
    fn then(&self, result: io::Result<()>, op: IoOp) -> io::Result<()> {
        result?;
        self.journal.record(&op)
    }
}

impl DiskFile for JournalFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        let r = self.inner.append(bytes);
        self.then(
            r,
            IoOp::Write {
                handle: self.handle,
                data: bytes.to_vec(),
            },
        )
    }

    fn sync_data(&mut self) -> io::Result<()> {
        let r = self.inner.sync_data();
        self.then(
            r,
            IoOp::Sync {
                handle: self.handle,
            },
        )
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        let r = self.inner.set_len(len);
        self.then(
            r,
            IoOp::SetLen {
                handle: self.handle,
                len,
            },
        )
    }

    fn size(&self) -> io::Result<u64> {
        self.inner.size()
    }
}

impl Drop for JournalFile {
    fn drop(&mut self) {
        let _ = self.journal.record(&IoOp::Close {
            handle: self.handle,
        });
    }
}

/// Reads the operations of a journal, ignoring a torn last record.
pub fn read(journal: &Path) -> io::Result<Vec<IoOp>> {
    let data = std::fs::read(journal)?;
    let mut ops = Vec::new();
    let mut off = 0;
    while data.len() - off >= 4 {
        let len =
            u32::from_le_bytes([data[off], data[off + 1], data[off + 2], data[off + 3]]) as usize;
        let Some(payload) = data.get(off + 4..off + 4 + len) else {
            break; // torn by the kill
        };
        let op = codec().deserialize(payload).map_err(|e| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("journal record at {off}: {e}"),
            )
        })?;
        ops.push(op);
        off += 4 + len;
    }
    Ok(ops)
}

/// Replays the operations of `journal` onto `model` (which must hold the state the journaled
/// process started from); returns how many there were. Cut the power afterwards with
/// [`CrashModel::power_cut`].
pub fn replay(model: &mut CrashModel, journal: &Path) -> io::Result<usize> {
    let ops = read(journal)?;
    for (i, op) in ops.iter().enumerate() {
        model.apply(op).map_err(|e| {
            io::Error::other(format!(
                "{}: operation {i} does not replay: {e}",
                journal.display()
            ))
        })?;
    }
    Ok(ops.len())
}
