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
        ("pool.wait_timeout_ms", "500".to_owned()),
        ("pool.connect_timeout_ms", "500".to_owned()),
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
    crate::readyz_until(&app, "not ready while the database is down", |status, _| {
        status == 503
    })
    .await;
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
    crate::readyz_until(&app, "ready once the database is back", |status, _| {
        status == 200
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn an_exhausted_pool_turns_excess_requests_away_quickly_and_health_stays_up() {
    let kb = aiblox_kb_testkit::TestKb::new().await;
    ItemRepo::new(kb.pool()).upsert(&corpus()).await.unwrap();
    let limits = vec![
        ("pool.max_size", "2".to_owned()),
        ("pool.wait_timeout_ms", "300".to_owned()),
    ];
    let settings = settings_with(kb.config(), kb.server_url(), limits);
    let app = std::sync::Arc::new(TestApp::spawn_with(settings, Some(kb)).await);

    // Hold a lock every query needs: the two pooled connections block on it.
    let blocker = app.kb().raw_client().await;
    blocker
        .batch_execute("BEGIN; LOCK TABLE item IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();

    let requests: Vec<_> = (0..6)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move {
                let (status, body) = app.query(json!({"query": "vacuum"})).await;
                let code = body["error"]["code"].as_str().unwrap_or_default();
                (status, code.to_owned())
            })
        })
        .collect();
    // Two requests hold the pool's connections, blocked on the lock; the other four must be
    // turned away by the pool's wait timeout while the lock is still held (not after it).
    let deadline = Instant::now() + Duration::from_secs(60);
    while requests
        .iter()
        .filter(|request| request.is_finished())
        .count()
        < 4
    {
        assert!(
            Instant::now() < deadline,
            "excess requests were not turned away while the pool was exhausted"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        app.get("/healthz").await.0,
        200,
        "health answers while the pool is exhausted"
    );
    blocker.batch_execute("ROLLBACK").await.unwrap();
    let mut turned_away = 0;
    let mut answered = 0;
    for request in requests {
        let (status, code) = request.await.unwrap();
        match status {
            503 => {
                assert_eq!(code, "unavailable");
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
    std::sync::Arc::into_inner(app)
        .expect("all requests finished")
        .stop()
        .await;
}

#[tokio::test]
async fn a_database_restart_under_load_recovers_and_nothing_hangs() {
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
        ("pool.wait_timeout_ms", "500".to_owned()),
        ("pool.connect_timeout_ms", "500".to_owned()),
        ("limits.request_timeout_ms", "2000".to_owned()),
    ];
    let app = std::sync::Arc::new(
        TestApp::spawn_with(settings_with(&config, &url, timeouts), None).await,
    );

    // A steady stream: four clients asking in a loop, recording when and what they got (time
    // since `origin`, status, how long the request took).
    type Seen = Vec<(Duration, u16, Duration)>;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen: std::sync::Arc<std::sync::Mutex<Seen>> = std::sync::Arc::default();
    let origin = Instant::now();
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (app, stop, seen) = (app.clone(), stop.clone(), seen.clone());
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    let sent = Instant::now();
                    let (status, _) = app.query(json!({"query": "vacuum storage"})).await;
                    let record = (sent - origin, status, sent.elapsed());
                    seen.lock().unwrap().push(record);
                }
            })
        })
        .collect();
    // Waits (generously) until a request sent after `since` got `status`.
    let wait_for = |status: u16, since: Duration, what: &'static str| {
        let seen = seen.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let found = seen
                    .lock()
                    .unwrap()
                    .iter()
                    .any(|(at, got, _)| *at >= since && *got == status);
                if found {
                    return;
                }
                assert!(Instant::now() < deadline, "{what}: no {status} within 60 s");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };

    wait_for(200, Duration::ZERO, "before the outage").await;
    cluster.stop();
    let down = origin.elapsed();
    wait_for(503, down, "the outage was not visible").await;
    let _restarted = LocalCluster::start_persistent(data.path()).unwrap();
    let back = origin.elapsed();
    wait_for(200, back, "the service did not recover").await;
    // Once one request succeeded again, the next ones do too: 20 more in a row.
    let recovered = origin.elapsed();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let after: Vec<u16> = seen
            .lock()
            .unwrap()
            .iter()
            .filter(|(at, _, _)| *at >= recovered)
            .map(|(_, status, _)| *status)
            .collect();
        if after.len() >= 20 {
            assert!(
                after.iter().all(|status| *status == 200),
                "requests failed after recovery: {after:?}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "too few requests after recovery");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for client in clients {
        client.await.unwrap();
    }

    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.iter()
            .all(|(_, status, _)| *status == 200 || *status == 503),
        "only answers or 503s"
    );
    // Nothing hangs: each request ends within its 2 s budget and the pool's timeouts (the
    // bound is generous: a hang would be unbounded).
    let slowest = seen.iter().map(|(_, _, took)| *took).max().unwrap();
    assert!(
        slowest < Duration::from_secs(15),
        "a request hung for {slowest:?}, past its 2 s budget"
    );
    std::sync::Arc::into_inner(app)
        .expect("clients are done")
        .stop()
        .await;
}

/// operations.md: "A query over its time budget: 503 `timeout`; the request's work is
/// dropped". Would catch a pipeline that waits for the database past its budget (the request
/// would only end when the lock is released) or a timeout reported as another error.
#[tokio::test]
async fn a_query_over_its_budget_gets_503_timeout_and_the_service_answers_after() {
    let kb = aiblox_kb_testkit::TestKb::new().await;
    ItemRepo::new(kb.pool()).upsert(&corpus()).await.unwrap();
    let limits = vec![
        ("limits.request_timeout_ms", "300".to_owned()),
        ("pool.wait_timeout_ms", "60000".to_owned()),
    ];
    let settings = settings_with(kb.config(), kb.server_url(), limits);
    let app = std::sync::Arc::new(TestApp::spawn_with(settings, Some(kb)).await);

    // Every search must read `item`, which this lock keeps from it until the test lets go.
    let blocker = app.kb().raw_client().await;
    blocker
        .batch_execute("BEGIN; LOCK TABLE item IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let answered = tokio::time::timeout(
        Duration::from_secs(30),
        app.query(json!({"query": "vacuum"})),
    )
    .await;
    let health = app.get("/healthz").await.0;
    // Let go before any assertion: a failing test must not leave a request blocked behind it.
    blocker.batch_execute("ROLLBACK").await.unwrap();
    let (status, body) =
        answered.expect("the request outlived its budget while the database was blocked");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "timeout", "{body}");
    assert_eq!(health, 200, "alive while a query is over its budget");

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = app.query(json!({"query": "vacuum"})).await;
        if status == 200 {
            assert!(!body["evidence"].as_array().unwrap().is_empty(), "{body}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the service did not answer after the lock was gone: {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    std::sync::Arc::into_inner(app)
        .expect("all requests finished")
        .stop()
        .await;
}

/// operations.md: services that do not migrate (`serve --no-migrate`) check the contract at
/// start and refuse an unmigrated, behind or incompatible database, saying what to do; they
/// start on one that is up to date. Would catch a start that skips the check.
#[tokio::test]
async fn a_service_that_does_not_migrate_refuses_a_database_it_cannot_use() {
    use aiblox_orchestrator::server::Application;

    let kb = aiblox_kb_testkit::TestKb::unmigrated().await;
    let mut settings = settings_with(kb.config(), kb.server_url(), Vec::new());
    settings.migrate_on_start = false;
    let refused = |err: anyhow::Error| format!("{err:#}");

    let unmigrated = refused(Application::build(&settings).await.err().expect("refused"));
    assert!(unmigrated.contains("run the migrations"), "{unmigrated}");

    aiblox_kb::migrate(kb.config()).await.unwrap();
    Application::build(&settings)
        .await
        .expect("starts on an up-to-date database");

    // A newer build of the same contract line added a migration: still fine.
    crate::apply_a_newer_builds_migration(kb.config()).await;
    Application::build(&settings)
        .await
        .expect("starts on a database ahead within the rule");

    // That migration recorded by a contract of another major version.
    let owner = kb.raw_client().await;
    owner
        .batch_execute(
            "UPDATE aiblox_kb_migrations SET contract_version = '9.0.0' WHERE version = 9000",
        )
        .await
        .unwrap();
    let incompatible = refused(Application::build(&settings).await.err().expect("refused"));
    assert!(incompatible.contains("9.0.0"), "{incompatible}");

    // Behind: the newest migration of this build is not recorded.
    owner
        .batch_execute(
            "DELETE FROM aiblox_kb_migrations
             WHERE version = 9000 OR version = (SELECT max(version) FROM aiblox_kb_migrations WHERE version < 9000)",
        )
        .await
        .unwrap();
    let behind = refused(Application::build(&settings).await.err().expect("refused"));
    assert!(behind.contains("run the migrations"), "{behind}");
}

/// operations.md: on SIGTERM the service stops taking requests and finishes those in flight
/// before it exits. Would catch a shutdown that drops a request being answered.
#[tokio::test]
async fn a_graceful_stop_finishes_the_request_in_flight() {
    let kb = aiblox_kb_testkit::TestKb::new().await;
    ItemRepo::new(kb.pool()).upsert(&corpus()).await.unwrap();
    let limits = vec![("limits.request_timeout_ms", "60000".to_owned())];
    let settings = settings_with(kb.config(), kb.server_url(), limits);
    let mut app = TestApp::spawn_with(settings, Some(kb)).await;
    let kb = app.kb.take().expect("a test schema");

    // The request waits behind a lock until the test lets go.
    let blocker = kb.raw_client().await;
    let blocker_pid: i32 = blocker
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .unwrap()
        .get(0);
    blocker
        .batch_execute("BEGIN; LOCK TABLE item IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let in_flight = {
        let (client, url) = (app.client.clone(), app.url.clone());
        tokio::spawn(async move {
            let response = client
                .post(format!("{url}/v1/query"))
                .json(&json!({"query": "vacuum"}))
                .send()
                .await
                .unwrap();
            response.status().as_u16()
        })
    };
    let observer = kb.raw_client().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let waiting: i64 = observer
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
                &[&blocker_pid],
            )
            .await
            .unwrap()
            .get(0);
        if waiting > 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the request never reached the database"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let stopping = tokio::spawn(app.stop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stopped_early = stopping.is_finished();
    blocker.batch_execute("ROLLBACK").await.unwrap();
    assert!(
        !stopped_early,
        "the service exited with a request in flight"
    );
    let status = tokio::time::timeout(Duration::from_secs(60), in_flight)
        .await
        .expect("the request in flight never finished")
        .unwrap();
    assert_eq!(status, 200, "the request in flight was answered");
    tokio::time::timeout(Duration::from_secs(60), stopping)
        .await
        .expect("the service did not exit after its last request")
        .unwrap();
    drop(kb);
}
