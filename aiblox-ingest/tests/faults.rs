//! The database killed in the middle of a large ingest: the run fails; what it committed is
//! intact; the rerun inserts exactly what is missing and counts the rest unchanged; the
//! knowledge base then holds the file line for line (titles, contents, hashes), its lexical
//! index agrees, and a third run has nothing to do.

use std::collections::BTreeMap;
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
    let expected: BTreeMap<String, (String, String)> = (0..ITEMS)
        .map(|i| {
            let content = format!("Item {i}. {}", "words of content ".repeat(i % 50 + 1));
            (format!("doc-{i:05}"), (format!("Doc {i}"), content))
        })
        .collect();
    let lines: Vec<String> = expected
        .iter()
        .map(|(external_id, (title, content))| {
            serde_json::json!({"external_id": external_id, "title": title, "content": content})
                .to_string()
        })
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

    // Back up (crash recovery): what was committed before the crash is there, nothing else.
    let cluster = LocalCluster::start_persistent(&data.path().join("pg")).unwrap();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let committed = stored(&client).await;
    assert!(
        committed.len() >= 500 && committed.len() < ITEMS,
        "{} items survived the crash",
        committed.len()
    );
    for (external_id, row) in &committed {
        assert_eq!(
            Some(row),
            expected.get(external_id),
            "{external_id} as committed"
        );
    }

    // The rerun counts exactly what was missing as inserted and the rest as unchanged.
    let pool = KbPool::new(&config).unwrap();
    let second = ingest_file(&pool, &file).await;
    assert_eq!(
        (
            second.inserted,
            second.changed,
            second.unchanged,
            second.failed
        ),
        (ITEMS - committed.len(), 0, committed.len(), 0),
        "{second:?}"
    );

    // Every line of the file is an item with its own title, content and content hash.
    assert_eq!(
        stored(&client).await,
        expected,
        "the knowledge base holds the file"
    );
    let wrong_hashes: i64 = client
        .query_one(
            "SELECT count(*) FROM kb.item WHERE content_hash <> sha256(convert_to(content, 'UTF8'))",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(wrong_hashes, 0);
    // The lexical index survived the crash with its items: one row per item, totals that add up.
    let index = client
        .query_one(
            "SELECT (SELECT count(*) FROM kb.item_term),
                    (SELECT sum(items)::bigint FROM kb.item_term_stats)",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(
        (index.get::<_, i64>(0), index.get::<_, i64>(1)),
        (ITEMS as i64, ITEMS as i64)
    );

    // A third run finds nothing to do.
    let third = ingest_file(&pool, &file).await;
    assert_eq!(
        (third.inserted, third.changed, third.unchanged),
        (0, 0, ITEMS)
    );
    pool.close();
    cluster.stop();
}

/// Ingests `file` as source `bulk` to completion.
async fn ingest_file(pool: &KbPool, file: &std::path::Path) -> aiblox_ingest::Summary {
    ingest(
        pool,
        "bulk",
        documents(&[file.to_path_buf()]),
        100,
        &mut |_| {},
    )
    .await
    .unwrap()
}

/// `external_id -> (title, content)` of every item of the `bulk` source.
async fn stored(client: &tokio_postgres::Client) -> BTreeMap<String, (String, String)> {
    client
        .query(
            "SELECT external_id, title, content FROM kb.item WHERE source = 'bulk'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), (row.get(1), row.get(2))))
        .collect()
}
