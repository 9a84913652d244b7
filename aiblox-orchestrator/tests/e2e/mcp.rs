//! The MCP server driven by a client nobody here wrote: the official Python SDK (PyPI `mcp`,
//! through `mcp_client.py`), over streamable HTTP at `/mcp` with API keys and over stdio
//! (`aiblox-orchestrator mcp`): tools and resource templates listed, `search` citing passages,
//! an item read whole as a resource, a scoped key refused another source and a bad filter
//! answered as tool errors, calls counted per tool. Skipped where Python's `mcp` is missing,
//! unless `AIBLOX_TEST_REQUIRE_MCP_CLIENT` is set (as in CI); `AIBLOX_TEST_MCP_PYTHON` names
//! the Python that has it (default `python3`).

use std::io::Write as _;
use std::process::{Command, Stdio};

use aiblox_kb::ItemRepo;
use aiblox_kb_testkit::TestKb;
use aiblox_orchestrator::new_key;
use serde_json::{Value, json};

use crate::{TestApp, corpus, settings_with};

const CLIENT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e/mcp_client.py");

/// The Python that has the MCP SDK, or `None` (the test skips) where there is none.
fn python_with_mcp() -> Option<String> {
    let python = std::env::var("AIBLOX_TEST_MCP_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let found = Command::new(&python)
        .args(["-c", "import mcp"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if found {
        return Some(python);
    }
    let install =
        "python3 -m pip install mcp (or point AIBLOX_TEST_MCP_PYTHON at a Python that has it)";
    assert!(
        std::env::var_os("AIBLOX_TEST_REQUIRE_MCP_CLIENT").is_none(),
        "AIBLOX_TEST_REQUIRE_MCP_CLIENT is set but {python} cannot import mcp: {install}"
    );
    eprintln!("skipped: the MCP client (Python's mcp) is not installed: {install}");
    None
}

/// Runs the client with `args` and `steps`: what it saw, or its exit status and stderr.
async fn drive(
    python: &str,
    args: Vec<String>,
    steps: Value,
    env: Vec<(&'static str, String)>,
) -> Result<Value, String> {
    let python = python.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(python)
            .arg(CLIENT)
            .args(args)
            .env_remove("AIBLOX_API_KEYS_FILE")
            .env_remove("AIBLOX_EMBEDDING_MODEL")
            .envs(env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(steps.to_string().as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        if !output.status.success() {
            return Err(format!(
                "{}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            ));
        }
        serde_json::from_slice(&output.stdout).map_err(|err| err.to_string())
    })
    .await
    .unwrap()
}

/// The search, the refused source and the bad filter every run asks.
fn steps() -> Value {
    json!({
        "search": {"query": "vacuum dead tuples storage", "top_k": 3},
        "refused": {"query": "standby streaming", "sources": ["wiki"]},
        "bad": {"query": "vacuum", "filter": {"field": "colour", "eq": "red"}},
        "item_key": "docs:indexes.md",
    })
}

/// What every run must have seen: the tools and template, cited passages of `docs`, the item
/// read whole, errors as tool results.
/// `writes`: whether the caller may write, and so is shown the tools `store` and `delete`.
fn assert_the_tools_work(seen: &Value, writes: bool) {
    let mut tools: Vec<&str> = seen["tools"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    tools.sort_unstable();
    let expected: &[&str] = if writes {
        &["delete", "get_item", "list_sources", "search", "store"]
    } else {
        &["get_item", "list_sources", "search"]
    };
    assert_eq!(tools, expected);
    assert_eq!(
        seen["tools"]["search"]["input"]["required"],
        json!(["query"])
    );
    assert_eq!(seen["tools"]["search"]["has_output"], true);
    assert_eq!(seen["templates"], json!(["aiblox://items/{id}"]));
    let search = &seen["search"];
    assert_eq!(search["is_error"], false, "{search}");
    let passages = search["structured"]["passages"].as_array().unwrap();
    let first = &passages[0];
    assert_eq!(
        (&first["source"], &first["external_id"]),
        (&json!("docs"), &json!("vacuum.md")),
        "{search}"
    );
    assert_eq!(
        first["uri"],
        json!(format!("aiblox://items/{}", first["item_id"])),
        "{first}"
    );
    // The text a model reads cites the passage and holds it.
    let text = search["text"].as_str().unwrap();
    assert!(
        text.starts_with("[1] VACUUM (docs:vacuum.md;")
            && text.contains(first["text"].as_str().unwrap()),
        "{text}"
    );
    // The resource is the whole item, and the passage is the item's text at its offsets.
    let whole = seen["resource"]["text"].as_str().unwrap();
    let (start, end) = (
        first["start"].as_u64().unwrap() as usize,
        first["end"].as_u64().unwrap() as usize,
    );
    assert_eq!(&whole[start..end], first["text"].as_str().unwrap());
    assert!(
        seen["missing_resource"]
            .as_str()
            .unwrap()
            .contains("no item with id 999999999"),
        "{}",
        seen["missing_resource"]
    );
    let bad = &seen["bad"];
    assert_eq!(bad["is_error"], true, "{bad}");
    assert!(
        bad["text"]
            .as_str()
            .unwrap()
            .contains("`filter.field` is `colour`"),
        "{bad}"
    );
    let item = &seen["item"];
    assert_eq!(item["is_error"], false, "{item}");
    assert_eq!(item["structured"]["external_id"], "indexes.md");
    assert!(
        item["text"]
            .as_str()
            .unwrap()
            .starts_with("Indexes\n\nIndexes are")
    );
}

#[tokio::test]
async fn an_mcp_client_searches_over_http_within_its_keys_scope() {
    let Some(python) = python_with_mcp() else {
        return;
    };
    let (docs_token, docs_entry) =
        new_key("docs-agent", Some(&["docs".to_owned()]), None, None, false).unwrap();
    // A tenant's key: bound to a filter that keeps one item of docs.
    let vacuum_only: aiblox_orchestrator::protocol::Filter =
        serde_json::from_value(json!({"field": "external_id", "eq": "vacuum.md"})).unwrap();
    let (tenant_token, tenant_entry) =
        new_key("tenant", None, None, Some(&vacuum_only), false).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.toml");
    std::fs::write(&keys, format!("{docs_entry}\n{tenant_entry}")).unwrap();
    let kb = TestKb::new().await;
    ItemRepo::new(kb.pool()).upsert(&corpus()).await.unwrap();
    let wiki_id = ItemRepo::new(kb.pool())
        .get_by_key("wiki", "replication.md")
        .await
        .unwrap()
        .unwrap()
        .id;
    let mut settings = settings_with(kb.config(), kb.server_url(), Vec::new());
    settings.access.keys_file = Some(keys);
    let app = TestApp::spawn_with(settings, Some(kb)).await;
    let url = format!("{}/mcp", app.url);

    let mut scoped_steps = steps();
    scoped_steps["foreign_key"] = json!("wiki:replication.md");
    scoped_steps["foreign_uri"] = json!(format!("aiblox://items/{wiki_id}"));
    // A key that may only read is not shown the write tools, and calling them is refused.
    scoped_steps["store"] = json!({"source": "docs", "external_id": "x.md", "content": "x"});
    scoped_steps["stored_search"] = json!({"query": "x"});
    scoped_steps["delete"] = json!({"source": "docs", "external_id": "vacuum.md"});
    let seen = drive(
        &python,
        vec!["http".into(), url.clone(), docs_token.clone()],
        scoped_steps,
        Vec::new(),
    )
    .await
    .unwrap();
    assert_the_tools_work(&seen, false);
    for refused in [&seen["stored"], &seen["deleted"]] {
        assert_eq!(refused["is_error"], true, "{refused}");
        assert!(
            refused["text"].as_str().unwrap().contains("`write`"),
            "{refused}"
        );
    }
    // Every passage is of the key's source; an item of another one is missing, by tool and
    // by resource.
    for passage in seen["search"]["structured"]["passages"].as_array().unwrap() {
        assert_eq!(passage["source"], "docs", "{passage}");
    }
    assert_eq!(seen["foreign_item"]["is_error"], true);
    assert!(
        seen["foreign_item"]["text"]
            .as_str()
            .unwrap()
            .starts_with("no item with source \"wiki\""),
        "{}",
        seen["foreign_item"]
    );
    assert!(
        seen["foreign_resource"]
            .as_str()
            .unwrap()
            .contains(&format!("no item with id {wiki_id}")),
        "{}",
        seen["foreign_resource"]
    );
    // The key reads docs only: a search of wiki is a tool error saying so, and wiki is not
    // listed.
    let refused = &seen["refused"];
    assert_eq!(refused["is_error"], true, "{refused}");
    assert!(
        refused["text"]
            .as_str()
            .unwrap()
            .contains("may read only the sources"),
        "{refused}"
    );
    assert_eq!(refused["structured"]["code"], "forbidden");
    assert_eq!(
        seen["sources"]["structured"]["sources"],
        json!([{"source": "docs", "items": 2}])
    );
    // No key, no session; a wrong one neither (the client cannot connect), and /mcp answers
    // 401 with the API's challenge, as /v1/* does.
    for args in [
        vec!["http".to_owned(), url.clone()],
        vec!["http".to_owned(), url.clone(), "not-a-token".to_owned()],
    ] {
        let err = drive(&python, args, steps(), Vec::new()).await.unwrap_err();
        assert!(err.contains("Server returned an error response"), "{err}");
    }
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"}}});
    let response = app
        .client
        .post(&url)
        .header("accept", "application/json, text/event-stream")
        .json(&initialize)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key("www-authenticate"));
    // The HTTP API lists the same sources; a tenant's key sees the sources and counts of what
    // its filter keeps, nothing else.
    let sources_of = |token: String| {
        let request = app
            .client
            .get(format!("{}/v1/sources", app.url))
            .bearer_auth(token);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    assert_eq!(
        sources_of(docs_token.clone()).await,
        json!({"sources": [{"source": "docs", "items": 2}]})
    );
    assert_eq!(
        sources_of(tenant_token).await,
        json!({"sources": [{"source": "docs", "items": 1}]})
    );
    let metrics = app.metrics().await;
    for counted in [
        r#"aiblox_mcp_tool_calls_total{tool="search",outcome="ok"} 3"#,
        r#"aiblox_mcp_tool_calls_total{tool="store",outcome="error"} 1"#,
        r#"aiblox_mcp_tool_calls_total{tool="delete",outcome="error"} 1"#,
        r#"aiblox_mcp_tool_calls_total{tool="search",outcome="error"} 2"#,
        r#"aiblox_mcp_tool_calls_total{tool="get_item",outcome="ok"} 1"#,
        r#"aiblox_mcp_tool_calls_total{tool="list_sources",outcome="ok"} 1"#,
    ] {
        assert!(metrics.contains(counted), "{counted} in\n{metrics}");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_mcp_client_starts_the_stdio_server_and_searches() {
    let Some(python) = python_with_mcp() else {
        return;
    };
    let kb = TestKb::new().await;
    ItemRepo::new(kb.pool()).upsert(&corpus()).await.unwrap();
    let env = vec![
        ("AIBLOX_KB_DATABASE_URL", kb.server_url().to_owned()),
        ("AIBLOX_KB_SCHEMA", kb.schema().to_owned()),
        ("AIBLOX_LOG_LEVEL", "warn".to_owned()),
    ];
    let binary = env!("CARGO_BIN_EXE_aiblox-orchestrator").to_owned();
    let mut writing = steps();
    writing["store"] = json!({"source": "notes", "external_id": "mcp.md", "title": "Learned",
        "content": "The quokka smiles at every visitor of Rottnest Island."});
    writing["stored_search"] = json!({"query": "quokka Rottnest", "sources": ["notes"]});
    writing["delete"] = json!({"source": "notes", "external_id": "mcp.md"});
    let seen = drive(
        &python,
        vec!["stdio".into(), binary.clone(), "mcp".into()],
        writing,
        env.clone(),
    )
    .await
    .unwrap();
    assert_the_tools_work(&seen, true);
    // The local user stores a document, finds it at once, deletes it, and it is gone.
    assert_eq!(
        seen["stored"]["structured"]["status"], "inserted",
        "{}",
        seen["stored"]
    );
    let found = &seen["stored_search"]["structured"]["passages"];
    assert_eq!(found[0]["external_id"], "mcp.md", "{found}");
    assert_eq!(seen["deleted"]["is_error"], false, "{}", seen["deleted"]);
    assert_eq!(
        seen["deleted_search"]["structured"]["passages"],
        json!([]),
        "{}",
        seen["deleted_search"]
    );
    // Without keys the local user reads every source.
    assert_eq!(seen["refused"]["is_error"], false, "{}", seen["refused"]);
    assert_eq!(
        seen["sources"]["structured"]["sources"],
        json!([{"source": "docs", "items": 2}, {"source": "wiki", "items": 2}])
    );

    // With keys the session speaks for the key it names, and naming none is refused.
    let (_, docs_entry) =
        new_key("docs-agent", Some(&["docs".to_owned()]), None, None, false).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.toml");
    std::fs::write(&keys, docs_entry).unwrap();
    let mut env = env;
    env.push(("AIBLOX_API_KEYS_FILE", keys.display().to_string()));
    let named = vec![
        "stdio".into(),
        binary.clone(),
        "mcp".into(),
        "--key-name".into(),
        "docs-agent".into(),
    ];
    let seen = drive(&python, named, steps(), env.clone()).await.unwrap();
    assert_the_tools_work(&seen, false);
    assert_eq!(seen["refused"]["is_error"], true, "{}", seen["refused"]);
    assert_eq!(
        seen["sources"]["structured"]["sources"],
        json!([{"source": "docs", "items": 2}])
    );
    let unnamed = vec!["stdio".into(), binary, "mcp".into()];
    let err = drive(&python, unnamed, steps(), env).await.unwrap_err();
    assert!(err.contains("--key-name"), "{err}");
}
