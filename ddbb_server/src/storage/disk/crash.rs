//! [`CrashDisk`]: an in-memory [`Disk`] over a [`CrashModel`] that records every operation, so
//! a test can cut the power after any prefix of them.

use super::{CrashModel, DirEntry, Disk, DiskFile, IoOp, OpenMode, PowerCut};
use std::{
    collections::BTreeSet,
    io,
    path::Path,
    sync::{Arc, Mutex, MutexGuard},
};

/// An in-memory disk that records its operations. Cloning shares the disk.
#[derive(Clone, Debug)]
pub struct CrashDisk {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    /// The state before the first recorded operation.
    initial: CrashModel,
    live: CrashModel,
    ops: Vec<IoOp>,
    next_handle: u64,
    /// Directory-sync sites whose syncs are dropped (to show each one matters).
    skipped_sites: BTreeSet<String>,
}

#[derive(Debug)]
struct CrashFile {
    disk: CrashDisk,
    handle: u64,
}

impl CrashDisk {
    /// A disk holding `model` (durably), with no operation recorded.
    pub fn new(model: CrashModel) -> Self {
        CrashDisk {
            inner: Arc::new(Mutex::new(Inner {
                initial: model.clone(),
                live: model,
                ops: Vec::new(),
                next_handle: 1,
                skipped_sites: BTreeSet::new(),
            })),
        }
    }

    /// A disk in which `dirs` exist durably (see [`CrashModel::with_dirs`]).
    pub fn with_dirs<P: AsRef<Path>>(dirs: &[P]) -> io::Result<Self> {
        Ok(Self::new(CrashModel::with_dirs(dirs)?))
    }

    /// From now on, directory syncs from `site` do nothing (a planted bug for crash tests).
    pub fn skip_dir_syncs(&self, site: &str) {
        self.lock().skipped_sites.insert(site.to_string());
    }

    /// Number of operations recorded so far.
    pub fn op_count(&self) -> usize {
        self.lock().ops.len()
    }

    /// The operations recorded so far.
    pub fn ops(&self) -> Vec<IoOp> {
        self.lock().ops.clone()
    }

    /// The state before the first recorded operation.
    pub fn initial(&self) -> CrashModel {
        self.lock().initial.clone()
    }

    /// A fresh disk holding what a power cut now would leave.
    pub fn power_cut(&self, cut: PowerCut) -> CrashDisk {
        CrashDisk::new(self.lock().live.power_cut(cut))
    }

    /// A copy of the live state.
    pub fn snapshot(&self) -> CrashModel {
        self.lock().live.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies `op` to the live model and records it if it succeeded.
    fn record(&self, op: IoOp) -> io::Result<()> {
        let mut inner = self.lock();
        inner.live.apply(&op)?;
        inner.ops.push(op);
        Ok(())
    }
}

impl Disk for CrashDisk {
    fn create_dir(&self, path: &Path) -> io::Result<()> {
        self.record(IoOp::CreateDir {
            path: path.to_path_buf(),
        })
    }

    fn exists(&self, path: &Path) -> bool {
        self.lock().live.exists(path)
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn DiskFile>> {
        let handle = {
            let mut inner = self.lock();
            inner.next_handle += 1;
            inner.next_handle
        };
        self.record(IoOp::Open {
            handle,
            path: path.to_path_buf(),
            mode,
        })?;
        Ok(Box::new(CrashFile {
            disk: self.clone(),
            handle,
        }))
    }

    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.lock().live.read(path).map(<[u8]>::to_vec)
    }

    fn read_head(&self, path: &Path, n: usize) -> io::Result<Vec<u8>> {
        let inner = self.lock();
        let data = inner.live.read(path)?;
        Ok(data[..n.min(data.len())].to_vec())
    }

    fn list(&self, dir: &Path) -> io::Result<Vec<DirEntry>> {
        Ok(self
            .lock()
            .live
            .list(dir)?
            .into_iter()
            .map(|(name, len, is_dir)| DirEntry { name, len, is_dir })
            .collect())
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.record(IoOp::Rename {
            from: from.to_path_buf(),
            to: to.to_path_buf(),
        })
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.record(IoOp::Remove {
            path: path.to_path_buf(),
        })
    }

    fn sync_dir(&self, dir: &Path, site: &'static str) -> io::Result<()> {
        if self.lock().skipped_sites.contains(site) {
            return if self.exists(dir) {
                Ok(())
            } else {
                Err(io::Error::new(io::ErrorKind::NotFound, "no such directory"))
            };
        }
        self.record(IoOp::SyncDir {
            path: dir.to_path_buf(),
            site: site.to_string(),
        })
    }
}

impl DiskFile for CrashFile {
    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.disk.record(IoOp::Write {
            handle: self.handle,
            data: bytes.to_vec(),
        })
    }

    fn sync_data(&mut self) -> io::Result<()> {
        self.disk.record(IoOp::Sync {
            handle: self.handle,
        })
    }

    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.disk.record(IoOp::SetLen {
            handle: self.handle,
            len,
        })
    }

    fn size(&self) -> io::Result<u64> {
        self.disk.lock().live.handle_len(self.handle)
    }
}

impl Drop for CrashFile {
    fn drop(&mut self) {
        let _ = self.disk.record(IoOp::Close {
            handle: self.handle,
        });
    }
}
