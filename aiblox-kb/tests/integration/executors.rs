//! Every repository works on the pool, on one pooled connection, and inside a caller's
//! transaction, where a rollback undoes it all.

use aiblox_kb::{ChunkCacheRepo, ItemRepo, NewChunk, NewChunkSet, NewItem};
use aiblox_kb_testkit::TestKb;

#[tokio::test]
async fn a_rolled_back_transaction_leaves_nothing_and_a_committed_one_everything() {
    let kb = TestKb::new().await;
    let outside = ItemRepo::new(kb.pool());

    let mut connection = kb.pool().get().await.unwrap();
    let transaction = connection.transaction().await.unwrap();
    let inside = ItemRepo::new(&transaction);
    let id = inside
        .upsert(&[NewItem::new("docs", "tx", "inside a transaction")])
        .await
        .unwrap()[0]
        .id;
    assert!(inside.get(id).await.unwrap().is_some(), "visible inside");
    assert!(
        outside.get(id).await.unwrap().is_none(),
        "invisible outside before commit"
    );
    transaction.rollback().await.unwrap();
    assert!(
        outside.get_by_key("docs", "tx").await.unwrap().is_none(),
        "gone after rollback"
    );

    let transaction = connection.transaction().await.unwrap();
    let inside = ItemRepo::new(&transaction);
    let id = inside
        .upsert(&[NewItem::new("docs", "tx", "committed")])
        .await
        .unwrap()[0]
        .id;
    let item = inside.get(id).await.unwrap().unwrap();
    let set = NewChunkSet {
        item_id: id,
        content_hash: item.content_hash,
        chunks: vec![NewChunk {
            start_offset: 0,
            end_offset: 9,
            text: "committed".into(),
            token_count: 1,
        }],
    };
    assert_eq!(
        ChunkCacheRepo::new(&transaction)
            .put("k", &[set])
            .await
            .unwrap(),
        1
    );
    transaction.commit().await.unwrap();
    assert_eq!(outside.get(id).await.unwrap().unwrap().content, "committed");
    assert!(
        ChunkCacheRepo::new(kb.pool())
            .get(id, "k", &item.content_hash)
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn a_transaction_dropped_without_commit_rolls_back() {
    let kb = TestKb::new().await;
    {
        let mut connection = kb.pool().get().await.unwrap();
        let transaction = connection.transaction().await.unwrap();
        ItemRepo::new(&transaction)
            .upsert(&[NewItem::new("docs", "dropped", "x")])
            .await
            .unwrap();
    }
    assert!(
        ItemRepo::new(kb.pool())
            .get_by_key("docs", "dropped")
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn repositories_run_on_one_pooled_connection() {
    let kb = TestKb::new().await;
    let connection = kb.pool().get().await.unwrap();
    let items = ItemRepo::new(&connection);
    let id = items
        .upsert(&[NewItem::new("docs", "c", "on a connection")])
        .await
        .unwrap()[0]
        .id;
    assert_eq!(
        items.get(id).await.unwrap().unwrap().content,
        "on a connection"
    );
    assert_eq!(
        ChunkCacheRepo::new(&connection)
            .purge_stale()
            .await
            .unwrap(),
        0
    );
}
