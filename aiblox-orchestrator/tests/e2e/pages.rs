//! Paged documents through the HTTP API: evidence names the page its passage starts on (and
//! both ends when it runs over several), and an item's page starts are in its GET answer.

use aiblox_kb::{ItemRepo, NewItem};
use aiblox_kb_testkit::TestKb;
use serde_json::json;

use crate::{TestApp, settings_with};

/// A manual of five pages: three long ones on a topic each, then a short page whose sentence
/// runs on into the fifth.
fn manual() -> (NewItem, Vec<u32>) {
    let filler = |topic: &str| {
        (0..12)
            .map(|n| format!("Sentence {n} of the part on {topic} says a little more about it."))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let pages = [
        format!("Vacuum reclaims storage. {}", filler("maintenance")),
        format!("Indexes speed up lookups. {}", filler("access paths")),
        format!(
            "Streaming replication feeds a standby. {}",
            filler("standbys")
        ),
        "Checkpoints flush dirty buffers".to_owned(),
        "to disk at intervals the settings choose.".to_owned(),
    ];
    let mut content = String::new();
    let mut starts = Vec::new();
    for page in &pages {
        if !content.is_empty() {
            content.push('\n');
        }
        starts.push(content.len() as u32);
        content.push_str(page);
    }
    let item = NewItem::new("manuals", "admin.pdf", content)
        .with_title("Administration")
        .with_page_starts(starts.clone());
    (item, starts)
}

#[tokio::test]
async fn evidence_cites_pages_and_an_item_gives_its_page_starts() {
    let kb = TestKb::new().await;
    let (item, starts) = manual();
    let id = ItemRepo::new(kb.pool()).upsert(&[item]).await.unwrap()[0].id;
    let settings = settings_with(kb.config(), kb.server_url(), Vec::new());
    let app = TestApp::spawn_with(settings, Some(kb)).await;

    let (status, body) = app
        .query(json!({"query": "streaming replication standby", "mode": "lexical", "top_k": 1}))
        .await;
    assert_eq!(status, 200, "{body}");
    let evidence = &body["evidence"][0];
    assert_eq!(evidence["page"], 3, "{evidence}");
    assert!(
        evidence.get("pages").is_none(),
        "a passage on one page: {evidence}"
    );
    let start = evidence["start"].as_u64().unwrap() as u32;
    assert!(start >= starts[2] && start < starts[3], "{evidence}");

    let (status, body) = app
        .query(json!({"query": "checkpoints flush dirty buffers", "mode": "lexical", "top_k": 1}))
        .await;
    assert_eq!(status, 200, "{body}");
    let evidence = &body["evidence"][0];
    // Page three fills its passage past half, which ends with it; page four is short, and
    // its passage runs on into page five.
    assert_eq!(evidence["page"], 4, "{evidence}");
    assert_eq!(evidence["pages"], json!([4, 5]), "{evidence}");
    crate::assert_offsets_hold(&app, &body).await;

    let (status, item) = app.get(&format!("/v1/items/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(item["page_starts"], json!(starts));
    app.stop().await;
}
