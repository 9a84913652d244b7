//! Filters through the HTTP API: in every mode an answer holds only items the filter keeps, a
//! lookup of an item outside it answers as a missing one, and a bad filter gets a 422 naming
//! the part at fault.

use aiblox_kb::{ItemRepo, NewItem};
use aiblox_kb_testkit::TestKb;
use serde_json::{Value, json};

use crate::hybrid::{fully_indexed, index_until, spawn_with_model};

/// Pages on three topics, each written in English and in German (by `metadata.lang`), with a
/// version number.
fn pages() -> Vec<NewItem> {
    let topics = [
        (
            "vacuum",
            "VACUUM reclaims storage occupied by dead tuples; autovacuum runs it.",
        ),
        (
            "indexes",
            "Indexes let the database find rows faster; a B-tree index is the default.",
        ),
        (
            "replication",
            "Streaming replication keeps a standby server up to date with WAL.",
        ),
    ];
    let mut pages = Vec::new();
    for (version, (name, text)) in topics.iter().enumerate() {
        for lang in ["en", "de"] {
            pages.push(
                NewItem::new("docs", format!("{name}-{lang}.md"), *text)
                    .with_title(*name)
                    .with_metadata(json!({"lang": lang, "version": 14 + version})),
            );
        }
    }
    pages
}

fn evidence_ids(body: &Value) -> Vec<String> {
    body["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|evidence| evidence["external_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn every_mode_answers_within_the_filter_and_a_lookup_outside_it_is_missing() {
    let kb = TestKb::new().await;
    ItemRepo::new(kb.pool()).upsert(&pages()).await.unwrap();
    let app = spawn_with_model(&kb).await;
    index_until(&app, "the filtered corpus", |index| {
        fully_indexed(index) && index["vectors_in_memory"].as_u64() >= Some(6)
    })
    .await;
    let german_from_15 = json!({"and": [
        {"field": "metadata.lang", "eq": "de"},
        {"field": "metadata.version", "gte": 15}
    ]});
    for mode in ["lexical", "dense", "hybrid"] {
        let (status, body) = app
            .query(
                json!({"query": "dead tuples storage vacuum index replication standby",
                          "mode": mode, "top_k": 10, "filter": german_from_15}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let found = evidence_ids(&body);
        assert!(!found.is_empty(), "{mode}: {body}");
        assert!(
            found
                .iter()
                .all(|id| id == "indexes-de.md" || id == "replication-de.md"),
            "{mode}: {found:?}"
        );
        let candidates = body["stats"]["candidates"].as_u64().unwrap();
        assert!(candidates <= 2, "{mode}: {candidates} candidates");
    }
    // A lookup of an item the filter leaves out answers as a missing one.
    let (status, body) = app
        .query(json!({"query": "docs:vacuum-en.md", "mode": "lexical", "filter": german_from_15}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["route"], "search");
    assert_eq!(body["warnings"][0]["code"], "lookup_not_found", "{body}");
    assert!(!evidence_ids(&body).contains(&"vacuum-en.md".to_owned()));
    let (_, body) = app
        .query(json!({"query": "docs:indexes-de.md", "filter": german_from_15}))
        .await;
    assert_eq!(body["route"], "lookup", "{body}");
    // Facets count the candidates' values within the filter, before the top_k cut.
    let (status, body) = app
        .query(
            json!({"query": "dead tuples storage vacuum index replication standby",
                      "mode": "lexical", "top_k": 1,
                      "filter": {"field": "metadata.version", "gte": 15},
                      "facets": ["metadata.lang", "source", "metadata.version", "metadata.none"]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["evidence"].as_array().unwrap().len(), 1);
    assert_eq!(
        body["facets"],
        json!({"candidates": 4, "fields": [
            {"field": "metadata.lang", "values": [{"value": "de", "count": 2}, {"value": "en", "count": 2}]},
            {"field": "source", "values": [{"value": "docs", "count": 4}]},
            {"field": "metadata.version", "values": [{"value": 15.0, "count": 2}, {"value": 16.0, "count": 2}]},
            {"field": "metadata.none", "values": []}
        ]}),
        "{body}"
    );
    // A filter that keeps nothing answers nothing.
    let (status, body) = app
        .query(json!({"query": "vacuum", "mode": "hybrid",
                      "filter": {"field": "metadata.lang", "in": []}}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(evidence_ids(&body), Vec::<String>::new());
    assert_eq!(
        body["warnings"][0]["code"], "filter_without_items",
        "{body}"
    );
    // Under a filter, whether a named source holds items is not told (it could be of items
    // outside the filter); without one it is.
    let (_, body) = app
        .query(json!({"query": "vacuum", "sources": ["wiki"],
                      "filter": {"field": "metadata.lang", "eq": "de"}}))
        .await;
    assert_eq!(body["warnings"], Value::Null, "{body}");
    let (_, body) = app
        .query(json!({"query": "vacuum", "sources": ["wiki"]}))
        .await;
    assert_eq!(
        body["warnings"][0]["code"], "sources_without_items",
        "{body}"
    );
    random_filters_keep_every_answer_within_them(&app, &kb).await;
    app.stop().await;
}

#[tokio::test]
async fn a_bad_filter_is_refused_naming_the_part() {
    let app = crate::TestApp::spawn().await;
    for (filter, expected) in [
        (
            json!({"and": [{"field": "lang", "eq": "en"}]}),
            "`filter.and[0].field` is `lang`",
        ),
        (
            json!({"field": "metadata.v", "gte": "soon"}),
            "`filter.gte` is a text that is not an RFC 3339 time",
        ),
        (
            json!({"field": "metadata.v\u{0}", "exists": true}),
            "a metadata key contains a NUL character",
        ),
        (
            json!({"field": "metadata.v", "like": 1}),
            "unknown field `like`",
        ),
    ] {
        let (status, body) = app
            .query(json!({"query": "vacuum", "filter": filter}))
            .await;
        assert_eq!(status, 422, "{body}");
        assert_eq!(body["error"]["code"], "invalid_request");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(expected), "{expected}: {message}");
    }
    app.stop().await;
}

/// A hundred random filters (seeded) over the pages' fields, in each mode: every passage is of
/// an item the filter matches (`ItemRepo::matching`, itself held to a brute-force oracle by the
/// contract's tests), and each mode's candidates are the matches it found.
async fn random_filters_keep_every_answer_within_them(app: &crate::TestApp, kb: &TestKb) {
    let mut state: u64 = 0x5eed;
    let mut next = move |below: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % below
    };
    let repo = ItemRepo::new(kb.pool());
    let mut kept_some = 0;
    for _ in 0..100 {
        let leaf = |pick: u64, value: u64| {
            let lang = ["en", "de", "fr"][value as usize % 3];
            let page = format!("vacuum-{}.md", ["en", "de"][value as usize % 2]);
            match pick {
                0 => json!({"field": "metadata.lang", "eq": lang}),
                1 => json!({"field": "metadata.version", "gte": 13 + value % 4}),
                2 => json!({"field": "external_id", "in": [page, "indexes-en.md"]}),
                _ => json!({"field": "metadata.version", "exists": value.is_multiple_of(2)}),
            }
        };
        let filter = match next(4) {
            0 => leaf(next(4), next(8)),
            1 => json!({"and": [leaf(next(4), next(8)), leaf(next(4), next(8))]}),
            2 => json!({"or": [leaf(next(4), next(8)), leaf(next(4), next(8))]}),
            _ => json!({"not": leaf(next(4), next(8))}),
        };
        let contract_filter =
            serde_json::from_value::<aiblox_orchestrator::protocol::Filter>(filter.clone())
                .unwrap()
                .to_item_filter()
                .unwrap();
        let matches = repo.matching(&contract_filter).await.unwrap();
        let allowed: Vec<i64> = matches.ids().to_vec();
        kept_some += usize::from(!allowed.is_empty() && allowed.len() < 6);
        for mode in ["lexical", "dense", "hybrid"] {
            let (status, body) = app
                .query(
                    json!({"query": "dead tuples storage vacuum index replication standby",
                              "mode": mode, "top_k": 10, "filter": filter}),
                )
                .await;
            assert_eq!(status, 200, "{body}");
            for evidence in body["evidence"].as_array().unwrap() {
                let id = evidence["item_id"].as_i64().unwrap();
                assert!(
                    allowed.contains(&id),
                    "{mode} {filter}: item {id} is outside {allowed:?}"
                );
            }
        }
    }
    assert!(
        kept_some > 30,
        "only {kept_some} filters kept some pages but not all"
    );
}
