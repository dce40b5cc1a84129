//! CPU time and memory of processes, from `/proc`.
//!
//! CPU seconds are `utime + stime` of `/proc/PID/stat` (all threads). Peak RSS is `VmHWM` of
//! `/proc/PID/status`, reset at the start of a run by writing `5` to `/proc/PID/clear_refs`
//! (Linux ≥ 4.0; needs permission over the process), so it is the peak *during* the run.

/// Clock ticks per second for `/proc/PID/stat` times.
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// `utime + stime` in ticks from the text of `/proc/PID/stat`.
fn parse_stat_ticks(stat: &str) -> Option<u64> {
    // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// A `kB` field of `/proc/PID/status`, in bytes.
fn parse_status_kb(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        let kb: u64 = rest.split_whitespace().next()?.parse().ok()?;
        Some(kb * 1024)
    })
}

/// CPU seconds used so far by process `pid` (`None` once it is gone).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    Some(parse_stat_ticks(&stat)? as f64 / ticks_per_second())
}

/// CPU seconds used so far by this process.
pub fn own_cpu_seconds() -> f64 {
    cpu_seconds(std::process::id()).unwrap_or(0.0)
}

/// Resets the peak RSS of `pid` to its current RSS; false when the kernel refused.
pub fn reset_peak_rss(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// Peak RSS of `pid` in bytes since start or the last [`reset_peak_rss`].
pub fn peak_rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_status_kb(&status, "VmHWM")
}

/// A snapshot of the CPU time of a set of processes, to measure one run.
#[derive(Clone, Debug)]
pub struct CpuMark {
    pids: Vec<u32>,
    servers: Vec<f64>,
    own: f64,
}

/// What the server processes used during one run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    /// CPU seconds of all server processes together.
    pub server_cpu_s: f64,
    /// CPU seconds of the benchmark process (the clients).
    pub client_cpu_s: f64,
    /// Sum of the server processes' peak RSS during the run, in bytes.
    pub peak_rss_sum: u64,
    /// The largest single server process peak RSS during the run, in bytes.
    pub peak_rss_max: u64,
}

impl CpuMark {
    /// Starts measuring `pids`: notes their CPU time and resets their peak RSS.
    pub fn start(pids: &[u32]) -> CpuMark {
        for &pid in pids {
            reset_peak_rss(pid);
        }
        CpuMark {
            pids: pids.to_vec(),
            servers: pids
                .iter()
                .map(|&p| cpu_seconds(p).unwrap_or(0.0))
                .collect(),
            own: own_cpu_seconds(),
        }
    }

    /// What the processes used since [`CpuMark::start`]. A process that died in between
    /// counts for nothing.
    pub fn finish(&self) -> Usage {
        let mut usage = Usage {
            client_cpu_s: own_cpu_seconds() - self.own,
            ..Usage::default()
        };
        for (&pid, &before) in self.pids.iter().zip(&self.servers) {
            if let Some(now) = cpu_seconds(pid) {
                usage.server_cpu_s += (now - before).max(0.0);
            }
            if let Some(rss) = peak_rss_bytes(pid) {
                usage.peak_rss_sum += rss;
                usage.peak_rss_max = usage.peak_rss_max.max(rss);
            }
        }
        usage
    }
}

/// True when `pid` is a running (not zombie) process whose command name is `comm`.
pub fn running_as(pid: u32, comm: &str) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let zombie = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next())
        .is_some_and(|state| state == "Z" || state == "X");
    let name = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
    !zombie && name.trim_end() == comm
}

/// The command name of this process, as `/proc/self/comm` has it.
pub fn own_comm() -> String {
    std::fs::read_to_string("/proc/self/comm")
        .map(|s| s.trim_end().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_times_are_read_after_the_command_name() {
        let stat = "1234 (ddbb server) (x) S 1 1234 1234 0 -1 4194304 500 0 0 0 250 75 0 0 20 0 \
                    9 0 100 1000000 300 18446744073709551615";
        assert_eq!(parse_stat_ticks(stat), Some(325));
        assert_eq!(parse_stat_ticks("garbage"), None);
    }

    #[test]
    fn status_fields_are_read_in_bytes() {
        let status = "Name:\tetcd\nVmPeak:\t  900 kB\nVmHWM:\t    2048 kB\nVmRSS:\t 1024 kB\n";
        assert_eq!(parse_status_kb(status, "VmHWM"), Some(2048 * 1024));
        assert_eq!(parse_status_kb(status, "VmSwap"), None);
    }

    #[test]
    fn own_process_is_measured() {
        let pid = std::process::id();
        assert!(cpu_seconds(pid).is_some());
        assert!(peak_rss_bytes(pid).unwrap() > 0);
        assert!(running_as(pid, &own_comm()));
        assert!(!running_as(pid, "not-this-program"));
    }
}
