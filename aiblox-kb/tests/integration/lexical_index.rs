//! The lexical index (V0003, its stored postings V0006) against a real database: written in
//! the same transaction as the items and chunks it describes, never inconsistent under
//! concurrent writers and merges, and ranking by BM25 as users of a search engine expect.

use aiblox_kb::{Bm25, ChunkCacheRepo, Error, ItemRepo, Migrator, NewChunk, NewChunkSet, NewItem};
use aiblox_kb_testkit::TestKb;
use tokio_postgres::Client;

use crate::migrations::{embedded, migrations};

/// Fails unless the index holds exactly the rows and totals recomputed from the items' stored
/// search vectors, and every cached chunk the terms of its text.
async fn assert_index_consistent(client: &Client) {
    let stray: i64 = client
        .query_one(
            "SELECT count(*) FROM (
                (SELECT * FROM item_term
                 EXCEPT ALL
                 SELECT i.id, item_title_length(i.title),
                    item_content_length(i.content)
                 FROM item AS i)
                UNION ALL
                (SELECT i.id, item_title_length(i.title),
                    item_content_length(i.content)
                 FROM item AS i
                 EXCEPT ALL
                 SELECT * FROM item_term)
            ) AS differences",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(stray, 0, "item_term differs from the items' search vectors");
    let totals = client
        .query_one(
            "SELECT
                (SELECT sum(items)::bigint FROM item_term_stats) = (SELECT count(*) FROM item),
                (SELECT sum(title_length)::bigint FROM item_term_stats) =
                    (SELECT coalesce(sum(item_title_length(i.title)), 0)::bigint
                     FROM item AS i),
                (SELECT sum(content_length)::bigint FROM item_term_stats) =
                    (SELECT coalesce(sum(item_content_length(i.content)), 0)::bigint
                     FROM item AS i)",
            &[],
        )
        .await
        .unwrap();
    assert!(
        totals.get::<_, bool>(0) && totals.get::<_, bool>(1) && totals.get::<_, bool>(2),
        "item_term_stats differs from the items"
    );
    // The postings a search reads (V0006): every posting of every block, less those a mark
    // above its block names, and the fresh items' own (which it computes as recomputed here):
    // every item is fresh or in blocks, never both.
    let stray_postings: i64 = client
        .query_one(
            "WITH recomputed AS (
                SELECT u.lexeme, i.id,
                    (SELECT count(*) FROM unnest(u.weights) AS w WHERE w = 'A')::smallint,
                    (SELECT count(*) FROM unnest(u.weights) AS w WHERE w <> 'A')::smallint,
                    item_title_length(i.title), item_content_length(i.content), i.source
                FROM item AS i
                CROSS JOIN LATERAL unnest(i.search_vector) AS u
            ),
            stored AS (
                SELECT p.term, u.item_id, u.title_tf, u.content_tf, u.title_length,
                    u.content_length, s.source
                FROM item_posting AS p
                CROSS JOIN LATERAL unnest(p.item_ids, p.title_tfs, p.content_tfs,
                    p.title_lengths, p.content_lengths, p.source_ids)
                    AS u(item_id, title_tf, content_tf, title_length, content_length, source_id)
                JOIN item_source AS s ON s.id = u.source_id
                WHERE NOT EXISTS (
                    SELECT FROM item_posting_dead AS d
                    WHERE d.item_id = u.item_id AND d.before_block > p.block
                )
                UNION ALL
                SELECT r.* FROM recomputed AS r
                WHERE r.id IN (SELECT f.item_id FROM item_posting_fresh AS f)
            )
            SELECT count(*) FROM (
                (SELECT * FROM stored EXCEPT ALL SELECT * FROM recomputed)
                UNION ALL
                (SELECT * FROM recomputed EXCEPT ALL SELECT * FROM stored)
            ) AS differences",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        stray_postings, 0,
        "the current stored and fresh postings differ from the items' search vectors"
    );
    let stray_chunks: i64 = client
        .query_one(
            "SELECT count(*)
             FROM chunk_cache AS c
             CROSS JOIN LATERAL (
                SELECT coalesce(array_agg(u.lexeme ORDER BY u.lexeme), '{}') AS terms,
                    coalesce(sum(cardinality(u.positions)), 0)::integer AS length
                FROM unnest(to_tsvector('english', c.text)) AS u
             ) AS x
             WHERE (c.terms, c.term_count) IS DISTINCT FROM (x.terms, x.length)",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        stray_chunks, 0,
        "cached chunks' terms differ from their texts"
    );
}

async fn found(kb: &TestKb, question: &str) -> Vec<String> {
    ItemRepo::new(kb.pool())
        .search_bm25(question, None, None, 10, &Bm25::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|item| item.external_id)
        .collect()
}

#[tokio::test]
async fn the_migration_indexes_items_and_chunks_written_before_it() {
    let kb = TestKb::unmigrated().await;
    let before: Vec<(String, String)> = embedded()
        .into_iter()
        .filter(|(name, _)| name.as_str() < "V0003")
        .collect();
    let files: Vec<(&str, &str)> = before
        .iter()
        .map(|(name, sql)| (name.as_str(), sql.as_str()))
        .collect();
    let dir = migrations(&files);
    Migrator::new(kb.config())
        .migrations_from_dir(dir.path())
        .unwrap()
        .run()
        .await
        .unwrap();
    // Written as a contract of that schema wrote them (this build's upsert names columns
    // added since).
    let client = kb.raw_client().await;
    let mut written = Vec::new();
    for (key, title, content) in [
        ("vacuum", Some("Vacuum"), "Vacuum reclaims storage."),
        ("wal", None, "The write-ahead log makes commits durable."),
    ] {
        let row = client
            .query_one(
                "INSERT INTO item (source, external_id, title, content, content_hash)
                 VALUES ('docs', $1, $2, $3, sha256(convert_to($3, 'UTF8')))
                 RETURNING id, content_hash",
                &[&key, &title, &content],
            )
            .await
            .unwrap();
        let hash: Vec<u8> = row.get(1);
        written.push((
            row.get::<_, i64>(0),
            <[u8; 32]>::try_from(hash).unwrap(),
            content,
        ));
    }
    let (vacuum_id, vacuum_hash, vacuum_content) = written[0];
    // A chunk cached by a contract before the statistics existed.
    client
        .execute(
            "INSERT INTO chunk_cache (item_id, chunker_key, chunk_index, chunk_count,
                content_hash, start_offset, end_offset, text, token_count)
             VALUES ($1, 'k', 0, 1, $2, 0, 24, $3, 3)",
            &[&vacuum_id, &vacuum_hash.as_slice(), &vacuum_content],
        )
        .await
        .unwrap();

    aiblox_kb::migrate(kb.config()).await.unwrap();
    assert_eq!(found(&kb, "durable commits").await, ["wal"]);
    assert_eq!(found(&kb, "vacuuming").await, ["vacuum"]);
    // The old chunk has no statistics: its set reads as missing until it is put again.
    let cache = ChunkCacheRepo::new(kb.pool());
    let key = [(vacuum_id, vacuum_hash)];
    assert!(cache.terms_of("k", &key).await.unwrap().is_empty());
    cache
        .put(
            "k",
            &[NewChunkSet {
                item_id: vacuum_id,
                content_hash: vacuum_hash,
                chunks: vec![NewChunk {
                    start_offset: 0,
                    end_offset: 24,
                    text: vacuum_content.to_owned(),
                    token_count: 3,
                }],
            }],
        )
        .await
        .unwrap();
    assert_eq!(
        cache.terms_of("k", &key).await.unwrap()[&vacuum_id].chunks[0].length,
        3
    );
    assert_index_consistent(&kb.raw_client().await).await;
}

#[tokio::test]
async fn writes_are_searchable_once_committed_and_rollbacks_leave_nothing() {
    let kb = TestKb::new().await;
    let client = kb.raw_client().await;
    let items = ItemRepo::new(kb.pool());
    items
        .upsert(&[
            NewItem::new("docs", "vacuum", "Vacuum reclaims storage.").with_title("Vacuum"),
            NewItem::new("docs", "empty", "the and of"),
        ])
        .await
        .unwrap();
    assert_eq!(found(&kb, "reclaiming storage").await, ["vacuum"]);
    assert_index_consistent(&client).await;

    // An update replaces the postings: the old words are gone, the new ones found.
    items
        .upsert(&[NewItem::new(
            "docs",
            "vacuum",
            "Autovacuum runs in the background.",
        )])
        .await
        .unwrap();
    assert!(found(&kb, "storage").await.is_empty());
    assert_eq!(found(&kb, "background").await, ["vacuum"]);
    assert_index_consistent(&client).await;

    // A metadata-only change keeps the postings as they are.
    items
        .upsert(&[
            NewItem::new("docs", "vacuum", "Autovacuum runs in the background.")
                .with_metadata(serde_json::json!({"lang": "en"})),
        ])
        .await
        .unwrap();
    assert_index_consistent(&client).await;

    // Rolled back: neither the insert, the update nor the delete leaves a trace.
    let mut connection = kb.pool().get().await.unwrap();
    let transaction = connection.transaction().await.unwrap();
    let inside = ItemRepo::new(&transaction);
    inside
        .upsert(&[
            NewItem::new("docs", "replication", "Streaming replication ships WAL."),
            NewItem::new("docs", "vacuum", "Something else entirely."),
        ])
        .await
        .unwrap();
    let doomed = inside.get_by_key("docs", "empty").await.unwrap().unwrap();
    inside.delete(doomed.id).await.unwrap();
    let seen_inside = inside
        .search_bm25("streaming replication", None, None, 10, &Bm25::default())
        .await
        .unwrap();
    assert_eq!(
        seen_inside.items.len(),
        1,
        "a transaction sees its own writes"
    );
    assert!(
        found(&kb, "streaming").await.is_empty(),
        "others do not see uncommitted writes"
    );
    transaction.rollback().await.unwrap();
    assert!(found(&kb, "streaming").await.is_empty());
    assert_eq!(found(&kb, "background").await, ["vacuum"]);
    assert_index_consistent(&client).await;

    // A write through another pool (another service) is seen by this pool's next search: its
    // kept postings are dropped when the index's version moves.
    assert_eq!(found(&kb, "background").await, ["vacuum"]);
    let other_pool = aiblox_kb::KbPool::new(kb.config()).unwrap();
    ItemRepo::new(&other_pool)
        .upsert(&[NewItem::new(
            "docs",
            "autovacuum",
            "The background worker runs.",
        )])
        .await
        .unwrap();
    assert_eq!(found(&kb, "background").await.len(), 2);
    ItemRepo::new(&other_pool)
        .upsert(&[NewItem::new(
            "docs",
            "autovacuum",
            "A launcher starts workers.",
        )])
        .await
        .unwrap();
    assert_eq!(found(&kb, "background").await, ["vacuum"]);
    assert_index_consistent(&client).await;

    // Deleting removes the item's postings and its share of the totals.
    let vacuum = items.get_by_key("docs", "vacuum").await.unwrap().unwrap();
    assert!(items.delete(vacuum.id).await.unwrap());
    assert!(found(&kb, "background").await.is_empty());
    assert_index_consistent(&client).await;
}

#[tokio::test]
async fn concurrent_writers_leave_the_index_consistent() {
    let kb = TestKb::new().await;
    let client = kb.raw_client().await;
    let words = [
        "vacuum", "index", "replica", "lock", "tuple", "page", "wal", "trigger",
    ];
    let mut writers = Vec::new();
    for writer in 0..6usize {
        let pool = kb.pool().clone();
        writers.push(tokio::spawn(async move {
            let items = ItemRepo::new(&pool);
            for round in 0..8usize {
                // Overlapping keys, changing contents, batches in different orders.
                let mut batch: Vec<NewItem> = (0..10usize)
                    .map(|key| {
                        let word = words[(key + writer + round) % words.len()];
                        NewItem::new(
                            "docs",
                            format!("page-{key}"),
                            format!("{word} {word} written by {writer} in round {round}"),
                        )
                        .with_title(format!("About {word}"))
                    })
                    .collect();
                if writer % 2 == 1 {
                    batch.reverse();
                }
                items.upsert(&batch).await.unwrap();
                if round % 3 == writer % 3
                    && let Some(item) = items.get_by_key("docs", "page-3").await.unwrap()
                {
                    items.delete(item.id).await.unwrap();
                }
            }
        }));
    }
    // Merges beside the writers, until they are done.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let merger = {
        let (pool, done) = (kb.pool().clone(), done.clone());
        tokio::spawn(async move {
            let mut merges = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) || merges == 0 {
                ItemRepo::new(&pool).merge_postings().await.unwrap();
                merges += 1;
            }
            merges
        })
    };
    for writer in writers {
        writer.await.unwrap();
    }
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(merger.await.unwrap() > 0);
    assert_index_consistent(&client).await;
    ItemRepo::new(kb.pool()).merge_postings().await.unwrap();
    assert_index_consistent(&client).await;
}

#[tokio::test]
async fn ranking_follows_bm25() {
    let kb = TestKb::new().await;
    let items = ItemRepo::new(kb.pool());
    let filler = "database server table query row column value";
    let mut batch: Vec<NewItem> = (0..20)
        .map(|n| {
            NewItem::new(
                "docs",
                format!("filler-{n:02}"),
                format!("{filler} number {n}"),
            )
        })
        .collect();
    batch.extend([
        // A term rare in the corpus ("checkpoint") outranks a common one ("table").
        NewItem::new("docs", "common", format!("table table table {filler}")),
        NewItem::new("docs", "rare", format!("checkpoint {filler}")),
        // Two pages holding "freeze" as often: the long one does not win by its length.
        NewItem::new("docs", "short", "freeze freeze tuples"),
        NewItem::new(
            "docs",
            "long",
            format!(
                "freeze freeze {}",
                "unrelated words fill this page ".repeat(40)
            ),
        ),
        // Equal pages: ties go by id.
        NewItem::new("wiki", "twin-1", "hot standby"),
        NewItem::new("wiki", "twin-2", "hot standby"),
        // The title counts: "sequence" once in the title beats once in the content.
        NewItem::new("docs", "titled", "numbers for new rows").with_title("Sequence"),
        NewItem::new("docs", "untitled", "a sequence of numbers for new rows"),
    ]);
    items.upsert(&batch).await.unwrap();

    assert_eq!(found(&kb, "table checkpoint").await[0], "rare");
    assert_eq!(found(&kb, "freezing").await, ["short", "long"]);
    assert_eq!(found(&kb, "hot standby").await, ["twin-1", "twin-2"]);
    assert_eq!(found(&kb, "sequence").await[0], "titled");
    let without_titles = items
        .search_bm25(
            "sequence",
            None,
            None,
            10,
            &Bm25 {
                title_weight: 0.0,
                ..Bm25::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(without_titles.items[0].external_id, "untitled");

    // Scores, terms and IDF as BM25 defines them: IDF from the whole corpus.
    let ranked = items
        .search_bm25("checkpoints and tables", None, None, 10, &Bm25::default())
        .await
        .unwrap();
    let terms: Vec<&str> = ranked.terms.iter().map(|t| t.term.as_str()).collect();
    assert_eq!(terms, ["checkpoint", "tabl"]);
    let corpus = batch.len() as f64;
    let idf = |df: f64| (1.0 + (corpus - df + 0.5) / (df + 0.5)).ln();
    assert!((ranked.terms[0].idf - idf(1.0)).abs() < 1e-9);
    assert!((ranked.terms[1].idf - idf(22.0)).abs() < 1e-9);
    assert!(ranked.items.windows(2).all(|w| w[0].score >= w[1].score));

    // A source filter keeps the corpus-wide IDF and returns only that source.
    let wiki_only = vec!["wiki".to_owned()];
    let wiki = items
        .search_bm25(
            "standby table",
            Some(&wiki_only),
            None,
            10,
            &Bm25::default(),
        )
        .await
        .unwrap();
    let sources: Vec<&str> = wiki.items.iter().map(|i| i.source.as_str()).collect();
    assert_eq!(sources, ["wiki", "wiki"]);
    let everywhere = items
        .search_bm25("standby table", None, None, 50, &Bm25::default())
        .await
        .unwrap();
    assert!(everywhere.items.iter().any(|i| i.source == "docs"));
    assert_eq!(wiki.terms, everywhere.terms);

    // The pool's kept postings (second search), a fresh read and a transaction agree.
    let question = "freeze the checkpoint table of a hot standby sequence";
    let first = items
        .search_bm25(question, None, None, 50, &Bm25::default())
        .await
        .unwrap();
    let again = items
        .search_bm25(question, None, None, 50, &Bm25::default())
        .await
        .unwrap();
    let mut connection = kb.pool().get().await.unwrap();
    let transaction = connection.transaction().await.unwrap();
    let inside = ItemRepo::new(&transaction)
        .search_bm25(question, None, None, 50, &Bm25::default())
        .await
        .unwrap();
    transaction.rollback().await.unwrap();
    assert!(first.items.len() > 20);
    assert_eq!(first, again);
    assert_eq!(first, inside);

    // Questions without indexed terms find nothing; the limit holds.
    assert!(found(&kb, "the and of ?!").await.is_empty());
    assert!(found(&kb, "   ").await.is_empty());
    assert_eq!(
        items
            .search_bm25("database", None, None, 3, &Bm25::default())
            .await
            .unwrap()
            .items
            .len(),
        3
    );
}

#[tokio::test]
async fn bad_search_input_is_refused_with_a_reason() {
    let kb = TestKb::new().await;
    let items = ItemRepo::new(kb.pool());
    for (parameters, expected) in [
        (
            Bm25 {
                k1: -1.0,
                ..Bm25::default()
            },
            "k1",
        ),
        (
            Bm25 {
                k1: f64::NAN,
                ..Bm25::default()
            },
            "k1",
        ),
        (
            Bm25 {
                b: 1.5,
                ..Bm25::default()
            },
            "BM25 b",
        ),
        (
            Bm25 {
                title_weight: f64::INFINITY,
                ..Bm25::default()
            },
            "title_weight",
        ),
    ] {
        let err = items
            .search_bm25("vacuum", None, None, 10, &parameters)
            .await
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidInput { .. }) && err.to_string().contains(expected),
            "{err}"
        );
    }
    let err = items
        .search_bm25("nul\0here", None, None, 10, &Bm25::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("NUL"), "{err}");
    assert!(
        items
            .search_bm25("x", None, None, 0, &Bm25::default())
            .await
            .is_err()
    );
    // A long question is cut, not refused.
    let long = "vacuum ".repeat(2000);
    assert!(
        items
            .search_bm25(&long, None, None, 10, &Bm25::default())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn chunk_term_statistics_follow_the_chunk_cache() {
    let kb = TestKb::new().await;
    let client = kb.raw_client().await;
    let items = ItemRepo::new(kb.pool());
    let cache = ChunkCacheRepo::new(kb.pool());
    let content = "Vacuum reclaims space. Indexes speed up lookups; vacuuming again.";
    let id = items
        .upsert(&[NewItem::new("docs", "a", content)])
        .await
        .unwrap()[0]
        .id;
    let other = items
        .upsert(&[NewItem::new("docs", "b", "nothing relevant")])
        .await
        .unwrap()[0]
        .id;
    let item = items.get(id).await.unwrap().unwrap();
    let chunk = |start: usize, end: usize| NewChunk {
        start_offset: start as u32,
        end_offset: end as u32,
        text: content[start..end].to_owned(),
        token_count: 1,
    };
    cache
        .put(
            "k",
            &[NewChunkSet {
                item_id: id,
                content_hash: item.content_hash,
                chunks: vec![chunk(0, 22), chunk(23, content.len())],
            }],
        )
        .await
        .unwrap();
    assert_index_consistent(&client).await;

    let other_hash = items.get(other).await.unwrap().unwrap().content_hash;
    let every = cache
        .terms_of("k", &[(id, item.content_hash), (other, other_hash)])
        .await
        .unwrap();
    assert_eq!(every.len(), 1, "no set cached for b");
    let set = &every[&id];
    assert_eq!(set.chunk_count, 2);
    assert_eq!((set.chunks[0].chunk_index, set.chunks[0].length), (0, 3));
    assert_eq!(
        set.chunks[0].terms,
        [
            ("reclaim".to_owned(), 1),
            ("space".to_owned(), 1),
            ("vacuum".to_owned(), 1)
        ]
    );
    assert_eq!((set.chunks[1].chunk_index, set.chunks[1].length), (1, 4));
    let lists: Vec<&str> = set.chunks[1]
        .terms
        .iter()
        .map(|(t, _)| t.as_str())
        .collect();
    assert_eq!(lists, ["index", "lookup", "speed", "vacuum"]);

    let texts = cache
        .get_at(
            "k",
            &[(id, 1, item.content_hash), (id, 7, item.content_hash)],
        )
        .await
        .unwrap();
    assert_eq!(texts.len(), 1);
    assert_eq!(texts[0].text, &content[23..]);

    // A changed item's set is stale: asked for with the item's new hash, neither its
    // statistics nor its texts are returned.
    items
        .upsert(&[NewItem::new("docs", "a", "new content")])
        .await
        .unwrap();
    let fresh = items.get(id).await.unwrap().unwrap();
    let stale = cache
        .terms_of("k", &[(id, fresh.content_hash)])
        .await
        .unwrap();
    assert!(stale.is_empty());
    assert!(
        cache
            .get_at("k", &[(id, 0, fresh.content_hash)])
            .await
            .unwrap()
            .is_empty()
    );
    // Replacing the set and deleting the item keep the statistics in step.
    cache
        .put(
            "k",
            &[NewChunkSet {
                item_id: id,
                content_hash: fresh.content_hash,
                chunks: vec![NewChunk {
                    start_offset: 0,
                    end_offset: 11,
                    text: "new content".to_owned(),
                    token_count: 2,
                }],
            }],
        )
        .await
        .unwrap();
    assert_index_consistent(&client).await;
    items.delete(id).await.unwrap();
    assert_index_consistent(&client).await;
    let left: i64 = client
        .query_one("SELECT count(*) FROM chunk_cache", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0);
}

#[tokio::test]
async fn truncating_the_items_empties_the_index_with_them() {
    let kb = TestKb::new().await;
    let items = ItemRepo::new(kb.pool());
    items
        .upsert(&[
            NewItem::new("docs", "a", "vacuum reclaims storage"),
            NewItem::new("docs", "b", "indexes speed up lookups"),
        ])
        .await
        .unwrap();
    assert_eq!(found(&kb, "vacuum").await, ["a"]);
    let client = kb.raw_client().await;
    client
        .batch_execute("TRUNCATE item RESTART IDENTITY CASCADE")
        .await
        .unwrap();
    assert_index_consistent(&client).await;
    let left: i64 = client
        .query_one("SELECT count(*) FROM item_term", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "no lengths of removed items stay behind");
    assert!(
        found(&kb, "vacuum").await.is_empty(),
        "kept postings dropped"
    );
    items
        .upsert(&[NewItem::new("docs", "c", "vacuum again")])
        .await
        .unwrap();
    assert_index_consistent(&client).await;
    assert_eq!(found(&kb, "vacuum").await, ["c"]);
}

/// What `question` finds read from the stored postings now (a connection keeps no copy of
/// postings, as a pool does), with scores, optionally of some sources.
async fn ranked_now(kb: &TestKb, question: &str, sources: Option<&[String]>) -> Vec<(String, f64)> {
    let connection = kb.pool().get().await.unwrap();
    ItemRepo::new(&connection)
        .search_bm25(question, sources, None, 20, &Bm25::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|item| (item.external_id, item.score))
        .collect()
}

#[tokio::test]
async fn merging_keeps_every_answer_and_moves_fresh_and_dead_postings_out() {
    let kb = TestKb::new().await;
    let client = kb.raw_client().await;
    let items = ItemRepo::new(kb.pool());
    let count = |sql: &'static str| {
        let client = &client;
        async move { client.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) }
    };
    let vacuum_blocks = "SELECT count(*) FROM item_posting WHERE term = 'vacuum'";
    let fresh = "SELECT count(*) FROM item_posting_fresh";
    let page = |n: usize, content: String| {
        NewItem::new(
            if n.is_multiple_of(3) { "wiki" } else { "docs" },
            format!("page-{n}"),
            content,
        )
    };
    let written: Vec<NewItem> = (0..40)
        .map(|n| {
            let flavour = ["autovacuum", "checkpoint", "replica", "bloat"][n % 4];
            page(n, format!("vacuum {flavour} note {n} unique{n}word"))
                .with_title(format!("Vacuum {flavour}"))
        })
        .collect();
    items.upsert(&written[..38]).await.unwrap();
    assert_eq!(count(fresh).await, 38, "written items are fresh");
    assert_eq!(count(vacuum_blocks).await, 0);
    items.merge_postings().await.unwrap();
    // Two more items, merged apart: 38 postings are more than twice 2, so two blocks.
    items.upsert(&written[38..]).await.unwrap();
    items.merge_postings().await.unwrap();
    assert_eq!((count(fresh).await, count(vacuum_blocks).await), (0, 2));
    // Changed contents, a source moved by hand, deleted items: their postings in blocks are
    // dead, the changed ones fresh.
    for n in 0..10 {
        items
            .upsert(&[page(n, format!("vacuum vacuum freezing {n}"))])
            .await
            .unwrap();
    }
    client
        .execute(
            "UPDATE item SET source = 'archive' WHERE external_id IN ('page-11', 'page-12')",
            &[],
        )
        .await
        .unwrap();
    for n in 30..35_usize {
        let source = if n.is_multiple_of(3) { "wiki" } else { "docs" };
        let item = items
            .get_by_key(source, &format!("page-{n}"))
            .await
            .unwrap();
        assert!(items.delete(item.unwrap().id).await.unwrap());
    }
    assert_eq!(count(fresh).await, 12);
    assert_eq!(count("SELECT count(*) FROM item_posting_dead").await, 17);
    let gone_term = "SELECT count(*) FROM item_posting WHERE term = 'unique31word'";
    assert_eq!(count(gone_term).await, 1);
    assert_index_consistent(&client).await;
    let archive = ["archive".to_owned()];
    let questions: [(&str, Option<&[String]>); 5] = [
        ("vacuum", None),
        ("vacuum freezing checkpoint", None),
        ("autovacuum bloat", None),
        ("vacuum note", Some(&archive)),
        ("unique31word unique7word unique12word", None),
    ];
    let mut before = Vec::new();
    for (question, sources) in questions {
        before.push(ranked_now(&kb, question, sources).await);
    }
    assert!(before.iter().all(|answer| !answer.is_empty()), "{before:?}");
    assert_eq!(
        before[4][0].0, "page-12",
        "page-31 is deleted, page-7 changed, page-12 moved: {before:?}"
    );
    assert_eq!(before[4].len(), 1);

    let steps = items.merge_postings().await.unwrap();
    assert!(steps >= 2, "one step of terms, and the one past the last");
    assert_index_consistent(&client).await;
    assert_eq!(count(fresh).await, 0);
    assert_eq!(
        count(vacuum_blocks).await,
        2,
        "the 12 fresh postings and the block of 2 make one; 38 is more than twice 14: it stays"
    );
    assert_eq!(
        count(gone_term).await,
        0,
        "a block with more marks above it than postings is rewritten: none is current"
    );
    assert_eq!(
        count("SELECT count(*) FROM item_posting_dead").await,
        17,
        "marks stay while a block older than them holds postings"
    );
    for ((question, sources), answer) in questions.into_iter().zip(&before) {
        assert_eq!(
            &ranked_now(&kb, question, sources).await,
            answer,
            "{question}"
        );
    }
    // Nothing left to merge: a second merge rewrites nothing.
    let blocks = "SELECT count(*) FROM item_posting";
    let rows = count(blocks).await;
    let newest = "SELECT max(block) FROM item_posting";
    let newest_before = count(newest).await;
    items.merge_postings().await.unwrap();
    assert_eq!(
        (count(blocks).await, count(newest).await),
        (rows, newest_before)
    );
}

/// A merge step refuses a transaction above READ COMMITTED: its statements would read a
/// snapshot taken before its lock and could bring dead postings back.
#[tokio::test]
async fn a_merge_refuses_repeatable_read_with_what_to_do() {
    let kb = TestKb::new().await;
    let mut client = kb.raw_client().await;
    let transaction = client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .start()
        .await
        .unwrap();
    let err = transaction
        .query_one("SELECT merge_fresh_item_postings(10)", &[])
        .await
        .unwrap_err();
    let db = err.as_db_error().unwrap();
    assert!(
        db.message()
            .contains("needs READ COMMITTED, not repeatable read"),
        "{db:?}"
    );
    assert!(db.hint().unwrap().contains("READ COMMITTED"));
}
