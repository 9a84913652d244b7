//! A throwaway cluster behind PgBouncer, for tests of the contract behind a connection pooler.
//! Where PgBouncer is not installed the tests that need it say so and pass, unless
//! `AIBLOX_TEST_REQUIRE_PGBOUNCER` is set (CI installs it and sets it): then they fail.

use aiblox_localpg::{Error, LocalCluster, PgBouncer, PoolMode};

/// Makes the pooler tests fail, instead of skipping, where PgBouncer is missing.
pub const REQUIRE_PGBOUNCER_ENV: &str = "AIBLOX_TEST_REQUIRE_PGBOUNCER";

/// PgBouncer in `mode` with `pool_size` server connections in front of `cluster`; `None`
/// (after saying why on stderr) when PgBouncer is not installed and not required.
///
/// # Panics
/// When it cannot start, or is missing while [`REQUIRE_PGBOUNCER_ENV`] is set.
pub fn pgbouncer(cluster: &LocalCluster, mode: PoolMode, pool_size: u32) -> Option<PgBouncer> {
    match PgBouncer::start(cluster, mode, pool_size) {
        Ok(bouncer) => Some(bouncer),
        Err(err @ Error::PgBouncerNotFound)
            if std::env::var_os(REQUIRE_PGBOUNCER_ENV).is_none() =>
        {
            eprintln!("skipped: {err} (set {REQUIRE_PGBOUNCER_ENV} to make this a failure)");
            None
        }
        Err(err) => panic!("{err}"),
    }
}

/// Sets the search path of role `postgres` in database `postgres` of `cluster` to `schema`,
/// as a deployment behind PgBouncer must (it drops the one the contract sends at connection
/// start). Server connections opened afterwards take it.
pub async fn set_search_path_for_role(cluster: &LocalCluster, schema: &str) {
    crate::replication::connect(cluster)
        .await
        .batch_execute(&format!(
            "ALTER ROLE postgres IN DATABASE postgres SET search_path = {schema}"
        ))
        .await
        .unwrap();
}
