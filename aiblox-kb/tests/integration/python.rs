//! The generated Python package (`python/aiblox_kb`) and this crate on one database: migrations
//! either way, Python and Rust runners started together, the compatibility rule's cases decided
//! alike, writes of one read by the other, and the hashes the client computes byte for byte.
//! Skipped without a Python that has psycopg (see `aiblox_kb_testkit::python`).

use std::process::Output;

use aiblox_kb::{Compatibility, ItemRepo, Migrator, NewItem};
use aiblox_kb_testkit::TestKb;
use aiblox_kb_testkit::python::{interop, interop_command, python};
use serde_json::{Value, json};

fn parse(text: Result<String, String>) -> Value {
    let text = text.unwrap_or_else(|err| panic!("{err}"));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{err}: {text}"))
}

/// The state's name as both sides spell it (`up_to_date`, `ahead_incompatible`, ...).
fn state(compatibility: &Compatibility) -> String {
    serde_json::to_value(compatibility).unwrap()["state"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn migration_count() -> usize {
    let manifest: Value = serde_json::from_str(include_str!("../../contract.json")).unwrap();
    manifest["migrations"].as_array().unwrap().len()
}

#[tokio::test]
async fn a_schema_migrated_by_python_is_up_to_date_for_rust_and_the_reverse() {
    let Some(python) = python() else { return };
    let by_python = TestKb::unmigrated().await;
    let report = parse(interop(&python, &by_python, &["migrate"], ""));
    assert_eq!(
        report["applied"].as_array().unwrap().len(),
        migration_count()
    );
    let status = Migrator::new(by_python.config()).status().await.unwrap();
    assert_eq!(status.compatibility, Compatibility::UpToDate, "{status:?}");
    Migrator::new(by_python.config()).check().await.unwrap();
    let again = aiblox_kb::migrate(by_python.config()).await.unwrap();
    assert!(again.applied.is_empty(), "{again:?}");

    let by_rust = TestKb::new().await;
    let status = parse(interop(&python, &by_rust, &["status"], ""));
    assert_eq!(status["compatibility"]["state"], "up_to_date", "{status}");
    assert_eq!(status["pending"], json!([]));
    assert_eq!(
        parse(interop(&python, &by_rust, &["check"], "")),
        json!({"ok": true})
    );
    let again = parse(interop(&python, &by_rust, &["migrate"], ""));
    assert_eq!(again["applied"], json!([]), "{again}");
    assert_eq!(again["already_applied"], migration_count());
}

#[tokio::test]
async fn four_python_and_four_rust_migrators_on_a_fresh_schema_apply_each_migration_once() {
    let Some(python) = python() else { return };
    let kb = TestKb::unmigrated().await;
    // The test holds the schema's migration lock until all eight wait for it, so that they
    // start together, and so that a runner taking another lock would be seen working.
    let holder = kb.raw_client().await;
    let key = aiblox_sqlfile::migration_lock_key(kb.schema());
    holder
        .execute("SELECT pg_advisory_lock($1)", &[&key])
        .await
        .unwrap();
    let mut children = Vec::new();
    for _ in 0..4 {
        children.push((
            "python",
            interop_command(&python, &kb, &["migrate"]).spawn().unwrap(),
        ));
        let mut rust = std::process::Command::new(env!("CARGO_BIN_EXE_aiblox-kb-migrate"));
        rust.args(["apply", "--json"])
            .env("AIBLOX_KB_DATABASE_URL", kb.server_url())
            .env("AIBLOX_KB_SCHEMA", kb.schema())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        children.push(("rust", rust.spawn().unwrap()));
    }
    let waiting =
        "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'aiblox-kb migrate%'";
    let mut connected = 0;
    for _ in 0..600 {
        connected = holder
            .query_one(waiting, &[])
            .await
            .unwrap()
            .get::<_, i64>(0);
        if connected == 8 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        connected, 8,
        "all eight runners connect and wait for the lock"
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let history = format!(
        "SELECT to_regclass('{}.aiblox_kb_migrations') IS NULL",
        kb.schema()
    );
    let untouched: bool = holder.query_one(&history, &[]).await.unwrap().get(0);
    assert!(untouched, "a runner migrated while another held the lock");
    holder
        .execute("SELECT pg_advisory_unlock($1)", &[&key])
        .await
        .unwrap();
    let mut applied = 0;
    for (side, child) in children {
        let output: Output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "{side}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let report: Value = serde_json::from_slice(&output.stdout).unwrap();
        applied += report["applied"].as_array().unwrap().len();
    }
    assert_eq!(
        applied,
        migration_count(),
        "each migration applied by exactly one runner"
    );
    let versions: Vec<i32> = kb
        .raw_client()
        .await
        .query(
            "SELECT version FROM aiblox_kb_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(versions.len(), migration_count());
    assert_eq!(
        Migrator::new(kb.config())
            .status()
            .await
            .unwrap()
            .compatibility,
        Compatibility::UpToDate
    );
}

/// The cases of docs/contract-versioning.md, each made on a schema this build migrated by
/// changing its history as another contract's runner would have.
const HISTORIES: [(&str, &str); 8] = [
    ("up to date", ""),
    (
        "behind: the newest migration not applied",
        "DELETE FROM aiblox_kb_migrations WHERE version = (SELECT max(version) FROM aiblox_kb_migrations)",
    ),
    (
        "ahead by a newer patch of the same line",
        "INSERT INTO aiblox_kb_migrations VALUES (9001, 'V9001__newer.sql', 'x', '0.1.9', 'f', now(), 1)",
    ),
    (
        "ahead by the next minor below 1.0",
        "INSERT INTO aiblox_kb_migrations VALUES (9001, 'V9001__newer.sql', 'x', '0.2.0', 'f', now(), 1)",
    ),
    (
        "ahead by a new major",
        "INSERT INTO aiblox_kb_migrations VALUES (9001, 'V9001__newer.sql', 'x', '1.0.0', 'f', now(), 1)",
    ),
    (
        "a migration this build does not know, applied by an older contract",
        "INSERT INTO aiblox_kb_migrations VALUES (9001, 'V9001__other.sql', 'x', '0.1.0', 'f', now(), 1)",
    ),
    (
        "an applied migration changed",
        "UPDATE aiblox_kb_migrations SET checksum = 'changed' WHERE version = 1",
    ),
    (
        "a gap: an older migration missing below applied ones",
        "DELETE FROM aiblox_kb_migrations WHERE version = 2",
    ),
];

#[tokio::test]
async fn python_and_rust_decide_every_case_of_the_compatibility_rule_alike() {
    let Some(python) = python() else { return };
    let mut refused = 0;
    for (case, change) in HISTORIES {
        let kb = TestKb::new().await;
        if !change.is_empty() {
            kb.raw_client().await.batch_execute(change).await.unwrap();
        }
        let rust = Migrator::new(kb.config()).status().await.unwrap();
        let rust_check = Migrator::new(kb.config()).check().await;
        let py_status = parse(interop(&python, &kb, &["status"], ""));
        let py_check = parse(interop(&python, &kb, &["check"], ""));
        assert_eq!(
            py_status["compatibility"]["state"],
            state(&rust.compatibility),
            "{case}: {py_status} against {:?}",
            rust.compatibility
        );
        assert_eq!(
            py_check["ok"],
            rust_check.is_ok(),
            "{case}: {py_check} against {rust_check:?}"
        );
        // Migrating: each side on its own copy of the case refuses, or migrates, alike.
        let copy = TestKb::new().await;
        if !change.is_empty() {
            copy.raw_client().await.batch_execute(change).await.unwrap();
        }
        let rust_run = Migrator::new(kb.config()).run().await;
        let py_run = interop(&python, &copy, &["migrate"], "");
        assert_eq!(
            py_run.is_ok(),
            rust_run.is_ok(),
            "{case}: {py_run:?} against {rust_run:?}"
        );
        if let Err(err) = rust_check {
            refused += 1;
            assert_eq!(py_check["kind"], "incompatible", "{case}: {py_check}");
            let rust_reason = err.to_string();
            let py_reason = py_check["error"].as_str().unwrap();
            // The same words, but for how each side says to run the migrations.
            let common = |text: &str| {
                text.split(": run the migrations")
                    .next()
                    .unwrap()
                    .to_owned()
            };
            assert_eq!(common(py_reason), common(&rust_reason), "{case}");
        }
    }
    assert_eq!(
        refused, 6,
        "behind, 0.2.0, 1.0.0, older, changed and gap are refused"
    );
}

#[tokio::test]
async fn items_written_by_python_read_in_rust_and_the_reverse_with_equal_hashes() {
    let Some(python) = python() else { return };
    let kb = TestKb::new().await;
    let contents = [
        "plain ASCII",
        "",
        "CRLF\r\nline endings\r\n",
        "accents: é, ß, ø; CJK: 知識; emoji: 🦀🐍",
        "\u{feff}byte order mark and\ttabs",
    ];
    let items: Vec<Value> = contents
        .iter()
        .enumerate()
        .map(|(i, content)| {
            json!({"source": "py", "external_id": format!("doc/{i}"), "content": content,
                   "title": format!("Python {i}"), "metadata": {"i": i, "lang": "en"}})
        })
        .collect();
    let outcomes = parse(interop(
        &python,
        &kb,
        &["ingest"],
        &Value::from(items).to_string(),
    ));
    assert!(
        outcomes
            .as_array()
            .unwrap()
            .iter()
            .all(|o| o["status"] == "inserted"),
        "{outcomes}"
    );
    let repo = ItemRepo::new(kb.pool());
    for (i, content) in contents.iter().enumerate() {
        let item = repo
            .get_by_key("py", &format!("doc/{i}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(item.content, *content);
        assert_eq!(item.title.as_deref(), Some(format!("Python {i}").as_str()));
        assert_eq!(item.metadata, json!({"i": i, "lang": "en"}));
    }
    // The hash the Python client computed is the one the Rust client computes: an unchanged
    // re-write from Rust writes nothing.
    let same: Vec<NewItem> = contents
        .iter()
        .enumerate()
        .map(|(i, content)| {
            NewItem::new("py", format!("doc/{i}"), *content)
                .with_title(format!("Python {i}"))
                .with_metadata(json!({"lang": "en", "i": i}))
        })
        .collect();
    let outcomes = repo.upsert(&same).await.unwrap();
    assert!(
        outcomes
            .iter()
            .all(|o| o.status == aiblox_kb::UpsertStatus::Unchanged),
        "{outcomes:?}"
    );
    let hashes = parse(interop(
        &python,
        &kb,
        &["hashes"],
        &json!(contents).to_string(),
    ));
    for (i, content) in contents.iter().enumerate() {
        let item = repo
            .get_by_key("py", &format!("doc/{i}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            hashes["content_hashes"][i],
            hex(&item.content_hash),
            "{content:?}"
        );
        assert_eq!(
            hashes["checksums"][i],
            aiblox_sqlfile::checksum(content),
            "{content:?}"
        );
    }
    // The search index is the database's: items Python wrote are found by the Rust search.
    let hits = repo.search("byte order mark", None, 5).await.unwrap();
    assert_eq!(hits[0].item.external_id, "doc/4");

    // And the reverse: an item Rust wrote, with pages, read by Python.
    let paged = NewItem::new("rust", "paged", "page one. page two.")
        .with_title("Paged")
        .with_page_starts(vec![0, 10]);
    repo.upsert(&[paged]).await.unwrap();
    let read = parse(interop(&python, &kb, &["get", "rust", "paged"], ""));
    assert_eq!(read["content"], "page one. page two.");
    assert_eq!(read["page_starts"], json!([0, 10]));
    let item = repo.get_by_key("rust", "paged").await.unwrap().unwrap();
    assert_eq!(read["content_hash"], hex(&item.content_hash));
    assert_eq!(
        parse(interop(&python, &kb, &["get", "rust", "absent"], "")),
        Value::Null
    );
}

#[tokio::test]
async fn python_refuses_a_bad_batch_and_an_unmigrated_schema_saying_what_to_do() {
    let Some(python) = python() else { return };
    let kb = TestKb::new().await;
    let twice = json!([{"source": "s", "external_id": "a", "content": "x"},
                       {"source": "s", "external_id": "a", "content": "y"}]);
    let err = interop(&python, &kb, &["ingest"], &twice.to_string()).unwrap_err();
    assert!(err.contains("same key as item 0"), "{err}");
    assert_eq!(
        ItemRepo::new(kb.pool()).source_counts().await.unwrap(),
        Vec::<(String, i64)>::new()
    );
    // A lone surrogate (valid JSON, not UTF-8): refused as input, before anything is sent.
    let surrogate = r#"[{"source": "s", "external_id": "a", "content": "\ud800"}]"#;
    let err = interop(&python, &kb, &["ingest"], surrogate).unwrap_err();
    assert!(
        err.contains("InvalidInputError") && err.contains("lone surrogate"),
        "{err}"
    );
    let fresh = TestKb::unmigrated().await;
    let check = parse(interop(&python, &fresh, &["check"], ""));
    assert_eq!(check["ok"], false);
    let error = check["error"].as_str().unwrap();
    assert!(
        error.contains("are not applied") && error.contains("run the migrations"),
        "{error}"
    );
    // A server that is not there: said so, naming where, never the password.
    let output = interop_command(&python, &kb, &["check"])
        .env(
            "AIBLOX_KB_DATABASE_URL",
            "postgresql://kb:s3cret-word@127.0.0.1:1/kb",
        )
        .output()
        .unwrap();
    let check: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(check["kind"], "unavailable", "{check}");
    let error = check["error"].as_str().unwrap();
    assert!(
        error.contains("127.0.0.1:1") && !error.contains("s3cret"),
        "{error}"
    );
}

#[tokio::test]
async fn python_splits_questions_reads_heads_and_rolls_back_as_rust_does() {
    let Some(python) = python() else { return };
    let kb = TestKb::new().await;
    let repo = ItemRepo::new(kb.pool());
    let texts = [
        ("thai", "สวัสดี ครับ ยินดีต้อนรับ"),
        ("hindi", "हिन्दी भाषा का पाठ"),
        (
            "latin",
            "Vacuum reclaims storage; ANALYZE updates statistics.",
        ),
        ("mixed", "naïve café ② x²"),
    ];
    let items: Vec<NewItem> = texts
        .iter()
        .map(|(id, text)| NewItem::new("t", *id, *text))
        .collect();
    let ids: Vec<i64> = repo
        .upsert(&items)
        .await
        .unwrap()
        .iter()
        .map(|o| o.id)
        .collect();
    // Questions whose words Python's str.isalnum would split otherwise (combining marks).
    for question in [
        "สวัสดี",
        "हिन्दी",
        "vacuum-analyze!",
        "café x²",
        "\u{1f}storage\u{1f}",
    ] {
        let mut rust: Vec<String> = repo
            .search_any_word(question, None, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|hit| hit.item.external_id)
            .collect();
        rust.sort();
        let py = parse(interop(&python, &kb, &["any-word", question], ""));
        assert_eq!(py, json!(rust), "{question:?}");
    }
    // A repeated id is answered once, an absent one not at all, in the order asked.
    let asked = [ids[2], ids[0], ids[2], 999_999];
    let args: Vec<String> = asked.iter().map(i64::to_string).collect();
    let mut argv = vec!["heads"];
    argv.extend(args.iter().map(String::as_str));
    let rust: Vec<String> = repo
        .heads(&asked)
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.external_id)
        .collect();
    assert_eq!(parse(interop(&python, &kb, &argv, "")), json!(rust));
    assert_eq!(rust, ["latin", "thai"]);
    // A transaction that fails after its upsert leaves nothing behind.
    let batch = json!([{"source": "tx", "external_id": "a", "content": "written then undone"}]);
    let failed = parse(interop(
        &python,
        &kb,
        &["ingest-then-fail"],
        &batch.to_string(),
    ));
    assert_eq!(failed["kind"], "invalid_input", "{failed}");
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("division by zero"),
        "{failed}"
    );
    assert_eq!(repo.get_by_key("tx", "a").await.unwrap(), None);
}

fn hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}
