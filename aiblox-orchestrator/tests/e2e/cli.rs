//! The binary's command line: shell completions name its subcommands and flags;
//! `check-config` prints a database URL that can be pasted back; required flags read as
//! required; `purge-chunks` removes exactly the cached chunks nothing reads.

use std::process::Command;

use aiblox_kb::{ChunkCacheRepo, ItemRepo, NewChunk, NewChunkSet, NewItem};
use serde_json::json;

use crate::TestApp;

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let output = Command::new(env!("CARGO_BIN_EXE_aiblox-orchestrator"))
            .args(["completions", shell])
            .output()
            .unwrap();
        let script = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{shell}");
        assert!(
            script.contains("check-config") && script.contains("database-url"),
            "{shell}: {script}"
        );
    }
    let output = Command::new(env!("CARGO_BIN_EXE_aiblox-orchestrator"))
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "an unknown shell is refused");
}

#[test]
fn check_config_prints_a_url_that_parses_back() {
    let url = "postgresql://app:hunter2@%2Ftmp%2Fpg%20dir:5433/kb?sslmode=disable";
    let output = Command::new(env!("CARGO_BIN_EXE_aiblox-orchestrator"))
        .arg("check-config")
        .env("AIBLOX_KB_DATABASE_URL", url)
        .env_remove("AIBLOX_API_KEYS_FILE")
        .env_remove("AIBLOX_LISTEN")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(!printed.contains("hunter2"), "{printed}");
    let shown = printed
        .lines()
        .find_map(|line| line.strip_prefix("url = "))
        .expect("the database URL");
    let shown: String = toml::from_str::<toml::Value>(&format!("url = {shown}")).unwrap()["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        shown,
        "postgresql://app:***@%2Ftmp%2Fpg%20dir:5433/kb?sslmode=disable"
    );
    let again = aiblox_kb::KbConfig::new(&shown.replace("***", "hunter2")).unwrap();
    assert_eq!(
        again.redacted_url(),
        shown,
        "parses back to the same settings"
    );
    assert!(
        printed.contains("# access: anonymous callers, on loopback only"),
        "{printed}"
    );
}

#[test]
fn required_flags_read_as_required_in_help() {
    let help = |program: &str, args: &[&str]| {
        let output = Command::new(program).args(args).output().unwrap();
        assert!(output.status.success(), "{program} {args:?}");
        String::from_utf8_lossy(&output.stdout).into_owned()
    };
    let keys = help(
        env!("CARGO_BIN_EXE_aiblox-orchestrator"),
        &["keys", "new", "--help"],
    );
    assert!(
        keys.lines()
            .any(|line| line.contains("--name <NAME>") && line.contains("(required)")),
        "{keys}"
    );
}

/// `keys new --filter` writes the filter into the entry as TOML (the service loads it: the
/// access tests), and refuses a bad one with the part at fault.
#[test]
fn keys_new_writes_a_filter_and_refuses_a_bad_one() {
    let keys_new = |filter: &str| {
        Command::new(env!("CARGO_BIN_EXE_aiblox-orchestrator"))
            .args(["keys", "new", "--name", "tenant", "--filter", filter])
            .output()
            .unwrap()
    };
    let output = keys_new(r#"{"field": "metadata.tenant", "eq": "acme"}"#);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.contains(r#"filter = { eq = "acme", field = "metadata.tenant" }"#),
        "{stdout}"
    );
    let output = keys_new(r#"{"field": "tenant", "eq": "acme"}"#);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`filter.field` is `tenant`"), "{stderr}");
}

#[tokio::test]
async fn purge_chunks_removes_stale_and_other_chunkers_chunks_and_keeps_the_rest() {
    let app = TestApp::spawn().await;
    // The service caches the chunk sets of what it reads.
    let (status, _) = app
        .query(json!({"query": "vacuum indexes replication server"}))
        .await;
    assert_eq!(status, 200);
    let kb = app.kb();
    let cached = || async {
        kb.raw_client()
            .await
            .query_one("SELECT count(DISTINCT item_id) FROM chunk_cache", &[])
            .await
            .unwrap()
            .get::<_, i64>(0)
    };
    let before = cached().await;
    assert!(before >= 2, "{before}");
    let items = ItemRepo::new(kb.pool());
    // The VACUUM page changes (its cached chunks go stale), and another chunker caches a set
    // for the index page.
    items
        .upsert(&[NewItem::new("docs", "vacuum.md", "Rewritten entirely.").with_title("VACUUM")])
        .await
        .unwrap();
    let indexes = items
        .get_by_key("docs", "indexes.md")
        .await
        .unwrap()
        .unwrap();
    ChunkCacheRepo::new(kb.pool())
        .put(
            "old-chunker-v0",
            &[NewChunkSet {
                item_id: indexes.id,
                content_hash: indexes.content_hash,
                chunks: vec![NewChunk {
                    start_offset: 0,
                    end_offset: 7,
                    text: "Indexes".to_owned(),
                    token_count: 1,
                }],
            }],
        )
        .await
        .unwrap();

    let output = Command::new(env!("CARGO_BIN_EXE_aiblox-orchestrator"))
        .arg("purge-chunks")
        .env("AIBLOX_KB_DATABASE_URL", kb.server_url())
        .env("AIBLOX_KB_SCHEMA", kb.schema())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("stale chunks") && stdout.contains("1 chunks of other chunkers"),
        "{stdout}"
    );
    let client = kb.raw_client().await;
    let left: Vec<(String, String)> = client
        .query(
            "SELECT i.external_id, c.chunker_key FROM chunk_cache c JOIN item i ON i.id = c.item_id
             GROUP BY 1, 2 ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert!(
        left.iter()
            .all(|(id, key)| id != "vacuum.md" && key != "old-chunker-v0"),
        "{left:?}"
    );
    assert_eq!(
        left.len() as i64,
        before - 1,
        "the current chunks stay: {left:?}"
    );
    app.stop().await;
}
