//! Many services on one fresh knowledge base at once: three service processes and two
//! ingestion processes start together on an unmigrated schema; every one starts (one migrates,
//! the others wait for its lock and find nothing to do), every service answers, and the two
//! ingesters, loading overlapping documents at the same time, leave each document once with
//! one of the versions written for it.
//!
//! An ingester is this test binary run again as a process of its own ([`ingester_process`]):
//! it reads the knowledge base from the environment as `aiblox-ingest` does, migrates, and
//! loads through the ingestion block's library, like the `aiblox-ingest` binary, which this
//! crate's tests cannot name.

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use aiblox_ingest::{Document, Loaded};
use aiblox_kb::{ItemRepo, KbConfig, KbPool, Migrator};
use aiblox_kb_testkit::TestKb;
use serde_json::{Value, json};

use crate::{Served, TestApp};

/// Tells a run of this binary it is an ingester: `WRITER:FIRST:END` (documents FIRST..END).
const INGESTER_VARIABLE: &str = "AIBLOX_FLEET_INGESTER";
/// Starts the line on which an ingester process prints its summary.
const SUMMARY_PREFIX: &str = "fleet ingester summary: ";

/// Documents `range` of source `shared`, each saying which ingester wrote it.
fn documents(range: std::ops::Range<usize>, writer: &str) -> Vec<Loaded> {
    range
        .map(|n| {
            Loaded::Document(Document {
                external_id: format!("doc-{n:03}"),
                title: Some(format!("Document {n}")),
                content: format!("Vacuum notes number {n}, as ingester {writer} has them."),
                metadata: json!({"writer": writer}),
                page_starts: None,
                origin: format!("{writer}/doc-{n:03}"),
            })
        })
        .collect()
}

/// The body of an ingester process: one ingestion run as the ingestion block does it (the
/// knowledge base from `AIBLOX_KB_*`, migrate, then load in batches), its summary printed
/// as JSON. Does nothing in a plain test run.
#[test]
#[ignore = "an ingester process of three_services_and_two_ingesters_start_together_on_a_fresh_database, which runs it"]
fn ingester_process() {
    let Ok(spec) = std::env::var(INGESTER_VARIABLE) else {
        return;
    };
    let mut parts = spec.split(':');
    let (Some(writer), Some(first), Some(end)) = (parts.next(), parts.next(), parts.next()) else {
        panic!("{INGESTER_VARIABLE}={spec:?} is not WRITER:FIRST:END");
    };
    let docs = documents(first.parse().unwrap()..end.parse().unwrap(), writer);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let summary = runtime.block_on(async move {
        let config = KbConfig::from_env().unwrap();
        aiblox_kb::migrate(&config).await.unwrap();
        let pool = KbPool::builder(&config).max_size(2).build().unwrap();
        // Batches of 7: the two runs interleave their statements on the shared documents.
        let summary = aiblox_ingest::ingest(&pool, "shared", docs, 7, &mut |_| {})
            .await
            .unwrap();
        pool.close();
        summary
    });
    println!(
        "{SUMMARY_PREFIX}{}",
        serde_json::to_string(&summary).unwrap()
    );
}

/// Starts an ingester process writing documents `range` as `writer` into `kb`.
fn start_ingester(kb: &TestKb, writer: &str, range: std::ops::Range<usize>) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "fleet::ingester_process",
            "--exact",
            "--ignored",
            "--nocapture",
        ])
        .env(
            INGESTER_VARIABLE,
            format!("{writer}:{}:{}", range.start, range.end),
        )
        .env("AIBLOX_KB_DATABASE_URL", kb.server_url())
        .env("AIBLOX_KB_SCHEMA", kb.schema())
        .env_remove("DATABASE_URL")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits for an ingester process and reads its summary.
async fn summary_of(ingester: std::process::Child) -> Value {
    let output = tokio::task::spawn_blocking(move || ingester.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "ingester failed: {stdout}");
    let line = stdout
        .lines()
        .find_map(|line| line.strip_prefix(SUMMARY_PREFIX))
        .unwrap_or_else(|| panic!("no summary from the ingester: {stdout}"));
    serde_json::from_str(line).unwrap()
}

#[tokio::test]
async fn three_services_and_two_ingesters_start_together_on_a_fresh_database() {
    let kb = TestKb::unmigrated().await;
    // Ingester a writes documents 0-59, ingester b 30-89: 30 documents both write.
    let a = start_ingester(&kb, "a", 0..60);
    let b = start_ingester(&kb, "b", 30..90);
    let (first, second, third) = tokio::join!(
        Served::start(&kb, None),
        Served::start(&kb, None),
        Served::start(&kb, None)
    );
    let (a, b) = tokio::join!(summary_of(a), summary_of(b));

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
    let count = |summary: &Value, field: &str| summary[field].as_u64().unwrap();
    assert_eq!(count(&a, "inserted") + count(&b, "inserted"), 90, "{a} {b}");
    for summary in [&a, &b] {
        assert_eq!(count(summary, "failed"), 0, "{summary}");
        assert_eq!(
            count(summary, "inserted") + count(summary, "changed") + count(summary, "unchanged"),
            60,
            "{summary}"
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
