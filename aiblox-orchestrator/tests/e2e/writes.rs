//! Items over HTTP: a source kept in sync through the service alone (put, batch, list,
//! delete), searchable at once and gone at once; keys that may only read refused with the
//! permission named, writes outside a key's sources answered as missing items, bad bodies
//! refused whole.

use aiblox_orchestrator::new_key;
use serde_json::{Value, json};

use crate::TestApp;

/// `method` on `path` with `body` (JSON) and `token`: status and JSON answer (null when none).
async fn send(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
    token: Option<&str>,
) -> (u16, Value) {
    let mut request = app.client.request(method, format!("{}{path}", app.url));
    if let Some(body) = body {
        request = request.json(&body);
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// The external ids a search for `query` within `source` cites.
async fn cited(app: &TestApp, query: &str, source: &str) -> Vec<String> {
    let (status, body) = app
        .query(json!({"query": query, "sources": [source], "mode": "lexical"}))
        .await;
    assert_eq!(status, 200, "{body}");
    body["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|evidence| evidence["external_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_source_is_kept_in_sync_over_http_alone() {
    use reqwest::Method;
    let app = TestApp::spawn().await;
    let page = json!({"title": "Freezing", "content": "Freezing marks old tuples frozen so that transaction ids can wrap around.", "metadata": {"lang": "en"}});
    let (status, put) = send(
        &app,
        Method::PUT,
        "/v1/items/notes/guide/freeze.md",
        Some(page.clone()),
        None,
    )
    .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(
        (&put["status"], &put["external_id"]),
        (&json!("inserted"), &json!("guide/freeze.md"))
    );
    // Searchable at once; the same state again changes nothing.
    assert_eq!(
        cited(&app, "frozen tuples wrap around", "notes").await,
        ["guide/freeze.md"]
    );
    let (_, again) = send(
        &app,
        Method::PUT,
        "/v1/items/notes/guide/freeze.md",
        Some(page),
        None,
    )
    .await;
    assert_eq!(again["status"], "unchanged");
    assert_eq!(again["id"], put["id"]);
    let (status, item) = send(
        &app,
        Method::GET,
        "/v1/items/notes/guide/freeze.md",
        None,
        None,
    )
    .await;
    assert_eq!((status, &item["metadata"]), (200, &json!({"lang": "en"})));

    // A batch: one transaction; a bad item (two of one key) refuses it whole.
    let batch = json!({"items": [
        {"source": "notes", "external_id": "a.md", "content": "Checkpoints flush dirty pages."},
        {"source": "notes", "external_id": "b.md", "content": "Autovacuum launches workers.", "title": "B"}]});
    let (status, written) = send(&app, Method::POST, "/v1/items", Some(batch), None).await;
    assert_eq!(status, 200, "{written}");
    assert_eq!(written["items"][1]["index"], 1);
    assert_eq!(written["items"][1]["status"], "inserted");
    let twice = json!({"items": [
        {"source": "notes", "external_id": "c.md", "content": "x"},
        {"source": "notes", "external_id": "c.md", "content": "y"}]});
    let (status, refused) = send(&app, Method::POST, "/v1/items", Some(twice), None).await;
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("item 1"),
        "{refused}"
    );
    let (status, _) = send(&app, Method::GET, "/v1/items/notes/c.md", None, None).await;
    assert_eq!(status, 404, "nothing of a refused batch is written");

    // The listing, page by page: what a sync client compares.
    let (status, first) = send(
        &app,
        Method::GET,
        "/v1/sources/notes/items?limit=2",
        None,
        None,
    )
    .await;
    assert_eq!(status, 200, "{first}");
    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["external_id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&first), ["a.md", "b.md"]);
    assert_eq!(first["next"], "b.md");
    assert_eq!(
        first["items"][0]["content_hash"].as_str().unwrap().len(),
        64
    );
    let (_, second) = send(
        &app,
        Method::GET,
        "/v1/sources/notes/items?limit=2&after=b.md",
        None,
        None,
    )
    .await;
    assert_eq!(
        (ids(&second), &second["next"]),
        (vec!["guide/freeze.md".to_owned()], &Value::Null)
    );

    // Deleted: gone from search and from the listing; a second delete finds nothing.
    let response = app
        .client
        .delete(format!("{}/v1/items/notes/guide/freeze.md", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 204);
    let (status, _) = send(
        &app,
        Method::DELETE,
        "/v1/items/notes/guide/freeze.md",
        None,
        None,
    )
    .await;
    assert_eq!(status, 404);
    assert!(
        cited(&app, "frozen tuples wrap around", "notes")
            .await
            .is_empty()
    );

    // Bad bodies are refused with the API's errors.
    let (status, body) = send(
        &app,
        Method::PUT,
        "/v1/items/notes/x.md",
        Some(json!({"title": "no content"})),
        None,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = send(
        &app,
        Method::PUT,
        "/v1/items/notes/x.md",
        Some(json!({"content": "x", "metadata": [1]})),
        None,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = send(
        &app,
        Method::POST,
        "/v1/items",
        Some(json!({"items": []})),
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("invalid_request"))
    );
    let (status, body) = send(
        &app,
        Method::GET,
        "/v1/sources/notes/items?limit=0",
        None,
        None,
    )
    .await;
    assert_eq!(status, 422, "{body}");

    // A page over the query body limit (64 KiB) is written; a query that large is refused.
    let big = "lorem ipsum ".repeat(10_000);
    let (status, body) = send(
        &app,
        Method::PUT,
        "/v1/items/notes/big.md",
        Some(json!({"content": big})),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = app.query(json!({"query": big})).await;
    assert_eq!(status, 413);

    // An anonymous write must name loopback: a page that rebinds a name to 127.0.0.1 cannot.
    let rebound = app
        .client
        .put(format!("{}/v1/items/notes/evil.md", app.url))
        .header("host", "attacker.example")
        .json(&json!({"content": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(rebound.status().as_u16(), 403);
    let (status, _) = send(&app, Method::GET, "/v1/items/notes/evil.md", None, None).await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test]
async fn a_write_body_over_its_own_limit_names_that_setting() {
    let kb = aiblox_kb_testkit::TestKb::new().await;
    let settings = crate::settings_with(
        kb.config(),
        kb.server_url(),
        vec![("limits.max_write_body_bytes", "100000".to_owned())],
    );
    let app = TestApp::spawn_with(settings, Some(kb)).await;
    let (status, body) = send(
        &app,
        reqwest::Method::PUT,
        "/v1/items/notes/big.md",
        Some(json!({"content": "x".repeat(200_000)})),
        None,
    )
    .await;
    assert_eq!(status, 413, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("limits.max_write_body_bytes"),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn only_keys_with_write_permission_write_and_only_their_sources() {
    use reqwest::Method;
    let (reader, reader_entry) = new_key("reader", None, None, None, false).unwrap();
    let (writer, writer_entry) =
        new_key("docs-writer", Some(&["docs".to_owned()]), None, None, true).unwrap();
    // A tenant's key: bound to a filter that keeps one item of docs.
    let vacuum_only: aiblox_orchestrator::protocol::Filter =
        serde_json::from_value(json!({"field": "external_id", "eq": "vacuum.md"})).unwrap();
    let (tenant, tenant_entry) = new_key("tenant", None, None, Some(&vacuum_only), false).unwrap();
    let (tenant_writer, tenant_writer_entry) =
        new_key("tenant-writer", None, None, Some(&vacuum_only), true).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.toml");
    std::fs::write(
        &keys,
        format!("{reader_entry}\n{writer_entry}\n{tenant_entry}\n{tenant_writer_entry}"),
    )
    .unwrap();
    let kb = aiblox_kb_testkit::TestKb::new().await;
    aiblox_kb::ItemRepo::new(kb.pool())
        .upsert(&crate::corpus())
        .await
        .unwrap();
    let mut settings = crate::settings_with(kb.config(), kb.server_url(), Vec::new());
    settings.access.keys_file = Some(keys);
    let app = TestApp::spawn_with(settings, Some(kb)).await;
    let page = json!({"content": "Written by a key."});
    for (method, path, body) in [
        (Method::DELETE, "/v1/items/docs/vacuum.md", None),
        (
            Method::POST,
            "/v1/items",
            Some(json!({"items": [{"source": "docs", "external_id": "r.md", "content": "r"}]})),
        ),
    ] {
        let (status, refused) = send(&app, method, path, body, Some(&reader)).await;
        assert_eq!(status, 403, "{refused}");
    }

    let (status, body) = send(
        &app,
        Method::PUT,
        "/v1/items/docs/new.md",
        Some(page.clone()),
        Some(&reader),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`write`"),
        "{body}"
    );
    let (status, body) = send(
        &app,
        Method::PUT,
        "/v1/items/docs/new.md",
        Some(page.clone()),
        None,
    )
    .await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = send(
        &app,
        Method::PUT,
        "/v1/items/docs/new.md",
        Some(page.clone()),
        Some(&writer),
    )
    .await;
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("inserted")),
        "{body}"
    );

    // Another source is answered as missing, and nothing of it changes.
    let (status, _) = send(
        &app,
        Method::PUT,
        "/v1/items/wiki/new.md",
        Some(page.clone()),
        Some(&writer),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = send(
        &app,
        Method::DELETE,
        "/v1/items/wiki/replication.md",
        None,
        Some(&writer),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = send(
        &app,
        Method::GET,
        "/v1/items/wiki/replication.md",
        None,
        Some(&reader),
    )
    .await;
    assert_eq!(status, 200, "the wiki item is still there");
    let mixed = json!({"items": [
        {"source": "docs", "external_id": "ok.md", "content": "fine"},
        {"source": "wiki", "external_id": "no.md", "content": "not yours"}]});
    let (status, body) = send(&app, Method::POST, "/v1/items", Some(mixed), Some(&writer)).await;
    assert_eq!(status, 404, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("item 1:"),
        "{body}"
    );
    let (status, _) = send(
        &app,
        Method::GET,
        "/v1/items/docs/ok.md",
        None,
        Some(&reader),
    )
    .await;
    assert_eq!(status, 404, "nothing of the batch was written");
    let (status, _) = send(
        &app,
        Method::GET,
        "/v1/sources/wiki/items",
        None,
        Some(&writer),
    )
    .await;
    assert_eq!(status, 404);
    let (status, listing) = send(
        &app,
        Method::GET,
        "/v1/sources/docs/items",
        None,
        Some(&writer),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(listing["items"].as_array().unwrap().len(), 3, "{listing}");
    // A tenant lists only what its filter keeps, page by page, and `next` never names another
    // item (indexes.md comes before vacuum.md and is not its).
    let (status, listing) = send(
        &app,
        Method::GET,
        "/v1/sources/docs/items?limit=1",
        None,
        Some(&tenant),
    )
    .await;
    assert_eq!(status, 200, "{listing}");
    assert_eq!(listing["items"][0]["external_id"], "vacuum.md", "{listing}");
    assert_eq!(listing["items"].as_array().unwrap().len(), 1);
    assert_ne!(listing["next"], "indexes.md");
    let after = listing["next"].as_str().unwrap_or("vacuum.md");
    let (_, rest) = send(
        &app,
        Method::GET,
        &format!("/v1/sources/docs/items?limit=1&after={after}"),
        None,
        Some(&tenant),
    )
    .await;
    assert_eq!(
        (rest["items"].as_array().unwrap().len(), &rest["next"]),
        (0, &Value::Null),
        "{rest}"
    );
    let (status, refused) = send(
        &app,
        Method::PUT,
        "/v1/items/docs/vacuum.md",
        Some(page.clone()),
        Some(&tenant),
    )
    .await;
    assert_eq!(status, 403, "the tenant's key may only read: {refused}");

    // A tenant's writer writes only items its filter keeps, before and after the write.
    let (status, body) = send(
        &app,
        Method::PUT,
        "/v1/items/docs/vacuum.md",
        Some(json!({"content": "VACUUM, rewritten by its tenant."})),
        Some(&tenant_writer),
    )
    .await;
    assert_eq!(
        (status, &body["status"]),
        (200, &json!("updated")),
        "{body}"
    );
    let (status, body) = send(
        &app,
        Method::PUT,
        "/v1/items/docs/other.md",
        Some(page.clone()),
        Some(&tenant_writer),
    )
    .await;
    assert_eq!(status, 403, "a new item its filter would not keep: {body}");
    let (status, body) = send(
        &app,
        Method::PUT,
        "/v1/items/docs/indexes.md",
        Some(page.clone()),
        Some(&tenant_writer),
    )
    .await;
    assert_eq!(
        status, 404,
        "an item outside its filter is as missing: {body}"
    );
    let (status, _) = send(
        &app,
        Method::DELETE,
        "/v1/items/docs/indexes.md",
        None,
        Some(&tenant_writer),
    )
    .await;
    assert_eq!(status, 404);
    for (external_id, exists) in [("other.md", false), ("indexes.md", true)] {
        let (status, item) = send(
            &app,
            Method::GET,
            &format!("/v1/items/docs/{external_id}"),
            None,
            Some(&reader),
        )
        .await;
        assert_eq!(status == 200, exists, "{external_id}: {item}");
    }
    let (_, indexes) = send(
        &app,
        Method::GET,
        "/v1/items/docs/indexes.md",
        None,
        Some(&reader),
    )
    .await;
    assert!(
        indexes["content"]
            .as_str()
            .unwrap()
            .starts_with("Indexes are"),
        "untouched: {indexes}"
    );
    let (status, _) = send(
        &app,
        Method::DELETE,
        "/v1/items/docs/vacuum.md",
        None,
        Some(&tenant_writer),
    )
    .await;
    assert_eq!(status, 204);
    app.stop().await;
}
