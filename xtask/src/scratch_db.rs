//! A throwaway database for codegen and checks: a fresh local cluster, or, when
//! `AIBLOX_TEST_DATABASE_URL` names a server, a scratch database created there and dropped.

use std::time::{SystemTime, UNIX_EPOCH};

use aiblox_localpg::{LocalCluster, TEST_DATABASE_URL_ENV};
use anyhow::Context as _;
use tokio_postgres::{Client, NoTls};

/// An empty database and a connection to it, driven by a multi-thread runtime so that
/// libraries which block on futures internally (cornucopia) can use the client from this thread.
pub(crate) struct ScratchDatabase {
    // Field order is drop order: the client closes before its database goes away.
    client: Client,
    owner: Owner,
    runtime: tokio::runtime::Runtime,
}

enum Owner {
    Cluster(#[expect(dead_code, reason = "held only to stop the cluster on drop")] LocalCluster),
    External { admin: Client, dbname: String },
}

impl ScratchDatabase {
    pub(crate) fn start() -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("could not start the async runtime")?;
        match std::env::var(TEST_DATABASE_URL_ENV) {
            Ok(url) if !url.trim().is_empty() => Self::on_external_server(runtime, &url),
            _ => {
                let cluster = LocalCluster::start_temporary()
                    .context("could not start a throwaway PostgreSQL")?;
                let config: tokio_postgres::Config = cluster.url("postgres").parse()?;
                let client = connect(&runtime, &config)?;
                Ok(ScratchDatabase {
                    client,
                    owner: Owner::Cluster(cluster),
                    runtime,
                })
            }
        }
    }

    fn on_external_server(runtime: tokio::runtime::Runtime, url: &str) -> anyhow::Result<Self> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .with_context(|| format!("{TEST_DATABASE_URL_ENV} is not a valid PostgreSQL URL"))?;
        let admin = connect(&runtime, &config)?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dbname = format!("aiblox_scratch_{}_{nanos:x}", std::process::id());
        runtime
            .block_on(admin.batch_execute(&format!("CREATE DATABASE {dbname}")))
            .with_context(|| {
                format!("could not create scratch database {dbname} on {TEST_DATABASE_URL_ENV}")
            })?;
        config.dbname(&dbname);
        let client = connect(&runtime, &config)?;
        Ok(ScratchDatabase {
            client,
            owner: Owner::External { admin, dbname },
            runtime,
        })
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    pub(crate) fn batch_execute(&self, sql: &str) -> anyhow::Result<()> {
        Ok(self.execute(sql)?)
    }

    /// Runs a query and returns its rows.
    pub(crate) fn query(
        &self,
        sql: &str,
        params: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> anyhow::Result<Vec<tokio_postgres::Row>> {
        Ok(self.runtime.block_on(self.client.query(sql, params))?)
    }

    /// Prepares `sql`: its parameter and column types as the server infers them.
    pub(crate) fn prepare(
        &self,
        sql: &str,
    ) -> Result<tokio_postgres::Statement, tokio_postgres::Error> {
        self.runtime.block_on(self.client.prepare(sql))
    }

    /// Runs `sql` (one or more statements, simple query protocol).
    pub(crate) fn execute(&self, sql: &str) -> Result<(), tokio_postgres::Error> {
        self.runtime.block_on(self.client.batch_execute(sql))
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        if let Owner::External { admin, dbname } = &self.owner {
            let drop_sql = format!("DROP DATABASE IF EXISTS {dbname} WITH (FORCE)");
            if let Err(err) = self.runtime.block_on(admin.batch_execute(&drop_sql)) {
                eprintln!("warning: could not drop scratch database {dbname}: {err}");
            }
        }
    }
}

fn connect(
    runtime: &tokio::runtime::Runtime,
    config: &tokio_postgres::Config,
) -> anyhow::Result<Client> {
    let (client, connection) = runtime
        .block_on(config.connect(NoTls))
        .context("could not connect to the scratch PostgreSQL server")?;
    runtime.spawn(connection);
    Ok(client)
}
