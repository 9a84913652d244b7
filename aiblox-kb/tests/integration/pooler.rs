//! The contract behind PgBouncer (Debian's, started by `aiblox-localpg`; the tests say they
//! skipped where it is not installed, and fail there when `AIBLOX_TEST_REQUIRE_PGBOUNCER` is
//! set, as CI does). Session mode works once the role carries the search path; without it
//! the contract refuses to migrate instead of creating its tables in `public`. Transaction mode
//! loses the statements the contract prepares per connection, and the error says so.

use aiblox_kb::{Error, ItemRepo, KbConfig, KbPool, Migrator, NewItem};
use aiblox_kb_testkit::{pooler, replication};
use aiblox_localpg::{LocalCluster, PoolMode};

/// The tables of `schema` on `cluster`.
async fn tables_in(cluster: &LocalCluster, schema: &str) -> Vec<String> {
    replication::connect(cluster)
        .await
        .query(
            "SELECT tablename FROM pg_tables WHERE schemaname = $1 ORDER BY 1",
            &[&schema],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

#[tokio::test]
async fn session_mode_needs_the_search_path_on_the_role_and_migrations_refuse_without_it() {
    let cluster = LocalCluster::start_temporary().unwrap();
    let Some(bouncer) = pooler::pgbouncer(&cluster, PoolMode::Session, 4) else {
        return;
    };
    let config = KbConfig::new(&bouncer.url("postgres")).unwrap();

    // PgBouncer drops the search path the contract sends: refused, nothing created elsewhere.
    let refused = Migrator::new(&config).run().await.unwrap_err();
    let Error::Config { message, .. } = &refused else {
        panic!("a lost search path is a configuration error, got {refused:?}");
    };
    assert!(message.contains("do not start in schema kb"), "{message}");
    assert!(message.contains("they start in public"), "{message}");
    assert!(message.contains("SET search_path = kb"), "{message}");
    assert_eq!(tables_in(&cluster, "public").await, Vec::<String>::new());
    assert_eq!(tables_in(&cluster, "kb").await, ["aiblox_kb_migrations"]);
    drop(bouncer);

    // With the role's search path (a new pooler: server connections take it when opened),
    // migrations, writes, reads and searches all work through it, in schema kb.
    pooler::set_search_path_for_role(&cluster, "kb").await;
    let bouncer = pooler::pgbouncer(&cluster, PoolMode::Session, 4).unwrap();
    let config = KbConfig::new(&bouncer.url("postgres")).unwrap();
    let report = Migrator::new(&config).run().await.unwrap();
    assert!(!report.applied.is_empty(), "{report:?}");
    Migrator::new(&config).check().await.unwrap();
    let pool = KbPool::builder(&config).max_size(4).build().unwrap();
    let items = ItemRepo::new(&pool);
    let id = items
        .upsert(&[NewItem::new(
            "docs",
            "vacuum.md",
            "Vacuum reclaims dead tuples.",
        )])
        .await
        .unwrap()[0]
        .id;
    assert_eq!(
        items.get(id).await.unwrap().unwrap().external_id,
        "vacuum.md"
    );
    let found = items.search("dead tuples", None, 5).await.unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(tables_in(&cluster, "kb").await.contains(&"item".to_owned()));
    assert_eq!(tables_in(&cluster, "public").await, Vec::<String>::new());
}

#[tokio::test]
async fn transaction_mode_loses_the_prepared_statements_and_the_error_says_what_to_do() {
    let cluster = LocalCluster::start_temporary().unwrap();
    Migrator::new(&KbConfig::new(&cluster.url("postgres")).unwrap())
        .run()
        .await
        .unwrap();
    pooler::set_search_path_for_role(&cluster, "kb").await;
    let Some(bouncer) = pooler::pgbouncer(&cluster, PoolMode::Transaction, 2) else {
        return;
    };
    let config = KbConfig::new(&bouncer.url("postgres")).unwrap();
    let pool = KbPool::builder(&config).max_size(1).build().unwrap();
    let items = ItemRepo::new(&pool);
    let id = items
        .upsert(&[NewItem::new("docs", "a", "text")])
        .await
        .unwrap()[0]
        .id;
    // Alone, the client keeps getting the server connection it prepared on.
    items.get(id).await.unwrap().unwrap();

    // Another client holds that server connection in a transaction (PgBouncer hands out the
    // one used last); the contract's next read runs on the other, which never saw its
    // prepared statement.
    let url = bouncer.url("postgres");
    let (holder, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    holder.batch_execute("BEGIN").await.unwrap();
    let failed = items.get(id).await.unwrap_err();
    let message = failed.to_string();
    assert!(
        matches!(&failed, Error::Database { code, .. } if code == "26000"),
        "{failed:?}"
    );
    assert!(message.contains("does not exist"), "{message}");
    assert!(
        message.contains("a connection pooler in transaction mode does not keep"),
        "{message}"
    );
    assert!(message.contains("use session mode"), "{message}");
    holder.batch_execute("COMMIT").await.unwrap();
}
