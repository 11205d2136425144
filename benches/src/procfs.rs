//! What Linux's `/proc` tells about a process: CPU time and memory.

use std::io;
use std::time::Duration;

/// User plus system CPU time of a process, all its threads, including the threads that have
/// ended (`utime` + `stime` of `/proc/PID/stat`, in clock ticks).
pub fn cpu_time(pid: u32) -> io::Result<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name (field 2) is in parentheses and may hold spaces: split after it.
    let after = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .ok_or_else(|| io::Error::other("malformed /proc/PID/stat"))?;
    let fields: Vec<&str> = after.split_ascii_whitespace().collect();
    // Field 3 (state) is fields[0]: utime is field 14, stime field 15.
    let tick = |i: usize| -> io::Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| io::Error::other("malformed /proc/PID/stat"))
    };
    let ticks = tick(11)? + tick(12)?;
    Ok(Duration::from_nanos(
        ticks * 1_000_000_000 / clock_ticks_per_second(),
    ))
}

/// `sysconf(_SC_CLK_TCK)`, from `getconf CLK_TCK` (100 on every Linux this runs on).
pub fn clock_ticks_per_second() -> u64 {
    static TCK: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *TCK.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t| t > 0)
            .unwrap_or(100)
    })
}

/// A `kB` line of `/proc/PID/status`, in octets: `VmRSS` (resident now), `VmHWM` (peak
/// resident), `Threads` (a count, returned as is).
pub fn status(pid: u32, key: &str) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    for line in status.lines() {
        let Some(rest) = line.strip_prefix(key).and_then(|r| r.strip_prefix(':')) else {
            continue;
        };
        let mut words = rest.split_ascii_whitespace();
        let n: u64 = words
            .next()
            .and_then(|w| w.parse().ok())
            .ok_or_else(|| io::Error::other(format!("malformed {key} in /proc/PID/status")))?;
        return Ok(match words.next() {
            Some("kB") => n * 1024,
            _ => n,
        });
    }
    Err(io::Error::other(format!("no {key} in /proc/{pid}/status")))
}

/// The CPU time of this process.
pub fn own_cpu_time() -> io::Result<Duration> {
    cpu_time(std::process::id())
}

/// The CPU time of a process at one moment, two ways: the whole process in clock ticks
/// (every thread, the ended ones too; 10 ms steps), and each live thread to the nanosecond
/// (`/proc/PID/task/TID/schedstat`).
#[derive(Clone, Debug)]
pub struct CpuSnapshot {
    ticks: Duration,
    threads: std::collections::BTreeMap<u32, u64>,
}

/// How a CPU time difference was measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// The same threads lived at both ends: the sum of their run times, to the nanosecond.
    Threads,
    /// Threads started or ended in between: clock ticks of the whole process (±10 ms).
    Ticks,
}

impl CpuSnapshot {
    /// Reads both now.
    pub fn of(pid: u32) -> io::Result<CpuSnapshot> {
        let mut threads = std::collections::BTreeMap::new();
        for entry in std::fs::read_dir(format!("/proc/{pid}/task"))? {
            let entry = entry?;
            let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse().ok()) else {
                continue;
            };
            // A thread may end between the listing and the read.
            let Ok(stat) = std::fs::read_to_string(entry.path().join("schedstat")) else {
                continue;
            };
            if let Some(ns) = stat
                .split_ascii_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
            {
                threads.insert(tid, ns);
            }
        }
        Ok(CpuSnapshot {
            ticks: cpu_time(pid)?,
            threads,
        })
    }

    /// The CPU time spent since `before`: per thread when the same threads lived throughout
    /// and the two ways agree (within two ticks and 5 %), else by clock ticks.
    pub fn since(&self, before: &CpuSnapshot) -> (Duration, Precision) {
        let ticks = self.ticks.saturating_sub(before.ticks);
        let same = self.threads.keys().eq(before.threads.keys());
        if same {
            let ns: u64 = self
                .threads
                .iter()
                .map(|(tid, ns)| ns.saturating_sub(before.threads[tid]))
                .sum();
            let precise = Duration::from_nanos(ns);
            let tick = Duration::from_nanos(1_000_000_000 / clock_ticks_per_second());
            let slack = 2 * tick + ticks / 20;
            if precise.abs_diff(ticks) <= slack {
                return (precise, Precision::Threads);
            }
        }
        (ticks, Precision::Ticks)
    }
}
