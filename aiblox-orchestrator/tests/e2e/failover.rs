//! A promotion under a steady stream of questions and ingests: the service, on a URL listing
//! a primary and its synchronous standby (`target_session_attrs=read-write`), answers 503 only
//! around the switch, answers again within 5 s of the promotion without a restart, and every
//! write acknowledged before, during or after it is there afterwards.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aiblox_kb::{Error, ItemRepo, KbConfig, KbPool, Migrator, NewItem};
use aiblox_kb_testkit::replication;
use serde_json::json;

use crate::TestApp;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_under_load_costs_only_a_few_503s_and_no_acknowledged_write() {
    let (primary, standby) = replication::synchronous_pair();
    let url = replication::read_write_url(&[&primary, &standby]);
    let config = KbConfig::new(&url).unwrap();
    Migrator::new(&config).run().await.unwrap();
    let writer = KbPool::builder(&config)
        .max_size(2)
        .connect_timeout(Duration::from_secs(1))
        .wait_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    ItemRepo::new(&writer)
        .upsert(&[NewItem::new(
            "docs",
            "vacuum.md",
            "Vacuum reclaims storage occupied by dead tuples.",
        )])
        .await
        .unwrap();
    let settings = crate::settings_with(
        &config,
        &url,
        vec![
            ("pool.connect_timeout_ms", "1000".to_owned()),
            ("pool.wait_timeout_ms", "1000".to_owned()),
        ],
    );
    let app = Arc::new(TestApp::spawn_with(settings, None).await);

    // The streams: questions (status and when), and ingests (the acknowledged ones).
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let answers: Arc<Mutex<Vec<(Instant, u16)>>> = Arc::default();
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::default();
    let questions = tokio::spawn({
        let (app, stop, answers) = (app.clone(), stop.clone(), answers.clone());
        async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let (status, _) = app
                    .query(json!({"query": "vacuum dead tuples", "top_k": 1}))
                    .await;
                answers.lock().unwrap().push((Instant::now(), status));
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    });
    let ingests = tokio::spawn({
        let (writer, stop, acknowledged) = (writer.clone(), stop.clone(), acknowledged.clone());
        async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let key = format!("page-{n}");
                match ItemRepo::new(&writer)
                    .upsert(&[NewItem::new("docs", &key, format!("Ingested page {n}."))])
                    .await
                {
                    Ok(_) => acknowledged.lock().unwrap().push(key),
                    Err(Error::Unavailable { .. }) => {}
                    Err(err) => panic!("an ingest failed other than unavailable: {err:?}"),
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    });
    let count = |answers: &Arc<Mutex<Vec<(Instant, u16)>>>| answers.lock().unwrap().len();
    let deadline = Instant::now() + Duration::from_secs(30);
    while count(&answers) < 20 || acknowledged.lock().unwrap().len() < 20 {
        assert!(Instant::now() < deadline, "the streams never got going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let stopped_at = Instant::now();
    primary.stop();
    standby.promote().unwrap();
    let promoted_at = Instant::now();

    // Wait for 20 answers in a row after the promotion (bounded against a hang).
    let deadline = promoted_at + Duration::from_secs(30);
    loop {
        let recent_ok = {
            let answers = answers.lock().unwrap();
            let after: Vec<u16> = answers
                .iter()
                .filter(|(at, _)| *at > promoted_at)
                .map(|(_, status)| *status)
                .collect();
            after.len() >= 20 && after[after.len() - 20..].iter().all(|s| *s == 200)
        };
        if recent_ok && acknowledged.lock().unwrap().len() > 40 {
            break;
        }
        assert!(Instant::now() < deadline, "the service never recovered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    questions.await.unwrap();
    ingests.await.unwrap();

    let answers = answers.lock().unwrap().clone();
    for (at, status) in &answers {
        assert!(
            *status == 200 || (*status == 503 && *at >= stopped_at),
            "status {status} {:?} after the primary stopped",
            at.checked_duration_since(stopped_at)
        );
    }
    let first_success = answers
        .iter()
        .find(|(at, status)| *at > promoted_at && *status == 200)
        .map(|(at, _)| *at)
        .unwrap();
    assert!(
        first_success.duration_since(promoted_at) < Duration::from_secs(5),
        "answers resumed {:?} after the promotion",
        first_success.duration_since(promoted_at)
    );
    // Every acknowledged write is on the promoted server.
    let keys = acknowledged.lock().unwrap().clone();
    let items = ItemRepo::new(&writer);
    for key in &keys {
        assert!(
            items.get_by_key("docs", key).await.unwrap().is_some(),
            "{key} was acknowledged and is gone"
        );
    }
    writer.close();
}
