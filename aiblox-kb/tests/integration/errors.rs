//! Failures map to the contract's error kinds with messages that say what to do, and never
//! show the password.

use std::time::Duration;

use aiblox_kb::{Error, ItemRepo, KbConfig, KbPool};
use aiblox_kb_testkit::TestKb;

#[tokio::test]
async fn an_unmigrated_schema_says_to_run_the_migrations() {
    let kb = TestKb::unmigrated().await;
    let err = ItemRepo::new(kb.pool()).get(1).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }), "{err}");
    assert!(err.to_string().contains("run the migrations"), "{err}");
}

#[tokio::test]
async fn an_unreachable_database_is_unavailable_and_the_password_stays_secret() {
    let dir = std::env::temp_dir().join("aiblox-no-server-here");
    let url = format!(
        "postgresql://app:topsecret@{}/kb",
        dir.display().to_string().replace('/', "%2F")
    );
    let config = KbConfig::new(&url).unwrap();
    let pool = KbPool::builder(&config)
        .connect_timeout(Duration::from_secs(2))
        .build()
        .unwrap();

    let err = ItemRepo::new(&pool).get(1).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    let err_migrate = aiblox_kb::migrate(&config).await.unwrap_err();
    assert!(
        matches!(err_migrate, Error::Unavailable { .. }),
        "{err_migrate}"
    );
    for shown in [
        err.to_string(),
        format!("{err:?}"),
        err_migrate.to_string(),
        format!("{config:?}"),
        config.to_string(),
    ] {
        assert!(!shown.contains("topsecret"), "{shown}");
    }
    // Both say where they tried.
    let target = format!("(database at {}:5432)", dir.display());
    for shown in [err.to_string(), err_migrate.to_string()] {
        assert!(shown.contains(&target), "{shown}");
    }
}

#[tokio::test]
async fn a_refused_connection_names_the_host_and_port_it_tried() {
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = KbConfig::new(&format!("postgresql://app:topsecret@127.0.0.1:{port}/kb")).unwrap();
    let pool = KbPool::new(&config).unwrap();
    for err in [
        pool.ping().await.unwrap_err(),
        aiblox_kb::migrate(&config).await.unwrap_err(),
    ] {
        let shown = err.to_string();
        assert!(matches!(err, Error::Unavailable { .. }), "{shown}");
        assert!(
            shown.contains("Connection refused")
                && shown.ends_with(&format!("(database at 127.0.0.1:{port})")),
            "{shown}"
        );
        assert!(!shown.contains("topsecret"), "{shown}");
    }
}

#[tokio::test]
async fn a_pool_with_no_free_connection_gives_up_after_its_wait_timeout() {
    let kb = TestKb::new().await;
    let pool = KbPool::builder(kb.config())
        .max_size(1)
        .wait_timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let held = pool.get().await.unwrap();
    let err = ItemRepo::new(&pool).get(1).await.unwrap_err();
    assert!(matches!(err, Error::Unavailable { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("timed out getting a database connection"),
        "{err}"
    );
    drop(held);
    assert!(
        ItemRepo::new(&pool).get(1).await.unwrap().is_none(),
        "usable again once a connection is free"
    );
    assert_eq!(pool.status().max_size, 1);
    pool.ping().await.unwrap();
}

#[test]
fn bad_configuration_is_refused_with_the_rule() {
    let err = KbConfig::new("postgresql://a@h/x")
        .unwrap()
        .with_schema("kb; DROP SCHEMA kb")
        .unwrap_err();
    assert!(
        matches!(err, Error::Config { .. }) && err.to_string().contains("invalid schema name"),
        "{err}"
    );
    let err = KbPool::builder(&KbConfig::new("postgresql://a@h/x").unwrap())
        .max_size(0)
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("at least one connection"), "{err}");
}

/// A database error keeps its source (the driver's error, with its SQLSTATE) through clones,
/// while its message already says what to do.
#[tokio::test]
async fn a_database_error_keeps_the_drivers_error_as_its_source() {
    let kb = TestKb::unmigrated().await;
    let err = ItemRepo::new(kb.pool()).get(1).await.unwrap_err();
    let cloned = err.clone();
    for err in [&err, &cloned] {
        let source = std::error::Error::source(err).expect("a source");
        let driver = source
            .downcast_ref::<tokio_postgres::Error>()
            .expect("the driver's error");
        assert_eq!(
            driver.code(),
            Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE)
        );
    }
}

/// A unique violation is a conflict that names the constraint it broke.
#[tokio::test]
async fn a_unique_violation_is_a_conflict_naming_its_constraint() {
    let kb = TestKb::new().await;
    kb.raw_client()
        .await
        .batch_execute(&format!(
            "CREATE UNIQUE INDEX one_item_per_title ON {}.item (title)",
            kb.schema()
        ))
        .await
        .unwrap();
    let repo = ItemRepo::new(kb.pool());
    let item = |id: &str| aiblox_kb::NewItem::new("test", id, "text").with_title("same title");
    repo.upsert(&[item("a")]).await.unwrap();
    let err = repo.upsert(&[item("b")]).await.unwrap_err();
    let Error::Conflict { constraint, .. } = &err else {
        panic!("not a conflict: {err}")
    };
    assert_eq!(constraint.as_deref(), Some("one_item_per_title"), "{err}");
}

/// A stored value the contract cannot have written (a negative version in the migration
/// history) is an internal error to report, not a database error to retry.
#[tokio::test]
async fn a_broken_invariant_is_an_internal_error() {
    let kb = TestKb::new().await;
    kb.raw_client()
        .await
        .batch_execute(&format!(
            "INSERT INTO {}.aiblox_kb_migrations \
             (version, file_name, checksum, contract_version, contract_fingerprint, duration_ms) \
             VALUES (-1, 'V-1__broken.sql', 'x', '0.0.0', 'x', 0)",
            kb.schema()
        ))
        .await
        .unwrap();
    let err = aiblox_kb::Migrator::new(kb.config())
        .status()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Internal { .. }), "{err}");
    assert!(err.to_string().contains("please report it"), "{err}");
}
