//! Many services on one fresh knowledge base at once: three service processes and two
//! ingestion runs start together on an unmigrated schema; every one starts (one migrates, the
//! others wait for its lock and find nothing to do), every service answers, and the two
//! ingesters, loading overlapping documents at the same time, leave each document once with
//! one of the versions written for it.

use std::collections::BTreeMap;

use aiblox_ingest::{Document, Loaded};
use aiblox_kb::{ItemRepo, KbConfig, KbPool, Migrator};
use aiblox_kb_testkit::TestKb;
use serde_json::json;

use crate::{Served, TestApp};

/// Documents `range` of source `shared`, each saying which ingester wrote it.
fn documents(range: std::ops::Range<usize>, writer: &str) -> Vec<Loaded> {
    range
        .map(|n| {
            Loaded::Document(Document {
                external_id: format!("doc-{n:03}"),
                title: Some(format!("Document {n}")),
                content: format!("Vacuum notes number {n}, as ingester {writer} has them."),
                metadata: json!({"writer": writer}),
                origin: format!("{writer}/doc-{n:03}"),
            })
        })
        .collect()
}

/// One ingestion run as the ingestion block does it (migrate, then load in batches), on a
/// thread and runtime of its own with a pool of its own.
fn ingester(
    config: KbConfig,
    docs: Vec<Loaded>,
) -> std::thread::JoinHandle<aiblox_ingest::Summary> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            aiblox_kb::migrate(&config).await.unwrap();
            let pool = KbPool::builder(&config).max_size(2).build().unwrap();
            // Batches of 7: the two runs interleave their statements on the shared documents.
            let summary = aiblox_ingest::ingest(&pool, "shared", docs, 7, &mut |_| {})
                .await
                .unwrap();
            pool.close();
            summary
        })
    })
}

#[tokio::test]
async fn three_services_and_two_ingesters_start_together_on_a_fresh_database() {
    let kb = TestKb::unmigrated().await;
    // Ingester a writes documents 0-59, ingester b 30-89: 30 documents both write.
    let a = ingester(kb.config().clone(), documents(0..60, "a"));
    let b = ingester(kb.config().clone(), documents(30..90, "b"));
    let (first, second, third) = tokio::join!(
        Served::start(&kb, None),
        Served::start(&kb, None),
        Served::start(&kb, None)
    );
    let (a, b) = (a.join().unwrap(), b.join().unwrap());

    // Every process started and the schema was migrated once: the history holds each
    // migration once, and every service reports it up to date.
    let status = Migrator::new(kb.config()).status().await.unwrap();
    assert!(status.pending.is_empty(), "{status:?}");
    let versions: Vec<u32> = status.applied.iter().map(|row| row.version).collect();
    let mut distinct = versions.clone();
    distinct.dedup();
    assert_eq!(versions, distinct, "each migration recorded once");

    // The ingesters: 90 documents inserted once between them, none failed, and each
    // ingester's own count covers its 60.
    assert_eq!(a.inserted + b.inserted, 90, "{a:?} {b:?}");
    for summary in [&a, &b] {
        assert_eq!(summary.failed, 0, "{summary:?}");
        assert_eq!(
            summary.inserted + summary.changed + summary.unchanged,
            60,
            "{summary:?}"
        );
    }
    let items = ItemRepo::new(kb.pool());
    let mut by_key = BTreeMap::new();
    for n in 0..90 {
        let key = format!("doc-{n:03}");
        let item = items.get_by_key("shared", &key).await.unwrap();
        let item = item.unwrap_or_else(|| panic!("{key} is missing"));
        by_key.insert(key, item.content);
    }
    let stored: i64 = kb
        .raw_client()
        .await
        .query_one("SELECT count(*) FROM item WHERE source = 'shared'", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 90, "no document stored twice");
    assert_eq!(by_key.len(), 90);
    for (key, content) in &by_key {
        let n: usize = key["doc-".len()..].parse().unwrap();
        let writers: &[&str] = match n {
            0..30 => &["a"],
            30..60 => &["a", "b"],
            _ => &["b"],
        };
        assert!(
            writers.iter().any(|writer| content
                == &format!("Vacuum notes number {n}, as ingester {writer} has them.")),
            "{key}: {content}"
        );
    }

    // Every service answers, from the same items.
    for served in [&first, &second, &third] {
        let app = TestApp::at(&format!("http://{}", served.address));
        let (status, body) = app
            .query(json!({"query": "vacuum notes number 42", "top_k": 3}))
            .await;
        assert_eq!(status, 200, "{body}");
        assert!(
            body["evidence"]
                .as_array()
                .is_some_and(|evidence| !evidence.is_empty()),
            "{body}"
        );
    }
    for served in [first, second, third] {
        served.stop_running();
    }
}
