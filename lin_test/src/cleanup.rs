//! The last line of defence: what a run owns outside its own memory, for emergency cleanup.
//! Shared by `lin_test` and `ddbb-bench`.
//!
//! Every server process and every iptables chain a run creates is registered here (a chain
//! with the function that removes it), and unregistered when its owner (such as
//! [`crate::cluster::Cluster`] or [`crate::network::Network`]) releases it normally. [`emergency`] releases whatever is still registered; the binary calls
//! it from its panic hook and on a second Ctrl-C, when the normal unwinding cannot be trusted.
//!
//! Replicas are also started with `PR_SET_PDEATHSIG = SIGKILL` (see `cluster::process`), so
//! they die with the tester even when it is killed with `SIGKILL` and nothing here runs.
//! Chains left behind by such a death are removed by the next run (see
//! [`crate::network::remove_stale_chains`]).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

/// PIDs of running replica processes.
static PIDS: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());
/// Removes one iptables chain (unhook, flush, delete), ignoring what is already gone.
pub type ChainRemover = fn(&str);

/// Installed iptables chains, each with the function that removes it.
static CHAINS: Mutex<BTreeMap<String, ChainRemover>> = Mutex::new(BTreeMap::new());

fn lock<T>(m: &'static Mutex<T>) -> std::sync::MutexGuard<'static, T> {
    // A panic while holding the lock leaves consistent data (plain inserts and removes).
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Records a replica process the run must kill.
pub fn register_pid(pid: u32) {
    lock(&PIDS).insert(pid);
}

/// Forgets a process that was killed and reaped.
pub fn forget_pid(pid: u32) {
    lock(&PIDS).remove(&pid);
}

/// Records an installed chain the run must remove, and how to remove it.
pub fn register_chain(name: &str, remove: ChainRemover) {
    lock(&CHAINS).insert(name.to_string(), remove);
}

/// Forgets a chain that was removed.
pub fn forget_chain(name: &str) {
    lock(&CHAINS).remove(name);
}

/// Kills every registered process (`SIGKILL`, by PID) and removes every registered chain.
///
/// Safe to call more than once and from any thread; it never panics.
pub fn emergency() {
    let pids: Vec<u32> = std::mem::take(&mut *lock(&PIDS)).into_iter().collect();
    for pid in pids {
        if let Ok(pid) = libc::pid_t::try_from(pid) {
            // SAFETY: kill(2) has no memory-safety preconditions. The PID is one of our own
            // children that has not been reaped (reaping unregisters it first), so it cannot
            // have been reused by an unrelated process.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
            }
        }
    }
    let chains: Vec<(String, ChainRemover)> =
        std::mem::take(&mut *lock(&CHAINS)).into_iter().collect();
    for (chain, remove) in chains {
        remove(&chain);
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
