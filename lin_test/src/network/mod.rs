//! The network between the replicas, and the faults the nemesis injects into it.
//!
//! Every replica reaches every other through a *link address* of its own (see
//! [`crate::cluster::AddressPlan`]), so each directed link can be cut alone. Two backends:
//!
//! - [`NetMode::Iptables`] (the default when running as root with iptables installed): the
//!   kernel rewrites link addresses to the replicas' listeners (DNAT) and a cut is a DROP rule
//!   on the link's connections, in a chain owned by this run (see `iptables`). No user-space
//!   hop on the data path; a cut is silent, as a real partition.
//! - [`NetMode::Proxy`]: a TCP proxy per link inside the tester (see `proxy`); a cut resets
//!   the link's connections. Needs no privileges, and can also add latency.
//!
//! Latency with iptables would need `tc netem` on `lo`, whose root qdisc is shared by every
//! program on the machine (and by concurrent runs); it is not done. The latency fault needs
//! the proxy backend, which `auto` picks when latency is asked for.
//!
//! A [`Network`] removes its rules (or stops its proxies) when dropped.

mod iptables;
mod proxy;

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use ddbb_libs::NodeId;

use crate::cluster::AddressPlan;
use crate::error::{Error, Result};

pub use iptables::{iptables, remove_chain, remove_stale_chains, restore, CHAIN_PREFIX};

/// Which backend to use, as asked on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetChoice {
    /// iptables if it works here (and no latency is asked for), else the proxy.
    Auto,
    /// iptables, or fail.
    Iptables,
    /// The link proxy.
    Proxy,
}

/// The backend in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetMode {
    /// Kernel rules in a chain of the run's own.
    Iptables,
    /// User-space proxies of the run's own.
    Proxy,
}

impl fmt::Display for NetMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            NetMode::Iptables => "iptables",
            NetMode::Proxy => "proxy",
        })
    }
}

#[derive(Debug)]
enum Backend {
    Iptables(iptables::Iptables),
    Proxy(proxy::Proxies),
}

/// The links of one run and their faults.
#[derive(Debug)]
pub struct Network {
    backend: Backend,
    /// Why this backend was chosen (and what the other one said), for the report.
    notes: Vec<String>,
    cuts: BTreeSet<(NodeId, NodeId)>,
    delay: Duration,
}

impl Network {
    /// Sets up the links of `plan` (before the replicas start: they dial link addresses).
    ///
    /// # Errors
    /// [`Error::Harness`] if the chosen backend cannot be set up (with `Auto`, only if the
    /// proxy fails too).
    pub async fn start(plan: &AddressPlan, choice: NetChoice, latency: bool) -> Result<Network> {
        let mut notes = Vec::new();
        let try_iptables = match choice {
            NetChoice::Iptables if latency => {
                return Err(Error::Harness(
                    "the latency fault needs --net proxy (tc netem on the shared lo device is not used)"
                        .into(),
                ))
            }
            NetChoice::Iptables => true,
            NetChoice::Proxy => false,
            NetChoice::Auto if latency => {
                notes.push("iptables not used: the latency fault needs the link proxy".into());
                false
            }
            NetChoice::Auto => true,
        };
        // Chains of testers killed before they could clean up (whatever backend this run uses).
        let stale = tokio::task::spawn_blocking(remove_stale_chains)
            .await
            .unwrap_or_default();
        if !stale.is_empty() {
            notes.push(format!(
                "removed chains left by dead testers: {}",
                stale.join(", ")
            ));
        }
        if try_iptables {
            let installed = tokio::task::spawn_blocking({
                let plan = plan.clone();
                move || iptables::Iptables::install(&plan)
            })
            .await
            .map_err(|e| Error::Harness(format!("iptables setup task failed: {e}")))?;
            match installed {
                Ok(rules) => {
                    notes.push(format!(
                        "chain {} in the filter and nat tables, jumped to from OUTPUT",
                        rules.chain()
                    ));
                    return Ok(Network {
                        backend: Backend::Iptables(rules),
                        notes,
                        cuts: BTreeSet::new(),
                        delay: Duration::ZERO,
                    });
                }
                Err(e) if choice == NetChoice::Iptables => return Err(e),
                Err(e) => notes.push(format!(
                    "iptables unavailable ({e}{}); using the link proxy",
                    if is_root() {
                        ""
                    } else {
                        "; not running as root"
                    }
                )),
            }
        }
        let proxies = proxy::Proxies::start(plan).await?;
        notes.push("link proxy in the tester, one per directed link".into());
        Ok(Network {
            backend: Backend::Proxy(proxies),
            notes,
            cuts: BTreeSet::new(),
            delay: Duration::ZERO,
        })
    }

    /// The backend in use.
    pub fn mode(&self) -> NetMode {
        match self.backend {
            Backend::Iptables(_) => NetMode::Iptables,
            Backend::Proxy(_) => NetMode::Proxy,
        }
    }

    /// How the backend was chosen and set up, one note per line.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// Whether [`Network::set_delay`] works.
    pub fn supports_latency(&self) -> bool {
        self.mode() == NetMode::Proxy
    }

    /// Replaces the set of cut links; `pairs` are unordered replica pairs (`a < b`), cut in
    /// both directions.
    ///
    /// # Errors
    /// [`Error::Harness`] if the rules cannot be changed.
    pub async fn set_cuts(&mut self, pairs: BTreeSet<(NodeId, NodeId)>) -> Result<()> {
        match &self.backend {
            Backend::Iptables(rules) => {
                // iptables-restore takes tens of milliseconds: keep it off the runtime threads.
                let batch = rules.cuts_batch(&pairs);
                tokio::task::spawn_blocking(move || iptables::restore(&batch))
                    .await
                    .map_err(|e| Error::Harness(format!("iptables task failed: {e}")))??;
            }
            Backend::Proxy(proxies) => proxies.set_cuts(&pairs),
        }
        self.cuts = pairs;
        Ok(())
    }

    /// Sets the one-way delay of every link.
    ///
    /// # Errors
    /// [`Error::Harness`] with the iptables backend.
    pub fn set_delay(&mut self, delay: Duration) -> Result<()> {
        match &self.backend {
            Backend::Proxy(proxies) => proxies.set_delay(delay),
            Backend::Iptables(_) => {
                if !delay.is_zero() {
                    return Err(Error::Harness(
                        "latency needs the link proxy (--net proxy)".into(),
                    ));
                }
            }
        }
        self.delay = delay;
        Ok(())
    }

    /// Removes every cut and delay.
    ///
    /// # Errors
    /// [`Error::Harness`] if the rules cannot be changed.
    pub async fn heal(&mut self) -> Result<()> {
        self.set_delay(Duration::ZERO)?;
        self.set_cuts(BTreeSet::new()).await
    }

    /// The links cut now.
    pub fn cuts(&self) -> &BTreeSet<(NodeId, NodeId)> {
        &self.cuts
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid(2) cannot fail and has no preconditions.
    unsafe { libc::geteuid() == 0 }
}
