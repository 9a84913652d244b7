//! Removing cluster directories left behind by runs that were killed.

use std::fs::File;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::cluster::{OWNER_LOCK, STAGING_LOCK_EXTENSION};

/// A directory without an owner lock younger than this may still be being set up.
const SETUP_GRACE: Duration = Duration::from_secs(60);

/// Removes every cluster directory under `base` whose owner is gone: its owner lock is free
/// (the kernel releases it when the owning process dies). A server still running there is
/// stopped first. Errors are ignored: a sweep never prevents a start.
pub(crate) fn sweep_stale_clusters(base: &Path) {
    let Ok(entries) = std::fs::read_dir(base) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let dir = entry.path();
        if !dir.is_dir() {
            // An owner lock being set up by a process killed before it finished.
            let staging = dir
                .extension()
                .is_some_and(|ext| ext == STAGING_LOCK_EXTENSION);
            if staging
                && older_than(&dir, SETUP_GRACE)
                && File::open(&dir).is_ok_and(|f| f.try_lock().is_ok())
            {
                let _ = std::fs::remove_file(&dir);
            }
            continue;
        }
        let stale = match File::open(dir.join(OWNER_LOCK)) {
            Ok(lock) => lock.try_lock().is_ok(),
            Err(_) => older_than(&dir, SETUP_GRACE),
        };
        if stale {
            stop_leftover_server(&dir.join("data"));
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

fn older_than(path: &Path, age: Duration) -> bool {
    std::fs::metadata(path)
        .and_then(|meta| meta.modified())
        .ok()
        .and_then(|modified| SystemTime::now().duration_since(modified).ok())
        .is_some_and(|elapsed| elapsed > age)
}

/// Stops a postmaster still running on `data_dir` (one started outside our keeper, or one
/// whose parent-death signal was lost), waiting up to a few seconds for it to exit.
fn stop_leftover_server(data_dir: &Path) {
    let Ok(pid_file) = std::fs::read_to_string(data_dir.join("postmaster.pid")) else {
        return;
    };
    let Some(pid) = pid_file
        .lines()
        .next()
        .and_then(|line| line.trim().parse::<u32>().ok())
    else {
        return;
    };
    let proc_dir = format!("/proc/{pid}");
    let is_postgres = std::fs::read(format!("{proc_dir}/cmdline")).is_ok_and(|cmdline| {
        String::from_utf8_lossy(&cmdline).contains(&*data_dir.to_string_lossy())
    });
    if !is_postgres {
        return;
    }
    let _ = Command::new("kill")
        .arg("-QUIT")
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while is_running(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Whether process `pid` exists and is not a zombie waiting to be reaped.
pub fn is_running(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the parenthesised command name, which may itself hold spaces.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next());
    !matches!(state, Some("Z" | "X") | None)
}
