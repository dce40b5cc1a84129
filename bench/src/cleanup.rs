//! The last line of defence: what a run owns outside its own memory.
//!
//! Every server process and iptables chain the bench creates is registered here and
//! unregistered when its owner ([`crate::cluster::Cluster`], [`crate::iptables::Firewall`])
//! releases it normally (their `Drop` also runs when Ctrl-C cancels the run). [`emergency`]
//! releases whatever is still registered; it runs from the panic hook and on a second Ctrl-C.
//! Servers are also started with `PR_SET_PDEATHSIG = SIGKILL`, so they die with the bench even
//! when it is killed with SIGKILL; chains such a death leaves are removed by the next run
//! ([`crate::iptables::remove_stale_chains`]).

use std::collections::BTreeSet;
use std::sync::Mutex;

static PIDS: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());
static CHAINS: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

fn lock<T>(m: &'static Mutex<T>) -> std::sync::MutexGuard<'static, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Records a server process the run must kill.
pub fn register_pid(pid: u32) {
    lock(&PIDS).insert(pid);
}

/// Forgets a process that was killed and reaped.
pub fn forget_pid(pid: u32) {
    lock(&PIDS).remove(&pid);
}

/// Records an installed iptables chain.
pub fn register_chain(name: &str) {
    lock(&CHAINS).insert(name.to_string());
}

/// Forgets a removed chain.
pub fn forget_chain(name: &str) {
    lock(&CHAINS).remove(name);
}

/// Kills every registered process (SIGKILL, by PID) and removes every registered chain.
/// Never panics; safe to call more than once.
pub fn emergency() {
    let pids: Vec<u32> = std::mem::take(&mut *lock(&PIDS)).into_iter().collect();
    for pid in pids {
        if let Ok(pid) = libc::pid_t::try_from(pid) {
            // SAFETY: kill(2) has no memory-safety preconditions. The PID is one of our own
            // children that was not reaped yet (reaping unregisters it first), so it cannot
            // have been reused by another process.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
    let chains: Vec<String> = std::mem::take(&mut *lock(&CHAINS)).into_iter().collect();
    for chain in chains {
        crate::iptables::remove_chain(&chain);
    }
}

/// Installs a panic hook that runs [`emergency`] before the default report.
pub fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        emergency();
        default(info);
    }));
}
