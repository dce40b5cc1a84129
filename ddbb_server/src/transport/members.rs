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
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use ddbb_libs::NodeId;
use tracing::warn;

/// Peers known to have had durable state; saved in `<data_dir>/members` when there is one.
#[derive(Debug, Default)]
pub struct Members {
    known: Mutex<BTreeSet<NodeId>>,
    file: Option<PathBuf>,
}

impl Members {
    /// Loads the record from `data_dir` (or keeps it in memory only without one).
    pub fn load(data_dir: Option<PathBuf>) -> Members {
        let file = data_dir.map(|d| d.join("members"));
        let known = file
            .as_ref()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .map(|text| {
                text.split(',')
                    .filter_map(|id| id.trim().parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        Members {
            known: Mutex::new(known),
            file,
        }
    }

    /// True when `peer` was seen taking part before.
    pub fn knows(&self, peer: NodeId) -> bool {
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&peer)
    }

    /// Records `peer`; saves the record (write temp file, fsync, rename) the first time.
    pub fn record(&self, peer: NodeId) {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if !known.insert(peer) {
            return;
        }
        let Some(file) = &self.file else { return };
        let text: Vec<String> = known.iter().map(|id| id.to_string()).collect();
        let tmp = file.with_extension("tmp");
        let saved = std::fs::File::create(&tmp)
            .and_then(|mut f| {
                f.write_all(text.join(",").as_bytes())?;
                f.sync_all()
            })
            .and_then(|_| std::fs::rename(&tmp, file));
        if let Err(e) = saved {
            // Only weakens the guard for this peer; the replica itself is unaffected.
            warn!(error = %e, file = %file.display(), "cannot save the member record");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_survives_reload() {
        let dir = tempfile::tempdir().unwrap();
        let m = Members::load(Some(dir.path().to_path_buf()));
        assert!(!m.knows(2));
        m.record(2);
        m.record(3);
        m.record(2);
        let again = Members::load(Some(dir.path().to_path_buf()));
        assert!(again.knows(2) && again.knows(3) && !again.knows(1));
        let memory = Members::load(None);
        memory.record(1);
        assert!(memory.knows(1));
    }
}
