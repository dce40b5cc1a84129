//! [`CrashModel`]: a file system that knows what a power cut would keep, under strict POSIX
//! rules rather than ext4's.
//!
//! Every inode has a *live* state (what the process sees) and a *synced* state:
//!
//! * a file's data is synced by `fdatasync` on any handle to it;
//! * a directory's entries (names → inodes) are synced by fsyncing that directory, and only
//!   then: creating a file, making a directory, renaming or deleting are all undone by a power
//!   cut unless the directory holding the name was synced afterwards. Syncing a file does not
//!   sync its name, nor syncing a directory its parent's entry for it.
//!
//! A [`PowerCut`] builds the file system the disk would hold after the cut: the tree of synced
//! entries from the root, each file holding its synced data ([`PowerCut::SyncedOnly`]) or
//! everything written to it ([`PowerCut::AllWritten`], as if the page cache had been flushed
//! but no directory). Directories that existed when the model was made are durable.
//!
//! The model is driven by [`IoOp`]s: [`CrashDisk`](super::CrashDisk) applies them as storage
//! runs, and [`journal`](super::journal) replays them from a real process' journal.

use serde::{Deserialize, Serialize};
use std::{
    collections::{BTreeMap, HashMap},
    io,
    path::{Component, Path, PathBuf},
};

/// How a file is opened (always for appending).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OpenMode {
    /// Create; fail if it exists.
    CreateNew,
    /// Create or truncate to 0.
    CreateTruncate,
    /// Open an existing file.
    Existing,
}

/// One mutating file-system operation, as recorded by the in-memory and journaling disks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IoOp {
    /// `mkdir`.
    CreateDir { path: PathBuf },
    /// `open`; `handle` names the open file in later ops.
    Open {
        handle: u64,
        path: PathBuf,
        mode: OpenMode,
    },
    /// An append through a handle.
    Write { handle: u64, data: Vec<u8> },
    /// `fdatasync` through a handle.
    Sync { handle: u64 },
    /// `ftruncate` through a handle.
    SetLen { handle: u64, len: u64 },
    /// The handle is closed.
    Close { handle: u64 },
    /// `rename` (replaces `to`).
    Rename { from: PathBuf, to: PathBuf },
    /// `unlink`.
    Remove { path: PathBuf },
    /// `fsync` of a directory, from the code site `site`.
    SyncDir { path: PathBuf, site: String },
}

/// What a power cut keeps of file data written since its last sync.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PowerCut {
    /// Only synced data (the strict rule).
    SyncedOnly,
    /// Everything written, but directory entries still only as synced.
    AllWritten,
    /// Synced data plus the first half of what was appended since (a torn write).
    HalfWritten,
}

impl PowerCut {
    /// Every kind of cut.
    pub const ALL: [PowerCut; 3] = [
        PowerCut::SyncedOnly,
        PowerCut::AllWritten,
        PowerCut::HalfWritten,
    ];
}

type Ino = usize;

#[derive(Clone, Debug)]
enum Node {
    File(FileNode),
    Dir(DirNode),
}

#[derive(Clone, Debug, Default)]
struct FileNode {
    data: Vec<u8>,
    synced: Vec<u8>,
    /// Lowest offset changed since the last sync (`data.len()` when clean).
    dirty_from: usize,
}

impl FileNode {
    /// Synced data, then half of the unsynced bytes that extend it (when the live data still
    /// starts with the synced data; otherwise just the synced data).
    fn half_written(&self) -> Vec<u8> {
        let keep = self.dirty_from.min(self.synced.len());
        if keep < self.synced.len() || self.data.len() <= self.synced.len() {
            return self.synced.clone();
        }
        let extra = (self.data.len() - self.synced.len()).div_ceil(2);
        self.data[..self.synced.len() + extra].to_vec()
    }
}

#[derive(Clone, Debug, Default)]
struct DirNode {
    live: BTreeMap<String, Ino>,
    synced: BTreeMap<String, Ino>,
}

/// An in-memory file system with live and synced state. See the module doc.
#[derive(Clone, Debug)]
pub struct CrashModel {
    nodes: Vec<Node>,
    handles: HashMap<u64, Ino>,
}

const ROOT: Ino = 0;

fn err(kind: io::ErrorKind, what: &str, path: &Path) -> io::Error {
    io::Error::new(kind, format!("{what}: {}", path.display()))
}

/// The components of an absolute path, without `.`; `..` is refused.
fn components(path: &Path) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    for c in path.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::Normal(s) => out.push(
                s.to_str()
                    .ok_or_else(|| err(io::ErrorKind::InvalidInput, "not UTF-8", path))?
                    .to_string(),
            ),
            _ => return Err(err(io::ErrorKind::InvalidInput, "unsupported path", path)),
        }
    }
    Ok(out)
}

impl Default for CrashModel {
    fn default() -> Self {
        Self::new()
    }
}

impl CrashModel {
    /// An empty file system holding only `/`.
    pub fn new() -> Self {
        CrashModel {
            nodes: vec![Node::Dir(DirNode::default())],
            handles: HashMap::new(),
        }
    }

    /// A file system in which `dirs` (and their ancestors) already exist durably, as a test's
    /// temporary directory does before the code under test runs.
    pub fn with_dirs<P: AsRef<Path>>(dirs: &[P]) -> io::Result<Self> {
        let mut m = Self::new();
        for d in dirs {
            let mut path = PathBuf::from("/");
            for c in components(d.as_ref())? {
                path.push(c);
                if m.lookup(&path).is_err() {
                    m.apply(&IoOp::CreateDir { path: path.clone() })?;
                    let parent = path.parent().unwrap_or(Path::new("/")).to_path_buf();
                    m.sync_dir(&parent)?;
                }
            }
        }
        Ok(m)
    }

    /// Applies one operation to the live state (and, for syncs, to the synced state).
    pub fn apply(&mut self, op: &IoOp) -> io::Result<()> {
        match op {
            IoOp::CreateDir { path } => {
                if self.exists(path) {
                    return Err(err(io::ErrorKind::AlreadyExists, "already exists", path));
                }
                let ino = self.push(Node::Dir(DirNode::default()));
                self.link_new(path, ino)
            }
            IoOp::Open { handle, path, mode } => self.open(*handle, path, *mode),
            IoOp::Write { handle, data } => {
                let f = self.handle_file(*handle)?;
                f.data.extend_from_slice(data);
                Ok(())
            }
            IoOp::Sync { handle } => {
                let f = self.handle_file(*handle)?;
                let from = f.dirty_from.min(f.synced.len());
                f.synced.truncate(from);
                f.synced.extend_from_slice(&f.data[from..]);
                f.dirty_from = f.data.len();
                Ok(())
            }
            IoOp::SetLen { handle, len } => {
                let f = self.handle_file(*handle)?;
                let len = usize::try_from(*len).unwrap_or(usize::MAX);
                f.data.resize(len, 0);
                f.dirty_from = f.dirty_from.min(len);
                Ok(())
            }
            IoOp::Close { handle } => {
                self.handles.remove(handle);
                Ok(())
            }
            IoOp::Rename { from, to } => self.rename(from, to),
            IoOp::Remove { path } => {
                let (dir, name) = self.parent_of(path)?;
                match self.dir_mut(dir).live.remove(&name) {
                    Some(_) => Ok(()),
                    None => Err(err(io::ErrorKind::NotFound, "no such file", path)),
                }
            }
            IoOp::SyncDir { path, .. } => self.sync_dir(path),
        }
    }

    /// Whether `path` exists in the live state.
    pub fn exists(&self, path: &Path) -> bool {
        self.lookup(path).is_ok()
    }

    /// Whether `path` is a live directory.
    pub fn is_dir(&self, path: &Path) -> bool {
        matches!(self.lookup(path).map(|i| &self.nodes[i]), Ok(Node::Dir(_)))
    }

    /// Live contents of a file.
    pub fn read(&self, path: &Path) -> io::Result<&[u8]> {
        match &self.nodes[self.lookup(path)?] {
            Node::File(f) => Ok(&f.data),
            Node::Dir(_) => Err(err(io::ErrorKind::Other, "is a directory", path)),
        }
    }

    /// Live size of the file open as `handle`.
    pub fn handle_len(&self, handle: u64) -> io::Result<u64> {
        match self.handles.get(&handle).map(|&i| &self.nodes[i]) {
            Some(Node::File(f)) => Ok(f.data.len() as u64),
            _ => Err(io::Error::other(format!("bad file handle {handle}"))),
        }
    }

    /// Live listing of a directory: (name, size, is_dir), sorted by name.
    pub fn list(&self, dir: &Path) -> io::Result<Vec<(String, u64, bool)>> {
        let Node::Dir(d) = &self.nodes[self.lookup(dir)?] else {
            return Err(err(io::ErrorKind::Other, "not a directory", dir));
        };
        Ok(d.live
            .iter()
            .map(|(name, &i)| match &self.nodes[i] {
                Node::File(f) => (name.clone(), f.data.len() as u64, false),
                Node::Dir(_) => (name.clone(), 0, true),
            })
            .collect())
    }

    /// The file system a power cut now would leave (no open handles).
    pub fn power_cut(&self, cut: PowerCut) -> CrashModel {
        let mut out = CrashModel::new();
        self.copy_synced(ROOT, &mut out, ROOT, cut);
        out
    }

    /// Writes the live subtree at `from` into the real directory `to` (created if needed).
    pub fn materialize(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::create_dir_all(to)?;
        for (name, _, is_dir) in self.list(from)? {
            let (src, dst) = (from.join(&name), to.join(&name));
            if is_dir {
                self.materialize(&src, &dst)?;
            } else {
                std::fs::write(&dst, self.read(&src)?)?;
            }
        }
        Ok(())
    }

    fn copy_synced(&self, ino: Ino, out: &mut CrashModel, out_ino: Ino, cut: PowerCut) {
        let Node::Dir(d) = &self.nodes[ino] else {
            return;
        };
        for (name, &child) in &d.synced {
            let node = match &self.nodes[child] {
                Node::File(f) => {
                    let data = match cut {
                        PowerCut::SyncedOnly => f.synced.clone(),
                        PowerCut::AllWritten => f.data.clone(),
                        PowerCut::HalfWritten => f.half_written(),
                    };
                    Node::File(FileNode {
                        dirty_from: data.len(),
                        synced: data.clone(),
                        data,
                    })
                }
                Node::Dir(_) => Node::Dir(DirNode::default()),
            };
            let new = out.push(node);
            let od = out.dir_mut(out_ino);
            od.live.insert(name.clone(), new);
            od.synced.insert(name.clone(), new);
            self.copy_synced(child, out, new, cut);
        }
    }

    fn push(&mut self, node: Node) -> Ino {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    fn dir_mut(&mut self, ino: Ino) -> &mut DirNode {
        match &mut self.nodes[ino] {
            Node::Dir(d) => d,
            // Only directory inodes are ever passed here (checked by `parent_of`/`lookup`).
            Node::File(_) => unreachable!("inode {ino} is not a directory"),
        }
    }

    fn lookup(&self, path: &Path) -> io::Result<Ino> {
        let mut ino = ROOT;
        for name in components(path)? {
            let Node::Dir(d) = &self.nodes[ino] else {
                return Err(err(io::ErrorKind::NotFound, "not a directory", path));
            };
            ino = *d
                .live
                .get(&name)
                .ok_or_else(|| err(io::ErrorKind::NotFound, "no such file or directory", path))?;
        }
        Ok(ino)
    }

    /// The live directory holding `path`, and the last component.
    fn parent_of(&self, path: &Path) -> io::Result<(Ino, String)> {
        let mut parts = components(path)?;
        let name = parts
            .pop()
            .ok_or_else(|| err(io::ErrorKind::InvalidInput, "no file name", path))?;
        let parent: PathBuf = std::iter::once("/".to_string()).chain(parts).collect();
        let dir = self.lookup(&parent)?;
        match self.nodes[dir] {
            Node::Dir(_) => Ok((dir, name)),
            Node::File(_) => Err(err(io::ErrorKind::NotFound, "not a directory", path)),
        }
    }

    fn link_new(&mut self, path: &Path, ino: Ino) -> io::Result<()> {
        let (dir, name) = self.parent_of(path)?;
        let d = self.dir_mut(dir);
        if d.live.contains_key(&name) {
            return Err(err(io::ErrorKind::AlreadyExists, "already exists", path));
        }
        d.live.insert(name, ino);
        Ok(())
    }

    fn open(&mut self, handle: u64, path: &Path, mode: OpenMode) -> io::Result<()> {
        let ino = match (self.lookup(path), mode) {
            (Ok(_), OpenMode::CreateNew) => {
                return Err(err(io::ErrorKind::AlreadyExists, "already exists", path))
            }
            (Ok(ino), OpenMode::CreateTruncate) => {
                if let Node::File(f) = &mut self.nodes[ino] {
                    f.data.clear();
                    f.dirty_from = 0;
                }
                ino
            }
            (Ok(ino), OpenMode::Existing) => ino,
            (Err(_), OpenMode::Existing) => {
                return Err(err(io::ErrorKind::NotFound, "no such file", path))
            }
            (Err(_), _) => {
                let ino = self.push(Node::File(FileNode::default()));
                self.link_new(path, ino)?;
                ino
            }
        };
        if !matches!(self.nodes[ino], Node::File(_)) {
            return Err(err(io::ErrorKind::Other, "is a directory", path));
        }
        self.handles.insert(handle, ino);
        Ok(())
    }

    fn handle_file(&mut self, handle: u64) -> io::Result<&mut FileNode> {
        match self.handles.get(&handle).map(|&i| &mut self.nodes[i]) {
            Some(Node::File(f)) => Ok(f),
            _ => Err(io::Error::other(format!("bad file handle {handle}"))),
        }
    }

    fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        let (src_dir, src_name) = self.parent_of(from)?;
        let (dst_dir, dst_name) = self.parent_of(to)?;
        let ino = self
            .dir_mut(src_dir)
            .live
            .remove(&src_name)
            .ok_or_else(|| err(io::ErrorKind::NotFound, "no such file", from))?;
        self.dir_mut(dst_dir).live.insert(dst_name, ino);
        Ok(())
    }

    fn sync_dir(&mut self, path: &Path) -> io::Result<()> {
        let ino = self.lookup(path)?;
        match &mut self.nodes[ino] {
            Node::Dir(d) => {
                d.synced = d.live.clone();
                Ok(())
            }
            Node::File(_) => Err(err(io::ErrorKind::Other, "not a directory", path)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathBuf {
        PathBuf::from(s)
    }

    fn run(m: &mut CrashModel, ops: &[IoOp]) {
        for op in ops {
            m.apply(op).unwrap();
        }
    }

    fn create(handle: u64, path: &str) -> IoOp {
        IoOp::Open {
            handle,
            path: p(path),
            mode: OpenMode::CreateNew,
        }
    }

    fn write(handle: u64, data: &[u8]) -> IoOp {
        IoOp::Write {
            handle,
            data: data.to_vec(),
        }
    }

    fn sync_dir(path: &str) -> IoOp {
        IoOp::SyncDir {
            path: p(path),
            site: "test".into(),
        }
    }

    #[test]
    fn unsynced_entries_and_data_vanish() {
        let mut m = CrashModel::with_dirs(&["/d"]).unwrap();
        run(
            &mut m,
            &[
                create(1, "/d/f"),
                write(1, b"abc"),
                IoOp::Sync { handle: 1 },
            ],
        );
        // The data is synced but the name is not.
        let cut = m.power_cut(PowerCut::SyncedOnly);
        assert!(cut.exists(&p("/d")) && !cut.exists(&p("/d/f")));
        run(&mut m, &[sync_dir("/d"), write(1, b"def")]);
        assert_eq!(
            m.power_cut(PowerCut::SyncedOnly).read(&p("/d/f")).unwrap(),
            b"abc"
        );
        assert_eq!(
            m.power_cut(PowerCut::AllWritten).read(&p("/d/f")).unwrap(),
            b"abcdef"
        );
        assert_eq!(m.read(&p("/d/f")).unwrap(), b"abcdef");
    }

    #[test]
    fn new_directory_needs_its_parent_synced() {
        let mut m = CrashModel::with_dirs(&["/t"]).unwrap();
        run(
            &mut m,
            &[
                IoOp::CreateDir { path: p("/t/a") },
                IoOp::CreateDir { path: p("/t/a/b") },
                sync_dir("/t/a"),
            ],
        );
        // b's entry is synced inside a, but a's entry in /t is not.
        assert!(!m.power_cut(PowerCut::SyncedOnly).exists(&p("/t/a")));
        run(&mut m, &[sync_dir("/t")]);
        assert!(m.power_cut(PowerCut::SyncedOnly).exists(&p("/t/a/b")));
    }

    #[test]
    fn rename_is_undone_unless_the_directory_is_synced() {
        let mut m = CrashModel::with_dirs(&["/d"]).unwrap();
        run(
            &mut m,
            &[
                create(1, "/d/old"),
                write(1, b"1"),
                IoOp::Sync { handle: 1 },
                sync_dir("/d"),
            ],
        );
        run(
            &mut m,
            &[
                create(2, "/d/tmp"),
                write(2, b"2"),
                IoOp::Sync { handle: 2 },
            ],
        );
        run(
            &mut m,
            &[IoOp::Rename {
                from: p("/d/tmp"),
                to: p("/d/old"),
            }],
        );
        assert_eq!(m.read(&p("/d/old")).unwrap(), b"2");
        let cut = m.power_cut(PowerCut::SyncedOnly);
        assert_eq!(cut.read(&p("/d/old")).unwrap(), b"1");
        assert!(!cut.exists(&p("/d/tmp")));
        run(&mut m, &[sync_dir("/d")]);
        assert_eq!(
            m.power_cut(PowerCut::SyncedOnly)
                .read(&p("/d/old"))
                .unwrap(),
            b"2"
        );
        // A handle stays valid across the rename.
        run(&mut m, &[write(2, b"3"), IoOp::Sync { handle: 2 }]);
        assert_eq!(
            m.power_cut(PowerCut::SyncedOnly)
                .read(&p("/d/old"))
                .unwrap(),
            b"23"
        );
    }

    #[test]
    fn remove_and_truncate_need_syncs() {
        let mut m = CrashModel::with_dirs(&["/d"]).unwrap();
        run(
            &mut m,
            &[
                create(1, "/d/f"),
                write(1, b"abcdef"),
                IoOp::Sync { handle: 1 },
                sync_dir("/d"),
            ],
        );
        run(
            &mut m,
            &[IoOp::SetLen { handle: 1, len: 2 }, write(1, b"XY")],
        );
        assert_eq!(
            m.power_cut(PowerCut::SyncedOnly).read(&p("/d/f")).unwrap(),
            b"abcdef"
        );
        run(&mut m, &[IoOp::Sync { handle: 1 }]);
        assert_eq!(
            m.power_cut(PowerCut::SyncedOnly).read(&p("/d/f")).unwrap(),
            b"abXY"
        );
        run(&mut m, &[IoOp::Remove { path: p("/d/f") }]);
        assert!(!m.exists(&p("/d/f")));
        assert!(m.power_cut(PowerCut::SyncedOnly).exists(&p("/d/f")));
        run(&mut m, &[sync_dir("/d")]);
        assert!(!m.power_cut(PowerCut::SyncedOnly).exists(&p("/d/f")));
    }

    #[test]
    fn errors_match_the_os() {
        let mut m = CrashModel::with_dirs(&["/d"]).unwrap();
        let e = m.apply(&create(1, "/nope/f")).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        m.apply(&create(1, "/d/f")).unwrap();
        assert_eq!(
            m.apply(&create(2, "/d/f")).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        assert_eq!(
            m.apply(&IoOp::CreateDir { path: p("/d") })
                .unwrap_err()
                .kind(),
            io::ErrorKind::AlreadyExists
        );
        assert!(m.apply(&write(9, b"x")).is_err());
    }
}
