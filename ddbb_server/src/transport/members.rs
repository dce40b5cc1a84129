//! Which peers this replica has seen take part in consensus, kept across restarts.
//!
//! This backs the guard against a replica that lost its disk rejoining under its old id: a
//! replica records a peer once it receives any consensus message from it. Leader-election
//! heartbeats go between every pair of replicas, so every peer that was up with it remembers it
//! (Sequence Paxos messages alone would not do: followers never send those to each other).
//! A replica that takes part writes its promise within an election round, so the record errs
//! only towards caution: a replica that crashed before writing anything needs `--join` too.
//! When that peer later starts on an empty data dir, every hello from this replica tells it
//! "I know you", and it refuses to start unless the operator says `--join`.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::storage::disk::{durable, DiskRef};

use ddbb_libs::NodeId;
use tracing::warn;

/// Peers known to have had durable state; saved in `<data_dir>/members` when there is one.
#[derive(Debug)]
pub struct Members {
    known: Mutex<BTreeSet<NodeId>>,
    file: Option<PathBuf>,
    disk: DiskRef,
}

impl Members {
    /// Loads the record from `data_dir` on `disk` (or keeps it in memory only without one).
    pub fn load(disk: DiskRef, data_dir: Option<PathBuf>) -> Members {
        let file = data_dir.map(|d| d.join("members"));
        let known = file
            .as_ref()
            .and_then(|f| disk.read(f).ok())
            .map(|bytes| {
                String::from_utf8_lossy(&bytes)
                    .split(',')
                    .filter_map(|id| id.trim().parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        Members {
            known: Mutex::new(known),
            file,
            disk,
        }
    }

    /// True when `peer` was seen taking part before.
    pub fn knows(&self, peer: NodeId) -> bool {
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&peer)
    }

    /// Records `peer`; the first time, saves the record durably (temp file, fdatasync, rename,
    /// directory fsync) before returning.
    pub fn record(&self, peer: NodeId) {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if !known.insert(peer) {
            return;
        }
        let Some(file) = &self.file else { return };
        let text: Vec<String> = known.iter().map(|id| id.to_string()).collect();
        if let Err(e) = durable::write_file(&*self.disk, file, text.join(",").as_bytes(), "members")
        {
            // Only weakens the guard for this peer; the replica itself is unaffected.
            warn!(error = %e, file = %file.display(), "cannot save the member record");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::disk;

    #[test]
    fn record_survives_reload() {
        let dir = tempfile::tempdir().unwrap();
        let m = Members::load(disk::os(), Some(dir.path().to_path_buf()));
        assert!(!m.knows(2));
        m.record(2);
        m.record(3);
        m.record(2);
        let again = Members::load(disk::os(), Some(dir.path().to_path_buf()));
        assert!(again.knows(2) && again.knows(3) && !again.knows(1));
        let memory = Members::load(disk::os(), None);
        memory.record(1);
        assert!(memory.knows(1));
    }
}
