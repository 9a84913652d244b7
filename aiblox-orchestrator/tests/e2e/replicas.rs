//! The service with a read replica (a real standby of a throwaway primary): a question right
//! after an ingest finds what was ingested even while the replica lags (its replay paused,
//! within the lag bound), a question sent with a write's position sees that write, and the
//! replica's state shows in the metrics.

use std::time::{Duration, Instant};

use aiblox_kb::{ItemRepo, KbConfig, KbPool, Migrator, NewItem};
use aiblox_kb_testkit::replication;
use aiblox_localpg::{LocalCluster, ServerOptions};
use serde_json::json;

use crate::TestApp;

#[tokio::test]
async fn a_question_right_after_an_ingest_finds_it_while_the_replica_lags() {
    let primary = LocalCluster::start_temporary().unwrap();
    let on_primary = KbConfig::new(&primary.url("postgres")).unwrap();
    Migrator::new(&on_primary).run().await.unwrap();
    let writer = KbPool::builder(&on_primary).max_size(2).build().unwrap();
    let items = ItemRepo::new(&writer);
    items
        .upsert(&[NewItem::new(
            "docs",
            "vacuum.md",
            "Vacuum reclaims storage.",
        )])
        .await
        .unwrap();
    let standby = primary.start_standby(&ServerOptions::default()).unwrap();
    let standby_client = replication::connect(&standby).await;

    // The replica may lag 10 minutes and still serve: only reading "as of now" keeps the
    // service from missing a fresh write.
    let settings = crate::settings_with(
        &on_primary,
        &primary.url("postgres"),
        vec![
            ("database.read_urls", standby.url("postgres")),
            ("database.max_replica_lag_ms", "600000".to_owned()),
        ],
    );
    let app = TestApp::spawn_with(settings, None).await;
    let (status, _) = app
        .query(json!({"query": "docs:vacuum.md", "top_k": 1}))
        .await;
    assert_eq!(status, 200);
    let metrics_say = |text: &str, line: &str| text.lines().any(|l| l.starts_with(line));
    let serving = |text: &str| {
        text.lines()
            .any(|l| l.starts_with("aiblox_replica_serving{") && l.ends_with(" 1"))
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !serving(&app.metrics().await) {
        assert!(Instant::now() < deadline, "the replica never served");
        // Reads start the replica's probes.
        app.query(json!({"query": "docs:vacuum.md", "top_k": 1}))
            .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Replay paused, then a page ingested on the primary.
    replication::pause_replay(&standby_client).await;
    let fresh = items
        .upsert(&[NewItem::new(
            "docs",
            "autovacuum.md",
            "The autovacuum launcher starts workers for tables that need vacuuming.",
        )])
        .await
        .unwrap()[0]
        .id;
    let replica_has: i64 = standby_client
        .query_one("SELECT count(*) FROM kb.item WHERE id = $1", &[&fresh])
        .await
        .unwrap()
        .get(0);
    assert_eq!(replica_has, 0, "the replica has not replayed the ingest");

    // Right away: the lookup, a search and the item endpoint all find it.
    let (status, body) = app
        .query(json!({"query": "docs:autovacuum.md", "top_k": 1}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["evidence"][0]["item_id"], fresh, "{body}");
    let (status, body) = app
        .query(json!({"query": "autovacuum launcher workers", "top_k": 1}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["evidence"][0]["item_id"], fresh, "{body}");
    let (status, body) = app.get(&format!("/v1/items/{fresh}")).await;
    assert_eq!(status, 200, "{body}");

    // A write through the service answers its position; a question sent with it as `after`
    // sees the write though the replica still lags.
    let response = app
        .client
        .put(format!("{}/v1/items/docs/quokka.md", app.url))
        .json(&json!({"content": "The quokka smiles at every visitor of Rottnest Island."}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let header = response.headers()["x-aiblox-position"]
        .to_str()
        .unwrap()
        .to_owned();
    let written: serde_json::Value = response.json().await.unwrap();
    assert_eq!(written["position"], header.as_str());
    let (status, body) = app
        .query(json!({"query": "quokka Rottnest", "top_k": 1, "after": header}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["evidence"][0]["external_id"], "quokka.md", "{body}");
    let (status, body) = app
        .query(json!({"query": "quokka", "after": "not a position"}))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("`after`"),
        "{body}"
    );

    let metrics = app.metrics().await;
    for name in [
        "aiblox_replica_lag_ms{",
        "aiblox_replica_reads{",
        "aiblox_replica_skipped{",
        "aiblox_replica_reads_on_primary ",
    ] {
        assert!(metrics_say(&metrics, name), "{name} missing:\n{metrics}");
    }
    replication::resume_replay(&standby_client).await;
    app.stop().await;
}
