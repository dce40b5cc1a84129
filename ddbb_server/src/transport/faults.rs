//! In-process link cutting, for the playground and tests.

use std::collections::BTreeSet;
use std::sync::Mutex;

use ddbb_libs::NodeId;

/// Which directed links between replicas are cut. Shared by every replica of one process
/// (the playground), or private to one replica.
#[derive(Debug, Default)]
pub struct LinkFaults {
    cut: Mutex<BTreeSet<(NodeId, NodeId)>>,
}

impl LinkFaults {
    /// Cuts or heals the link `a → b` and `b → a`.
    pub fn set_cut(&self, a: NodeId, b: NodeId, cut: bool) {
        let mut set = self.cut.lock().unwrap_or_else(|e| e.into_inner());
        if cut {
            set.insert((a, b));
            set.insert((b, a));
        } else {
            set.remove(&(a, b));
            set.remove(&(b, a));
        }
    }

    /// Heals every link.
    pub fn heal_all(&self) {
        self.cut.lock().unwrap_or_else(|e| e.into_inner()).clear();
    }

    /// True when messages from `from` to `to` are dropped.
    pub fn is_cut(&self, from: NodeId, to: NodeId) -> bool {
        let set = self.cut.lock().unwrap_or_else(|e| e.into_inner());
        !set.is_empty() && set.contains(&(from, to))
    }

    /// Every cut pair `(a, b)` with `a < b`.
    pub fn cut_pairs(&self) -> Vec<(NodeId, NodeId)> {
        let set = self.cut.lock().unwrap_or_else(|e| e.into_inner());
        set.iter().filter(|(a, b)| a < b).copied().collect()
    }
}
