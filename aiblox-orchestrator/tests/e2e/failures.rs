//! The database going away and coming back: requests fail fast with 503, readiness says so,
//! and the service recovers by itself.

use std::time::{Duration, Instant};

use aiblox_kb::{ItemRepo, KbConfig, KbPool};
use aiblox_localpg::LocalCluster;
use serde_json::json;

use crate::{TestApp, corpus, settings_with};

#[tokio::test]
async fn a_database_outage_gives_fast_503s_and_the_service_recovers() {
    let data = tempfile::tempdir().unwrap();
    let cluster = LocalCluster::start_persistent(data.path()).unwrap();
    let url = cluster.url("postgres");
    let config = KbConfig::new(&url).unwrap();
    aiblox_kb::migrate(&config).await.unwrap();
    ItemRepo::new(&KbPool::new(&config).unwrap())
        .upsert(&corpus())
        .await
        .unwrap();

    let timeouts = vec![
        ("AIBLOX_POOL_WAIT_TIMEOUT_MS", "500".to_owned()),
        ("AIBLOX_POOL_CONNECT_TIMEOUT_MS", "500".to_owned()),
    ];
    let app = TestApp::spawn_with(settings_with(&config, &url, timeouts), None).await;
    let (status, _) = app.query(json!({"query": "vacuum"})).await;
    assert_eq!(status, 200);

    cluster.stop();
    let started = Instant::now();
    let (status, body) = app.query(json!({"query": "vacuum"})).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "fails fast, bounded by the pool's timeouts"
    );
    let (status, _) = app.get("/readyz").await;
    assert_eq!(status, 503);
    assert_eq!(
        app.get("/healthz").await.0,
        200,
        "alive while the database is down"
    );

    let _restarted = LocalCluster::start_persistent(data.path()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, _) = app.query(json!({"query": "vacuum"})).await;
        if status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the service did not recover: last status {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(app.get("/readyz").await.0, 200);
    app.stop().await;
}
