//! The migration runner against a real database: idempotence, concurrent runners, integrity,
//! failures, the no-transaction marker, version skew and lock timeouts.

use std::path::Path;
use std::time::Duration;

use aiblox_kb::{Compatibility, Error, ItemRepo, Migrator, NewItem};
use aiblox_kb_testkit::TestKb;
use tempfile::TempDir;

/// The first embedded migration, as shipped.
pub(crate) const V0001: &str = include_str!("../../migrations/V0001__kb_init.sql");

/// The embedded migrations of this build, `(file name, SQL)` in order.
pub(crate) fn embedded() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.starts_with('V') && name.ends_with(".sql"))
        .map(|name| {
            let sql = std::fs::read_to_string(dir.join(&name)).unwrap();
            (name, sql)
        })
        .collect();
    files.sort();
    files
}

fn embedded_names() -> Vec<String> {
    embedded().into_iter().map(|(name, _)| name).collect()
}

/// A directory of migration files.
pub(crate) fn migrations(files: &[(&str, &str)]) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, sql) in files {
        std::fs::write(dir.path().join(name), sql).unwrap();
    }
    dir
}

fn from_dir(kb: &TestKb, dir: &Path) -> Migrator {
    Migrator::new(kb.config()).migrations_from_dir(dir).unwrap()
}

async fn history(kb: &TestKb) -> Vec<(i32, String)> {
    let rows = kb
        .raw_client()
        .await
        .query(
            "SELECT version, file_name FROM aiblox_kb_migrations ORDER BY version",
            &[],
        )
        .await
        .unwrap();
    rows.iter().map(|row| (row.get(0), row.get(1))).collect()
}

async fn table_exists(kb: &TestKb, table: &str) -> bool {
    let qualified = format!("{}.{table}", kb.schema());
    kb.raw_client()
        .await
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&qualified])
        .await
        .unwrap()
        .get(0)
}

/// This build's schema version: `schema-version` of aiblox-kb's `[package.metadata.contract]`.
fn schema_version() -> &'static str {
    include_str!("../../Cargo.toml")
        .lines()
        .find_map(|line| line.strip_prefix("schema-version = "))
        .expect("aiblox-kb/Cargo.toml names its schema-version")
        .trim_matches('"')
}

#[tokio::test]
async fn migrating_creates_the_schema_once_and_then_finds_nothing_to_do() {
    let kb = TestKb::unmigrated().await;
    let before = Migrator::new(kb.config()).status().await.unwrap();
    assert_eq!(before.compatibility, Compatibility::Behind);
    assert_eq!(before.pending, embedded_names());

    let first = aiblox_kb::migrate(kb.config()).await.unwrap();
    assert_eq!(first.applied, embedded_names());
    assert_eq!(
        (first.already_applied, &first.compatibility),
        (0, &Compatibility::UpToDate)
    );
    let second = aiblox_kb::migrate(kb.config()).await.unwrap();
    assert!(second.applied.is_empty());
    assert_eq!(second.already_applied, embedded_names().len());

    let status = Migrator::new(kb.config()).check().await.unwrap();
    assert_eq!(status.applied.len(), embedded_names().len());
    // The schema's contract version is recorded, not the crate's (which the Rust API also
    // moves).
    assert_eq!(status.contract_version, schema_version());
    assert_eq!(status.applied[0].contract_version, schema_version());
    assert_eq!(
        status.applied[0].contract_fingerprint, status.contract_fingerprint,
        "the build's identity is recorded"
    );
    assert_eq!(status.contract_fingerprint.len(), 64);
    ItemRepo::new(kb.pool())
        .upsert(&[NewItem::new("docs", "a", "works")])
        .await
        .unwrap();
}

#[tokio::test]
async fn concurrent_runners_apply_each_migration_exactly_once() {
    let kb = TestKb::unmigrated().await;
    let runners: Vec<_> = (0..8)
        .map(|_| {
            let config = kb.config().clone();
            tokio::spawn(async move { aiblox_kb::migrate(&config).await })
        })
        .collect();
    let mut applied = 0;
    for runner in runners {
        applied += runner.await.unwrap().unwrap().applied.len();
    }
    assert_eq!(
        applied,
        embedded_names().len(),
        "each migration applied by one runner, found done by the others"
    );
    assert_eq!(history(&kb).await.len(), embedded_names().len());
}

#[tokio::test]
async fn an_edited_applied_migration_is_refused_naming_both_checksums() {
    let kb = TestKb::unmigrated().await;
    let original = "CREATE TABLE extra (x int);\n";
    from_dir(
        &kb,
        migrations(&[
            ("V0001__kb_init.sql", V0001),
            ("V0002__extra.sql", original),
        ])
        .path(),
    )
    .run()
    .await
    .unwrap();

    let edited = migrations(&[
        ("V0001__kb_init.sql", V0001),
        ("V0002__extra.sql", "CREATE TABLE extra (x bigint);\n"),
        ("V0003__more.sql", "CREATE TABLE more (y int);\n"),
    ]);
    let err = from_dir(&kb, edited.path()).run().await.unwrap_err();
    assert!(matches!(err, Error::Incompatible { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("V0002__extra.sql changed after it was applied"),
        "{message}"
    );
    assert!(
        message.contains(&aiblox_sqlfile::checksum(original)),
        "names the applied checksum: {message}"
    );
    assert!(
        message.contains(&aiblox_sqlfile::checksum(
            "CREATE TABLE extra (x bigint);\n"
        )),
        "and this build's: {message}"
    );
    assert!(
        !table_exists(&kb, "more").await,
        "nothing after a refusal is applied"
    );

    let status = from_dir(&kb, edited.path()).status().await.unwrap();
    assert_eq!(status.mismatched.len(), 1);
    assert!(matches!(
        status.compatibility,
        Compatibility::Diverged { .. }
    ));
}

#[tokio::test]
async fn a_line_ending_only_change_is_accepted() {
    let kb = TestKb::unmigrated().await;
    let lf = "CREATE TABLE extra (x int);\nCREATE TABLE extra2 (y int);\n";
    from_dir(
        &kb,
        migrations(&[("V0001__kb_init.sql", V0001), ("V0002__extra.sql", lf)]).path(),
    )
    .run()
    .await
    .unwrap();
    let crlf = migrations(&[
        ("V0001__kb_init.sql", &V0001.replace('\n', "\r\n")),
        ("V0002__extra.sql", &lf.replace('\n', "\r\n")),
    ]);
    let report = from_dir(&kb, crlf.path()).run().await.unwrap();
    assert!(report.applied.is_empty());
    assert_eq!(report.compatibility, Compatibility::UpToDate);
}

#[tokio::test]
async fn a_failing_migration_rolls_back_and_completes_once_fixed() {
    let kb = TestKb::unmigrated().await;
    let broken = migrations(&[
        ("V0001__kb_init.sql", V0001),
        (
            "V0002__half.sql",
            "CREATE TABLE half_done (x int);\nINSERT INTO half_done VALUES (1);\nSELECT nope FROM half_done;\n",
        ),
    ]);
    let err = from_dir(&kb, broken.path()).run().await.unwrap_err();
    let Error::Migration {
        file,
        line,
        column,
        message,
        ..
    } = &err
    else {
        panic!("{err}")
    };
    assert_eq!(
        (file.as_str(), *line, *column),
        ("V0002__half.sql", 3, 8),
        "{err}"
    );
    assert!(
        message.contains(r#"column "nope" does not exist"#),
        "{message}"
    );
    assert!(
        message.contains("3 | SELECT nope FROM half_done;"),
        "{message}"
    );
    assert!(
        !table_exists(&kb, "half_done").await,
        "the failed migration was rolled back"
    );
    assert_eq!(
        history(&kb).await.len(),
        1,
        "V0001 stays applied, V0002 is not recorded"
    );

    let fixed = migrations(&[
        ("V0001__kb_init.sql", V0001),
        (
            "V0002__half.sql",
            "CREATE TABLE half_done (x int);\nINSERT INTO half_done VALUES (1);\nSELECT x FROM half_done;\n",
        ),
    ]);
    assert_eq!(
        from_dir(&kb, fixed.path()).run().await.unwrap().applied,
        ["V0002__half.sql"]
    );
    assert!(table_exists(&kb, "half_done").await);
}

#[tokio::test]
async fn the_no_transaction_marker_allows_concurrent_index_builds() {
    let kb = TestKb::unmigrated().await;
    let index = "CREATE INDEX CONCURRENTLY IF NOT EXISTS item_title_idx ON item (title);\n";
    let in_transaction = migrations(&[
        ("V0001__kb_init.sql", V0001),
        ("V0002__title_idx.sql", index),
    ]);
    let err = from_dir(&kb, in_transaction.path())
        .run()
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("cannot run inside a transaction block"),
        "{err}"
    );

    let marked = format!("-- Build without blocking writes.\n-- aiblox:no-transaction\n{index}");
    let outside = migrations(&[
        ("V0001__kb_init.sql", V0001),
        ("V0002__title_idx.sql", &marked),
    ]);
    assert_eq!(
        from_dir(&kb, outside.path()).run().await.unwrap().applied,
        ["V0002__title_idx.sql"]
    );
    assert!(table_exists(&kb, "item_title_idx").await);
}

#[tokio::test]
async fn a_database_ahead_is_accepted_within_the_rule_and_refused_outside_it() {
    let kb = TestKb::unmigrated().await;
    let mut files = embedded();
    files.push((
        "V9000__add_lang.sql".to_owned(),
        "ALTER TABLE item ADD COLUMN lang text;\n".to_owned(),
    ));
    let files: Vec<(&str, &str)> = files
        .iter()
        .map(|(name, sql)| (name.as_str(), sql.as_str()))
        .collect();
    let newer = migrations(&files);
    from_dir(&kb, newer.path()).run().await.unwrap();

    // This build meets a database with one more migration, from the same contract line.
    let status = Migrator::new(kb.config()).check().await.unwrap();
    assert_eq!(status.compatibility, Compatibility::AheadCompatible);
    assert_eq!(
        status
            .unknown
            .iter()
            .map(|m| m.file_name.as_str())
            .collect::<Vec<_>>(),
        ["V9000__add_lang.sql"]
    );
    assert!(
        Migrator::new(kb.config())
            .run()
            .await
            .unwrap()
            .applied
            .is_empty()
    );
    ItemRepo::new(kb.pool())
        .upsert(&[NewItem::new("docs", "a", "old build, newer schema")])
        .await
        .unwrap();

    // The same migration recorded by a contract with another major version: refused.
    kb.raw_client()
        .await
        .execute(
            "UPDATE aiblox_kb_migrations SET contract_version = '1.0.0' WHERE version = 9000",
            &[],
        )
        .await
        .unwrap();
    for err in [
        Migrator::new(kb.config()).check().await.unwrap_err(),
        Migrator::new(kb.config()).run().await.unwrap_err(),
    ] {
        assert!(matches!(err, Error::Incompatible { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("V9000__add_lang.sql was applied by contract 1.0.0"),
            "{err}"
        );
        assert!(
            err.to_string()
                .contains(&format!("this build (contract {})", schema_version())),
            "{err}"
        );
    }
}

#[tokio::test]
async fn a_database_behind_is_refused_by_the_startup_check_with_what_to_do() {
    let kb = TestKb::unmigrated().await;
    let err = Migrator::new(kb.config()).check().await.unwrap_err();
    assert!(matches!(err, Error::Incompatible { .. }), "{err}");
    assert!(
        err.to_string().contains("V0001__kb_init.sql")
            && err.to_string().contains("run the migrations"),
        "{err}"
    );
}

#[tokio::test]
async fn a_diverged_history_is_refused() {
    let kb = TestKb::unmigrated().await;
    let branch_a = migrations(&[
        ("V0001__kb_init.sql", V0001),
        ("V0003__a.sql", "CREATE TABLE a (x int);\n"),
    ]);
    from_dir(&kb, branch_a.path()).run().await.unwrap();
    let branch_b = migrations(&[
        ("V0001__kb_init.sql", V0001),
        ("V0002__b.sql", "CREATE TABLE b (x int);\n"),
        ("V0003__a.sql", "CREATE TABLE a (x int);\n"),
    ]);
    let err = from_dir(&kb, branch_b.path()).run().await.unwrap_err();
    assert!(matches!(err, Error::Incompatible { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("V0002__b.sql is not applied but the newer migration version 3 is"),
        "{err}"
    );
    assert!(!table_exists(&kb, "b").await);
}

#[tokio::test]
async fn a_lock_timeout_names_the_holder() {
    let kb = TestKb::unmigrated().await;
    // The first runner's second migration waits for a lock this test holds, so it keeps the
    // migration lock for exactly as long as the test needs: no race with a fixed sleep.
    let observer = kb.raw_client().await;
    observer
        .execute("SELECT pg_advisory_lock(424242)", &[])
        .await
        .unwrap();
    let slow = migrations(&[
        ("V0001__kb_init.sql", V0001),
        ("V0002__slow.sql", "SELECT pg_advisory_xact_lock(424242);\n"),
    ]);
    let holder = {
        let migrator = from_dir(&kb, slow.path());
        tokio::spawn(async move { migrator.run().await })
    };
    // Wait (generously) until the first runner sits in its blocked migration.
    let mut waiting = false;
    for _ in 0..600 {
        let blocked: i64 = observer
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE application_name = 'aiblox-kb migrate' AND wait_event_type = 'Lock'
                    AND query LIKE '%424242%'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if blocked > 0 {
            waiting = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        waiting,
        "the first runner never reached its blocked migration"
    );
    // Bounded: a lock timeout that did not work would otherwise wait here for ever (the
    // holder waits for this test).
    let second = from_dir(&kb, slow.path()).lock_timeout(Duration::from_millis(200));
    let err = tokio::time::timeout(Duration::from_secs(60), second.run())
        .await
        .expect("the lock timeout did not end the wait")
        .unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("another runner has held the migration lock"),
        "{message}"
    );
    assert!(
        message.contains("pid ") && message.contains("application_name \"aiblox-kb migrate\""),
        "{message}"
    );
    assert!(message.contains("client local socket"), "{message}");
    observer
        .execute("SELECT pg_advisory_unlock(424242)", &[])
        .await
        .unwrap();
    assert_eq!(
        holder.await.unwrap().unwrap().applied.len(),
        2,
        "the holder finishes undisturbed"
    );
}
