//! Link faults between cluster members, with iptables rules in chains owned by this run.
//!
//! Every member runs under a uid of its own (see [`crate::cluster`]) and binds its own
//! loopback address. Outgoing connections on loopback leave from `127.0.0.1` whatever the
//! listener's address, so the source address cannot tell members apart; instead:
//!
//! - `DDBB_BENCH_<pid>_M` (jumped to from `OUTPUT`, where the `owner` match works) marks each
//!   new connection with its dialer: `-m owner --uid-owner U -j CONNMARK --set-xmark M`;
//! - `DDBB_BENCH_<pid>` (jumped to from `OUTPUT` and `INPUT`) holds the cuts: cutting `a↔b`
//!   drops every packet of connections dialed by `a` to `b`'s address and by `b` to `a`'s,
//!   in both directions (`-m connmark --mark M_a -m conntrack --ctorigdst IP_b -j DROP`).
//!   Established connections stall, as on a real network, and resume on healing.
//!
//! Client traffic (dialed by the bench, uid 0, no mark) is never dropped. Both chains are
//! unhooked, flushed and deleted on drop, from the panic hook and on Ctrl-C
//! (`lin_test::cleanup`); a run killed with SIGKILL leaves them for the next run to remove
//! ([`remove_stale_chains`]). Changes go through `iptables-restore --noflush`, one atomic batch.

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use anyhow::Result;

/// Prefix of every chain this program creates.
pub const CHAIN_PREFIX: &str = "DDBB_BENCH_";

/// The part of the connection mark this program uses.
const MARK_MASK: u32 = 0xffff;

/// One member as the firewall sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Endpoint {
    /// The uid the member runs under.
    pub uid: u32,
    /// The loopback address it listens on.
    pub ip: Ipv4Addr,
}

/// The mark of connections dialed by `uid`.
fn mark(uid: u32) -> u32 {
    0xd000 | (uid & 0x0fff)
}

/// The installed chains; removed on drop.
#[derive(Debug)]
pub struct Firewall {
    cuts: String,
    marks: String,
}

impl Firewall {
    /// Installs the chains, marking connections dialed by each of `uids`.
    ///
    /// # Errors
    /// iptables' own message (not root, no iptables, missing `owner`/`connmark` support);
    /// nothing is left installed then.
    pub fn install(uids: &[u32]) -> Result<Firewall> {
        let cuts = format!("{CHAIN_PREFIX}{}", std::process::id());
        let marks = format!("{cuts}_M");
        // Registered first: a failure half-way is cleaned up like any other exit.
        lin_test::cleanup::register_chain(&cuts, remove_chain);
        lin_test::cleanup::register_chain(&marks, remove_chain);
        let firewall = Firewall { cuts, marks };
        let (c, m) = (&firewall.cuts, &firewall.marks);
        // Inserted at the top in this order: OUTPUT runs the marks first, then the cuts.
        let mut batch = format!(
            "*filter\n:{c} - [0:0]\n:{m} - [0:0]\n-I OUTPUT 1 -j {c}\n-I OUTPUT 1 -j {m}\n\
             -I INPUT 1 -j {c}\n"
        );
        for &uid in uids {
            batch.push_str(&format!(
                "-A {m} -m owner --uid-owner {uid} -m conntrack --ctstate NEW \
                 -j CONNMARK --set-xmark {:#x}/{MARK_MASK:#x}\n",
                mark(uid)
            ));
        }
        batch.push_str("COMMIT\n");
        restore(&batch)?;
        Ok(firewall)
    }

    /// The chain names, for the report.
    pub fn chains(&self) -> [&str; 2] {
        [&self.cuts, &self.marks]
    }

    /// Makes `pairs` the set of cut links (each cut in both directions); empty heals all.
    ///
    /// # Errors
    /// iptables' message.
    pub fn set_cuts(&self, pairs: &[(Endpoint, Endpoint)]) -> Result<()> {
        restore(&self.cuts_batch(pairs))
    }

    /// The `iptables-restore` input that makes `pairs` the set of cut links.
    pub fn cuts_batch(&self, pairs: &[(Endpoint, Endpoint)]) -> String {
        let c = &self.cuts;
        let mut batch = format!("*filter\n-F {c}\n");
        for &(a, b) in pairs {
            for (from, to) in [(a, b), (b, a)] {
                batch.push_str(&format!(
                    "-A {c} -m connmark --mark {:#x}/{MARK_MASK:#x} -m conntrack --ctorigdst {}/32 \
                     -j DROP\n",
                    mark(from.uid),
                    to.ip
                ));
            }
        }
        batch.push_str("COMMIT\n");
        batch
    }
}

impl Drop for Firewall {
    fn drop(&mut self) {
        remove_chain(&self.cuts);
        remove_chain(&self.marks);
    }
}

/// Feeds one batch to `iptables-restore --noflush` (atomic per table).
fn restore(batch: &str) -> Result<()> {
    Ok(lin_test::network::restore(batch)?)
}

/// Unhooks, flushes and deletes `chain` in the filter table; ignores what is already gone.
pub fn remove_chain(chain: &str) {
    use lin_test::network::iptables;
    for hook in ["OUTPUT", "INPUT"] {
        // A chain may be jumped to more than once if an earlier removal was interrupted.
        while iptables(&["-D", hook, "-j", chain]) {}
    }
    iptables(&["-F", chain]);
    iptables(&["-X", chain]);
    lin_test::cleanup::forget_chain(chain);
}

/// Removes chains of bench runs that are no longer running; returns their names.
pub fn remove_stale_chains() -> Vec<String> {
    let Ok(output) = Command::new("iptables")
        .args(["-w", "-S"])
        .stderr(Stdio::null())
        .output()
    else {
        return Vec::new();
    };
    let mut stale = Vec::new();
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Some(chain) = line.strip_prefix("-N ") else {
            continue;
        };
        let Some(rest) = chain.strip_prefix(CHAIN_PREFIX) else {
            continue;
        };
        let pid = rest.split('_').next().and_then(|p| p.parse::<u32>().ok());
        // Stale unless its creator is still a running ddbb-bench (a zombie, or a PID reused
        // by another program, does not count).
        if pid.is_some_and(|pid| !crate::procfs::running_as(pid, &crate::procfs::own_comm())) {
            stale.push(chain.to_string());
        }
    }
    for chain in &stale {
        remove_chain(chain);
    }
    stale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cut_drops_both_dialers_connections() {
        let fw = Firewall {
            cuts: "DDBB_BENCH_1".into(),
            marks: "DDBB_BENCH_1_M".into(),
        };
        let a = Endpoint {
            uid: 47101,
            ip: Ipv4Addr::new(127, 77, 1, 1),
        };
        let b = Endpoint {
            uid: 47102,
            ip: Ipv4Addr::new(127, 77, 1, 2),
        };
        let batch = fw.cuts_batch(&[(a, b)]);
        assert!(batch.starts_with("*filter\n-F DDBB_BENCH_1\n"));
        assert!(batch.contains(&format!(
            "--mark {:#x}/0xffff -m conntrack --ctorigdst 127.77.1.2/32 -j DROP",
            mark(47101)
        )));
        assert!(batch.contains(&format!(
            "--mark {:#x}/0xffff -m conntrack --ctorigdst 127.77.1.1/32 -j DROP",
            mark(47102)
        )));
        assert!(batch.ends_with("COMMIT\n"));
        assert_eq!(fw.cuts_batch(&[]), "*filter\n-F DDBB_BENCH_1\nCOMMIT\n");
        std::mem::forget(fw); // not installed: nothing to remove
    }
}
