//! The database killed in the middle of a large ingest: the run fails, the rerun completes,
//! and the knowledge base holds every item exactly once, with correct content hashes and no
//! orphaned chunks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aiblox_ingest::{documents, ingest};
use aiblox_kb::{KbConfig, KbPool};
use aiblox_localpg::LocalCluster;

const ITEMS: usize = 6_000;

#[tokio::test]
async fn a_database_killed_mid_ingest_loses_nothing_once_the_ingest_is_rerun() {
    let data = tempfile::tempdir().unwrap();
    let corpus = tempfile::tempdir().unwrap();
    let file = corpus.path().join("bulk.jsonl");
    let lines: Vec<String> = (0..ITEMS)
        .map(|i| serde_json::json!({"external_id": format!("doc-{i:05}"), "title": format!("Doc {i}"), "content": format!("Item {i}. {}", "words of content ".repeat(i % 50 + 1))}).to_string())
        .collect();
    std::fs::write(&file, lines.join("\n")).unwrap();

    let cluster = LocalCluster::start_persistent(&data.path().join("pg")).unwrap();
    let url = cluster.url("postgres");
    let config = KbConfig::new(&url).unwrap();
    aiblox_kb::migrate(&config).await.unwrap();

    // Kill the server (immediate shutdown, as a crash) once a few batches are in.
    let done = AtomicUsize::new(0);
    let pool = KbPool::builder(&config)
        .max_size(2)
        .wait_timeout(Duration::from_secs(1))
        .connect_timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let mut progress = |count: usize| done.store(count, Ordering::SeqCst);
    let killer = async {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while done.load(Ordering::SeqCst) < 500 {
            assert!(
                std::time::Instant::now() < deadline,
                "the ingest never got going"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let killed = std::process::Command::new("kill")
            .args(["-QUIT", &cluster.pid().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
    };
    let (first, ()) = tokio::join!(
        ingest(
            &pool,
            "bulk",
            documents(std::slice::from_ref(&file)),
            100,
            &mut progress
        ),
        killer
    );
    let err = first.expect_err("the ingest cannot finish without its database");
    assert!(matches!(err, aiblox_kb::Error::Unavailable { .. }), "{err}");
    pool.close();
    drop(cluster);

    // Back up (crash recovery); the rerun completes.
    let cluster = LocalCluster::start_persistent(&data.path().join("pg")).unwrap();
    let pool = KbPool::new(&config).unwrap();
    let second = ingest(
        &pool,
        "bulk",
        documents(std::slice::from_ref(&file)),
        100,
        &mut |_| {},
    )
    .await
    .unwrap();
    assert_eq!(second.failed, 0);
    assert_eq!(second.inserted + second.unchanged, ITEMS, "{second:?}");
    assert!(
        second.unchanged >= 500,
        "what was committed before the crash is kept: {second:?}"
    );

    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let count = |sql: &'static str| {
        let client = &client;
        async move { client.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) }
    };
    assert_eq!(count("SELECT count(*) FROM kb.item").await, ITEMS as i64);
    assert_eq!(
        count("SELECT count(DISTINCT external_id) FROM kb.item").await,
        ITEMS as i64,
        "each exactly once"
    );
    assert_eq!(
        count(
            "SELECT count(*) FROM kb.item WHERE content_hash <> sha256(convert_to(content, 'UTF8'))"
        )
        .await,
        0
    );
    assert_eq!(count("SELECT count(*) FROM kb.chunk_cache c WHERE NOT EXISTS (SELECT 1 FROM kb.item i WHERE i.id = c.item_id)").await, 0);
    pool.close();
    cluster.stop();
}
