//! Starting server processes: own uid, own process group, killed with the bench.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use anyhow::{Context, Result};

/// Starts `program args` with stdout and stderr to `log`, under `uid` (and the same gid)
/// when given, in a process group of its own (a terminal's Ctrl-C goes to the bench, which
/// then stops its servers in order), and with `PR_SET_PDEATHSIG = SIGKILL` so the server
/// dies if the bench dies. Registers the PID for `lin_test::cleanup`.
///
/// Must be called from a thread that lives as long as the child (the death signal follows
/// the thread that forked): the bench starts servers from the main thread only.
pub fn spawn(
    program: &Path,
    args: &[String],
    env: &[(&str, &str)],
    uid: Option<u32>,
    log: &Path,
) -> Result<Child> {
    let log = File::options()
        .create(true)
        .append(true)
        .open(log)
        .with_context(|| format!("cannot open {}", log.display()))?;
    let mut command = Command::new(program);
    command
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    // SAFETY: the closure runs between fork and exec and only makes async-signal-safe
    // system calls; it touches no memory shared with the parent.
    unsafe {
        command.pre_exec(move || {
            if libc::setpgid(0, 0) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            if let Some(uid) = uid {
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(uid as libc::gid_t) != 0
                    || libc::setuid(uid as libc::uid_t) != 0
                {
                    return Err(std::io::Error::last_os_error());
                }
            }
            // After setuid: changing credentials clears the death signal.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = command
        .spawn()
        .with_context(|| format!("cannot start {}", program.display()))?;
    lin_test::cleanup::register_pid(child.id());
    Ok(child)
}

/// SIGKILLs `child` by its PID and reaps it.
pub fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
    lin_test::cleanup::forget_pid(child.id());
}

/// Creates `dir` (and parents) owned by `uid` with mode `mode`.
pub fn make_dir(dir: &Path, uid: Option<u32>, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))?;
    if let Some(uid) = uid {
        std::os::unix::fs::chown(dir, Some(uid), Some(uid))
            .with_context(|| format!("cannot chown {}", dir.display()))?;
    }
    Ok(())
}

/// True when every directory on the way to `path` and `path` itself can be searched and
/// executed by any user, so a server started under another uid can run it.
pub fn world_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    let Ok(path) = path.canonicalize() else {
        return false;
    };
    path.ancestors()
        .all(|p| std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o001 != 0))
}
