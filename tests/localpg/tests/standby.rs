//! A standby of a throwaway cluster follows it, lags on demand, and takes over when promoted:
//! the real servers the replication and failover tests of the contract run on.

use std::time::{Duration, Instant};

use aiblox_localpg::{LocalCluster, ServerOptions, is_running};
use tokio_postgres::{Client, NoTls};

async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await.unwrap();
    tokio::spawn(connection);
    client
}

/// The rows of `t` the server at `client` sees.
async fn count(client: &Client) -> i64 {
    client
        .query_one("SELECT count(*) FROM t", &[])
        .await
        .unwrap()
        .get(0)
}

/// Polls (bounded) until the standby sees `expected` rows of `t`; the bound only keeps a broken
/// build from hanging.
async fn wait_for_rows(standby: &Client, expected: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // A synchronous commit waits for the standby to flush the WAL, not to replay it: the
        // table may not exist there yet.
        let seen = match standby.query_one("SELECT count(*) FROM t", &[]).await {
            Ok(row) => row.get(0),
            Err(err) if err.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => -1,
            Err(err) => panic!("{err}"),
        };
        if seen == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the standby still sees {seen} rows, not {expected}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_synchronous_standby_has_every_acknowledged_write_lags_on_demand_and_takes_over() {
    // Durable so that commits are synchronous, and synchronous to any standby: an
    // acknowledged commit is on the standby too.
    let primary = LocalCluster::start_temporary_with_options(
        &aiblox_localpg::ServerBinaries::locate().unwrap(),
        &ServerOptions {
            durable: true,
            settings: vec!["synchronous_standby_names=*".to_owned()],
            ..ServerOptions::default()
        },
    )
    .unwrap();
    let standby = primary.start_standby(&ServerOptions::default()).unwrap();
    assert_ne!(standby.socket_dir(), primary.socket_dir());

    let writer = connect(&primary.url("postgres")).await;
    let reader = connect(&standby.url("postgres")).await;
    let in_recovery: bool = reader
        .query_one("SELECT pg_is_in_recovery()", &[])
        .await
        .unwrap()
        .get(0);
    assert!(in_recovery, "the copy runs as a standby");
    // Synchronous once it streams (while it catches up, commits wait for it).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let state: Option<String> = writer
            .query_opt("SELECT sync_state FROM pg_stat_replication", &[])
            .await
            .unwrap()
            .map(|row| row.get(0));
        if state.as_deref() == Some("sync") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the standby never became synchronous ({state:?})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    writer
        .batch_execute("CREATE TABLE t (n int); INSERT INTO t VALUES (1)")
        .await
        .unwrap();
    wait_for_rows(&reader, 1).await;
    let refused = reader
        .execute("INSERT INTO t VALUES (2)", &[])
        .await
        .unwrap_err();
    assert_eq!(
        refused.code(),
        Some(&tokio_postgres::error::SqlState::READ_ONLY_SQL_TRANSACTION)
    );

    // Lag on demand: once replay has paused, a commit on the primary is not seen on the
    // standby (it is received and flushed there, so the synchronous commit returns) until
    // replay resumes.
    reader
        .batch_execute("SELECT pg_wal_replay_pause()")
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let state: String = reader
            .query_one("SELECT pg_get_wal_replay_pause_state()", &[])
            .await
            .unwrap()
            .get(0);
        if state == "paused" {
            break;
        }
        assert!(Instant::now() < deadline, "replay never paused ({state})");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    writer
        .batch_execute("INSERT INTO t VALUES (2)")
        .await
        .unwrap();
    assert_eq!(count(&reader).await, 1, "replay is paused");
    reader
        .batch_execute("SELECT pg_wal_replay_resume()")
        .await
        .unwrap();
    wait_for_rows(&reader, 2).await;

    // Failover: the primary dies, the standby is promoted and takes writes, with every
    // acknowledged write.
    writer
        .batch_execute("INSERT INTO t VALUES (3)")
        .await
        .unwrap();
    let primary_pid = primary.pid();
    primary.stop();
    assert!(!is_running(primary_pid));
    standby.promote().unwrap();
    let promoted = connect(&standby.url("postgres")).await;
    assert_eq!(
        count(&promoted).await,
        3,
        "every acknowledged write survived"
    );
    promoted
        .batch_execute("INSERT INTO t VALUES (4)")
        .await
        .unwrap();
    assert_eq!(count(&promoted).await, 4);
}

#[test]
fn promoting_a_primary_is_refused_with_the_reason() {
    let primary = LocalCluster::start_temporary().unwrap();
    let err = primary.promote().unwrap_err().to_string();
    assert!(err.contains("pg_ctl promote failed"), "{err}");
    assert!(err.contains("not in standby mode"), "{err}");
}

#[tokio::test(flavor = "current_thread")]
async fn the_binary_holds_a_primary_and_its_standby_and_removes_both() {
    use std::io::{BufRead as _, BufReader};
    use std::process::{Command, Stdio};

    let mut child = Command::new(env!("CARGO_BIN_EXE_aiblox-localpg"))
        .arg("--standby")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut value = |key: &str| loop {
        let line = lines.next().expect("the binary printed its lines").unwrap();
        if let Some(value) = line.strip_prefix(&format!("{key}=")) {
            return value.to_owned();
        }
    };
    let (url, dir) = (value("url"), value("dir"));
    let (standby_url, standby_dir) = (value("standby_url"), value("standby_dir"));
    let recovery = |client: Client| async move {
        client
            .query_one("SELECT pg_is_in_recovery()", &[])
            .await
            .unwrap()
            .get::<_, bool>(0)
    };
    assert!(
        !recovery(connect(&url).await).await,
        "the primary takes writes"
    );
    assert!(
        recovery(connect(&standby_url).await).await,
        "the standby replays"
    );

    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    for dir in [dir, standby_dir] {
        assert!(!std::path::Path::new(&dir).exists(), "{dir} is left behind");
    }
}
