//! Least privilege: a migration role owns the schema; the orchestrator runs with a role that
//! can read items and maintain the chunk cache, the ingestion block with one that can write
//! items; neither can change the schema. The GRANTs are those of docs/operations.md.

use aiblox_kb::{ItemRepo, KbConfig, KbPool, Migrator, NewItem};
use aiblox_kb_testkit::TestKb;
use serde_json::json;

use crate::{TestApp, corpus, settings_with};

/// The test server's URL with another user (local trust authentication: no password).
fn as_role(server_url: &str, role: &str) -> String {
    let (scheme, rest) = server_url.split_once("://").expect("a URL");
    let host = rest.split_once('@').map_or(rest, |(_, host)| host);
    format!("{scheme}://{role}@{host}")
}

#[tokio::test]
async fn the_service_role_reads_and_caches_but_cannot_write_items_or_change_the_schema() {
    let kb = TestKb::unmigrated().await;
    let schema = kb.schema().to_owned();
    let (owner, reader, writer) = (
        format!("{schema}_owner"),
        format!("{schema}_reader"),
        format!("{schema}_writer"),
    );
    let admin = kb.raw_client().await;
    admin
        .batch_execute(&format!(
            "CREATE ROLE {owner} LOGIN; CREATE ROLE {reader} LOGIN; CREATE ROLE {writer} LOGIN;
             CREATE SCHEMA {schema} AUTHORIZATION {owner};"
        ))
        .await
        .unwrap();
    let config_for = |role: &str| {
        KbConfig::new(&as_role(kb.server_url(), role))
            .unwrap()
            .with_schema(&schema)
            .unwrap()
    };

    // The owner migrates, then grants (docs/operations.md).
    aiblox_kb::migrate(&config_for(&owner)).await.unwrap();
    admin
        .batch_execute(&format!(
            "SET ROLE {owner};
             GRANT USAGE ON SCHEMA {schema} TO {reader}, {writer};
             GRANT SELECT ON {schema}.aiblox_kb_migrations TO {reader}, {writer};
             GRANT SELECT ON {schema}.item, {schema}.item_term, {schema}.item_term_stats,
                 {schema}.item_posting, {schema}.item_posting_dead, {schema}.item_posting_fresh,
                 {schema}.item_source, {schema}.item_facts_stats
                 TO {reader};
             GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.chunk_cache TO {reader};
             GRANT SELECT, INSERT, UPDATE, DELETE
                 ON {schema}.chunk_embedding, {schema}.embedding_claim TO {reader};
             GRANT SELECT, INSERT, UPDATE, DELETE ON {schema}.item TO {writer};
             RESET ROLE;"
        ))
        .await
        .unwrap();

    // Ingestion writes items with its role.
    let writer_pool = KbPool::new(&config_for(&writer)).unwrap();
    ItemRepo::new(&writer_pool).upsert(&corpus()).await.unwrap();
    // And merges the postings it wrote (the merge runs with the owner's rights).
    ItemRepo::new(&writer_pool).merge_postings().await.unwrap();

    // The orchestrator, not migrating, serves with the reader role (and fills the chunk cache,
    // and its embedding backfill embeds every item).
    let reader_config = config_for(&reader);
    let mut settings = settings_with(
        &reader_config,
        &as_role(kb.server_url(), &reader),
        Vec::new(),
    );
    settings.migrate_on_start = false;
    settings.embedding.model = Some(crate::hybrid::model_dir());
    let app = TestApp::spawn_with(settings, None).await;
    crate::hybrid::index_until(
        &app,
        "the reader role's embedding backfill",
        crate::hybrid::fully_indexed,
    )
    .await;
    let (status, body) = app
        .query(json!({"query": "reclaim storage from dead tuples", "mode": "lexical"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["evidence"][0]["external_id"], "vacuum.md");
    // A filter's matches are read with the reader role too.
    let (status, body) = app
        .query(
            json!({"query": "reclaim storage from dead tuples", "mode": "lexical",
                      "filter": {"field": "external_id", "in": ["vacuum.md"]}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["evidence"][0]["external_id"], "vacuum.md");
    for table in ["chunk_cache", "chunk_embedding"] {
        let rows: i64 = admin
            .query_one(&format!("SELECT count(*) FROM {schema}.{table}"), &[])
            .await
            .unwrap()
            .get(0);
        assert!(rows > 0, "{table} was written with the reader role");
    }
    assert_eq!(app.get("/readyz").await.0, 200);
    let (status, body) = app
        .query(json!({"query": "reclaim storage from dead tuples", "mode": "hybrid"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["evidence"][0]["external_id"], "vacuum.md");
    // A write through a service with the reader role says why it cannot be done.
    let response = app
        .client
        .put(format!("{}/v1/items/docs/new.md", app.url))
        .json(&json!({"content": "written through a reader"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 503);
    let body: serde_json::Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("kb_reader cannot write"),
        "{body}"
    );
    app.stop().await;

    // The reader cannot write items, and neither service role can change the schema.
    let reader_pool = KbPool::new(&reader_config).unwrap();
    let err = ItemRepo::new(&reader_pool)
        .upsert(&[NewItem::new("docs", "x", "y")])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    let ddl = tempfile::tempdir().unwrap();
    let embedded = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../aiblox-kb/migrations");
    for entry in std::fs::read_dir(&embedded).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|extension| extension == "sql") {
            std::fs::copy(&path, ddl.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(
        ddl.path().join("V9000__evil.sql"),
        "CREATE TABLE evil (x int);\n",
    )
    .unwrap();
    for role in [&reader, &writer] {
        let err = Migrator::new(&config_for(role))
            .migrations_from_dir(ddl.path())
            .unwrap()
            .run()
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("permission denied"),
            "{role}: {err}"
        );
    }
    admin
        .batch_execute(&format!(
            "DROP SCHEMA {schema} CASCADE; DROP ROLE {reader}; DROP ROLE {writer}"
        ))
        .await
        .unwrap();
    admin
        .batch_execute(&format!("DROP ROLE {owner}"))
        .await
        .unwrap();
}
