//! The contract beyond one server, on a throwaway primary and a streaming standby of it
//! (`aiblox-localpg`): migrations refuse a standby and the startup check works read-only on
//! one; a URL listing both hosts with `target_session_attrs=read-write` follows a promotion
//! without a restart, and no acknowledged write is lost (synchronous standby).

use std::time::{Duration, Instant};

use aiblox_kb::{Bm25, Compatibility, Error, ItemRepo, KbConfig, KbPool, Migrator, NewItem};
use aiblox_kb_testkit::replication;
use aiblox_localpg::{LocalCluster, ServerOptions};

/// A pool that gives up quickly, so that a dead server is an error, not a wait.
fn pool(config: &KbConfig) -> KbPool {
    KbPool::builder(config)
        .max_size(4)
        .connect_timeout(Duration::from_secs(2))
        .wait_timeout(Duration::from_secs(2))
        .build()
        .unwrap()
}

#[tokio::test]
async fn migrations_refuse_a_standby_and_the_startup_check_reads_it() {
    let primary = LocalCluster::start_temporary().unwrap();
    let on_primary = KbConfig::new(&primary.url("postgres")).unwrap();
    Migrator::new(&on_primary).run().await.unwrap();
    let written = ItemRepo::new(&pool(&on_primary))
        .upsert(&[NewItem::new("docs", "a", "replicated text")])
        .await
        .unwrap()[0]
        .id;
    let standby = primary.start_standby(&ServerOptions::default()).unwrap();
    let on_standby = KbConfig::new(&standby.url("postgres")).unwrap();

    let refused = Migrator::new(&on_standby).run().await.unwrap_err();
    let Error::Config { message, .. } = &refused else {
        panic!("a standby is a configuration error, got {refused:?}");
    };
    assert!(message.contains("is a standby (in recovery"), "{message}");
    assert!(message.contains("AIBLOX_KB_MIGRATION_URL"), "{message}");
    assert!(
        message.contains("target_session_attrs=read-write"),
        "{message}"
    );

    // With a migration URL of its own naming the primary, a configuration whose database
    // URL is the standby migrates (a schema of its own: the migrations really run there).
    let split = on_standby
        .clone()
        .with_schema("kb_split")
        .unwrap()
        .with_migration_url(&primary.url("postgres"))
        .unwrap();
    let report = Migrator::new(&split).run().await.unwrap();
    assert!(!report.applied.is_empty(), "{report:?}");

    // A service that does not migrate starts against the standby: its check only reads.
    let status = Migrator::new(&on_standby).check().await.unwrap();
    assert_eq!(status.compatibility, Compatibility::UpToDate);
    // And reads through the contract work there, once replay has reached the write.
    let reader = pool(&on_standby);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(item) = ItemRepo::new(&reader).get(written).await.unwrap() {
            assert_eq!(item.content, "replicated text");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the standby never replayed the write"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_multi_host_url_follows_a_promotion_without_losing_an_acknowledged_write() {
    // Synchronous commits to any standby: an acknowledged write is on both servers.
    let (primary, standby) = replication::synchronous_pair();
    let url = replication::read_write_url(&[&primary, &standby]);
    let config = KbConfig::new(&url).unwrap();
    Migrator::new(&config).run().await.unwrap();
    let pool = pool(&config);
    let items = ItemRepo::new(&pool);
    let mut acknowledged = Vec::new();
    for n in 0..20 {
        let outcome = items
            .upsert(&[NewItem::new(
                "docs",
                format!("before-{n}"),
                format!("text {n}"),
            )])
            .await
            .unwrap();
        acknowledged.push(outcome[0].id);
    }
    // Point reads go through the pool's shared connection: warm it on the old primary.
    assert!(items.get(acknowledged[0]).await.unwrap().is_some());

    primary.stop();
    // Between the primary's death and the promotion no server takes writes: the standby is
    // passed over as read-only, so a write is unavailable, never a read-only error.
    let before_promotion = items
        .upsert(&[NewItem::new("docs", "between", "nowhere to go")])
        .await
        .unwrap_err();
    assert!(
        matches!(before_promotion, Error::Unavailable { .. }),
        "{before_promotion:?}"
    );
    standby.promote().unwrap();

    // Writes resume on the promoted standby through the same pool, without a restart: the
    // first attempts may meet the dead primary's connections (each fails and is replaced).
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut failed_attempts = 0;
    let after = loop {
        match items
            .upsert(&[NewItem::new("docs", "after", "written after the promotion")])
            .await
        {
            Ok(outcome) => break outcome[0].id,
            Err(Error::Unavailable { .. }) if Instant::now() < deadline => {
                failed_attempts += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(err) => panic!("writes did not resume after the promotion: {err:?}"),
        }
    };
    assert!(failed_attempts < 100, "{failed_attempts} failed attempts");
    // Every acknowledged write is there, read through the same pool (its shared read
    // connection replaced as well).
    let read = loop {
        match items.get_many(&acknowledged).await {
            Ok(read) => break read,
            Err(Error::Unavailable { .. }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(err) => panic!("reads did not resume after the promotion: {err:?}"),
        }
    };
    assert!(
        read.iter().all(Option::is_some),
        "an acknowledged write was lost"
    );
    let point = loop {
        match items.get(after).await {
            Ok(point) => break point,
            Err(Error::Unavailable { .. }) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(err) => panic!("point reads did not resume after the promotion: {err:?}"),
        }
    };
    assert_eq!(
        point.map(|item| item.content),
        Some("written after the promotion".to_owned())
    );
    // Migrations follow the URL to the new primary too (nothing to apply, no refusal).
    let report = Migrator::new(&config).run().await.unwrap();
    assert!(report.applied.is_empty());
}

/// A migrated primary holding `item`, a standby copied from it afterwards (so it starts with
/// both), and a configuration reading from the standby; and the item's id.
async fn replicated(item: NewItem) -> (LocalCluster, LocalCluster, KbConfig, i64) {
    let primary = LocalCluster::start_temporary().unwrap();
    let on_primary = KbConfig::new(&primary.url("postgres")).unwrap();
    Migrator::new(&on_primary).run().await.unwrap();
    let id = ItemRepo::new(&pool(&on_primary))
        .upsert(&[item])
        .await
        .unwrap()[0]
        .id;
    let standby = primary.start_standby(&ServerOptions::default()).unwrap();
    let config = on_primary
        .with_read_replica(&standby.url("postgres"))
        .unwrap();
    (primary, standby, config, id)
}

/// Writes an item the standby behind `standby` replays (so that its lag is measured from a
/// replayed transaction: before any, PostgreSQL has no replay timestamp and the lag is
/// unknown), then pauses its replay; the item's id.
async fn pause_after_a_replayed_write(
    items: &ItemRepo<'_>,
    standby: &tokio_postgres::Client,
) -> i64 {
    let replayed = items
        .upsert(&[NewItem::new("docs", "replayed", "seen on both")])
        .await
        .unwrap()[0]
        .id;
    replication::wait_until_replayed(standby, "kb", replayed).await;
    replication::pause_replay(standby).await;
    replayed
}

/// The ids a BM25 search for `question` finds.
async fn searched(items: ItemRepo<'_>, question: &str) -> Vec<i64> {
    let found = items
        .search_bm25(question, None, None, 5, &Bm25::default())
        .await
        .unwrap();
    found.items.iter().map(|item| item.id).collect()
}

/// Polls `condition` on the pool's first replica (bounded: only against a hang).
async fn wait_for_replica(
    pool: &KbPool,
    what: &str,
    condition: impl Fn(&aiblox_kb::KbReplicaStatus) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = pool.replicas().remove(0);
        if condition(&status) {
            return;
        }
        assert!(Instant::now() < deadline, "{what}: {status:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn reads_go_to_a_replica_within_the_lag_bound_and_to_the_primary_past_it() {
    let (_primary, standby, config, first) =
        replicated(NewItem::new("docs", "first", "vacuum reclaims storage")).await;
    let config = config.with_max_replica_lag(Duration::from_millis(300));
    let pool = pool(&config);
    let items = ItemRepo::new(&pool);

    // The first routed read starts the probes; once the replica is within the bound, reads
    // go to it (counted there) and find what it has replayed.
    assert!(items.get_many(&[first]).await.is_ok());
    wait_for_replica(&pool, "the replica never served", |status| status.serving).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while items.get_many(&[first]).await.unwrap()[0].is_none() {
        assert!(
            Instant::now() < deadline,
            "the replica never replayed the item"
        );
    }
    let before = pool.replicas()[0].reads;
    for _ in 0..5 {
        assert!(items.get_many(&[first]).await.unwrap()[0].is_some());
        assert!(items.get_by_key("docs", "first").await.unwrap().is_some());
        assert_eq!(searched(items, "reclaims storage").await, [first]);
    }
    assert_eq!(
        pool.replicas()[0].reads,
        before + 15,
        "routed reads and searches went to the replica"
    );
    assert_eq!(pool.replicas()[0].lag_ms, Some(0));

    // Replay paused and the primary moving on: past the bound the replica is passed over and
    // reads see the primary's latest writes.
    let standby_client = replication::connect(&standby).await;
    pause_after_a_replayed_write(&items, &standby_client).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut n = 0;
    loop {
        // Writes keep the primary ahead of the paused replica.
        n += 1;
        items
            .upsert(&[NewItem::new("docs", format!("later-{n}"), "written later")])
            .await
            .unwrap();
        if !pool.replicas()[0].serving {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a lagging replica kept serving: {:?}",
            pool.replicas()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = pool.replicas().remove(0);
    assert!(status.lag_ms.is_some_and(|lag| lag > 300), "{status:?}");
    assert!(status.skipped > 0, "{status:?}");
    let on_primary = pool.replica_reads_on_primary();
    let latest = items
        .get_by_key("docs", &format!("later-{n}"))
        .await
        .unwrap();
    assert!(
        latest.is_some(),
        "a read past the bound sees the primary's latest write"
    );
    assert_eq!(pool.replica_reads_on_primary(), on_primary + 1);

    // Caught up again, it serves again.
    replication::resume_replay(&standby_client).await;
    wait_for_replica(&pool, "the replica never came back", |status| {
        status.serving
    })
    .await;
}

#[tokio::test]
async fn a_stopped_replica_leaves_reads_to_the_primary_without_errors() {
    let (_primary, standby, config, id) = replicated(NewItem::new("docs", "a", "text")).await;
    let pool = pool(&config);
    let items = ItemRepo::new(&pool);
    assert!(items.get_many(&[id]).await.is_ok());
    wait_for_replica(&pool, "the replica never served", |status| status.serving).await;
    assert!(items.get_many(&[id]).await.unwrap()[0].is_some());
    assert!(pool.replicas()[0].reads > 0);

    standby.stop();
    // No read in flight when it stopped: every read after it succeeds, on the primary.
    for _ in 0..20 {
        assert!(items.get_many(&[id]).await.unwrap()[0].is_some());
        assert!(items.get(id).await.unwrap().is_some());
    }
    let status = pool.replicas().remove(0);
    assert!(!status.serving, "{status:?}");
    assert!(status.skipped > 0, "{status:?}");
}

#[tokio::test]
async fn a_read_after_a_position_sees_the_writes_before_it_however_the_replica_lags() {
    let primary = LocalCluster::start_temporary().unwrap();
    let on_primary = KbConfig::new(&primary.url("postgres")).unwrap();
    Migrator::new(&on_primary).run().await.unwrap();
    let standby = primary.start_standby(&ServerOptions::default()).unwrap();
    // A generous lag bound: the paused replica keeps serving reads, so only the position
    // keeps a read from missing a write.
    let config = on_primary
        .with_read_replica(&standby.url("postgres"))
        .unwrap()
        .with_max_replica_lag(Duration::from_secs(600));
    let pool = pool(&config);
    let items = ItemRepo::new(&pool);
    let standby_client = replication::connect(&standby).await;

    let replayed = pause_after_a_replayed_write(&items, &standby_client).await;
    let fresh = items
        .upsert(&[NewItem::new(
            "docs",
            "fresh",
            "written while replay is paused",
        )])
        .await
        .unwrap()[0]
        .id;
    assert!(items.get_many(&[replayed]).await.is_ok());
    wait_for_replica(&pool, "the replica never served", |status| status.serving).await;

    // Without a position the replica answers, and has not replayed the write.
    assert!(items.get_by_key("docs", "fresh").await.unwrap().is_none());
    assert_eq!(searched(items, "paused").await, Vec::<i64>::new());
    // With the position taken after the write, the read goes where the write is.
    let position = pool.position().await.unwrap();
    let carried: aiblox_kb::KbPosition = position.to_string().parse().unwrap();
    assert_eq!(carried, position);
    let on_primary_before = pool.replica_reads_on_primary();
    let after = ItemRepo::new(&pool).after(carried);
    assert!(after.get_by_key("docs", "fresh").await.unwrap().is_some());
    assert!(after.get(fresh).await.unwrap().is_some());
    assert!(after.get_many(&[fresh]).await.unwrap()[0].is_some());
    assert_eq!(searched(after, "paused").await, [fresh]);
    assert_eq!(pool.replica_reads_on_primary(), on_primary_before + 4);

    // Once the replica has replayed past the position, it serves such reads again.
    replication::resume_replay(&standby_client).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let served = pool.replicas()[0].reads;
        assert!(after.get_by_key("docs", "fresh").await.unwrap().is_some());
        if pool.replicas()[0].reads > served {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the replica never caught up: {:?}",
            pool.replicas()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_replica_behind_a_migration_leaves_the_read_to_the_primary() {
    // The standby replays a first transaction (so its lag is measured), then pauses before
    // the contract's migrations reach it: it has no `item` table.
    let primary = LocalCluster::start_temporary().unwrap();
    let standby = primary.start_standby(&ServerOptions::default()).unwrap();
    let primary_client = replication::connect(&primary).await;
    primary_client
        .batch_execute("CREATE TABLE public.marker (n int); INSERT INTO public.marker VALUES (1)")
        .await
        .unwrap();
    let standby_client = replication::connect(&standby).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while standby_client
        .query_opt("SELECT 1 FROM pg_class WHERE relname = 'marker'", &[])
        .await
        .unwrap()
        .is_none()
    {
        assert!(Instant::now() < deadline, "the standby never replayed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    replication::pause_replay(&standby_client).await;

    let config = KbConfig::new(&primary.url("postgres"))
        .unwrap()
        .with_read_replica(&standby.url("postgres"))
        .unwrap()
        .with_max_replica_lag(Duration::from_secs(600));
    Migrator::new(&config).run().await.unwrap();
    let pool = pool(&config);
    let items = ItemRepo::new(&pool);
    let id = items
        .upsert(&[NewItem::new("docs", "a", "text")])
        .await
        .unwrap()[0]
        .id;
    assert!(items.get_many(&[id]).await.is_ok());
    wait_for_replica(&pool, "the replica never served", |status| status.serving).await;

    // The replica answers "no such table"; the primary answers the read.
    let before = pool.replicas()[0].reads;
    assert!(items.get_many(&[id]).await.unwrap()[0].is_some());
    assert!(items.get_by_key("docs", "a").await.unwrap().is_some());
    assert_eq!(
        pool.replicas()[0].reads,
        before,
        "the replica served none of them"
    );
    replication::resume_replay(&standby_client).await;
}

#[test]
fn probes_start_again_when_the_runtime_they_ran_on_ends_before_the_pool() {
    let runtime = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    };
    let first = runtime();
    let (_primary, _standby, config, id) =
        first.block_on(replicated(NewItem::new("docs", "a", "text")));
    let pool = pool(&config);
    first.block_on(async {
        assert!(ItemRepo::new(&pool).get(id).await.unwrap().is_some());
        wait_for_replica(&pool, "the replica never served", |status| status.serving).await;
    });
    // The runtime the probes ran on ends; the pool lives on. Its measurements would go stale:
    // the replica stops serving.
    drop(first);
    let status = pool.replicas().remove(0);
    assert!(!status.serving, "{status:?}");
    assert_eq!(status.lag_ms, None, "{status:?}");

    // The next routed read, on another runtime, starts the probes there: it serves again.
    runtime().block_on(async {
        assert!(ItemRepo::new(&pool).get(id).await.unwrap().is_some());
        wait_for_replica(&pool, "the probes never started again", |status| {
            status.serving
        })
        .await;
        let before = pool.replicas()[0].reads;
        assert!(ItemRepo::new(&pool).get(id).await.unwrap().is_some());
        assert_eq!(
            pool.replicas()[0].reads,
            before + 1,
            "{:?}",
            pool.replicas()
        );
    });
}
