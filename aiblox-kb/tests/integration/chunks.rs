//! `ChunkCacheRepo` against a real database: hits, stale and incomplete sets, atomic
//! replacement, purges and cascades.

use aiblox_kb::{ChunkCacheRepo, Error, ItemRepo, KbItem, NewChunk, NewChunkSet, NewItem};
use aiblox_kb_testkit::TestKb;

use crate::count;

const KEY: &str = "para-v1:size=800";

fn chunk(content: &str, start: usize, end: usize) -> NewChunk {
    NewChunk {
        start_offset: start as u32,
        end_offset: end as u32,
        text: content[start..end].to_owned(),
        token_count: 1,
    }
}

/// A set splitting the item's content in two.
fn halves(item: &KbItem) -> NewChunkSet {
    let middle = item.content.len() / 2;
    NewChunkSet {
        item_id: item.id,
        content_hash: item.content_hash,
        chunks: vec![
            chunk(&item.content, 0, middle),
            chunk(&item.content, middle, item.content.len()),
        ],
    }
}

async fn two_items(kb: &TestKb) -> (KbItem, KbItem) {
    let items = ItemRepo::new(kb.pool());
    let outcomes = items
        .upsert(&[
            NewItem::new("docs", "x", "first item text"),
            NewItem::new("docs", "y", "second"),
        ])
        .await
        .unwrap();
    let fetched = items
        .get_many(&[outcomes[0].id, outcomes[1].id])
        .await
        .unwrap();
    (fetched[0].clone().unwrap(), fetched[1].clone().unwrap())
}

#[tokio::test]
async fn a_put_set_reads_back_whole_and_only_for_its_content_hash() {
    let kb = TestKb::new().await;
    let (x, y) = two_items(&kb).await;
    let cache = ChunkCacheRepo::new(kb.pool());
    assert!(
        cache
            .get(x.id, KEY, &x.content_hash)
            .await
            .unwrap()
            .is_none(),
        "nothing cached yet"
    );

    assert_eq!(cache.put(KEY, &[halves(&x), halves(&y)]).await.unwrap(), 4);
    let chunks = cache
        .get(x.id, KEY, &x.content_hash)
        .await
        .unwrap()
        .expect("a hit");
    assert_eq!(chunks.len(), 2);
    assert_eq!(
        chunks.iter().map(|c| c.text.as_str()).collect::<String>(),
        x.content
    );
    assert!(
        chunks.iter().all(|c| c.chunk_count == 2
            && c.chunker_key == KEY
            && c.content_hash == x.content_hash)
    );
    assert_eq!(
        &x.content[chunks[1].start_offset as usize..chunks[1].end_offset as usize],
        chunks[1].text
    );

    assert!(
        cache.get(x.id, KEY, &[0; 32]).await.unwrap().is_none(),
        "another hash is a miss"
    );
    assert!(
        cache
            .get(x.id, "other-chunker", &x.content_hash)
            .await
            .unwrap()
            .is_none()
    );

    let many = cache
        .get_many(
            KEY,
            &[(x.id, x.content_hash), (y.id, [7; 32]), (-1, [0; 32])],
        )
        .await
        .unwrap();
    assert_eq!(
        many.keys().copied().collect::<Vec<_>>(),
        [x.id],
        "only complete, current sets"
    );
    assert_eq!(many[&x.id], chunks);
    assert!(cache.get_many(KEY, &[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_new_set_replaces_the_old_one_entirely() {
    let kb = TestKb::new().await;
    let (x, _) = two_items(&kb).await;
    let cache = ChunkCacheRepo::new(kb.pool());
    let five = NewChunkSet {
        item_id: x.id,
        content_hash: x.content_hash,
        chunks: (0..5).map(|i| chunk(&x.content, i, i + 1)).collect(),
    };
    cache.put(KEY, &[five]).await.unwrap();
    cache.put(KEY, &[halves(&x)]).await.unwrap();
    let chunks = cache
        .get(x.id, KEY, &x.content_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(chunks.len(), 2, "no chunk of the longer old set survives");
    assert_eq!(count(&kb, "chunk_cache").await, 2);
}

#[tokio::test]
async fn stale_and_incomplete_sets_are_misses() {
    let kb = TestKb::new().await;
    let (x, y) = two_items(&kb).await;
    let items = ItemRepo::new(kb.pool());
    let cache = ChunkCacheRepo::new(kb.pool());
    cache.put(KEY, &[halves(&x), halves(&y)]).await.unwrap();

    // The item changes: its old chunks no longer answer, and a late write of the old set is refused.
    items
        .upsert(&[NewItem::new("docs", "x", "the text changed")])
        .await
        .unwrap();
    let changed = items.get(x.id).await.unwrap().unwrap();
    assert!(
        cache
            .get(x.id, KEY, &changed.content_hash)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        cache.put(KEY, &[halves(&x)]).await.unwrap(),
        0,
        "a set for the old content is not written"
    );

    // A set missing a chunk is a miss, never half an answer.
    kb.raw_client()
        .await
        .execute(
            "DELETE FROM chunk_cache WHERE item_id = $1 AND chunk_index = 1",
            &[&y.id],
        )
        .await
        .unwrap();
    assert!(
        cache
            .get(y.id, KEY, &y.content_hash)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        cache
            .get_many(KEY, &[(y.id, y.content_hash)])
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn purges_remove_stale_and_superseded_chunks_and_deletes_cascade() {
    let kb = TestKb::new().await;
    let (x, y) = two_items(&kb).await;
    let items = ItemRepo::new(kb.pool());
    let cache = ChunkCacheRepo::new(kb.pool());
    cache.put(KEY, &[halves(&x), halves(&y)]).await.unwrap();
    cache.put("para-v0", &[halves(&y)]).await.unwrap();

    items
        .upsert(&[NewItem::new("docs", "x", "changed")])
        .await
        .unwrap();
    assert_eq!(
        cache.purge_stale().await.unwrap(),
        2,
        "x's two chunks are stale"
    );
    assert_eq!(
        cache.purge_other_chunkers(KEY).await.unwrap(),
        2,
        "the old chunker's set goes"
    );
    assert_eq!(count(&kb, "chunk_cache").await, 2);

    items.delete(y.id).await.unwrap();
    assert_eq!(
        count(&kb, "chunk_cache").await,
        0,
        "deleting an item deletes its chunks"
    );
}

#[tokio::test]
async fn invalid_sets_are_refused_before_anything_is_written() {
    let kb = TestKb::new().await;
    let (x, _) = two_items(&kb).await;
    let cache = ChunkCacheRepo::new(kb.pool());
    let backwards = NewChunkSet {
        chunks: vec![NewChunk {
            start_offset: 5,
            end_offset: 2,
            text: "x".into(),
            token_count: 1,
        }],
        ..halves(&x)
    };
    let empty = NewChunkSet {
        chunks: vec![],
        ..halves(&x)
    };
    let nul = NewChunkSet {
        chunks: vec![NewChunk {
            start_offset: 0,
            end_offset: 1,
            text: "\0".into(),
            token_count: 1,
        }],
        ..halves(&x)
    };
    for (key, sets, expected) in [
        (KEY, vec![halves(&x), halves(&x)], "given twice"),
        (KEY, vec![empty], "has no chunks"),
        (KEY, vec![backwards], "ends (2) before it starts (5)"),
        (KEY, vec![nul], "NUL"),
        ("", vec![halves(&x)], "chunker key must be 1 to 256 bytes"),
    ] {
        let err = cache.put(key, &sets).await.unwrap_err();
        assert!(
            matches!(err, Error::InvalidInput { .. }) && err.to_string().contains(expected),
            "{err}"
        );
    }
    assert_eq!(count(&kb, "chunk_cache").await, 0);
}
