//! `EmbeddingRepo` against a real database: claims shared by concurrent indexers, vectors that
//! follow their item's content, and a change feed that misses no transaction.

use std::collections::HashSet;
use std::time::Duration;

use aiblox_kb::{
    EmbeddingClaim, EmbeddingCursor, EmbeddingRepo, Error, ItemRepo, KbItem, KbPool,
    NewEmbeddingSet, NewItem,
};
use aiblox_kb_testkit::TestKb;

use crate::count;

const CHUNKER: &str = "para-v1:size=800";
const MODEL: &str = "test-model:1";
const LEASE: Duration = Duration::from_secs(300);

async fn items(kb: &TestKb, count: usize) -> Vec<KbItem> {
    let repo = ItemRepo::new(kb.pool());
    let new: Vec<NewItem> = (0..count)
        .map(|n| NewItem::new("docs", format!("page-{n}"), format!("content of page {n}")))
        .collect();
    let ids: Vec<i64> = repo
        .upsert(&new)
        .await
        .unwrap()
        .iter()
        .map(|o| o.id)
        .collect();
    repo.get_many(&ids)
        .await
        .unwrap()
        .into_iter()
        .map(Option::unwrap)
        .collect()
}

fn set(item: &KbItem, vectors: &[[f32; 3]]) -> NewEmbeddingSet {
    NewEmbeddingSet {
        item_id: item.id,
        content_hash: item.content_hash,
        vectors: vectors.iter().map(|v| v.to_vec()).collect(),
    }
}

/// Every vector valid now, as `(item, chunk, first value)`, read from the start.
async fn all_vectors(pool: &KbPool) -> Vec<(i64, u32, f32)> {
    let changes = EmbeddingRepo::new(pool)
        .changes_since(CHUNKER, MODEL, EmbeddingCursor::START)
        .await
        .unwrap();
    let mut found: Vec<(i64, u32, f32)> = changes
        .vectors
        .iter()
        .map(|v| (v.item_id, v.chunk_index, v.vector[0]))
        .collect();
    found.sort_by_key(|&(item, chunk, _)| (item, chunk));
    found
}

#[tokio::test]
async fn concurrent_indexers_never_claim_the_same_item() {
    let kb = TestKb::new().await;
    let all: HashSet<i64> = items(&kb, 40).await.iter().map(|i| i.id).collect();
    // Two indexers on pools of their own, claiming three at a time, each round started
    // together so their statements overlap (the second one's insert meets the first one's rows).
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(2));
    let indexer = |pool: KbPool, start: std::sync::Arc<tokio::sync::Barrier>| async move {
        let mut mine = Vec::new();
        // Each round hands out at least three items: 14 rounds claim all 40.
        for _ in 0..20 {
            start.wait().await;
            let claims = EmbeddingRepo::new(&pool)
                .claim(CHUNKER, MODEL, 3, LEASE)
                .await
                .unwrap();
            mine.extend(claims.iter().map(|c| c.item_id));
        }
        mine
    };
    let a = tokio::spawn(indexer(KbPool::new(kb.config()).unwrap(), start.clone()));
    let b = tokio::spawn(indexer(KbPool::new(kb.config()).unwrap(), start.clone()));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let mut seen = HashSet::new();
    for id in a.iter().chain(&b) {
        assert!(seen.insert(*id), "item {id} was claimed twice");
    }
    assert_eq!(seen, all, "every item was claimed by one of them");
}

#[tokio::test]
async fn a_claim_is_taken_over_when_it_expires_and_done_content_is_not_claimed_again() {
    let kb = TestKb::new().await;
    let pages = items(&kb, 2).await;
    let repo = EmbeddingRepo::new(kb.pool());
    let first = repo.claim(CHUNKER, MODEL, 10, LEASE).await.unwrap();
    assert_eq!(first.len(), 2);
    assert!(
        repo.claim(CHUNKER, MODEL, 10, LEASE)
            .await
            .unwrap()
            .is_empty(),
        "live claims are not handed out again"
    );

    // The first indexer died: its leases run out.
    kb.raw_client()
        .await
        .execute(
            &format!(
                "UPDATE {}.embedding_claim SET claimed_until = now() - interval '1 second'",
                kb.schema()
            ),
            &[],
        )
        .await
        .unwrap();
    let taken_over = repo.claim(CHUNKER, MODEL, 10, LEASE).await.unwrap();
    assert_eq!(taken_over, first, "expired claims go to the next indexer");

    // One item gets vectors, the other has no chunk: both are done.
    repo.put(CHUNKER, MODEL, &[set(&pages[0], &[[1.0, 0.0, 0.0]])])
        .await
        .unwrap();
    assert_eq!(repo.finish(CHUNKER, MODEL, &taken_over).await.unwrap(), 2);
    assert!(
        repo.claim(CHUNKER, MODEL, 10, LEASE)
            .await
            .unwrap()
            .is_empty()
    );
    let progress = repo.progress(CHUNKER, MODEL).await.unwrap();
    assert_eq!((progress.items, progress.indexed), (2, 2));
    let other_model = repo.progress(CHUNKER, "other-model:1").await.unwrap();
    assert_eq!((other_model.items, other_model.indexed), (2, 0));

    // A changed item is claimed again, for its new content.
    ItemRepo::new(kb.pool())
        .upsert(&[NewItem::new("docs", "page-1", "new content")])
        .await
        .unwrap();
    let changed = ItemRepo::new(kb.pool())
        .get(pages[1].id)
        .await
        .unwrap()
        .unwrap();
    let again = repo.claim(CHUNKER, MODEL, 10, LEASE).await.unwrap();
    assert_eq!(
        again,
        [EmbeddingClaim {
            item_id: changed.id,
            content_hash: changed.content_hash
        }]
    );
    assert_eq!(repo.progress(CHUNKER, MODEL).await.unwrap().indexed, 1);
}

#[tokio::test]
async fn vectors_follow_their_items_content() {
    let kb = TestKb::new().await;
    let pages = items(&kb, 3).await;
    let repo = EmbeddingRepo::new(kb.pool());
    let written = repo
        .put(
            CHUNKER,
            MODEL,
            &[
                set(&pages[0], &[[0.5, 1.0, -2.0], [0.25, 0.0, 0.0]]),
                set(&pages[1], &[[2.0, 0.0, 0.0]]),
                set(&pages[2], &[[3.0, 0.0, 0.0]]),
            ],
        )
        .await
        .unwrap();
    assert_eq!(written, 4);
    let changes = repo
        .changes_since(CHUNKER, MODEL, EmbeddingCursor::START)
        .await
        .unwrap();
    let first = changes
        .vectors
        .iter()
        .find(|v| v.item_id == pages[0].id && v.chunk_index == 0)
        .unwrap();
    assert_eq!(first.vector, [0.5, 1.0, -2.0], "values read back exactly");
    assert_eq!(
        (first.chunk_count, first.source.as_str()),
        (2, "docs"),
        "with the set's size and the item's source"
    );
    assert!(!changes.more);
    let later = repo
        .changes_since(CHUNKER, MODEL, changes.next)
        .await
        .unwrap();
    // Transactions still open anywhere on the server (other tests' schemas) hold the horizon
    // back: what comes again is only what was read already.
    assert!(
        later.vectors.iter().all(|v| changes.vectors.contains(v)),
        "nothing new since: {:?}",
        later.vectors
    );

    // Re-embedded with fewer chunks: the longer old set is trimmed.
    repo.put(CHUNKER, MODEL, &[set(&pages[0], &[[0.75, 0.0, 0.0]])])
        .await
        .unwrap();
    let after_put = repo
        .changes_since(CHUNKER, MODEL, later.next)
        .await
        .unwrap();
    let read: Vec<(i64, u32, f32)> = after_put
        .vectors
        .iter()
        .map(|v| (v.item_id, v.chunk_index, v.vector[0]))
        .collect();
    assert!(
        read.contains(&(pages[0].id, 0, 0.75)),
        "a reader at the cursor gets the rewritten vector: {read:?}"
    );
    assert!(
        after_put
            .vectors
            .iter()
            .all(|v| v.vector[0] == 0.75 || changes.vectors.contains(v)),
        "and otherwise only what it read before: {read:?}"
    );
    assert!(
        !read.contains(&(pages[0].id, 0, 0.5)) && !read.contains(&(pages[0].id, 1, 0.25)),
        "never the replaced or trimmed vectors: {read:?}"
    );

    // Changed item: its vectors are no longer valid; a put for the old content is refused.
    ItemRepo::new(kb.pool())
        .upsert(&[NewItem::new("docs", "page-1", "changed content")])
        .await
        .unwrap();
    assert_eq!(
        repo.put(CHUNKER, MODEL, &[set(&pages[1], &[[9.0, 0.0, 0.0]])])
            .await
            .unwrap(),
        0,
        "stale content is not written"
    );
    // Deleted item: its vectors go with it.
    ItemRepo::new(kb.pool()).delete(pages[2].id).await.unwrap();
    assert_eq!(all_vectors(kb.pool()).await, [(pages[0].id, 0, 0.75)]);
    assert_eq!(
        count(&kb, "chunk_embedding").await,
        2,
        "page-1's old vector waits for a re-embed"
    );
}

#[tokio::test]
async fn a_reader_misses_no_transaction_that_commits_after_a_later_one() {
    let kb = TestKb::new().await;
    let pages = items(&kb, 2).await;
    let repo = EmbeddingRepo::new(kb.pool());

    // A slow writer starts first (older transaction), a fast one commits before it.
    let mut connection = kb.pool().get().await.unwrap();
    let slow = connection.transaction().await.unwrap();
    EmbeddingRepo::new(&slow)
        .put(CHUNKER, MODEL, &[set(&pages[0], &[[1.0, 0.0, 0.0]])])
        .await
        .unwrap();
    repo.put(CHUNKER, MODEL, &[set(&pages[1], &[[2.0, 0.0, 0.0]])])
        .await
        .unwrap();
    let seen = repo
        .changes_since(CHUNKER, MODEL, EmbeddingCursor::START)
        .await
        .unwrap();
    assert_eq!(
        seen.vectors.len(),
        1,
        "only the committed vector is visible"
    );
    slow.commit().await.unwrap();

    let next = repo.changes_since(CHUNKER, MODEL, seen.next).await.unwrap();
    assert!(
        next.vectors.iter().any(|v| v.item_id == pages[0].id),
        "the older transaction's vector, committed later, is read from the cursor: {:?}",
        next.vectors
    );
}

#[tokio::test]
async fn malformed_vectors_are_refused_and_nothing_is_written() {
    let kb = TestKb::new().await;
    let pages = items(&kb, 2).await;
    let repo = EmbeddingRepo::new(kb.pool());
    let mixed = NewEmbeddingSet {
        item_id: pages[0].id,
        content_hash: pages[0].content_hash,
        vectors: vec![vec![1.0, 2.0], vec![1.0]],
    };
    let not_finite = set(&pages[0], &[[f32::NAN, 0.0, 0.0]]);
    let empty = NewEmbeddingSet {
        vectors: Vec::new(),
        ..set(&pages[0], &[])
    };
    let twice = [
        set(&pages[0], &[[1.0, 0.0, 0.0]]),
        set(&pages[0], &[[1.0, 0.0, 0.0]]),
    ];
    for (what, sets, expected) in [
        (
            "mixed lengths",
            vec![mixed],
            "one put stores vectors of one model",
        ),
        ("NaN", vec![not_finite], "not finite"),
        ("empty set", vec![empty], "is empty"),
        ("one item twice", twice.to_vec(), "two embedding sets"),
    ] {
        match repo.put(CHUNKER, MODEL, &sets).await {
            Err(Error::InvalidInput { message, .. }) => {
                assert!(message.contains(expected), "{what}: {message}")
            }
            other => panic!("{what}: {other:?}"),
        }
    }
    let long_key = "m".repeat(257);
    assert!(matches!(
        repo.claim(CHUNKER, &long_key, 1, LEASE).await,
        Err(Error::InvalidInput { .. })
    ));
    assert!(matches!(
        repo.claim(CHUNKER, MODEL, 1, Duration::ZERO).await,
        Err(Error::InvalidInput { .. })
    ));
    assert_eq!(count(&kb, "chunk_embedding").await, 0);
    assert_eq!(count(&kb, "embedding_claim").await, 0);
}
