//! The embedded migration runner: idempotent, safe with concurrent runners, refusing an
//! applied migration that changed.

use aiblox_kb::{Error, ItemRepo, NewItem};
use aiblox_kb_testkit::TestKb;

#[tokio::test]
async fn migrating_creates_the_schema_once_and_then_finds_nothing_to_do() {
    let kb = TestKb::unmigrated().await;
    let first = aiblox_kb::migrate(kb.config()).await.unwrap();
    assert_eq!(first.applied, ["V0001__kb_init.sql"]);
    assert_eq!(first.already_applied, 0);
    let second = aiblox_kb::migrate(kb.config()).await.unwrap();
    assert!(second.applied.is_empty());
    assert_eq!(second.already_applied, 1);
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
        applied, 1,
        "one runner applied V0001, the others found it done"
    );
    let history: i64 = kb
        .raw_client()
        .await
        .query_one("SELECT count(*) FROM aiblox_kb_migrations", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(history, 1);
}

#[tokio::test]
async fn an_applied_migration_that_changed_is_refused() {
    let kb = TestKb::new().await;
    kb.raw_client()
        .await
        .execute(
            "UPDATE aiblox_kb_migrations SET checksum = 'edited' WHERE version = 1",
            &[],
        )
        .await
        .unwrap();
    let err = aiblox_kb::migrate(kb.config()).await.unwrap_err();
    assert!(matches!(err, Error::Conflict { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("V0001__kb_init.sql was changed after it was applied"),
        "{message}"
    );
    assert!(message.contains("applied checksum edited"), "{message}");
}
