//! The contract beyond one server, on a throwaway primary and a streaming standby of it
//! (`aiblox-localpg`): migrations refuse a standby and the startup check works read-only on
//! one; a URL listing both hosts with `target_session_attrs=read-write` follows a promotion
//! without a restart, and no acknowledged write is lost (synchronous standby).

use std::time::{Duration, Instant};

use aiblox_kb::{Compatibility, Error, ItemRepo, KbConfig, KbPool, Migrator, NewItem};
use aiblox_localpg::{LocalCluster, ServerBinaries, ServerOptions};

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
    let primary = LocalCluster::start_temporary_with_options(
        &ServerBinaries::locate().unwrap(),
        &ServerOptions {
            durable: true,
            settings: vec!["synchronous_standby_names=*".to_owned()],
            ..ServerOptions::default()
        },
    )
    .unwrap();
    let standby = primary.start_standby(&ServerOptions::default()).unwrap();
    let host = |cluster: &LocalCluster| {
        let url = cluster.url("postgres");
        let rest = url.strip_prefix("postgresql://postgres@").unwrap();
        rest.split('/').next().unwrap().to_owned()
    };
    let url = format!(
        "postgresql://postgres@{},{}/postgres?target_session_attrs=read-write",
        host(&primary),
        host(&standby)
    );
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
