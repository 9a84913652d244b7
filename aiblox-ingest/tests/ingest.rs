//! The ingestion block against a real database: a directory in, items out; a rerun changes
//! nothing; a changed file is updated; a bad file is reported by its path and the others are
//! loaded; files of other types and empty documents are skipped; declared charsets are
//! honoured; the binary takes the same database flags as every other and exits 1 on failures.

use std::process::Command;

use aiblox_ingest::{Summary, documents, ingest};
use aiblox_kb::ItemRepo;
use aiblox_kb_testkit::TestKb;

async fn run(kb: &TestKb, dir: &std::path::Path) -> Summary {
    ingest(
        kb.pool(),
        "docs",
        documents(&[dir.to_path_buf()]),
        2,
        &mut |_| {},
    )
    .await
    .unwrap()
}

/// Runs the binary on `path` as `source` into `kb`'s schema with `extra` flags: its exit code,
/// stdout and stderr.
fn ingest_binary(
    kb: &TestKb,
    source: &str,
    path: &std::path::Path,
    extra: &[&str],
) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_aiblox-ingest"))
        .args(["--source", source, "--no-migrate"])
        .args(extra)
        .args(["--database-url", kb.server_url(), "--schema", kb.schema()])
        .arg(path)
        .output()
        .unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test]
async fn ingesting_twice_changes_nothing_and_changes_are_picked_up() {
    let kb = TestKb::new().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("guide")).unwrap();
    std::fs::write(dir.path().join("guide/vacuum.html"), "<html><head><title>VACUUM</title></head><body><div class=\"navheader\">Prev Next</div><p>VACUUM reclaims storage.</p></body></html>").unwrap();
    std::fs::write(dir.path().join("notes.md"), "# Notes\n\nSome notes.").unwrap();
    std::fs::write(dir.path().join("plain.txt"), "plain text").unwrap();
    std::fs::write(dir.path().join("broken.txt"), [0xc3u8, 0x28]).unwrap();
    std::fs::write(dir.path().join("nul.txt"), "a\0b").unwrap();
    std::fs::write(dir.path().join("blank.md"), " \n\t\n").unwrap();
    std::fs::write(dir.path().join("logo.svg"), "<svg/>").unwrap();
    std::fs::write(
        dir.path().join("guide/latin1.html"),
        b"<html><head><meta charset=\"iso-8859-1\"><title>Caf\xe9</title></head><body><p>Cr\xe8me br\xfbl\xe9e.</p></body></html>",
    )
    .unwrap();

    let first = run(&kb, dir.path()).await;
    assert_eq!(
        (
            first.inserted,
            first.changed,
            first.unchanged,
            first.skipped,
            first.failed
        ),
        (4, 0, 0, 2, 2),
        "{first:?}"
    );
    // Every failure and skip names its file by its path as given, whatever went wrong.
    let at = |name: &str| dir.path().join(name).display().to_string();
    let failures: Vec<(String, &str)> = first
        .failures
        .iter()
        .map(|f| (f.location.clone(), f.reason.as_str()))
        .collect();
    assert_eq!(
        failures,
        [
            (
                at("broken.txt"),
                "not UTF-8 text (invalid byte at offset 0): convert it to UTF-8 or name its \
                 encoding with --encoding (e.g. --encoding latin1)"
            ),
            (at("nul.txt"), "it contains a NUL character"),
        ]
    );
    let skips: Vec<(String, &str)> = first
        .skips
        .iter()
        .map(|s| (s.location.clone(), s.reason.as_str()))
        .collect();
    assert_eq!(
        skips,
        [
            (at("blank.md"), "no text in it"),
            (
                at("logo.svg"),
                "not a .html, .md, .txt, .jsonl, .pdf, .docx, .odt or .epub file"
            ),
        ]
    );
    let items = ItemRepo::new(kb.pool());
    assert!(
        items
            .get_by_key("docs", "blank.md")
            .await
            .unwrap()
            .is_none(),
        "an empty document is not stored"
    );
    let latin1 = items
        .get_by_key("docs", "guide/latin1.html")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (latin1.title.as_deref(), latin1.content.as_str()),
        (Some("Café"), "Crème brûlée."),
        "decoded by its declared charset"
    );

    let again = run(&kb, dir.path()).await;
    assert_eq!(
        (again.inserted, again.changed, again.unchanged),
        (0, 0, 4),
        "a rerun changes nothing"
    );

    std::fs::write(dir.path().join("notes.md"), "# Notes\n\nRevised notes.").unwrap();
    let changed = run(&kb, dir.path()).await;
    assert_eq!(
        (changed.inserted, changed.changed, changed.unchanged),
        (0, 1, 3)
    );
    // A run that wrote items ends with their postings merged: none is left fresh.
    let fresh: i64 = kb
        .raw_client()
        .await
        .query_one("SELECT count(*) FROM item_posting_fresh", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(fresh, 0);
    let found = ItemRepo::new(kb.pool())
        .search_bm25("revised", None, None, 5, &aiblox_kb::Bm25::default())
        .await
        .unwrap();
    assert_eq!(found.items[0].external_id, "notes.md");

    let page = ItemRepo::new(kb.pool())
        .get_by_key("docs", "guide/vacuum.html")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(page.title.as_deref(), Some("VACUUM"));
    assert_eq!(
        page.content, "VACUUM reclaims storage.",
        "text without navigation chrome"
    );
    assert_eq!(page.metadata["aiblox"]["format"], "html");
}

/// What documents say about themselves becomes metadata: a run's `--metadata` (over the
/// document's own keys, typed when it reads as JSON), Markdown front matter (YAML; its title
/// names the item), HTML meta tags; the block's own facts stay under `aiblox`, which
/// `--metadata` refuses; bad front matter fails its file alone.
#[tokio::test]
async fn metadata_comes_from_the_run_front_matter_and_meta_tags() {
    let kb = TestKb::new().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("vacuum.md"),
        "---\ntitle: Routine vacuuming\ntags: [maintenance, sql]\nversion: 14\naiblox: mine\n---\n# Vacuum\n\nVACUUM reclaims storage.",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("page.html"),
        "<html><head><title>Page</title><meta name=\"Keywords\" content=\"a,  b\">\
         <meta name=\"author\" content=\"x\"><meta name=\"author\" content=\"y\"></head>\
         <body><p>Text of the page.</p></body></html>",
    )
    .unwrap();
    std::fs::write(dir.path().join("broken.md"), "---\n: [\n---\nText.").unwrap();
    let ingest = |extra: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_aiblox-ingest"))
            .args(["--source", "docs", "--no-migrate"])
            .args(["--database-url", kb.server_url(), "--schema", kb.schema()])
            .args(extra)
            .arg(dir.path())
            .output()
            .unwrap()
    };
    let refused = ingest(&["--metadata", "aiblox=x"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("the key `aiblox` is the ingestion block's own"),
        "{stderr}"
    );
    let output = ingest(&[
        "--metadata",
        "section=maintenance",
        "--metadata",
        "version=15",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "one file failed: {stderr}");
    assert!(
        stderr.contains("broken.md: its front matter is not YAML"),
        "{stderr}"
    );
    let items = ItemRepo::new(kb.pool());
    let vacuum = items
        .get_by_key("docs", "vacuum.md")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(vacuum.title.as_deref(), Some("Routine vacuuming"));
    assert_eq!(vacuum.content, "# Vacuum\n\nVACUUM reclaims storage.");
    assert_eq!(
        vacuum.metadata["tags"],
        serde_json::json!(["maintenance", "sql"])
    );
    assert_eq!(vacuum.metadata["version"], 15, "the run's pair wins");
    assert_eq!(vacuum.metadata["section"], "maintenance");
    assert_eq!(
        vacuum.metadata["aiblox"]["format"], "markdown",
        "the reserved key kept"
    );
    let page = items
        .get_by_key("docs", "page.html")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(page.metadata["keywords"], "a, b");
    assert_eq!(page.metadata["author"], serde_json::json!(["x", "y"]));
    assert_eq!(page.metadata["section"], "maintenance");
}

#[tokio::test]
async fn the_binary_takes_the_database_flags_and_exits_1_when_a_file_failed() {
    let kb = TestKb::new().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.md"), "# Good\n\nLoaded anyway.").unwrap();
    std::fs::write(dir.path().join("bad.txt"), [0xffu8]).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_aiblox-ingest"))
        .args(["--source", "flags", "--no-migrate"])
        .args(["--database-url", kb.server_url(), "--schema", kb.schema()])
        .arg(dir.path())
        .env_remove("AIBLOX_KB_DATABASE_URL")
        .env_remove("DATABASE_URL")
        .env_remove("AIBLOX_KB_SCHEMA")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!("knowledge base: schema {}", kb.schema())),
        "it says which schema it fills: {stderr}"
    );
    assert!(
        stderr.contains(&format!("failed: {}", dir.path().join("bad.txt").display())),
        "{stderr}"
    );
    assert!(
        stdout.contains("source flags: 1 inserted, 0 changed, 0 unchanged, 0 skipped, 1 failed"),
        "{stdout}"
    );
    let good = ItemRepo::new(kb.pool())
        .get_by_key("flags", "good.md")
        .await
        .unwrap();
    assert!(
        good.is_some(),
        "the good file is loaded into the flagged schema"
    );

    // Without the bad file it exits 0, unchanged files counting as read; a type left out by
    // --types is skipped, not failed, and a run that reads nothing at all exits 1.
    std::fs::remove_file(dir.path().join("bad.txt")).unwrap();
    let run = |extra: &[&str]| ingest_binary(&kb, "flags", dir.path(), extra);
    let (code, stdout, _) = run(&[]);
    assert_eq!(code, Some(0), "{stdout}");
    assert!(
        stdout.contains("0 inserted, 0 changed, 1 unchanged"),
        "{stdout}"
    );
    let (code, stdout, stderr) = run(&["--types", "txt"]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(
        stdout.contains("0 inserted, 0 changed, 0 unchanged, 1 skipped, 0 failed"),
        "{stdout}"
    );
    assert!(
        stderr.contains("no file under the paths given could be read"),
        "{stderr}"
    );
    // --exclude leaves files out by name or by path, each listed as skipped.
    std::fs::write(dir.path().join("draft.md"), "# Draft\n\nnot yet").unwrap();
    let (code, stdout, stderr) = run(&["--exclude", "draft.*"]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    assert!(
        stderr.contains("draft.md: excluded by --exclude draft.*"),
        "{stderr}"
    );
    let (code, stdout, stderr) = run(&["--exclude", "*.md"]);
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    let draft = ItemRepo::new(kb.pool())
        .get_by_key("flags", "draft.md")
        .await
        .unwrap();
    assert!(draft.is_none(), "an excluded file is not loaded");
}

#[test]
fn the_binary_prints_shell_completions() {
    let output = Command::new(env!("CARGO_BIN_EXE_aiblox-ingest"))
        .args(["--completions", "bash"])
        .output()
        .unwrap();
    let script = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(
        script.contains("--source") && script.contains("--types"),
        "{script}"
    );
}

#[test]
fn required_arguments_read_as_required_in_help() {
    let output = Command::new(env!("CARGO_BIN_EXE_aiblox-ingest"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success());
    assert!(
        help.contains("Usage: aiblox-ingest --source <NAME> [OPTIONS] <PATH>..."),
        "{help}"
    );
    let source = help.split("--source <NAME>").nth(2).unwrap_or_default();
    assert!(
        source
            .lines()
            .take(2)
            .any(|line| line.contains("(required)")),
        "{help}"
    );
    // Without them the binary refuses to start, saying which is missing.
    let output = Command::new(env!("CARGO_BIN_EXE_aiblox-ingest"))
        .arg("docs")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--source <NAME>"));
}

/// `--prune` makes a source mirror a folder: without `--yes` it lists what would go, with it
/// the items of deleted files go (another source's stay); a run where a path is missing or
/// nothing was read prunes nothing and exits 1; `--types` cannot be combined with it.
#[tokio::test]
async fn prune_mirrors_a_folder_and_refuses_when_the_run_read_too_little() {
    let kb = TestKb::new().await;
    let dir = tempfile::tempdir().unwrap();
    for name in ["a", "b", "c"] {
        std::fs::write(
            dir.path().join(format!("{name}.md")),
            format!("# {name}\n\ntext"),
        )
        .unwrap();
    }
    let run = |source: &str, path: &std::path::Path, extra: &[&str]| {
        let (code, _, stderr) = ingest_binary(&kb, source, path, extra);
        (code, stderr)
    };
    let items = ItemRepo::new(kb.pool());
    let keys = |source: &'static str| async move {
        items
            .keys_of_source(source, None, 100)
            .await
            .unwrap()
            .into_iter()
            .map(|(_, key)| key)
            .collect::<Vec<_>>()
    };
    assert_eq!(run("docs", dir.path(), &["--prune"]).0, Some(0));
    assert_eq!(run("other", dir.path(), &[]).0, Some(0));
    std::fs::remove_file(dir.path().join("b.md")).unwrap();

    let (code, stderr) = run("docs", dir.path(), &["--prune"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("1 items of source docs were not read") && stderr.contains("  b.md"),
        "{stderr}"
    );
    assert_eq!(
        keys("docs").await,
        ["a.md", "b.md", "c.md"],
        "listed, not deleted"
    );

    let (code, stderr) = run("docs", dir.path(), &["--prune", "--yes"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("pruned: deleted 1 items of source docs"),
        "{stderr}"
    );
    assert_eq!(keys("docs").await, ["a.md", "c.md"]);
    assert_eq!(
        keys("other").await,
        ["a.md", "b.md", "c.md"],
        "another source is untouched"
    );

    let (code, stderr) = run("docs", &dir.path().join("missing"), &["--prune", "--yes"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("prune refused: 1 file or line failed"),
        "{stderr}"
    );
    let empty = tempfile::tempdir().unwrap();
    let (code, stderr) = run("docs", empty.path(), &["--prune", "--yes"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(
        stderr.contains("prune refused: nothing was read"),
        "{stderr}"
    );
    assert_eq!(
        keys("docs").await,
        ["a.md", "c.md"],
        "refused prunes delete nothing"
    );

    let (code, stderr) = run("docs", dir.path(), &["--prune", "--types", "md"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--types"), "{stderr}");
}

/// A Latin-1 text file fails, naming `--encoding`, and loads with it; `--max-file-bytes`
/// sets the largest document (a smaller one refuses a file the default reads).
#[tokio::test]
async fn encoding_and_size_flags_read_what_the_defaults_refuse() {
    let kb = TestKb::new().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("menu.txt"),
        b"Caf\xe9 au lait, cr\xe8me br\xfbl\xe9e",
    )
    .unwrap();
    let run = |extra: &[&str]| {
        let (code, _, stderr) = ingest_binary(&kb, "menus", dir.path(), extra);
        (code, stderr)
    };
    let (code, stderr) = run(&[]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("--encoding"), "{stderr}");
    let (code, stderr) = run(&["--encoding", "latin1"]);
    assert_eq!(code, Some(0), "{stderr}");
    let item = ItemRepo::new(kb.pool())
        .get_by_key("menus", "menu.txt")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.content, "Café au lait, crème brûlée");

    let (code, stderr) = run(&["--encoding", "latin1", "--max-file-bytes", "10"]);
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("larger than the 10 bytes read"), "{stderr}");
    let (code, stderr) = run(&["--encoding", "klingon"]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("unknown encoding \"klingon\""), "{stderr}");
}
