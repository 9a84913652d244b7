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

#[tokio::test]
async fn an_exhausted_pool_turns_excess_requests_away_quickly_and_health_stays_up() {
    let kb = aiblox_kb_testkit::TestKb::new().await;
    ItemRepo::new(kb.pool()).upsert(&corpus()).await.unwrap();
    let limits = vec![
        ("AIBLOX_POOL_MAX_SIZE", "2".to_owned()),
        ("AIBLOX_POOL_WAIT_TIMEOUT_MS", "300".to_owned()),
    ];
    let settings = settings_with(kb.config(), kb.server_url(), limits);
    let app = std::sync::Arc::new(TestApp::spawn_with(settings, Some(kb)).await);

    // Hold a lock every query needs: the two pooled connections block on it.
    let blocker = app.kb().raw_client().await;
    blocker
        .batch_execute("BEGIN; LOCK TABLE item IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();

    let started = Instant::now();
    let requests: Vec<_> = (0..6)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                let (status, body) = app.query(json!({"query": "vacuum"})).await;
                (
                    status,
                    body["error"]["code"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    started.elapsed(),
                )
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let health_started = Instant::now();
    assert_eq!(
        app.get("/healthz").await.0,
        200,
        "health answers while the pool is exhausted"
    );
    let health_took = health_started.elapsed();

    tokio::time::sleep(Duration::from_millis(700)).await;
    blocker.batch_execute("ROLLBACK").await.unwrap();
    let mut turned_away = 0;
    let mut answered = 0;
    for request in requests {
        let (status, code, took) = request.await.unwrap();
        match status {
            503 => {
                assert_eq!(code, "unavailable");
                assert!(
                    took < Duration::from_secs(5),
                    "a turned-away request waited {took:?}"
                );
                turned_away += 1;
            }
            200 => answered += 1,
            other => panic!("unexpected status {other}"),
        }
    }
    assert!(
        turned_away >= 4,
        "at most two requests fit the pool: {turned_away} turned away, {answered} answered"
    );
    assert!(
        answered >= 1,
        "the blocked requests complete once the lock is gone"
    );
    assert!(
        health_took < Duration::from_secs(2),
        "health took {health_took:?}"
    );
    std::sync::Arc::into_inner(app)
        .expect("all requests finished")
        .stop()
        .await;
}

#[tokio::test]
async fn a_database_restart_under_load_recovers_within_seconds_and_nothing_hangs() {
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
        ("AIBLOX_REQUEST_TIMEOUT_MS", "2000".to_owned()),
    ];
    let app = std::sync::Arc::new(
        TestApp::spawn_with(settings_with(&config, &url, timeouts), None).await,
    );

    // A steady stream: four clients asking in a loop, recording when and what they got.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let origin = Instant::now();
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (app, stop) = (app.clone(), stop.clone());
            tokio::spawn(async move {
                let mut seen = Vec::new();
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let sent = Instant::now();
                    let (status, _) = app.query(json!({"query": "vacuum storage"})).await;
                    seen.push((sent - origin, status, sent.elapsed()));
                }
                seen
            })
        })
        .collect();

    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.stop();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let _restarted = LocalCluster::start_persistent(data.path()).unwrap();
    let back = origin.elapsed();
    tokio::time::sleep(Duration::from_secs(6)).await;
    stop.store(true, std::sync::atomic::Ordering::SeqCst);

    let mut seen = Vec::new();
    for client in clients {
        seen.extend(client.await.unwrap());
    }
    assert!(
        seen.iter()
            .all(|(_, status, _)| *status == 200 || *status == 503),
        "only answers or 503s"
    );
    let slowest = seen.iter().map(|(_, _, took)| *took).max().unwrap();
    assert!(
        slowest < Duration::from_secs(4),
        "a request hung for {slowest:?}, past its 2 s budget"
    );
    assert!(
        seen.iter().any(|(_, status, _)| *status == 503),
        "the outage was visible"
    );
    let first_success_after = seen
        .iter()
        .filter(|(at, status, _)| *at >= back && *status == 200)
        .map(|(at, _, _)| *at)
        .min();
    let recovered_in = first_success_after.expect("requests succeed again") - back;
    assert!(
        recovered_in < Duration::from_secs(5),
        "recovered {recovered_in:?} after the database came back"
    );
    let last = seen
        .iter()
        .filter(|(at, _, _)| *at >= back + Duration::from_secs(5))
        .all(|(_, status, _)| *status == 200);
    assert!(last, "every request succeeds once recovered");
    std::sync::Arc::into_inner(app)
        .expect("clients are done")
        .stop()
        .await;
}
