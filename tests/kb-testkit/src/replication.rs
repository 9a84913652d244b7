//! A primary and a streaming standby for replication and failover tests: the pair, URLs that
//! name both, and the standby's replay paused or awaited (each wait bounded against a hang).

use std::time::{Duration, Instant};

use aiblox_localpg::{LocalCluster, ServerBinaries, ServerOptions};
use tokio_postgres::{Client, NoTls};

/// How long a wait on the standby may take before the test fails instead of hanging.
const WAIT: Duration = Duration::from_secs(30);

/// A throwaway primary with durable, synchronous commits to any standby, and a streaming
/// standby of it: a write acknowledged by the primary is on the standby too.
pub fn synchronous_pair() -> (LocalCluster, LocalCluster) {
    let primary = LocalCluster::start_temporary_with_options(
        &ServerBinaries::locate().unwrap(),
        &ServerOptions {
            durable: true,
            settings: vec!["synchronous_standby_names=*".to_owned()],
            ..ServerOptions::default()
        },
    )
    .unwrap();
    let standby = primary.start_standby(&ServerOptions::default()).unwrap();
    (primary, standby)
}

/// A URL naming every cluster of `clusters`, in order, for database `postgres`, that picks the
/// one taking writes (`target_session_attrs=read-write`).
pub fn read_write_url(clusters: &[&LocalCluster]) -> String {
    let hosts: Vec<String> = clusters
        .iter()
        .map(|cluster| {
            let url = cluster.url("postgres");
            let rest = url.strip_prefix("postgresql://postgres@").unwrap();
            rest.split('/').next().unwrap().to_owned()
        })
        .collect();
    format!(
        "postgresql://postgres@{}/postgres?target_session_attrs=read-write",
        hosts.join(",")
    )
}

/// A plain client of `cluster`'s database `postgres`.
pub async fn connect(cluster: &LocalCluster) -> Client {
    let (client, connection) = tokio_postgres::connect(&cluster.url("postgres"), NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// Pauses replay on the standby behind `standby` and returns once it has paused.
pub async fn pause_replay(standby: &Client) {
    standby
        .batch_execute("SELECT pg_wal_replay_pause()")
        .await
        .unwrap();
    let deadline = Instant::now() + WAIT;
    loop {
        let state: String = standby
            .query_one("SELECT pg_get_wal_replay_pause_state()", &[])
            .await
            .unwrap()
            .get(0);
        if state == "paused" {
            return;
        }
        assert!(Instant::now() < deadline, "replay never paused ({state})");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Resumes replay on the standby behind `standby`.
pub async fn resume_replay(standby: &Client) {
    standby
        .batch_execute("SELECT pg_wal_replay_resume()")
        .await
        .unwrap();
}

/// Returns once the standby behind `standby` has replayed item `id` of schema `schema`.
pub async fn wait_until_replayed(standby: &Client, schema: &str, id: i64) {
    let deadline = Instant::now() + WAIT;
    let sql = format!("SELECT 1 FROM {schema}.item WHERE id = $1");
    while standby.query_opt(&sql, &[&id]).await.unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the standby never replayed item {id}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
