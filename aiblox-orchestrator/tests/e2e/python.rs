//! A Python block (the generated package `python/aiblox_kb`) migrates a fresh schema and
//! ingests documents; the service answers questions on them with cited passages.
//! Skipped without a Python that has psycopg (see `aiblox_kb_testkit::python`).

use aiblox_kb::Migrator;
use aiblox_kb_testkit::TestKb;
use aiblox_kb_testkit::python::{interop, python};
use serde_json::{Value, json};

use crate::{TestApp, settings_with};

#[tokio::test]
async fn items_a_python_block_ingested_are_answered_with_citations() {
    let Some(python) = python() else { return };
    let kb = TestKb::unmigrated().await;
    interop(&python, &kb, &["migrate"], "").unwrap();
    Migrator::new(kb.config()).check().await.unwrap();
    let manual = "Chapter one is about tables.\nVACUUM reclaims storage occupied by dead tuples \
                  and updates the visibility map.\nChapter three covers replication.";
    let second_page = manual.find("VACUUM").unwrap();
    let items = json!([
        {"source": "notebooks", "external_id": "maintenance/vacuum.md", "title": "Routine vacuuming",
         "content": "Autovacuum launches workers that vacuum tables whose dead tuples pass a threshold.",
         "metadata": {"team": "dba"}},
        {"source": "manuals", "external_id": "admin.pdf", "title": "Administration", "content": manual,
         "page_starts": [0, second_page, manual.find("Chapter three").unwrap()]}
    ]);
    let written: Value =
        serde_json::from_str(&interop(&python, &kb, &["ingest"], &items.to_string()).unwrap())
            .unwrap();
    assert_eq!(written[1]["status"], "inserted", "{written}");

    let settings = settings_with(kb.config(), kb.server_url(), Vec::new());
    let app = TestApp::spawn_with(settings, Some(kb)).await;
    let (status, body) = app
        .query(json!({"query": "what does vacuum reclaim from dead tuples", "mode": "lexical", "top_k": 2}))
        .await;
    assert_eq!(status, 200, "{body}");
    let evidence = body["evidence"].as_array().unwrap();
    assert!(!evidence.is_empty(), "{body}");
    let cited: Vec<&str> = evidence
        .iter()
        .map(|e| e["external_id"].as_str().unwrap())
        .collect();
    assert!(cited.contains(&"admin.pdf"), "{body}");
    // The short manual is one passage over the three pages Python gave.
    let pages = evidence
        .iter()
        .find(|e| e["external_id"] == "admin.pdf")
        .map(|e| e["pages"].clone());
    assert_eq!(pages, Some(json!([1, 3])), "the pages Python gave: {body}");
    crate::assert_offsets_hold(&app, &body).await;
    app.stop().await;
}
