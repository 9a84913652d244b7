//! The ingestion block against a real database: a directory in, items out; a rerun changes
//! nothing; a changed file is updated; a bad file is reported and skipped.

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

    let first = run(&kb, dir.path()).await;
    assert_eq!(
        (first.inserted, first.changed, first.unchanged, first.failed),
        (3, 0, 0, 2),
        "{first:?}"
    );
    let reasons: Vec<&str> = first.failures.iter().map(|f| f.reason.as_str()).collect();
    assert!(
        reasons.contains(&"not UTF-8 text") && reasons.contains(&"it contains a NUL character"),
        "{reasons:?}"
    );

    let again = run(&kb, dir.path()).await;
    assert_eq!(
        (again.inserted, again.changed, again.unchanged),
        (0, 0, 3),
        "a rerun changes nothing"
    );

    std::fs::write(dir.path().join("notes.md"), "# Notes\n\nRevised notes.").unwrap();
    let changed = run(&kb, dir.path()).await;
    assert_eq!(
        (changed.inserted, changed.changed, changed.unchanged),
        (0, 1, 2)
    );

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
    assert_eq!(page.metadata["format"], "html");
}
