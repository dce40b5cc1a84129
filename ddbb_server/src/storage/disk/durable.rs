//! Creating and renaming durably: the one place that knows a directory entry is not durable
//! until its directory is fsynced.
//!
//! Every file or directory that recovery depends on is made with these helpers, and each
//! returns only when the new entry would survive a power cut. The file's *contents* are the
//! caller's business (fdatasync them before anything depends on them).

use super::{Disk, DiskFile, OpenMode};
use std::{
    io,
    path::{Path, PathBuf},
};

/// The directory holding `path` (`.` for a bare file name).
fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Creates `path` and every missing ancestor, fsyncing each new directory's parent.
///
/// An existing directory is left alone. With `fsync = false` nothing is synced.
pub fn create_dir_all(
    disk: &dyn Disk,
    path: &Path,
    fsync: bool,
    site: &'static str,
) -> io::Result<()> {
    if disk.exists(path) {
        return Ok(());
    }
    let up = parent(path);
    if path.parent().is_some_and(|p| !p.as_os_str().is_empty()) {
        create_dir_all(disk, &up, fsync, site)?;
    }
    match disk.create_dir(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Ok(()),
        Err(e) => return Err(e),
    }
    if fsync {
        disk.sync_dir(&up, site)?;
    }
    Ok(())
}

/// Creates a new, empty file (refusing an existing one) and makes its entry durable.
pub fn create_file(
    disk: &dyn Disk,
    path: &Path,
    fsync: bool,
    site: &'static str,
) -> io::Result<Box<dyn DiskFile>> {
    let file = disk.open(path, OpenMode::CreateNew)?;
    if fsync {
        disk.sync_dir(&parent(path), site)?;
    }
    Ok(file)
}

/// Renames `from` to `to` (same directory) and makes the rename durable.
pub fn rename(
    disk: &dyn Disk,
    from: &Path,
    to: &Path,
    fsync: bool,
    site: &'static str,
) -> io::Result<()> {
    disk.rename(from, to)?;
    if fsync {
        disk.sync_dir(&parent(to), site)?;
    }
    Ok(())
}

/// Replaces the file at `path` with `bytes` atomically and durably: a temp file beside it is
/// written, fdatasynced, renamed over `path`, and the directory fsynced. After a crash `path`
/// holds either the old or the new contents, never a mix.
pub fn write_file(
    disk: &dyn Disk,
    path: &Path,
    bytes: &[u8],
    site: &'static str,
) -> io::Result<()> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    let mut file = disk.open(&tmp, OpenMode::CreateTruncate)?;
    file.append(bytes)?;
    file.sync_data()?;
    drop(file);
    rename(disk, &tmp, path, true, site)
}
