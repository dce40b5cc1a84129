//! Starting replica processes so that they can never outlive the tester.
//!
//! Each child is started in its own process group (a Ctrl-C in the terminal reaches only the
//! tester, which then heals and kills in order) with `PR_SET_PDEATHSIG = SIGKILL`, so the
//! kernel kills it if the tester dies without cleaning up (even by `SIGKILL`).
//!
//! The parent-death signal fires when the *thread* that forked the child exits, not the
//! process. Children are therefore forked by one dedicated thread that lives as long as the
//! process, never by a Tokio blocking-pool thread (those exit when idle).

use std::io;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

type Reply = mpsc::Sender<io::Result<Child>>;

/// The spawner thread's request queue.
static SPAWNER: OnceLock<Mutex<mpsc::Sender<(Command, Reply)>>> = OnceLock::new();

/// Spawns `command` from the spawner thread, in its own process group, killed with the
/// tester; registers its PID for [`crate::cleanup::emergency`].
///
/// # Errors
/// Whatever `spawn` returns, or an error if the spawner thread is gone.
pub fn spawn(mut command: Command) -> io::Result<Child> {
    let parent = std::process::id();
    command.process_group(0);
    // SAFETY: the closure runs in the forked child before exec and only calls prctl(2) and
    // getppid(2), which are async-signal-safe; it allocates nothing on the success path.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The tester may have died between fork and prctl: then nobody would kill us.
            if libc::getppid() as u32 != parent {
                return Err(io::Error::other("the tester exited during spawn"));
            }
            Ok(())
        });
    }
    let queue = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<(Command, Reply)>();
        let started = std::thread::Builder::new()
            .name("lin_test-spawner".into())
            .spawn(move || {
                // Lives until the process exits: the senders sit in a static.
                for (mut command, reply) in rx {
                    let child = command.spawn();
                    if let Ok(child) = &child {
                        crate::cleanup::register_pid(child.id());
                    }
                    let _ = reply.send(child);
                }
            });
        if let Err(e) = started {
            eprintln!("lin_test: cannot start the spawner thread: {e}");
        }
        Mutex::new(tx)
    });
    let (reply_tx, reply_rx) = mpsc::channel();
    let sent = queue
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .send((command, reply_tx));
    if sent.is_err() {
        return Err(io::Error::other("the spawner thread is gone"));
    }
    reply_rx
        .recv()
        .unwrap_or_else(|_| Err(io::Error::other("the spawner thread is gone")))
}

/// Sends `signal` to the process `pid` (one of our unreaped children).
pub fn signal(pid: u32, signal: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(|_| io::Error::other("pid out of range"))?;
    // SAFETY: kill(2) has no memory-safety preconditions; the PID is an unreaped child of
    // ours, so it still names that child.
    if unsafe { libc::kill(pid, signal) } == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
