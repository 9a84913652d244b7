//! A throwaway cluster accepts connections and never outlives its owner: not after a drop,
//! not after a panic, not after SIGKILL; and what a killed owner leaves behind is swept.

use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aiblox_localpg::{LocalCluster, is_running};

/// Waits (bounded) for `pid` to stop running; the bound only keeps a broken build from hanging.
fn wait_until_stopped(pid: u32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(30);
    while is_running(pid) {
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Runs the `aiblox-localpg` binary and reads the pid and directory of the cluster it started.
fn spawn_owner(mode: &str) -> (Child, u32, PathBuf) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aiblox-localpg"))
        .arg(mode)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut pid = None;
    let mut dir = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(value) = line.strip_prefix("pid=") {
            pid = Some(value.parse().unwrap());
        }
        if let Some(value) = line.strip_prefix("dir=") {
            dir = Some(PathBuf::from(value));
            break;
        }
    }
    (
        child,
        pid.expect("owner printed the pid"),
        dir.expect("owner printed the dir"),
    )
}

fn query_one(url: &str) -> i32 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client.query_one("SELECT 1 + 1", &[]).await.unwrap().get(0)
    })
}

#[test]
fn a_cluster_answers_queries_and_is_removed_on_drop() {
    let cluster = LocalCluster::start_temporary().unwrap();
    let pid = cluster.pid();
    let dir = cluster.socket_dir().to_owned();
    assert!(is_running(pid));
    assert_eq!(query_one(&cluster.url("postgres")), 2);

    drop(cluster);
    assert!(!is_running(pid), "the server is stopped when drop returns");
    assert!(!dir.exists(), "the cluster directory is removed");
}

#[test]
fn the_server_dies_with_an_owner_that_panics() {
    let (mut owner, pid, _dir) = spawn_owner("panic");
    let status = owner.wait().unwrap();
    assert!(!status.success());
    assert!(
        wait_until_stopped(pid),
        "postgres {pid} outlived its panicking owner"
    );
}

#[test]
fn the_server_dies_with_a_killed_owner_and_its_directory_is_swept() {
    let (mut owner, pid, dir) = spawn_owner("hold");
    assert!(is_running(pid));
    owner.kill().unwrap(); // SIGKILL: no destructor runs
    owner.wait().unwrap();
    assert!(
        wait_until_stopped(pid),
        "postgres {pid} outlived its killed owner"
    );
    assert!(dir.exists(), "a killed owner cannot clean up after itself");

    let next = LocalCluster::start_temporary().unwrap();
    assert!(
        !dir.exists(),
        "the next start sweeps what the killed owner left"
    );
    next.stop();
}

#[test]
fn an_owner_that_closes_stdin_stops_its_server_and_cleans_up() {
    let (mut owner, pid, dir) = spawn_owner("hold");
    drop(owner.stdin.take());
    assert!(owner.wait().unwrap().success());
    assert!(!is_running(pid));
    assert!(!dir.exists());
}

#[test]
fn ctrl_c_and_sigterm_stop_the_server_and_remove_its_directory() {
    for signal in ["-INT", "-TERM"] {
        let (mut owner, pid, dir) = spawn_owner("hold");
        assert!(is_running(pid));
        let sent = Command::new("kill")
            .args([signal, &owner.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        assert!(owner.wait().unwrap().success(), "{signal}: a clean exit");
        assert!(!is_running(pid), "{signal}: the server is stopped");
        assert!(!dir.exists(), "{signal}: its directory is removed");
    }
}
