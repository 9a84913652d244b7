//! Every query of the generated crate runs against a real database, including rows whose
//! nullable columns are NULL (cornucopia does not infer nullability: a missing `?` in
//! `queries/` is a runtime `WasNull` error that only a query over such a row reveals).

use aiblox_kb_gen::queries::{chunk_cache, embedding, item};
use aiblox_kb_testkit::TestKb;
use serde_json::json;
use tokio_postgres::Client;

/// A superuser connection on a fresh migrated schema, raw, to call generated code directly.
async fn scratch() -> (TestKb, Client) {
    let kb = TestKb::new().await;
    let client = kb.raw_client().await;
    (kb, client)
}

fn hash(byte: u8) -> Vec<u8> {
    vec![byte; 32]
}

#[tokio::test]
async fn item_queries_round_trip_including_null_titles() {
    let (_kb, client) = scratch().await;
    let client = &client;

    let sources = vec!["docs", "docs"];
    let external_ids = vec!["a", "b"];
    let titles: Vec<Option<&str>> = vec![None, Some("Title B")];
    let contents = vec![
        "alpha content about databases",
        "beta content about gardens",
    ];
    let hashes = vec![hash(1), hash(2)];
    let metadata = vec![json!({}), json!({"lang": "en"})];
    let page_starts: Vec<Option<&str>> = vec![None, Some("{0,5}")];
    let first = item::upsert_items()
        .bind(
            client,
            &sources,
            &external_ids,
            &titles,
            &contents,
            &hashes,
            &metadata,
            &page_starts,
        )
        .all()
        .await
        .unwrap();
    assert_eq!(first.len(), 2);
    assert!(
        first
            .iter()
            .all(|row| row.inserted && row.written && row.id.is_some())
    );
    assert_eq!(
        first.iter().map(|row| row.ordinal).collect::<Vec<_>>(),
        [1, 2]
    );
    let id_a = first[0].id.unwrap();
    let id_b = first[1].id.unwrap();

    // The same batch again: nothing written, ids still reported.
    let again = item::upsert_items()
        .bind(
            client,
            &sources,
            &external_ids,
            &titles,
            &contents,
            &hashes,
            &metadata,
            &page_starts,
        )
        .all()
        .await
        .unwrap();
    assert!(again.iter().all(|row| !row.inserted && !row.written));
    assert_eq!(
        again.iter().map(|row| row.id).collect::<Vec<_>>(),
        [Some(id_a), Some(id_b)]
    );

    // A changed content: written, not inserted.
    let changed = item::upsert_items()
        .bind(
            client,
            &vec!["docs"],
            &vec!["a"],
            &vec![None::<&str>],
            &vec!["alpha content, revised"],
            &vec![hash(3)],
            &vec![json!({})],
            &vec![None::<&str>],
        )
        .all()
        .await
        .unwrap();
    assert!(changed[0].written && !changed[0].inserted);
    assert_eq!(changed[0].id, Some(id_a));

    let a = item::get_item().bind(client, &id_a).one().await.unwrap();
    assert_eq!(a.title, None, "a NULL title reads as None");
    assert_eq!(a.content, "alpha content, revised");
    assert_eq!(a.content_hash, hash(3));
    assert_eq!(a.page_starts, None, "NULL page starts read as None");
    assert!(a.updated_at >= a.created_at);
    let b = item::get_item().bind(client, &id_b).one().await.unwrap();
    assert_eq!(
        b.page_starts,
        Some(vec![0, 5]),
        "an array literal is stored as integers"
    );

    let many = item::get_items()
        .bind(client, &vec![id_a, id_b, -1])
        .all()
        .await
        .unwrap();
    let mut ids: Vec<i64> = many.iter().map(|row| row.id).collect();
    ids.sort();
    assert_eq!(ids, [id_a, id_b]);

    let present = item::sources_with_items()
        .bind(client, &vec!["nope", "docs", "docs"])
        .all()
        .await
        .unwrap();
    assert_eq!(
        present,
        ["docs", "docs"],
        "in the order given; a source without items absent"
    );

    let b = item::get_item_by_key()
        .bind(client, &"docs", &"b")
        .one()
        .await
        .unwrap();
    // Metadata comes back as JSON text (`metadata::text`), parsed once by the repository.
    assert_eq!(
        (
            b.id,
            b.title.as_deref(),
            serde_json::from_str::<serde_json::Value>(&b.metadata).unwrap()
        ),
        (id_b, Some("Title B"), json!({"lang": "en"}))
    );
    assert!(
        item::get_item_by_key()
            .bind(client, &"docs", &"missing")
            .opt()
            .await
            .unwrap()
            .is_none()
    );

    let keys = item::get_item_ids_by_keys()
        .bind(client, &vec!["docs", "docs"], &vec!["b", "zzz"])
        .all()
        .await
        .unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!((keys[0].id, keys[0].external_id.as_str()), (id_b, "b"));

    let hits = item::search_items()
        .bind(client, &"revised", &None::<Vec<&str>>, &10)
        .all()
        .await
        .unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(
        (hits[0].id, hits[0].title.as_deref()),
        (id_a, None),
        "a hit with a NULL title"
    );
    assert!(hits[0].rank > 0.0);
    let filtered = item::search_items()
        .bind(client, &"content", &Some(vec!["other"]), &10)
        .all()
        .await
        .unwrap();
    assert!(filtered.is_empty(), "the source filter applies");
    let limited = item::search_items()
        .bind(client, &"content", &Some(vec!["docs"]), &1)
        .all()
        .await
        .unwrap();
    assert_eq!(limited.len(), 1, "the limit applies");

    let any = item::search_items_any_word()
        .bind(
            client,
            &"revised or nothingmatches",
            &None::<Vec<&str>>,
            &10,
        )
        .all()
        .await
        .unwrap();
    assert_eq!(
        (any.len(), any[0].title.as_deref()),
        (1, None),
        "any word matches; NULL title reads"
    );
    let keys = item::source_item_keys()
        .bind(client, &"docs", &None::<&str>, &10)
        .all()
        .await
        .unwrap();
    assert_eq!(
        keys.iter()
            .map(|row| row.external_id.as_str())
            .collect::<Vec<_>>(),
        ["a", "b"],
        "a source's keys in external id order"
    );
    let after_a = item::source_item_keys()
        .bind(client, &"docs", &Some("a"), &10)
        .all()
        .await
        .unwrap();
    assert_eq!(after_a.len(), 1, "keys after a given one");
    let digests = item::source_item_digests()
        .bind(client, &"docs", &Some("a"), &10)
        .all()
        .await
        .unwrap();
    assert_eq!(
        (
            digests.len(),
            digests[0].external_id.as_str(),
            digests[0].content_hash.len()
        ),
        (1, "b", 32),
        "a source's digests after a given external id"
    );
    let counts = item::source_counts().bind(client).all().await.unwrap();
    assert_eq!(
        counts
            .iter()
            .map(|row| (row.source.as_str(), row.items))
            .collect::<Vec<_>>(),
        [("docs", 2)],
        "every source with its item count"
    );
    assert_eq!(
        item::delete_item_by_key()
            .bind(client, &"docs", &"no-such-item")
            .await
            .unwrap(),
        0,
        "a key that names nothing deletes nothing"
    );
    assert_eq!(item::delete_item().bind(client, &id_b).await.unwrap(), 1);
    assert_eq!(item::delete_item().bind(client, &id_b).await.unwrap(), 0);
    assert_eq!(
        item::delete_items()
            .bind(client, &vec![id_a, id_b])
            .await
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn chunk_cache_queries_replace_sets_and_refuse_stale_writes() {
    let (_kb, client) = scratch().await;
    let client = &client;
    let items = item::upsert_items()
        .bind(
            client,
            &vec!["s", "s"],
            &vec!["x", "y"],
            &vec![None::<&str>, None],
            &vec!["xx", "yy"],
            &vec![hash(1), hash(2)],
            &vec![json!({}), json!({})],
            &vec![None::<&str>, None],
        )
        .all()
        .await
        .unwrap();
    let (x, y) = (items[0].id.unwrap(), items[1].id.unwrap());

    // Three chunks for x, one for y, in one statement.
    let written = chunk_cache::put_chunks()
        .bind(
            client,
            &vec![x, x, x, y],
            &vec![0, 1, 2, 0],
            &vec![3, 3, 3, 1],
            &vec![hash(1), hash(1), hash(1), hash(2)],
            &vec![0, 1, 2, 0],
            &vec![1, 2, 2, 2],
            &vec!["x", "x", "", "yy"],
            &vec![1, 1, 0, 1],
            &"chunker-v1",
        )
        .one()
        .await
        .unwrap();
    assert_eq!((written.chunks_written, written.chunks_removed), (4, 0));

    let chunks = chunk_cache::get_chunks()
        .bind(client, &x, &"chunker-v1", &hash(1))
        .all()
        .await
        .unwrap();
    assert_eq!(
        chunks.iter().map(|c| c.chunk_index).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert!(
        chunks
            .iter()
            .all(|c| c.chunk_count == 3 && c.chunker_key == "chunker-v1")
    );
    let both = chunk_cache::get_chunks_for_items()
        .bind(client, &vec![x, y], &vec![hash(1), hash(2)], &"chunker-v1")
        .all()
        .await
        .unwrap();
    assert_eq!(both.len(), 4);
    assert!(
        chunk_cache::get_chunks()
            .bind(client, &x, &"chunker-v1", &hash(9))
            .all()
            .await
            .unwrap()
            .is_empty()
    );

    // A shorter set replaces the longer one entirely.
    let replaced = chunk_cache::put_chunks()
        .bind(
            client,
            &vec![x],
            &vec![0],
            &vec![1],
            &vec![hash(1)],
            &vec![0],
            &vec![2],
            &vec!["xx"],
            &vec![1],
            &"chunker-v1",
        )
        .one()
        .await
        .unwrap();
    assert_eq!((replaced.chunks_written, replaced.chunks_removed), (1, 2));

    // A set for a hash the item no longer has is not written, and leaves the current set alone.
    let stale = chunk_cache::put_chunks()
        .bind(
            client,
            &vec![x],
            &vec![0],
            &vec![1],
            &vec![hash(7)],
            &vec![0],
            &vec![1],
            &vec!["x"],
            &vec![1],
            &"chunker-v1",
        )
        .one()
        .await
        .unwrap();
    assert_eq!((stale.chunks_written, stale.chunks_removed), (0, 0));
    assert_eq!(
        chunk_cache::get_chunks()
            .bind(client, &x, &"chunker-v1", &hash(1))
            .all()
            .await
            .unwrap()
            .len(),
        1
    );

    // The item changes: its chunks are stale and purged; other chunkers' chunks go too.
    item::upsert_items()
        .bind(
            client,
            &vec!["s"],
            &vec!["x"],
            &vec![None::<&str>],
            &vec!["new"],
            &vec![hash(5)],
            &vec![json!({})],
            &vec![None::<&str>],
        )
        .all()
        .await
        .unwrap();
    assert_eq!(
        chunk_cache::delete_stale_chunks()
            .bind(client)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        chunk_cache::delete_chunks_of_other_chunkers()
            .bind(client, &"chunker-v2")
            .await
            .unwrap(),
        1
    );

    // Deleting an item deletes its chunks.
    chunk_cache::put_chunks()
        .bind(
            client,
            &vec![y],
            &vec![0],
            &vec![1],
            &vec![hash(2)],
            &vec![0],
            &vec![2],
            &vec!["yy"],
            &vec![1],
            &"chunker-v2",
        )
        .one()
        .await
        .unwrap();
    item::delete_item().bind(client, &y).await.unwrap();
    assert!(
        chunk_cache::get_chunks()
            .bind(client, &y, &"chunker-v2", &hash(2))
            .all()
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn lexical_index_queries_read_null_titles_and_sets_without_hits() {
    let (_kb, client) = scratch().await;
    let client = &client;
    let rows = item::upsert_items()
        .bind(
            client,
            &vec!["docs", "wiki"],
            &vec!["a", "b"],
            &vec![None::<&str>, Some("Vacuum")],
            &vec!["vacuum reclaims space", "autovacuum"],
            &vec![hash(1), hash(2)],
            &vec![json!({}), json!({})],
            &vec![None::<&str>, None],
        )
        .all()
        .await
        .unwrap();
    let (a, b) = (rows[0].id.unwrap(), rows[1].id.unwrap());

    let corpus = item::lexical_corpus()
        .bind(
            client,
            &"The vacuuming of spaces",
            &Some(vec!["wiki", "absent"]),
        )
        .one()
        .await
        .unwrap();
    assert_eq!(corpus.terms, ["space", "vacuum"]);
    assert_eq!(corpus.items, 2);
    assert_eq!(
        corpus.source_ids.len(),
        1,
        "only sources that hold items have numbers"
    );
    let postings = item::lexical_postings()
        .bind(client, &vec!["vacuum", "nowher"])
        .all()
        .await
        .unwrap();
    assert_eq!(
        postings.len(),
        2,
        "a row for the fresh items a and b, a row of NULLs"
    );
    assert!(postings.iter().all(|p| p.version == corpus.version));
    let absent = postings.iter().find(|p| p.term == "nowher").unwrap();
    assert_eq!((absent.block, absent.item_ids.as_ref()), (None, None));
    let block = postings.iter().find(|p| p.term == "vacuum").unwrap();
    let ids = block.item_ids.as_ref().unwrap();
    assert_eq!(ids.len(), 2);
    let at_b = ids.iter().position(|id| *id == b).unwrap();
    assert_eq!(
        (
            block.source_ids.as_ref().unwrap()[at_b],
            block.title_tfs.as_ref().unwrap()[at_b],
            block.content_tfs.as_ref().unwrap()[at_b]
        ),
        (corpus.source_ids[0], 1, 0)
    );
    assert_eq!(block.dead_item_ids.as_deref(), Some(&[][..]));
    assert_eq!(block.block, None, "fresh items are in no block yet");

    // Merging: the fresh items into a block, then a sweep of every term (two steps: the terms
    // up to the last one, then past it).
    let taken = item::merge_fresh_postings()
        .bind(client, &10)
        .one()
        .await
        .unwrap();
    assert_eq!(taken, 2);
    let merged = item::lexical_postings()
        .bind(client, &vec!["vacuum"])
        .all()
        .await
        .unwrap();
    assert_eq!(merged.len(), 1);
    assert!(merged[0].block.is_some());
    let mut ids = merged[0].item_ids.clone().unwrap();
    ids.sort_unstable();
    assert_eq!(ids, [a, b]);
    let last = item::merge_postings()
        .bind(client, &None::<&str>, &500)
        .one()
        .await
        .unwrap();
    assert_eq!(last.as_deref(), Some("vacuum"), "the last term in order");
    let past = item::merge_postings()
        .bind(client, &last, &500)
        .one()
        .await
        .unwrap();
    assert_eq!(past, None);
    let heads = item::get_item_heads()
        .bind(client, &vec![a, b, -1])
        .all()
        .await
        .unwrap();
    assert_eq!(heads.len(), 2);
    let head_a = heads.iter().find(|h| h.id == a).unwrap();
    assert_eq!(
        (head_a.title.as_deref(), head_a.content_hash.clone()),
        (None, hash(1))
    );

    chunk_cache::put_chunks()
        .bind(
            client,
            &vec![a, a],
            &vec![0, 1],
            &vec![2, 2],
            &vec![hash(1), hash(1)],
            &vec![0, 7],
            &vec![6, 21],
            &vec!["vacuum", "reclaims space"],
            &vec![1, 2],
            &"k",
        )
        .one()
        .await
        .unwrap();
    let every_term = chunk_cache::chunk_terms()
        .bind(client, &vec![a, b], &vec![hash(1), hash(2)], &"k")
        .all()
        .await
        .unwrap();
    assert_eq!(every_term.len(), 2, "one row per chunk of a; b has no set");
    assert_eq!(
        every_term[1].terms,
        Some(vec!["reclaim".to_owned(), "space".to_owned()])
    );
    assert_eq!(
        (
            every_term[1].term_frequencies.clone(),
            every_term[1].term_count
        ),
        (Some(vec![1, 1]), Some(2))
    );
    // A chunk written without statistics (by a contract before 0.1.2) reads back NULLs.
    client
        .execute("UPDATE chunk_cache SET terms = NULL, term_frequencies = NULL, term_count = NULL WHERE chunk_index = 0", &[])
        .await
        .unwrap();
    let unknown = chunk_cache::chunk_terms()
        .bind(client, &vec![a], &vec![hash(1)], &"k")
        .all()
        .await
        .unwrap();
    assert_eq!(
        (unknown[0].terms.clone(), unknown[0].term_count),
        (None, None)
    );
    let texts = chunk_cache::get_chunks_at()
        .bind(
            client,
            &vec![a, a],
            &vec![1, 0],
            &vec![hash(1), hash(9)],
            &"k",
        )
        .all()
        .await
        .unwrap();
    assert_eq!(texts.len(), 1);
    assert_eq!(texts[0].text, "reclaims space");

    // Frequencies are the term's occurrences in title and content apart; lengths are the
    // characters of title and content.
    let upsert_c = |content: &'static str, content_hash: Vec<u8>| async move {
        item::upsert_items()
            .bind(
                client,
                &vec!["docs"],
                &vec!["c"],
                &vec![Some("Vacuum guide, vacuum")],
                &vec![content],
                &vec![content_hash],
                &vec![json!({})],
                &vec![None::<&str>],
            )
            .one()
            .await
            .unwrap()
            .id
            .unwrap()
    };
    let of_c = |c: i64, term: &'static str| async move {
        let postings = item::lexical_postings()
            .bind(client, &vec![term])
            .all()
            .await
            .unwrap();
        // The current posting: in a block that does not mark it dead (an update writes a
        // new block and marks the old posting dead).
        let current: Vec<_> = postings
            .iter()
            .filter(|p| !p.dead_item_ids.as_ref().unwrap().contains(&c))
            .filter_map(|p| {
                let at = p
                    .item_ids
                    .as_ref()
                    .unwrap()
                    .iter()
                    .position(|id| *id == c)?;
                Some((
                    p.title_tfs.as_ref().unwrap()[at],
                    p.content_tfs.as_ref().unwrap()[at],
                    p.title_lengths.as_ref().unwrap()[at],
                    p.content_lengths.as_ref().unwrap()[at],
                ))
            })
            .collect();
        assert_eq!(
            current.len(),
            1,
            "one current posting of {term}: {postings:?}"
        );
        current[0]
    };
    let c = upsert_c("Vacuum the table, then vacuum it again: vacuum.", hash(3)).await;
    assert_eq!(of_c(c, "vacuum").await, (2, 3, 20, 47));
    assert_eq!(of_c(c, "guid").await, (1, 0, 20, 47));
    // A change the search vector does not see (one more space) still changes the length.
    upsert_c("Vacuum the table,  then vacuum it again: vacuum.", hash(4)).await;
    assert_eq!(of_c(c, "vacuum").await, (2, 3, 20, 48));
}

#[tokio::test]
async fn embedding_queries_round_trip_including_the_empty_feed() {
    let (_kb, client) = scratch().await;
    let client = &client;
    let (chunker, model) = ("para-v1:800", "model:1");
    // The feed with no vector: one row of NULLs carrying the horizon.
    let empty = embedding::embeddings_since()
        .bind(client, &chunker, &model, &0, &10)
        .all()
        .await
        .unwrap();
    assert_eq!(empty.len(), 1);
    assert!(empty[0].item_id.is_none() && empty[0].vector.is_none());
    assert!(empty[0].horizon > 0);

    let id = item::upsert_items()
        .bind(
            client,
            &vec!["docs"],
            &vec!["a"],
            &vec![None::<&str>],
            &vec!["alpha"],
            &vec![hash(1)],
            &vec![json!({})],
            &vec![None::<&str>],
        )
        .one()
        .await
        .unwrap()
        .id
        .unwrap();
    let claimed = embedding::claim_unembedded()
        .bind(client, &chunker, &model, &10, &60.0)
        .all()
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(
        (claimed[0].item_id, &claimed[0].content_hash),
        (id, &hash(1))
    );
    let vector: Vec<u8> = [1.0f32, 0.5].iter().flat_map(|v| v.to_le_bytes()).collect();
    let written = embedding::put_embeddings()
        .bind(
            client,
            &vec![id],
            &vec![0],
            &vec![1],
            &vec![hash(1)],
            &vec![vector.clone()],
            &chunker,
            &model,
        )
        .one()
        .await
        .unwrap();
    assert_eq!((written.vectors_written, written.vectors_removed), (1, 0));
    let marked = embedding::finish_claims()
        .bind(client, &vec![id], &vec![hash(1)], &chunker, &model)
        .one()
        .await
        .unwrap();
    assert_eq!(marked, 1);
    let feed = embedding::embeddings_since()
        .bind(client, &chunker, &model, &0, &10)
        .all()
        .await
        .unwrap();
    assert_eq!(feed.len(), 1);
    assert_eq!(feed[0].vector.as_deref(), Some(vector.as_slice()));
    assert_eq!(feed[0].source.as_deref(), Some("docs"));
    let progress = embedding::embedding_progress()
        .bind(client, &chunker, &model)
        .one()
        .await
        .unwrap();
    assert_eq!((progress.items, progress.indexed), (1, 1));
}

#[tokio::test]
async fn filter_queries_answer_ids_once_per_version_and_none_while_it_stands() {
    let (_kb, client) = scratch().await;
    let client = &client;
    let written = item::upsert_items()
        .bind(
            client,
            &vec!["docs", "docs"],
            &vec!["a", "b"],
            &vec![None::<&str>, None],
            &vec!["alpha", "beta"],
            &vec![hash(1), hash(2)],
            &vec![json!({"lang": "en"}), json!({"lang": ["de", "en"], "v": 2})],
            &vec![None::<&str>, None],
        )
        .all()
        .await
        .unwrap();
    let ids: Vec<i64> = written.iter().map(|row| row.id.unwrap()).collect();
    let filter = r#"exists($."metadata"."lang" ? (@ == "en"))"#;
    let first = item::item_filter_matches()
        .bind(client, &-1, &filter)
        .one()
        .await
        .unwrap();
    let mut found = first.ids.clone().unwrap();
    found.sort_unstable();
    assert_eq!(found, ids, "an array holding the value passes");
    let again = item::item_filter_matches()
        .bind(client, &first.version, &filter)
        .one()
        .await
        .unwrap();
    assert_eq!((again.version, again.ids), (first.version, None));
    let narrowed = item::item_filter_matches_narrowed()
        .bind(client, &first.version, &r#"$."v" == 2"#, &filter)
        .one()
        .await
        .unwrap();
    assert_eq!(narrowed.ids, None, "the version still stands");
    // A change of metadata alone moves the version on.
    client
        .execute("UPDATE item SET metadata = '{}' WHERE id = $1", &[&ids[0]])
        .await
        .unwrap();
    let narrowed = item::item_filter_matches_narrowed()
        .bind(client, &first.version, &r#"$."v" == 2"#, &filter)
        .one()
        .await
        .unwrap();
    assert!(narrowed.version > first.version);
    assert_eq!(narrowed.ids, Some(vec![ids[1]]));
    // The metadata of a list of items, for facets; absent ids are left out.
    let rows = item::get_item_metadata()
        .bind(client, &vec![ids[1], ids[1] + 1000])
        .all()
        .await
        .unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&rows[0].metadata).unwrap(),
        json!({"lang": ["de", "en"], "v": 2})
    );
}

#[test]
fn every_generated_query_is_exercised_here() {
    let this_file = include_str!("generated_queries.rs");
    let queries_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/gen/src/queries");
    for entry in std::fs::read_dir(queries_dir).unwrap() {
        let path = entry.unwrap().path();
        let module = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let source = std::fs::read_to_string(&path).unwrap();
        for line in source.lines() {
            if let Some(name) = line
                .strip_prefix("pub fn ")
                .and_then(|rest| rest.split_once("()"))
                .map(|(name, _)| name)
            {
                let call = format!("{module}::{name}()");
                assert!(
                    this_file.contains(&call),
                    "generated query {call} is not exercised by this test"
                );
            }
        }
    }
}
