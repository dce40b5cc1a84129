//! WAL-only tests: restart, torn tails, corruption, checkpoints, injected disk faults, a model
//! check, and OmniPaxos itself running on the WAL. The `Storage` contract tests shared with
//! `MemoryStorage` are in `suite.rs`.

mod checkpoint;
mod cluster;
mod crash;
mod fault;
mod model;
mod recovery;
mod snapshot_sync;

/// The OmniPaxos configuration of node `pid` of a three-node test cluster (pids 1-3).
pub(crate) fn three_nodes(pid: u64, election_tick_timeout: u64) -> omnipaxos::OmniPaxosConfig {
    omnipaxos::OmniPaxosConfig {
        cluster_config: omnipaxos::ClusterConfig {
            configuration_id: 1,
            nodes: vec![1, 2, 3],
            flexible_quorum: None,
        },
        server_config: omnipaxos::ServerConfig {
            pid,
            election_tick_timeout,
            resend_message_tick_timeout: 20,
            buffer_size: 100,
            ..omnipaxos::ServerConfig::default()
        },
    }
}

use super::{
    record::{self, Parsed},
    suite::TestEntry,
    Wal, WalOptions,
};
use std::{
    fs,
    ops::Range,
    path::{Path, PathBuf},
};

/// Segment files of `dir`, oldest first.
fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wal"))
        .collect();
    files.sort();
    files
}

/// Byte ranges of the valid records of a segment.
fn record_bounds(data: &[u8]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut off = 0;
    while let Parsed::Record { next, .. } = record::parse_at(data, off) {
        out.push(off..next);
        off = next;
    }
    out
}

fn open(dir: &Path, options: WalOptions) -> Wal<TestEntry> {
    Wal::open(dir, options).expect("open WAL")
}

/// Copies every file of `from` into `to`, subdirectories included.
fn copy_dir(from: &Path, to: &Path) {
    for e in fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            fs::create_dir_all(&dest).unwrap();
            copy_dir(&p, &dest);
        } else {
            fs::copy(&p, dest).unwrap();
        }
    }
}
