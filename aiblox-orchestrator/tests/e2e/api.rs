//! Every endpoint, and every kind of bad input: a 4xx with a JSON error body, never a 5xx.

use serde_json::{Value, json};

use crate::TestApp;

fn assert_error(status: u16, body: &Value, expected_status: u16, code: &str) {
    assert_eq!(status, expected_status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        !body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "{body}"
    );
}

#[tokio::test]
async fn bad_requests_get_a_4xx_with_a_json_error() {
    let app = TestApp::spawn().await;
    let post = |body: String, content_type: &'static str| {
        app.client
            .post(format!("{}/v1/query", app.url))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    let cases: Vec<(String, &str, u16, &str)> = vec![
        (
            "{not json".to_owned(),
            "application/json",
            400,
            "invalid_json",
        ),
        // Truncated: a syntax error.
        (
            "{\"query\": \"x\"".to_owned(),
            "application/json",
            400,
            "invalid_json",
        ),
        // Deep nesting where a string is expected: refused at the first level.
        (
            format!("{}1{}", "[".repeat(5000), "]".repeat(5000)),
            "application/json",
            422,
            "invalid_request",
        ),
        (
            format!(
                "{{\"query\": \"x\", \"sources\": {}\"a\"{}}}",
                "[".repeat(5000),
                "]".repeat(5000)
            ),
            "application/json",
            422,
            "invalid_request",
        ),
        (
            json!({"top_k": 3}).to_string(),
            "application/json",
            422,
            "invalid_request",
        ),
        (
            json!({"query": "   "}).to_string(),
            "application/json",
            422,
            "invalid_request",
        ),
        (
            json!({"query": "x", "top_k": 0}).to_string(),
            "application/json",
            422,
            "invalid_request",
        ),
        (
            json!({"query": "x", "top_k": 51}).to_string(),
            "application/json",
            422,
            "invalid_request",
        ),
        (
            json!({"query": "x", "top_k": "five"}).to_string(),
            "application/json",
            422,
            "invalid_request",
        ),
        (
            json!({"query": "x", "unknown": true}).to_string(),
            "application/json",
            422,
            "invalid_request",
        ),
        (
            json!({"query": "x".repeat(2_001)}).to_string(),
            "application/json",
            422,
            "invalid_request",
        ),
        (
            json!({"query": "x", "sources": []}).to_string(),
            "application/json",
            422,
            "invalid_request",
        ),
        (
            json!({"query": "x".repeat(70_000)}).to_string(),
            "application/json",
            413,
            "payload_too_large",
        ),
        (
            json!({"query": "x"}).to_string(),
            "text/plain",
            415,
            "unsupported_media_type",
        ),
    ];
    for (body, content_type, status, code) in cases {
        let response = post(body.clone(), content_type).await.unwrap();
        let got = response.status().as_u16();
        let json: Value = response
            .json()
            .await
            .unwrap_or_else(|err| panic!("{got} without a JSON body for {:.80}: {err}", body));
        assert_error(got, &json, status, code);
    }

    // A limit an error names comes with the setting that raises it.
    for (body, said) in [
        (
            json!({"query": "x".repeat(70_000)}),
            "over the limit of 65536 bytes (limits.max_body_bytes, AIBLOX_MAX_BODY_BYTES)",
        ),
        (
            json!({"query": "x".repeat(2_001)}),
            "the limit is 2000 (limits.max_query_chars, AIBLOX_MAX_QUERY_CHARS)",
        ),
    ] {
        let response = post(body.to_string(), "application/json").await.unwrap();
        let json: Value = response.json().await.unwrap();
        let message = json["error"]["message"].as_str().unwrap();
        assert!(message.contains(said), "{message}");
    }

    let (status, body) = app.get("/v1/items/not-a-number").await;
    assert_error(status, &body, 400, "invalid_request");
    let (status, body) = app.get("/v1/items/987654321").await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = app.get("/no/such/path").await;
    assert_error(status, &body, 404, "not_found");
    app.stop().await;
}

#[tokio::test]
async fn odd_but_valid_questions_never_fail() {
    let app = TestApp::spawn().await;
    for query in [
        "-",
        "\"unterminated",
        "a & b | !c",
        "'; DROP TABLE item; --",
        "<>:*()",
        "ünïcödé 🦀 日本語",
        "x:y:z",
        "or or or",
    ] {
        let (status, body) = app.query(json!({ "query": query })).await;
        assert_eq!(status, 200, "{query}: {body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn items_health_readiness_metrics_and_the_api_description() {
    let app = TestApp::spawn().await;
    let (_, answer) = app.query(json!({"query": "vacuum"})).await;
    let id = answer["evidence"][0]["item_id"].as_i64().unwrap();
    let (status, item) = app.get(&format!("/v1/items/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(item["external_id"], "vacuum.md");
    assert_eq!(item["content_hash"].as_str().unwrap().len(), 64);

    assert_eq!(app.get("/healthz").await, (200, json!({"status": "ok"})));
    let (status, ready) = app.get("/readyz").await;
    assert_eq!(status, 200, "{ready}");
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["schema"], app.kb().schema());
    assert_eq!(ready["compatibility"]["state"], "up_to_date");

    let metrics = app.metrics().await;
    for expected in [
        "aiblox_http_request_duration_seconds_bucket",
        "route=\"/v1/query\"",
        "aiblox_stage_duration_seconds_count{stage=\"chunk\"}",
        "aiblox_chunk_cache_misses_total",
        "aiblox_chunk_cache_hits_total",
        "aiblox_pool_max_connections 16",
        "aiblox_pool_connections",
    ] {
        assert!(
            metrics.contains(expected),
            "{expected} missing from:\n{metrics}"
        );
    }

    let (status, openapi) = app.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(openapi["openapi"], "3.1.0");
    for path in [
        "/v1/query",
        "/v1/items/{id}",
        "/v1/index",
        "/healthz",
        "/readyz",
        "/metrics",
    ] {
        assert!(openapi["paths"].get(path).is_some(), "{path}");
    }
    app.stop().await;
}

#[tokio::test]
async fn request_ids_are_taken_or_made_and_returned() {
    let app = TestApp::spawn().await;
    let given = app
        .client
        .get(format!("{}/healthz", app.url))
        .header("x-request-id", "trace-42")
        .send()
        .await
        .unwrap();
    assert_eq!(given.headers()["x-request-id"], "trace-42");
    let made = app
        .client
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .unwrap();
    assert!(made.headers()["x-request-id"].len() >= 16);
    let hostile = app
        .client
        .get(format!("{}/healthz", app.url))
        .header("x-request-id", "a b\tc")
        .send()
        .await
        .unwrap();
    assert_ne!(
        hostile.headers()["x-request-id"],
        "a b\tc",
        "an unsafe id is replaced"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_client_that_never_finishes_its_body_is_cut_off() {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let kb = aiblox_kb_testkit::TestKb::new().await;
    let settings = crate::settings_with(
        kb.config(),
        kb.server_url(),
        vec![("limits.request_timeout_ms", "300".to_owned())],
    );
    let app = TestApp::spawn_with(settings, Some(kb)).await;
    let address = app.url.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let head = "POST /v1/query HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"qu";
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        stream.read_to_end(&mut response),
    )
    .await;
    assert!(read.is_ok(), "the server never answered the slow client");
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(
        response.contains("{\"error\":{\"code\":\"request_timeout\""),
        "{response}"
    );
    app.stop().await;
}

/// Errors made by routing and extraction, not by a handler, are the API's JSON error too, in
/// the API's words (axum's own are an empty 405 and "Cannot parse `abc` to a `i64`").
#[tokio::test]
async fn routing_and_extraction_errors_are_json_in_the_apis_words() {
    let app = TestApp::spawn().await;
    let response = app
        .client
        .get(format!("{}/v1/query", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(
        response.headers()["allow"],
        "POST",
        "the Allow header is kept"
    );
    let body: Value = response.json().await.unwrap();
    assert_error(405, &body, 405, "method_not_allowed");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("GET is not allowed on /v1/query"),
        "{body}"
    );
    let (status, body) = app.get("/v1/items/abc").await;
    assert_error(status, &body, 400, "invalid_request");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("an item id is an integer") && !message.contains("i64"),
        "{message}"
    );
    let (status, body) = app.get("/v2/nothing").await;
    assert_error(status, &body, 404, "not_found");
    app.stop().await;
}

/// operations.md: `/readyz` reports the database's compatibility with this build: ahead
/// within the rule is ready (and says so), ahead beyond it or behind is 503 with what to do.
/// Would catch a readiness check that only pings the database.
#[tokio::test]
async fn readiness_reports_each_compatibility_state() {
    let app = TestApp::spawn().await;
    let (status, ready) = app.get("/readyz").await;
    assert_eq!(
        (status, &ready["compatibility"]["state"]),
        (200, &json!("up_to_date"))
    );

    // A newer build of the same contract line added a migration.
    crate::apply_a_newer_builds_migration(app.kb().config()).await;
    let (status, ready) = crate::readyz_until(&app, "ahead", |_, body| {
        body["compatibility"]["state"] != "up_to_date"
    })
    .await;
    assert_eq!(
        (status, &ready["compatibility"]["state"]),
        (200, &json!("ahead_compatible")),
        "{ready}"
    );
    assert_eq!(
        app.query(json!({"query": "vacuum"})).await.0,
        200,
        "serves while ahead within the rule"
    );

    // The same migration, recorded by a contract of another major version: not ready.
    let owner = app.kb().raw_client().await;
    owner
        .execute(
            "UPDATE aiblox_kb_migrations SET contract_version = '1.0.0' WHERE version = 9000",
            &[],
        )
        .await
        .unwrap();
    let (status, body) = crate::readyz_until(&app, "incompatible", |status, _| status != 200).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "unavailable");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("1.0.0"),
        "{body}"
    );

    // Behind: the newest migration of this build is not recorded.
    owner
        .batch_execute(
            "DELETE FROM aiblox_kb_migrations
             WHERE version = 9000 OR version = (SELECT max(version) FROM aiblox_kb_migrations WHERE version < 9000)",
        )
        .await
        .unwrap();
    let (status, body) = crate::readyz_until(&app, "behind", |_, body| {
        body["error"]["message"]
            .as_str()
            .is_some_and(|message| !message.contains("1.0.0"))
    })
    .await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("run the migrations"),
        "{body}"
    );
    app.stop().await;
}

/// operations.md: a request's log lines carry its request id, the one the client sent in
/// `x-request-id` (or the one the service made and returned), so a client's report can be
/// found in the logs. Would catch log lines outside the request's span.
#[tokio::test]
async fn log_lines_of_a_request_carry_its_request_id() {
    let logs = crate::secrets::logs();
    let app = TestApp::spawn().await;
    let response = app
        .client
        .post(format!("{}/v1/query", app.url))
        .header("x-request-id", "trace-log-4711")
        .json(&json!({"query": "vacuum"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let captured = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    let lines: Vec<&str> = captured
        .lines()
        .filter(|line| line.contains("trace-log-4711"))
        .collect();
    assert!(
        !lines.is_empty(),
        "no log line names the request id; captured {} bytes",
        captured.len()
    );
    assert!(
        lines.iter().any(|line| line.contains("/v1/query")),
        "the request's lines do not say what was asked: {lines:?}"
    );
    app.stop().await;
}
