//! The query pipeline over HTTP: routing, evidence, the chunk cache, updates.

use aiblox_kb::{ItemRepo, NewItem};
use serde_json::json;

use crate::{TestApp, assert_offsets_hold};

#[tokio::test]
async fn a_question_gets_cited_passages_best_first() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .query(json!({"query": "How do I reclaim storage from dead tuples?", "top_k": 3}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["route"], "search");
    let evidence = body["evidence"].as_array().unwrap();
    assert!(!evidence.is_empty() && evidence.len() <= 3, "{body}");
    assert_eq!(
        evidence[0]["external_id"], "vacuum.md",
        "the answering page comes first: {body}"
    );
    assert!(
        evidence[0]["text"]
            .as_str()
            .unwrap()
            .contains("reclaims storage"),
        "{body}"
    );
    let scores: Vec<f64> = evidence
        .iter()
        .map(|e| e["score"].as_f64().unwrap())
        .collect();
    assert!(
        scores.windows(2).all(|pair| pair[0] >= pair[1]),
        "best first: {scores:?}"
    );
    assert_eq!(evidence[0]["title"], "VACUUM");
    assert_offsets_hold(&app, &body).await;
    app.stop().await;
}

#[tokio::test]
async fn not_every_word_of_a_question_must_occur() {
    let app = TestApp::spawn().await;
    let (_, body) = app
        .query(json!({"query": "what makes a standby server stay up to date with its primary?"}))
        .await;
    assert_eq!(
        body["evidence"][0]["external_id"], "replication.md",
        "{body}"
    );
    // "server" is in a page of each source: the filter keeps the wiki's and only it.
    let (_, everywhere) = app.query(json!({"query": "server"})).await;
    let sources: Vec<&str> = everywhere["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["source"].as_str().unwrap())
        .collect();
    assert!(
        sources.contains(&"docs") && sources.contains(&"wiki"),
        "{everywhere}"
    );
    let (_, body) = app
        .query(json!({"query": "server", "sources": ["wiki"]}))
        .await;
    let evidence = body["evidence"].as_array().unwrap();
    assert!(
        !evidence.is_empty() && evidence.iter().all(|e| e["source"] == "wiki"),
        "{body}"
    );
    let (_, body) = app.query(json!({"query": "zyzzyva quux"})).await;
    assert_eq!(body["evidence"], json!([]), "no match, no evidence: {body}");
    app.stop().await;
}

#[tokio::test]
async fn the_first_query_chunks_and_caches_the_second_reads_the_cache() {
    let app = TestApp::spawn().await;
    let question = json!({"query": "indexes database performance"});
    let (_, first) = app.query(question.clone()).await;
    let candidates = first["stats"]["candidates"].as_u64().unwrap();
    assert!(candidates >= 1, "{first}");
    assert_eq!(
        first["stats"]["chunk_cache_misses"].as_u64(),
        Some(candidates),
        "{first}"
    );
    assert_eq!(first["stats"]["chunk_cache_hits"], 0);

    let (_, second) = app.query(question).await;
    assert_eq!(
        second["stats"]["chunk_cache_hits"].as_u64(),
        Some(candidates),
        "{second}"
    );
    assert_eq!(second["stats"]["chunk_cache_misses"], 0);
    assert_eq!(
        first["evidence"], second["evidence"],
        "cached chunks answer alike"
    );
    app.stop().await;
}

#[tokio::test]
async fn an_updated_item_never_serves_stale_chunks() {
    let app = TestApp::spawn().await;
    let question = json!({"query": "streaming replication standby"});
    let (_, before) = app.query(question.clone()).await;
    assert!(
        before["evidence"][0]["text"]
            .as_str()
            .unwrap()
            .contains("log shipping"),
        "{before}"
    );

    ItemRepo::new(app.kb().pool())
        .upsert(&[NewItem::new(
            "wiki",
            "replication.md",
            "Streaming replication keeps a standby server current. Logical replication publishes changes per table.",
        )])
        .await
        .unwrap();
    let (_, after) = app.query(question).await;
    let texts: Vec<&str> = after["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert!(
        texts
            .iter()
            .any(|text| text.contains("keeps a standby server current")),
        "{after}"
    );
    assert!(
        texts.iter().all(|text| !text.contains("log shipping")),
        "no stale text: {after}"
    );
    assert!(
        after["stats"]["chunk_cache_misses"].as_u64().unwrap() >= 1,
        "the changed item was chunked again"
    );
    assert_offsets_hold(&app, &after).await;
    app.stop().await;
}

#[tokio::test]
async fn naming_an_item_looks_it_up_directly() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .query(json!({"query": "docs:indexes.md", "top_k": 10, "max_chunks_per_item": 10}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["route"], "lookup");
    let evidence = body["evidence"].as_array().unwrap();
    assert!(
        !evidence.is_empty() && evidence.iter().all(|e| e["external_id"] == "indexes.md"),
        "{body}"
    );
    let chunks: Vec<u64> = evidence
        .iter()
        .map(|e| e["chunk_index"].as_u64().unwrap())
        .collect();
    assert_eq!(
        chunks,
        (0..chunks.len() as u64).collect::<Vec<_>>(),
        "in order: {body}"
    );
    assert!(
        evidence.iter().all(|e| e["score"] == 1.0),
        "the named item fits: {body}"
    );
    assert_offsets_hold(&app, &body).await;

    let (_, body) = app.query(json!({"query": "docs:no-such-page.md"})).await;
    assert_eq!(
        body["route"], "search",
        "an unknown item falls through to search"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_per_item_cap_and_top_k_apply() {
    let app = TestApp::spawn().await;
    let (_, body) = app.query(json!({"query": "vacuum tuples autovacuum storage", "top_k": 10, "max_chunks_per_item": 1})).await;
    let evidence = body["evidence"].as_array().unwrap();
    let vacuum = evidence
        .iter()
        .filter(|e| e["external_id"] == "vacuum.md")
        .count();
    assert_eq!(vacuum, 1, "{body}");
    let (_, body) = app.query(json!({"query": "database", "top_k": 1})).await;
    assert_eq!(body["evidence"].as_array().unwrap().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn evidence_carries_highlights_and_explains_its_score() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .query(json!({"query": "vacuuming dead tuples in a database", "top_k": 3, "explain": true}))
        .await;
    assert_eq!(status, 200, "{body}");
    let first = &body["evidence"][0];
    assert_eq!(first["external_id"], "vacuum.md", "{body}");
    let text = first["text"].as_str().unwrap();
    let highlighted: Vec<String> = first["highlights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|range| {
            let (start, end) = (
                range[0].as_u64().unwrap() as usize,
                range[1].as_u64().unwrap() as usize,
            );
            text[start..end].to_lowercase()
        })
        .collect();
    assert!(!highlighted.is_empty(), "{body}");
    for word in &highlighted {
        assert!(
            ["vacuum", "vacuuming", "dead", "tuples"].contains(&word.as_str()),
            "{word} is not a question term: {body}"
        );
    }
    assert!(highlighted.iter().any(|w| w == "tuples") && highlighted.iter().any(|w| w == "dead"));

    // The explanation adds up to the score, and names the terms with their corpus IDF.
    let explain = &first["explain"];
    let terms: Vec<&str> = body["explain"]["terms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["term"].as_str().unwrap())
        .collect();
    assert_eq!(terms, ["databas", "dead", "tupl", "vacuum"], "{body}");
    let matched: Vec<&str> = explain["matched_terms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["term"].as_str().unwrap())
        .collect();
    assert!(
        matched.contains(&"vacuum") && matched.contains(&"tupl"),
        "{body}"
    );
    assert!(explain["matched_terms"][0]["idf"].as_f64().unwrap() > 0.0);
    let evidence = body["evidence"].as_array().unwrap();
    let best_page = evidence
        .iter()
        .map(|e| e["explain"]["page_score"].as_f64().unwrap())
        .fold(0.0, f64::max);
    let best_passage = evidence
        .iter()
        .map(|e| e["explain"]["passage_score"].as_f64().unwrap())
        .fold(0.0, f64::max);
    let weight = explain["page_weight"].as_f64().unwrap();
    let recomputed = weight * explain["page_score"].as_f64().unwrap() / best_page
        + (1.0 - weight) * explain["passage_score"].as_f64().unwrap() / best_passage;
    assert!(
        (recomputed - first["score"].as_f64().unwrap()).abs() < 1e-5,
        "{body}"
    );
    let candidates = body["explain"]["candidates"].as_array().unwrap();
    assert_eq!(candidates[0]["external_id"], "vacuum.md");
    assert_eq!(
        candidates.len() as u64,
        body["stats"]["candidates"].as_u64().unwrap()
    );

    // Without `explain`, no explanation; `min_score` drops the weaker passages.
    let (_, plain) = app
        .query(json!({"query": "vacuuming dead tuples in a database", "top_k": 3}))
        .await;
    assert!(plain.get("explain").is_none() && plain["evidence"][0].get("explain").is_none());
    let scores: Vec<f64> = evidence
        .iter()
        .map(|e| e["score"].as_f64().unwrap())
        .collect();
    let (_, strict) = app
        .query(
            json!({"query": "vacuuming dead tuples in a database", "top_k": 3, "min_score": 0.999}),
        )
        .await;
    let kept = strict["evidence"].as_array().unwrap();
    assert_eq!(
        kept.len(),
        scores.iter().filter(|s| **s >= 0.999).count(),
        "{strict}"
    );
    assert!(
        kept.len() < scores.len(),
        "the threshold dropped something: {strict}"
    );
    let (status, refused) = app.query(json!({"query": "vacuum", "min_score": 2})).await;
    assert_eq!(status, 422, "{refused}");
    assert_eq!(refused["error"]["code"], "invalid_request");
    app.stop().await;
}

/// The codes of an answer's warnings.
fn warning_codes(body: &serde_json::Value) -> Vec<&str> {
    body["warnings"]
        .as_array()
        .map(|warnings| {
            warnings
                .iter()
                .map(|w| w["code"].as_str().unwrap())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn an_empty_or_unexpected_answer_says_why() {
    let app = TestApp::spawn().await;
    // Only stop words.
    let (status, body) = app.query(json!({"query": "is the of and"})).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["evidence"].as_array().unwrap().is_empty(), "{body}");
    assert_eq!(warning_codes(&body), ["no_searchable_terms"], "{body}");
    // A source with no items, alone and beside one with items.
    let (_, body) = app
        .query(json!({"query": "vacuum", "sources": ["nope"]}))
        .await;
    assert!(body["evidence"].as_array().unwrap().is_empty(), "{body}");
    assert_eq!(warning_codes(&body), ["sources_without_items"], "{body}");
    assert!(
        body["warnings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("`nope`"),
        "{body}"
    );
    let (_, body) = app
        .query(json!({"query": "vacuum", "sources": ["docs", "nope", "wiki"]}))
        .await;
    assert_eq!(body["evidence"][0]["external_id"], "vacuum.md", "{body}");
    assert_eq!(warning_codes(&body), ["sources_without_items"], "{body}");
    let message = body["warnings"][0]["message"].as_str().unwrap();
    assert!(
        message.contains("`nope`") && !message.contains("`docs`") && !message.contains("`wiki`"),
        "only the empty source is named: {message}"
    );
    // A lookup of a missing item falls back to a search, and says so.
    let (_, body) = app.query(json!({"query": "docs:nope.md"})).await;
    assert_eq!(body["route"], "search", "{body}");
    assert!(warning_codes(&body).contains(&"lookup_not_found"), "{body}");
    // A plain answer carries no warnings at all.
    let (_, body) = app.query(json!({"query": "vacuum dead tuples"})).await;
    assert!(body.get("warnings").is_none(), "{body}");
    app.stop().await;
}

/// The service merges the lexical index's postings of items any writer adds: those written
/// before it started at once, one written beside it within its interval (10 s); the item is
/// found before the merge (its postings computed from its vector) and after it alike.
#[tokio::test]
async fn the_service_merges_the_postings_of_items_written_beside_it() {
    let app = TestApp::spawn().await;
    let client = app.kb().raw_client().await;
    let fresh = || async {
        client
            .query_one("SELECT count(*) FROM item_posting_fresh", &[])
            .await
            .unwrap()
            .get::<_, i64>(0)
    };
    let merged = || async {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while fresh().await > 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "fresh items left unmerged for 30 s"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    };
    merged().await;
    ItemRepo::new(app.kb().pool())
        .upsert(&[NewItem::new(
            "wiki",
            "checkpoints.md",
            "A checkpoint flushes every dirty page of the buffer cache to disk.",
        )])
        .await
        .unwrap();
    assert_eq!(fresh().await, 1, "a written item is fresh until a merge");
    let question = json!({"query": "which checkpoint flushes dirty pages", "mode": "lexical"});
    let (status, before) = app.query(question.clone()).await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(
        before["evidence"][0]["external_id"], "checkpoints.md",
        "{before}"
    );
    merged().await;
    let (_, after) = app.query(question).await;
    assert_eq!(after["evidence"], before["evidence"]);
    app.stop().await;
}
