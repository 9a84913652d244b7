//! Integration tests of the contract against a real PostgreSQL: one test binary, one throwaway
//! cluster per run, a fresh migrated schema per test (see `aiblox-kb-testkit`).

mod chunks;
mod embeddings;
mod errors;
mod example;
mod executors;
mod filters;
mod generated_queries;
mod items;
mod lexical_index;
mod migration_processes;
mod migrations;
mod pooler;
mod python;
mod replication;
mod schemas;
mod shared_reads;
mod tls;

use aiblox_kb_testkit::TestKb;

/// Counts the rows of `table` in the test's schema, beneath the contract.
async fn count(kb: &TestKb, table: &str) -> i64 {
    kb.raw_client()
        .await
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
}
