//! Who may ask what: API keys checked on every `/v1/*` request, sources scoped per key,
//! per-key rate limits, keys reloaded on SIGHUP without a restart, anonymous service only on
//! loopback unless allowed, and tokens in no log line, metric or error body.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use aiblox_kb::ItemRepo;
use aiblox_kb_testkit::TestKb;
use aiblox_orchestrator::config::{Overrides, Settings};
use aiblox_orchestrator::new_key;
use serde_json::{Value, json};

use crate::secrets::logs;
use crate::{Served, TestApp, corpus, settings_with};

/// A key's token and its `[[key]]` entry.
struct NewKey {
    token: String,
    entry: String,
}

fn key(name: &str, sources: Option<&[&str]>, rps: Option<f64>) -> NewKey {
    let sources: Option<Vec<String>> =
        sources.map(|sources| sources.iter().map(|s| (*s).to_owned()).collect());
    let (token, entry) = new_key(name, sources.as_deref(), rps, None, false).unwrap();
    NewKey { token, entry }
}

fn write_keys(path: &Path, keys: &[&NewKey]) {
    let text: Vec<&str> = keys.iter().map(|key| key.entry.as_str()).collect();
    std::fs::write(path, text.join("\n")).unwrap();
}

/// A service on a schema holding the e2e corpus (sources `docs` and `wiki`), with `keys`.
async fn spawn_with_keys(keys: &[&NewKey]) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.toml");
    write_keys(&path, keys);
    let kb = TestKb::new().await;
    ItemRepo::new(kb.pool()).upsert(&corpus()).await.unwrap();
    let mut settings = settings_with(kb.config(), kb.server_url(), Vec::new());
    settings.access.keys_file = Some(path);
    (TestApp::spawn_with(settings, Some(kb)).await, dir)
}

async fn call(
    app: &TestApp,
    token: Option<&str>,
    path: &str,
    body: Option<Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    let url = format!("{}{path}", app.url);
    let mut request = match &body {
        Some(body) => app.client.post(url).json(body),
        None => app.client.get(url),
    };
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (
        status,
        headers,
        response.json().await.unwrap_or(Value::Null),
    )
}

/// What a wrong token gets: 401, `WWW-Authenticate: Bearer`, the JSON error; the token is not
/// in the body.
fn assert_refused(status: u16, headers: &reqwest::header::HeaderMap, body: &Value, token: &str) {
    assert_eq!(status, 401, "{body}");
    assert!(
        headers["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Bearer"),
        "{headers:?}"
    );
    assert_eq!(body["error"]["code"], "unauthorized", "{body}");
    assert!(token.is_empty() || !body.to_string().contains(token));
}

#[tokio::test]
async fn only_a_known_token_opens_the_api_and_no_token_is_ever_shown() {
    let logs = logs();
    let team = key("team", None, None);
    let (app, _dir) = spawn_with_keys(&[&team]).await;
    let question = Some(json!({"query": "vacuum"}));

    let (status, headers, body) = call(&app, None, "/v1/query", question.clone()).await;
    assert_refused(status, &headers, &body, "");
    // Same length, one byte off; then a token of another key entirely.
    let mut near = team.token.clone().into_bytes();
    let last = near.len() - 1;
    near[last] = if near[last] == b'0' { b'1' } else { b'0' };
    let near = String::from_utf8(near).unwrap();
    let stranger = key("stranger", None, None).token;
    let truncated = team.token[..10].to_owned();
    for wrong in [&near, &stranger, &truncated] {
        let (status, headers, body) = call(&app, Some(wrong), "/v1/query", question.clone()).await;
        assert_refused(status, &headers, &body, wrong);
        let (status, headers, body) = call(&app, Some(wrong), "/v1/items/1", None).await;
        assert_refused(status, &headers, &body, wrong);
    }
    let (status, _, body) = call(&app, Some(&team.token), "/v1/query", question.clone()).await;
    assert_eq!(status, 200, "{body}");
    // The scheme's name is case-insensitive (RFC 9110).
    let lower = app
        .client
        .post(format!("{}/v1/query", app.url))
        .header("authorization", format!("bearer {}", team.token))
        .json(&json!({"query": "vacuum"}))
        .send()
        .await
        .unwrap();
    assert_eq!(lower.status().as_u16(), 200);
    assert!(!body["evidence"].as_array().unwrap().is_empty(), "{body}");
    let (status, _, _) = call(&app, Some(&team.token), "/v1/index", None).await;
    assert_eq!(status, 200);
    // Health, readiness, metrics and the API description stay open.
    for open in ["/healthz", "/readyz", "/openapi.json"] {
        assert_eq!(call(&app, None, open, None).await.0, 200, "{open}");
    }
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("aiblox_api_key_requests_total{key=\"team\",outcome=\"admitted\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("aiblox_api_unauthorized_requests_total 7"),
        "{metrics}"
    );
    let openapi = call(&app, None, "/openapi.json", None).await.2;
    assert_eq!(
        openapi["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );

    let captured = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        captured.contains("key=team"),
        "the key's name is in its requests' log lines: {captured}"
    );
    for token in [&team.token, &near, &stranger] {
        assert!(!captured.contains(token.as_str()), "a token in the logs");
        assert!(!metrics.contains(token.as_str()), "a token in the metrics");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_scoped_key_never_gets_evidence_or_items_of_another_source() {
    let docs = key("docs-only", Some(&["docs"]), None);
    let all = key("everything", None, None);
    let (app, _dir) = spawn_with_keys(&[&docs, &all]).await;
    let items = ItemRepo::new(app.kb().pool());
    let wiki_item = items
        .get_by_key("wiki", "replication.md")
        .await
        .unwrap()
        .unwrap();
    let docs_item = items
        .get_by_key("docs", "vacuum.md")
        .await
        .unwrap()
        .unwrap();
    let sources_of = |body: &Value| -> Vec<String> {
        body["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["source"].as_str().unwrap().to_owned())
            .collect()
    };

    // "server" is in a page of each source; the unscoped key sees both.
    let (_, _, body) = call(
        &app,
        Some(&all.token),
        "/v1/query",
        Some(json!({"query": "server"})),
    )
    .await;
    assert!(sources_of(&body).contains(&"wiki".to_owned()), "{body}");
    for asked in [
        json!({"query": "server", "explain": true}),
        json!({"query": "server", "sources": ["wiki", "docs"], "explain": true}),
        json!({"query": "standby server streaming replication", "top_k": 20}),
        json!({"query": "wiki:replication.md"}),
    ] {
        let (status, _, body) =
            call(&app, Some(&docs.token), "/v1/query", Some(asked.clone())).await;
        assert_eq!(status, 200, "{asked}: {body}");
        assert!(
            sources_of(&body).iter().all(|s| s == "docs"),
            "{asked}: {body}"
        );
        if let Some(candidates) = body["explain"]["candidates"].as_array() {
            assert!(candidates.iter().all(|c| c["source"] == "docs"), "{body}");
        }
    }
    let (status, _, body) = call(
        &app,
        Some(&docs.token),
        "/v1/query",
        Some(json!({"query": "server", "sources": ["wiki"]})),
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"]["code"], "forbidden");
    // Another source's item is answered as if it did not exist.
    let (status, _, hidden) = call(
        &app,
        Some(&docs.token),
        &format!("/v1/items/{}", wiki_item.id),
        None,
    )
    .await;
    let (_, _, missing) = call(&app, Some(&docs.token), "/v1/items/999999999", None).await;
    assert_eq!(status, 404);
    assert_eq!(hidden["error"]["code"], missing["error"]["code"]);
    assert!(!hidden.to_string().contains("wiki"), "{hidden}");
    let (status, _, body) = call(
        &app,
        Some(&docs.token),
        &format!("/v1/items/{}", docs_item.id),
        None,
    )
    .await;
    assert_eq!((status, body["source"].as_str()), (200, Some("docs")));
    let (status, _, _) = call(
        &app,
        Some(&all.token),
        &format!("/v1/items/{}", wiki_item.id),
        None,
    )
    .await;
    assert_eq!(status, 200);
    app.stop().await;
}

#[tokio::test]
async fn a_key_past_its_burst_gets_429_and_other_keys_are_unaffected() {
    let slow = key("slow", None, Some(1.0));
    let other = key("other", None, None);
    let (app, _dir) = spawn_with_keys(&[&slow, &other]).await;
    let question = Some(json!({"query": "vacuum"}));
    // A burst of one request a second: sent back to back, some are turned away (bounded: a
    // host slower than a second per request would never see a 429).
    let mut limited = None;
    for _ in 0..50 {
        let (status, headers, body) =
            call(&app, Some(&slow.token), "/v1/query", question.clone()).await;
        if status == 429 {
            limited = Some((headers, body));
            break;
        }
        assert_eq!(status, 200, "{body}");
    }
    let (headers, body) = limited.expect("no 429 in 50 back-to-back requests at 1 request/s");
    assert_eq!(body["error"]["code"], "rate_limited", "{body}");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    for _ in 0..10 {
        let (status, _, _) = call(&app, Some(&other.token), "/v1/query", question.clone()).await;
        assert_eq!(
            status, 200,
            "another key is not limited by this one's bucket"
        );
    }
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("aiblox_api_key_requests_total{key=\"slow\",outcome=\"rate_limited\"}"),
        "{metrics}"
    );
    app.stop().await;
}

#[test]
fn without_keys_only_loopback_is_served_unless_anonymous_is_allowed() {
    let resolve = |listen: &str, allow: Option<&str>| {
        let overrides = Overrides::default()
            .set("listen", listen)
            .set("database.url", "postgresql://app@localhost/kb");
        Settings::resolve(&match allow {
            Some(allow) => overrides.set("access.allow_anonymous", allow),
            None => overrides,
        })
    };
    let err = resolve("0.0.0.0:8080", None).unwrap_err().to_string();
    assert!(
        err.contains("refusing to serve 0.0.0.0:8080 without API keys")
            && err.contains("aiblox-orchestrator keys new")
            && err.contains("AIBLOX_ALLOW_ANONYMOUS=true"),
        "{err}"
    );
    let allowed = resolve("0.0.0.0:8080", Some("true")).unwrap();
    assert!(
        allowed
            .to_redacted_toml()
            .contains("# access: anonymous callers on 0.0.0.0:8080, as allow_anonymous = true")
    );
    let local = resolve("127.0.0.1:8080", None).unwrap();
    assert!(
        local
            .to_redacted_toml()
            .contains("# access: anonymous callers, on loopback only")
    );
    assert!(resolve("0.0.0.0:8080", Some("maybe")).is_err());
}

/// The real binary, reloading its keys file on SIGHUP: a new key works and a removed one is
/// refused without a restart; a broken file leaves the keys in force.
#[tokio::test]
async fn sighup_reloads_the_keys_and_a_broken_file_keeps_the_old_ones() {
    let kb = TestKb::new().await;
    ItemRepo::new(kb.pool()).upsert(&corpus()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keys.toml");
    let (first, second) = (key("first", None, None), key("second", None, None));
    write_keys(&path, &[&first]);
    let served = Served::start(&kb, Some(&path)).await;
    let (child, lines) = (&served.child, &served.lines);
    let logged = |what: &str| lines.lock().unwrap().iter().any(|line| line.contains(what));
    let address = served.address.clone();
    let app = TestApp::at(&format!("http://{address}"));
    let status_of = |token: String| {
        let app = &app;
        async move {
            call(
                app,
                Some(&token),
                "/v1/query",
                Some(json!({"query": "vacuum"})),
            )
            .await
            .0
        }
    };
    assert_eq!(status_of(first.token.clone()).await, 200);
    assert_eq!(status_of(second.token.clone()).await, 401);

    let hangup = |pid: u32| {
        assert!(
            Command::new("kill")
                .args(["-HUP", &pid.to_string()])
                .status()
                .unwrap()
                .success()
        );
    };
    write_keys(&path, &[&second]);
    hangup(child.id());
    let deadline = Instant::now() + Duration::from_secs(30);
    while status_of(second.token.clone()).await != 200 {
        assert!(Instant::now() < deadline, "the new key never worked");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        status_of(first.token.clone()).await,
        401,
        "the removed key is refused"
    );

    std::fs::write(&path, "[[key]]\nname = \"broken\"\n").unwrap();
    hangup(child.id());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !logged("the keys file did not load") {
        assert!(
            Instant::now() < deadline,
            "the broken reload was not logged"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        status_of(second.token.clone()).await,
        200,
        "the old keys stay"
    );
    let all = lines.lock().unwrap().join("\n");
    for token in [&first.token, &second.token] {
        assert!(!all.contains(token.as_str()), "a token in the logs");
    }
    served.stop_running();
}

/// Without keys, SIGHUP is caught and logged: its default action would stop the service.
#[tokio::test]
async fn sighup_without_keys_does_not_stop_the_service() {
    let kb = TestKb::new().await;
    let served = Served::start(&kb, None).await;
    assert!(
        Command::new("kill")
            .args(["-HUP", &served.child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while !served
        .lines
        .lock()
        .unwrap()
        .iter()
        .any(|line| line.contains("no keys file"))
    {
        assert!(Instant::now() < deadline, "SIGHUP was not logged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    served.stop_running();
}

#[tokio::test]
async fn a_lookup_outside_the_scope_is_told_as_a_missing_one() {
    let docs = key("docs-only", Some(&["docs", "later"]), None);
    let (app, _dir) = spawn_with_keys(&[&docs]).await;
    let warning = |query: &str| {
        let app = &app;
        let token = docs.token.clone();
        let query = query.to_owned();
        async move {
            let (status, _, body) = call(
                app,
                Some(&token),
                "/v1/query",
                Some(json!({"query": query})),
            )
            .await;
            assert_eq!(status, 200, "{body}");
            assert!(
                body["evidence"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .all(|e| e["source"] == "docs"),
                "{body}"
            );
            // The key's scope holds `later`, which has no items: not warned about, as the
            // request named no sources.
            let warnings = body["warnings"].as_array().cloned().unwrap_or_default();
            assert!(
                warnings
                    .iter()
                    .all(|w| w["code"] != "sources_without_items"),
                "{body}"
            );
            let lookup = warnings
                .iter()
                .find(|w| w["code"] == "lookup_not_found")
                .unwrap_or_else(|| panic!("a lookup warning: {body}"));
            lookup["message"].as_str().unwrap().to_owned()
        }
    };
    // The item exists in `wiki`, which this key may not read; the other does not exist.
    let outside = warning("wiki:replication.md").await;
    let missing = warning("wiki:nothing-here.md").await;
    assert_eq!(
        outside.replace("replication.md", "NAME"),
        missing.replace("nothing-here.md", "NAME"),
        "the same words for both: nothing about the other source leaks"
    );
    app.stop().await;
}

/// A key bound to a filter: its callers see only the items it keeps, in searches, lookups and
/// `GET /v1/items/{id}` (an item outside answers as a missing one); a request's own filter
/// narrows it and cannot widen it; `keys new --filter` writes the entry the service loads.
#[tokio::test]
async fn a_key_bound_to_a_filter_sees_only_what_it_keeps_and_a_request_cannot_widen_it() {
    let filter: aiblox_orchestrator::protocol::Filter = serde_json::from_value(
        json!({"field": "external_id", "in": ["vacuum.md", "replication.md"]}),
    )
    .unwrap();
    let (token, entry) = new_key("tenant", None, None, Some(&filter), false).unwrap();
    assert!(entry.contains("filter = {"), "{entry}");
    let bound = NewKey { token, entry };
    let (app, _dir) = spawn_with_keys(&[&bound]).await;
    let ask = |body: Value| call(&app, Some(&bound.token), "/v1/query", Some(body));
    let (status, _, body) =
        ask(json!({"query": "indexes database vacuum standby", "top_k": 10})).await;
    assert_eq!(status, 200, "{body}");
    let found: Vec<&str> = body["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|evidence| evidence["external_id"].as_str().unwrap())
        .collect();
    assert!(
        !found.is_empty() && !found.contains(&"indexes.md"),
        "{found:?}"
    );
    // A request's filter narrows the key's, never widens it.
    let (_, _, body) = ask(json!({"query": "indexes database vacuum standby",
                                 "filter": {"field": "external_id", "eq": "indexes.md"}}))
    .await;
    assert_eq!(body["evidence"], json!([]), "{body}");
    let (_, _, body) = ask(json!({"query": "vacuum standby",
                                 "filter": {"field": "external_id", "eq": "vacuum.md"}}))
    .await;
    assert!(
        body["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["external_id"] == "vacuum.md")
    );
    // A lookup and an item read outside it answer as missing ones.
    let (_, _, body) = ask(json!({"query": "docs:indexes.md"})).await;
    assert_eq!(body["warnings"][0]["code"], "lookup_not_found", "{body}");
    let items = ItemRepo::new(app.kb.as_ref().unwrap().pool());
    let indexes = items
        .get_by_key("docs", "indexes.md")
        .await
        .unwrap()
        .unwrap()
        .id;
    let vacuum = items
        .get_by_key("docs", "vacuum.md")
        .await
        .unwrap()
        .unwrap()
        .id;
    let (status, _, _) = call(
        &app,
        Some(&bound.token),
        &format!("/v1/items/{indexes}"),
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _, body) = call(
        &app,
        Some(&bound.token),
        &format!("/v1/items/{vacuum}"),
        None,
    )
    .await;
    assert_eq!(
        (status, body["external_id"].as_str()),
        (200, Some("vacuum.md"))
    );
    app.stop().await;
}
