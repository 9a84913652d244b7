//! Test kit for every block built on `aiblox-kb`: one throwaway PostgreSQL per test process
//! (or the server named by `AIBLOX_TEST_DATABASE_URL`), and a fresh schema per test, migrated
//! through the contract's own runner and dropped when the test ends, pass or fail. Tests run in
//! parallel without seeing each other's rows.
//!
//! ```no_run
//! # async fn demo() {
//! use aiblox_kb::{ItemRepo, NewItem};
//! use aiblox_kb_testkit::TestKb;
//!
//! let kb = TestKb::new().await;
//! ItemRepo::new(kb.pool()).upsert(&[NewItem::new("docs", "a", "text")]).await.unwrap();
//! # }
//! ```

pub mod pooler;
pub mod python;
pub mod replication;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use aiblox_kb::{KbConfig, KbPool};
use tokio_postgres::{Client, NoTls};

/// A schema of its own on the test server, dropped on drop.
#[derive(Debug)]
pub struct TestKb {
    config: KbConfig,
    pool: KbPool,
    server_url: String,
}

impl TestKb {
    /// A fresh schema holding every migration of this build.
    ///
    /// # Panics
    /// When no server can be started or the migrations fail, with the reason.
    pub async fn new() -> TestKb {
        let kb = Self::unmigrated().await;
        aiblox_kb::migrate(&kb.config)
            .await
            .unwrap_or_else(|err| panic!("migrating {}: {err}", kb.schema()));
        kb
    }

    /// A fresh schema name on the test server, with nothing created yet (for migration tests).
    pub async fn unmigrated() -> TestKb {
        let server_url = aiblox_localpg::test_server().url();
        let config = KbConfig::new(&server_url)
            .and_then(|config| config.with_schema(&unique_schema_name()))
            .unwrap_or_else(|err| panic!("test server configuration: {err}"));
        let pool = KbPool::builder(&config)
            .max_size(8)
            .build()
            .unwrap_or_else(|err| panic!("test pool: {err}"));
        TestKb {
            config,
            pool,
            server_url,
        }
    }

    /// The configuration of this test's schema.
    pub fn config(&self) -> &KbConfig {
        &self.config
    }

    /// A pool on this test's schema.
    pub fn pool(&self) -> &KbPool {
        &self.pool
    }

    /// This test's schema name.
    pub fn schema(&self) -> &str {
        self.config.schema()
    }

    /// A superuser URL of the test server (its default database), for tests that must reach
    /// beneath the contract (inspecting the catalog, breaking things on purpose).
    pub fn server_url(&self) -> &str {
        &self.server_url
    }

    /// A superuser connection whose `search_path` is this test's schema.
    pub async fn raw_client(&self) -> Client {
        let client = connect(&self.server_url).await;
        client
            .batch_execute(&format!("SET search_path TO {}", self.schema()))
            .await
            .expect("set search_path");
        client
    }
}

impl Drop for TestKb {
    fn drop(&mut self) {
        self.pool.close();
        let url = self.server_url.clone();
        let schema = self.schema().to_owned();
        // Drop may run inside the test's runtime, which cannot be blocked on: use a thread.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                let client = connect(&url).await;
                client
                    .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
                    .await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) && !std::thread::panicking() {
            eprintln!("warning: could not drop test schema {}", self.schema());
        }
    }
}

async fn connect(url: &str) -> Client {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("connect to the test server");
    tokio::spawn(connection);
    client
}

/// `t_<pid>_<counter>_<nonce>`: unique across the tests of a process and across processes.
fn unique_schema_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nonce = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_micros());
    format!(
        "t_{}_{}_{nonce}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}
