//! CPU time of this process, of a PostgreSQL server and of the whole machine, read from
//! `/proc`, so a phase can say where its time went (client, server, anything else).

use std::path::Path;

/// Clock ticks per second of `/proc` times (`getconf CLK_TCK`: 100 on every Linux port that
/// runs PostgreSQL).
const TICKS_PER_SECOND: f64 = 100.0;

/// CPU seconds used so far.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuSnapshot {
    /// This process (user + system).
    pub client: f64,
    /// The postmaster and its children, living and exited; `None` when the server is not ours.
    pub server: Option<f64>,
    /// Every core of the machine, busy time (not idle, not waiting for I/O).
    pub machine_busy: f64,
}

/// CPU seconds spent between two snapshots.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuSpent {
    /// This process.
    pub client: f64,
    /// The server, when it is ours.
    pub server: Option<f64>,
    /// The whole machine.
    pub machine_busy: f64,
}

impl CpuSpent {
    /// Busy time that was neither the client nor the server (other load, and the kernel's
    /// loopback work); near zero for a clean figure. The machine's counters and the
    /// processes' are read at slightly different instants and ticks, so the difference can
    /// come out a little below zero: that is shown as 0, never as negative time.
    pub fn other(&self) -> Option<f64> {
        self.server
            .map(|server| (self.machine_busy - self.client - server).max(0.0))
    }
}

impl CpuSnapshot {
    /// Reads the clock now; `postmaster` is the server's main process when it runs here.
    pub fn take(postmaster: Option<u32>) -> CpuSnapshot {
        CpuSnapshot {
            client: own_cpu_seconds().unwrap_or(0.0),
            server: postmaster.and_then(server_cpu_seconds),
            machine_busy: machine_busy_seconds().unwrap_or(0.0),
        }
    }

    /// What was spent since `earlier`.
    pub fn since(&self, earlier: &CpuSnapshot) -> CpuSpent {
        CpuSpent {
            client: self.client - earlier.client,
            server: match (self.server, earlier.server) {
                (Some(now), Some(then)) => Some(now - then),
                _ => None,
            },
            machine_busy: self.machine_busy - earlier.machine_busy,
        }
    }
}

/// The fields of `/proc/<pid>/stat` after the command name (which may hold spaces).
fn stat_fields(path: &Path) -> Option<Vec<u64>> {
    let text = std::fs::read_to_string(path).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    // Field 3 (state) is a letter: map it to 0 so indexes stay those of proc(5) minus 3.
    Some(
        rest.split_whitespace()
            .map(|field| field.parse().unwrap_or(0))
            .collect(),
    )
}

/// (ppid, utime + stime, cutime + cstime) of a process, in ticks.
fn process_times(path: &Path) -> Option<(u64, u64, u64)> {
    let fields = stat_fields(path)?;
    // proc(5): ppid is field 4, utime 14, stime 15, cutime 16, cstime 17 (1-based); `fields`
    // starts at field 3.
    let at = |field: usize| fields.get(field - 3).copied();
    Some((at(4)?, at(14)? + at(15)?, at(16)? + at(17)?))
}

fn own_cpu_seconds() -> Option<f64> {
    let (_, own, _) = process_times(Path::new("/proc/self/stat"))?;
    Some(own as f64 / TICKS_PER_SECOND)
}

/// CPU seconds (user + system) a running process has used, `None` when it is gone.
pub fn process_cpu_seconds(pid: u32) -> Option<f64> {
    let (_, own, _) = process_times(&Path::new("/proc").join(pid.to_string()).join("stat"))?;
    Some(own as f64 / TICKS_PER_SECOND)
}

/// The postmaster's own time and that of its exited children, plus every living child's.
fn server_cpu_seconds(postmaster: u32) -> Option<f64> {
    let (_, own, exited) =
        process_times(&Path::new("/proc").join(postmaster.to_string()).join("stat"))?;
    let mut ticks = own + exited;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|name| name.parse::<u32>().ok()) else {
            continue;
        };
        if let Some((ppid, time, _)) = process_times(&entry.path().join("stat"))
            && ppid == u64::from(postmaster)
            && pid != postmaster
        {
            ticks += time;
        }
    }
    Some(ticks as f64 / TICKS_PER_SECOND)
}

/// Busy time of all cores: the `cpu` line of `/proc/stat` minus idle and iowait.
fn machine_busy_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/stat").ok()?;
    let line = text.lines().find(|line| line.starts_with("cpu "))?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|value| value.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let busy: u64 = values
        .iter()
        .take(8)
        .enumerate()
        .filter(|(index, _)| *index != 3 && *index != 4)
        .map(|(_, value)| value)
        .sum();
    Some(busy as f64 / TICKS_PER_SECOND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burning_cpu_shows_in_the_client_and_machine_figures() {
        let before = CpuSnapshot::take(Some(std::process::id()));
        let mut x = 0u64;
        let started = std::time::Instant::now();
        while started.elapsed() < std::time::Duration::from_millis(300) {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let spent = CpuSnapshot::take(Some(std::process::id())).since(&before);
        assert!(spent.client > 0.1, "{spent:?}");
        assert!(spent.machine_busy > 0.1, "{spent:?}");
        // Our own process as the "server": its own time counts there too.
        assert!(spent.server.unwrap() > 0.1, "{spent:?}");
    }
}
