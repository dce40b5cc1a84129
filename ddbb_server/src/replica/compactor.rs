//! Auto-compaction (etcd's `--auto-compaction-mode` and `--auto-compaction-retention`): when
//! and where the leader proposes a `Compact`. Pure: the loop feeds it its virtual time and
//! revisions, so it is the same in the simulator.
//!
//! - `revision` mode keeps the last `retention` revisions: every `interval` (etcd: 5 minutes)
//!   it compacts at `revision - retention`.
//! - `periodic` mode keeps `retention` of history: it samples the revision every
//!   `retention / 10` (at most every hour, as etcd) and compacts at the newest sample that is
//!   at least `retention` old.

use std::collections::VecDeque;
use std::time::Duration;

/// How history is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoCompaction {
    /// Keep this long a history.
    Periodic(Duration),
    /// Keep this many revisions, checking every `interval`.
    Revision {
        /// Revisions kept.
        retention: i64,
        /// How often to check.
        interval: Duration,
    },
}

impl AutoCompaction {
    /// Parses etcd's flags: mode `periodic` with a duration (`1h`, `30m`, `90s`; a bare
    /// number is hours, as etcd) or mode `revision` with a count. Retention 0 disables.
    pub fn parse(mode: &str, retention: &str, interval: Duration) -> Result<Option<Self>, String> {
        match mode {
            "periodic" => {
                let d = parse_duration(retention)?;
                Ok((!d.is_zero()).then_some(AutoCompaction::Periodic(d)))
            }
            "revision" => {
                let n: i64 = retention.parse().map_err(|_| {
                    format!("--auto-compaction-retention {retention:?}: not a revision count")
                })?;
                Ok((n > 0).then_some(AutoCompaction::Revision {
                    retention: n,
                    interval,
                }))
            }
            other => Err(format!(
                "--auto-compaction-mode {other:?}: expected periodic or revision"
            )),
        }
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    // A bare number is hours, as etcd's periodic retention.
    let with_unit = if text.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
        format!("{text}h")
    } else {
        text.to_string()
    };
    crate::config::parse_go_duration(&with_unit).ok_or_else(|| {
        format!("--auto-compaction-retention {text:?}: expected a duration such as 1h, 30m or 90s")
    })
}

/// Decides when to compact; see the module doc.
#[derive(Debug)]
pub struct Compactor {
    policy: AutoCompaction,
    /// `(time, revision)` samples, oldest first (periodic mode).
    samples: VecDeque<(Duration, i64)>,
    last_check: Option<Duration>,
}

impl Compactor {
    /// A compactor following `policy`.
    pub fn new(policy: AutoCompaction) -> Self {
        Compactor {
            policy,
            samples: VecDeque::new(),
            last_check: None,
        }
    }

    fn step(&self) -> Duration {
        match self.policy {
            AutoCompaction::Periodic(d) => (d / 10).min(Duration::from_secs(3600)),
            AutoCompaction::Revision { interval, .. } => interval,
        }
    }

    /// Called on every tick with the time, the store revision and its compacted revision;
    /// returns the revision to compact at, if it is time to.
    pub fn on_tick(&mut self, now: Duration, revision: i64, compacted: i64) -> Option<i64> {
        if self.last_check.is_some_and(|at| now < at + self.step()) {
            return None;
        }
        self.last_check = Some(now);
        let target = match self.policy {
            AutoCompaction::Revision { retention, .. } => revision - retention,
            AutoCompaction::Periodic(keep) => {
                self.samples.push_back((now, revision));
                let mut target = None;
                while let Some(&(at, rev)) = self.samples.front() {
                    if now.saturating_sub(at) < keep {
                        break;
                    }
                    target = Some(rev);
                    self.samples.pop_front();
                }
                target?
            }
        };
        (target > compacted).then_some(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[test]
    fn flags_parse_like_etcd() {
        let i = secs(300);
        assert_eq!(
            AutoCompaction::parse("periodic", "1", i),
            Ok(Some(AutoCompaction::Periodic(secs(3600))))
        );
        assert_eq!(
            AutoCompaction::parse("periodic", "30m", i),
            Ok(Some(AutoCompaction::Periodic(secs(1800))))
        );
        assert_eq!(
            AutoCompaction::parse("revision", "1000", i),
            Ok(Some(AutoCompaction::Revision {
                retention: 1000,
                interval: i
            }))
        );
        assert_eq!(AutoCompaction::parse("periodic", "0", i), Ok(None));
        assert!(AutoCompaction::parse("revision", "1h", i).is_err());
        assert!(AutoCompaction::parse("sometimes", "1", i).is_err());
    }

    #[test]
    fn revision_mode_keeps_the_last_n_revisions() {
        let mut c = Compactor::new(AutoCompaction::Revision {
            retention: 10,
            interval: secs(60),
        });
        assert_eq!(c.on_tick(secs(0), 5, 0), None, "not enough history");
        assert_eq!(c.on_tick(secs(30), 50, 0), None, "not time yet");
        assert_eq!(c.on_tick(secs(60), 50, 0), Some(40));
        assert_eq!(c.on_tick(secs(120), 50, 40), None, "nothing new");
    }

    #[test]
    fn periodic_mode_compacts_what_is_older_than_the_retention() {
        let mut c = Compactor::new(AutoCompaction::Periodic(secs(100)));
        // Samples every 10 s; revision = time in seconds + 1.
        let mut compacted = 0;
        let mut done = Vec::new();
        for t in (0..=300).step_by(5) {
            if let Some(rev) = c.on_tick(secs(t), t as i64 + 1, compacted) {
                assert!(
                    rev <= t as i64 + 1 - 100,
                    "compacted history younger than 100 s"
                );
                compacted = rev;
                done.push(rev);
            }
        }
        assert!(!done.is_empty() && compacted >= 190, "{done:?}");
    }
}
