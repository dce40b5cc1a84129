//! Link faults in the kernel: one iptables chain per run, in the `nat` and `filter` tables.
//!
//! - `nat`: for every directed link `a→b`, a DNAT rule rewrites the link address
//!   `127.X.Y.(100+10a+b):P_b` to replica `b`'s peer listener. It is installed before the
//!   replicas start and stays for the whole run.
//! - `filter`: empty while the network is whole. Cutting `a↔b` adds
//!   `-m conntrack --ctorigdst <link a→b> -j DROP` and the same for `b→a`. The conntrack
//!   match names the link by its original destination, so it drops the packets of both
//!   directions of that link's connections (data and ACKs) and nothing else; established
//!   connections stall, as on a real network, and resume by TCP retransmission on healing.
//!
//! Both chains are named `DDBB_LT_<pid>_<n>`, are jumped to from `OUTPUT` (loopback traffic
//! crosses `OUTPUT` in both directions), and are flushed and deleted on drop. Chains of a
//! tester that died without cleaning up are found by the PID in their name and removed by the
//! next run. Rules are applied with `iptables-restore --noflush`, one atomic batch per change.

use std::collections::BTreeSet;
use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use ddbb_libs::NodeId;

use crate::cluster::AddressPlan;
use crate::error::{Error, Result};

/// Prefix of every chain this tester creates.
pub const CHAIN_PREFIX: &str = "DDBB_LT_";

/// Tables holding a chain of ours.
const TABLES: [&str; 2] = ["filter", "nat"];

/// Chains made by this process so far (a process may run more than one test).
static CHAINS_MADE: AtomicUsize = AtomicUsize::new(0);

/// The installed chains of one run; removed on drop.
#[derive(Debug)]
pub struct Iptables {
    chain: String,
    plan: AddressPlan,
}

impl Iptables {
    /// Checks that iptables works here (root, the binaries, the nat and conntrack modules) and
    /// installs the chains with the link DNAT rules.
    ///
    /// # Errors
    /// [`Error::Harness`] with iptables' own message; nothing is left installed.
    pub fn install(plan: &AddressPlan) -> Result<Iptables> {
        let n = CHAINS_MADE.fetch_add(1, Ordering::Relaxed);
        let chain = format!("{CHAIN_PREFIX}{}_{n}", std::process::id());
        // Registered first: a failure half-way is cleaned up like any other exit.
        crate::cleanup::register_chain(&chain, remove_chain);
        let iptables = Iptables {
            chain,
            plan: plan.clone(),
        };
        let c = &iptables.chain;
        let mut batch = format!("*nat\n:{c} - [0:0]\n-I OUTPUT 1 -j {c}\n");
        for (from, to) in plan.links() {
            let link = plan.link_addr(from, to);
            batch.push_str(&format!(
                "-A {c} -d {}/32 -p tcp --dport {} -j DNAT --to-destination {}\n",
                link.ip(),
                link.port(),
                plan.peer_addr(to)
            ));
        }
        batch.push_str(&format!(
            "COMMIT\n*filter\n:{c} - [0:0]\n-I OUTPUT 1 -j {c}\n"
        ));
        // Proves the conntrack match loads; flushed right after, before any replica runs.
        let probe = plan.link_addr(1, 1).ip();
        batch.push_str(&format!(
            "-A {c} -m conntrack --ctorigdst {probe}/32 -j DROP\nCOMMIT\n"
        ));
        restore(&batch)?;
        iptables.set_cuts(&BTreeSet::new())?;
        Ok(iptables)
    }

    /// The chain's name, for reports.
    pub fn chain(&self) -> &str {
        &self.chain
    }

    /// Replaces the set of cut links: `pairs` are unordered replica pairs, cut both ways.
    ///
    /// # Errors
    /// [`Error::Harness`] with iptables' message.
    pub fn set_cuts(&self, pairs: &BTreeSet<(NodeId, NodeId)>) -> Result<()> {
        restore(&self.cuts_batch(pairs))
    }

    /// The `iptables-restore` input that makes `pairs` the set of cut links.
    pub fn cuts_batch(&self, pairs: &BTreeSet<(NodeId, NodeId)>) -> String {
        let c = &self.chain;
        let mut batch = format!("*filter\n-F {c}\n");
        for &(a, b) in pairs {
            for (from, to) in [(a, b), (b, a)] {
                let link = self.plan.link_addr(from, to).ip();
                batch.push_str(&format!(
                    "-A {c} -m conntrack --ctorigdst {link}/32 -j DROP\n"
                ));
            }
        }
        batch.push_str("COMMIT\n");
        batch
    }
}

impl Drop for Iptables {
    fn drop(&mut self) {
        remove_chain(&self.chain);
    }
}

/// Feeds one batch to `iptables-restore --noflush` (atomic per table).
///
/// # Errors
/// [`Error::Harness`] with iptables' message.
pub fn restore(batch: &str) -> Result<()> {
    let fail = |e: String| Error::Harness(format!("iptables-restore failed: {e}"));
    let mut child = Command::new("iptables-restore")
        .args(["-w", "--noflush"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(batch.as_bytes())
            .map_err(|e| fail(e.to_string()))?;
    }
    let output = child.wait_with_output().map_err(|e| fail(e.to_string()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(fail(
            String::from_utf8_lossy(&output.stderr).trim().to_string(),
        ))
    }
}

/// Runs `iptables -w ARGS`; true when it succeeded. Output is discarded.
pub fn iptables(args: &[&str]) -> bool {
    Command::new("iptables")
        .arg("-w")
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Unhooks, flushes and deletes `chain` in both tables; ignores what is already gone.
pub fn remove_chain(chain: &str) {
    for table in TABLES {
        // A chain may be jumped to more than once if an earlier removal was interrupted.
        while iptables(&["-t", table, "-D", "OUTPUT", "-j", chain]) {}
        iptables(&["-t", table, "-F", chain]);
        iptables(&["-t", table, "-X", chain]);
    }
    crate::cleanup::forget_chain(chain);
}

/// Removes chains of testers that are no longer running; returns their names.
pub fn remove_stale_chains() -> Vec<String> {
    let mut stale = BTreeSet::new();
    for table in TABLES {
        let Ok(output) = Command::new("iptables")
            .args(["-w", "-t", table, "-S"])
            .stderr(Stdio::null())
            .output()
        else {
            continue;
        };
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let Some(chain) = line.strip_prefix("-N ") else {
                continue;
            };
            let Some(rest) = chain.strip_prefix(CHAIN_PREFIX) else {
                continue;
            };
            let pid = rest.split('_').next().and_then(|p| p.parse::<u32>().ok());
            // A live PID is left alone even if it was reused by another program: better a
            // leftover empty chain than removing the chain of a run in progress.
            if pid.is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists()) {
                stale.insert(chain.to_string());
            }
        }
    }
    for chain in &stale {
        remove_chain(chain);
    }
    stale.into_iter().collect()
}
