//! Point reads on a pool share a few connections (pipelined) and concurrent gets are
//! coalesced: every caller still gets exactly its own answer, a cancelled caller never fails
//! another, and a broken shared connection is replaced.

use std::sync::Arc;
use std::time::Duration;

use aiblox_kb::{ChunkCacheRepo, Error, ItemRepo, KbPool, NewChunk, NewChunkSet, NewItem};
use aiblox_kb_testkit::TestKb;

/// Stores `count` items whose content names their key; returns their ids in order.
async fn stored_items(kb: &TestKb, count: usize) -> Vec<i64> {
    let items: Vec<NewItem> = (0..count)
        .map(|n| NewItem::new("docs", format!("item-{n}"), format!("content of item {n}")))
        .collect();
    ItemRepo::new(kb.pool())
        .upsert(&items)
        .await
        .unwrap()
        .into_iter()
        .map(|outcome| outcome.id)
        .collect()
}

fn pool_with_shared_reads(kb: &TestKb, shared: usize, name: &str) -> KbPool {
    KbPool::builder(kb.config())
        .max_size(8)
        .shared_read_connections(shared)
        .application_name(name)
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_gets_each_answer_their_own_caller() {
    let kb = TestKb::new().await;
    let ids = Arc::new(stored_items(&kb, 300).await);
    for shared in [0, 1, 2] {
        let pool = pool_with_shared_reads(&kb, shared, "concurrent-gets");
        let mut callers = Vec::new();
        for caller in 0..600usize {
            let pool = pool.clone();
            let ids = Arc::clone(&ids);
            callers.push(tokio::spawn(async move {
                let repo = ItemRepo::new(&pool);
                // Every third caller asks for an id that does not exist; others ask for
                // items, often the same one as another caller at the same time.
                if caller % 3 == 0 {
                    let missing = ids[caller % ids.len()] + 1_000_000_000;
                    assert_eq!(repo.get(missing).await.unwrap(), None);
                } else {
                    let n = (caller * 7) % ids.len();
                    let item = repo.get(ids[n]).await.unwrap().unwrap();
                    assert_eq!(item.id, ids[n]);
                    assert_eq!(item.external_id, format!("item-{n}"));
                    assert_eq!(item.content, format!("content of item {n}"));
                }
            }));
        }
        for caller in callers {
            caller.await.unwrap();
        }
        // The other shared reads answer right under concurrency too.
        let repo = ItemRepo::new(&pool);
        let asked: Vec<i64> = ids.iter().rev().take(50).copied().collect();
        let many = repo.get_many(&asked).await.unwrap();
        assert_eq!(
            many.iter()
                .map(|item| item.as_ref().unwrap().id)
                .collect::<Vec<_>>(),
            asked
        );
        pool.close();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_get_never_fails_another_callers_get() {
    let kb = TestKb::new().await;
    let ids = Arc::new(stored_items(&kb, 100).await);
    let pool = pool_with_shared_reads(&kb, 1, "cancelled-gets");
    for round in 0..5u64 {
        let mut callers = Vec::new();
        for caller in 0..400usize {
            let pool = pool.clone();
            let ids = Arc::clone(&ids);
            callers.push(tokio::spawn(async move {
                let id = ids[caller % ids.len()];
                let repo = ItemRepo::new(&pool);
                let get = repo.get(id);
                if caller % 2 == 0 {
                    // Cancelled at various points: queued, leading a batch, or done.
                    let budget = Duration::from_micros(20 * (caller as u64 % 25) + round);
                    let _ = tokio::time::timeout(budget, get).await;
                } else {
                    let item = get.await.unwrap_or_else(|err| {
                        panic!("a get failed because another was cancelled: {err}")
                    });
                    assert_eq!(item.unwrap().id, id);
                }
            }));
        }
        for caller in callers {
            caller.await.unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_shared_connection_is_replaced() {
    let kb = TestKb::new().await;
    let ids = stored_items(&kb, 10).await;
    let name = format!("broken-shared-{}", kb.schema());
    let pool = pool_with_shared_reads(&kb, 2, &name);
    let repo = ItemRepo::new(&pool);
    let chunks = ChunkCacheRepo::new(&pool);
    for id in &ids {
        assert!(repo.get(*id).await.unwrap().is_some());
    }
    let terminated: i64 = kb
        .raw_client()
        .await
        .query_one(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE application_name = $1",
            &[&name],
        )
        .await
        .unwrap()
        .get(0);
    assert!(terminated >= 1, "the shared connections were open");

    // A read may meet a dying connection once (and says the database is unavailable); the
    // next reads run on fresh ones. The two reads of each attempt run together, so the one
    // that starts second shares a connection (a read alone takes one of its own).
    let mut answered = 0;
    for attempt in 0..20 {
        let id = ids[attempt % ids.len()];
        let (item, chunk) = tokio::join!(repo.get(id), chunks.get(id, "k", &[0; 32]));
        match item {
            Ok(item) => {
                assert_eq!(item.unwrap().id, id);
                answered += 1;
            }
            Err(Error::Unavailable { .. }) => assert_eq!(answered, 0, "failed after recovering"),
            Err(other) => panic!("unexpected error after a broken connection: {other}"),
        }
        match chunk {
            Ok(none) => assert_eq!(none, None),
            Err(Error::Unavailable { .. }) => {}
            Err(other) => panic!("unexpected error after a broken connection: {other}"),
        }
    }
    assert!(
        answered >= 15,
        "only {answered} of 20 reads after the break"
    );
    for id in &ids {
        let (item, chunk) = tokio::join!(repo.get(*id), chunks.get(*id, "k", &[0; 32]));
        assert!(item.unwrap().is_some());
        assert_eq!(chunk.unwrap(), None);
    }
}

/// A read that finds no other running takes a connection of its own from the pool (nobody to
/// share with; the pool hands its warm connections out in turn), and gives it back: the shared
/// connections are opened only once reads run together, and then hold their connections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_read_takes_a_connection_of_its_own_and_reads_together_share() {
    let kb = TestKb::new().await;
    let ids = stored_items(&kb, 10).await;
    let pool = pool_with_shared_reads(&kb, 2, "lone-reads");
    let repo = ItemRepo::new(&pool);
    for id in &ids {
        assert_eq!(repo.get(*id).await.unwrap().unwrap().id, *id);
    }
    let status = pool.status();
    assert_eq!(
        (status.size, status.available),
        (1, 1),
        "lone reads took one connection in turn and gave it back, none held for sharing"
    );
    let chunks = ChunkCacheRepo::new(&pool);
    let reads = (0..16).map(|n| chunks.get(ids[n % ids.len()], "k", &[0; 32]));
    for answer in futures::future::join_all(reads).await {
        assert_eq!(answer.unwrap(), None);
    }
    let status = pool.status();
    assert!(
        status.size - status.available >= 1,
        "reads run together share connections, which stay held: {status:?}"
    );
}

#[tokio::test]
async fn sharing_every_connection_is_refused() {
    let kb = TestKb::new().await;
    let err = KbPool::builder(kb.config())
        .max_size(2)
        .shared_read_connections(2)
        .build()
        .unwrap_err();
    assert!(
        err.to_string().contains("leave none of the pool's 2"),
        "{err}"
    );
}

#[tokio::test]
async fn chunk_reads_on_shared_connections_see_committed_sets() {
    let kb = TestKb::new().await;
    let ids = stored_items(&kb, 3).await;
    let pool = pool_with_shared_reads(&kb, 1, "chunk-reads");
    let item = ItemRepo::new(&pool).get(ids[0]).await.unwrap().unwrap();
    let set = NewChunkSet {
        item_id: item.id,
        content_hash: item.content_hash,
        chunks: vec![NewChunk {
            text: item.content.clone(),
            start_offset: 0,
            end_offset: u32::try_from(item.content.len()).unwrap(),
            token_count: 4,
        }],
    };
    let repo = ChunkCacheRepo::new(&pool);
    assert_eq!(
        repo.get(item.id, "k", &item.content_hash).await.unwrap(),
        None
    );
    repo.put("k", &[set]).await.unwrap();
    let got = repo
        .get(item.id, "k", &item.content_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got[0].text, item.content);
}

/// `warm_up` opens connections up to the count asked (never past the pool's size) and leaves
/// them idle; lone reads then rotate over them rather than opening more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warming_up_opens_idle_connections_up_to_the_pool_size() {
    let kb = TestKb::new().await;
    let ids = stored_items(&kb, 5).await;
    let pool = pool_with_shared_reads(&kb, 1, "warm-up");
    assert_eq!(pool.status().size, 0, "a new pool opens nothing");
    assert_eq!(pool.warm_up(3).await.unwrap(), 3);
    let status = pool.status();
    assert_eq!((status.size, status.available), (3, 3), "{status:?}");
    assert_eq!(
        pool.warm_up(2).await.unwrap(),
        3,
        "fewer than open: nothing closes"
    );
    for id in &ids {
        assert_eq!(
            ItemRepo::new(&pool).get(*id).await.unwrap().unwrap().id,
            *id
        );
    }
    assert_eq!(
        pool.status().size,
        3,
        "lone reads used the warm connections"
    );
    assert_eq!(
        pool.warm_up(100).await.unwrap(),
        8,
        "at most the pool's size"
    );
    assert_eq!(pool.status().available, 8);
}
