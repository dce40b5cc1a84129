//! The last line of defence: what a run owns outside its own memory, for emergency cleanup.
//!
//! Every replica process and every iptables chain a run creates is registered here, and
//! unregistered when its owner ([`crate::cluster::Cluster`], [`crate::network::Network`])
//! releases it normally. [`emergency`] releases whatever is still registered; the binary calls
//! it from its panic hook and on a second Ctrl-C, when the normal unwinding cannot be trusted.
//!
//! Replicas are also started with `PR_SET_PDEATHSIG = SIGKILL` (see `cluster::process`), so
//! they die with the tester even when it is killed with `SIGKILL` and nothing here runs.
//! Chains left behind by such a death are removed by the next run (see
//! [`crate::network::remove_stale_chains`]).

use std::collections::BTreeSet;
use std::sync::Mutex;

/// PIDs of running replica processes.
static PIDS: Mutex<BTreeSet<u32>> = Mutex::new(BTreeSet::new());
/// Names of installed iptables chains (in the filter and nat tables).
static CHAINS: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

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

/// Records an installed chain the run must remove.
pub fn register_chain(name: &str) {
    lock(&CHAINS).insert(name.to_string());
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
    let chains: Vec<String> = std::mem::take(&mut *lock(&CHAINS)).into_iter().collect();
    for chain in chains {
        crate::network::remove_chain(&chain);
    }
}
