//! A schema's migration history table and the advisory lock that serializes runners, on one
//! dedicated connection.

use std::time::Duration;

use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres::{Client, NoTls, Socket};

use super::source::Migration;
use super::status::AppliedMigration;
use crate::{Error, KbConfig, tls};

/// The history table, created in the migrated schema itself (history is per schema).
const TABLE: &str = aiblox_sqlfile::HISTORY_TABLE;
/// How long opening the dedicated connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The dedicated connection of one runner.
pub(crate) struct History {
    client: Client,
    schema: String,
    lock_key: i64,
}

impl History {
    /// Opens a connection of its own: an advisory lock must not travel back into a pool, and
    /// session locks do not survive a transaction-pooling proxy (use a direct connection).
    pub(crate) async fn connect(config: &KbConfig) -> Result<Self, Error> {
        let mut pg = config.pg_config();
        pg.connect_timeout(CONNECT_TIMEOUT);
        pg.application_name("aiblox-kb migrate");
        let client = match tls::connector(config.tls())? {
            Some(tls) => connect_with(&pg, tls).await,
            None => connect_with(&pg, NoTls).await,
        }
        .map_err(|err| err.at_target(&config.target()))?;
        // If this runner dies mid-migration, let the server notice within a second and roll
        // back (and free the lock) instead of finishing a long statement for nobody.
        // PostgreSQL 14 and newer; older servers keep their default.
        let _ = client
            .batch_execute("SET client_connection_check_interval = '1s'")
            .await;
        let schema = config.schema().to_owned();
        Ok(History {
            client,
            lock_key: aiblox_sqlfile::migration_lock_key(&schema),
            schema,
        })
    }

    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// Refuses to migrate a standby (a server in recovery, read-only): migrations run on the
    /// primary. Said before the lock is taken or anything is tried, with what to do.
    pub(crate) async fn ensure_primary(&self, target: &str) -> Result<(), Error> {
        let in_recovery: bool = self
            .client
            .query_one("SELECT pg_is_in_recovery()", &[])
            .await
            .map_err(Error::from_driver)?
            .get(0);
        if in_recovery {
            return Err(Error::Config {
                message: format!(
                    "the database at {target} is a standby (in recovery, read-only): migrations \
                     run on the primary; point the migration URL at the primary \
                     ({}, else the database URL), or list every host with \
                     target_session_attrs=read-write so that the primary is chosen",
                    KbConfig::MIGRATION_URL_ENV
                ),
            });
        }
        Ok(())
    }

    /// Refuses a connection that does not start in the configured schema: something between
    /// here and PostgreSQL dropped the search path the contract sends at connection start (as
    /// PgBouncer does), and migrations would create the tables in whatever schema comes first
    /// (`public`), and services read them there. The schema must exist.
    pub(crate) async fn ensure_search_path(&self, target: &str) -> Result<(), Error> {
        let current: Option<String> = self
            .client
            .query_one("SELECT current_schema()", &[])
            .await
            .map_err(Error::from_driver)?
            .get(0);
        let schema = &self.schema;
        if current.as_deref() == Some(schema.as_str()) {
            return Ok(());
        }
        Err(Error::Config {
            message: format!(
                "connections to {target} do not start in schema {schema} (they start in {}): \
                 something between here and PostgreSQL drops the search path the contract sets \
                 at connection start, as PgBouncer does; set it on the server for the role \
                 (ALTER ROLE <role> IN DATABASE <database> SET search_path = {schema}), or \
                 connect directly (docs/operations.md)",
                current.as_deref().unwrap_or("no schema")
            ),
        })
    }

    /// Takes the schema's migration lock, waiting at most `timeout`. It is tried, not waited
    /// for in a statement: a runner waiting inside a statement holds a snapshot, and a holder
    /// building an index `CONCURRENTLY` waits for every older snapshot to end (the two would
    /// deadlock); between tries a waiter holds nothing.
    pub(crate) async fn lock(&self, timeout: Duration) -> Result<(), Error> {
        let now = tokio::time::Instant::now();
        // A timeout too long to add waits as good as forever (a year).
        let deadline = now
            .checked_add(timeout)
            .unwrap_or(now + Duration::from_secs(365 * 24 * 3600));
        let mut pause = Duration::from_millis(5);
        loop {
            let locked: bool = self
                .client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&self.lock_key])
                .await
                .map_err(Error::from_driver)?
                .get(0);
            if locked {
                return Ok(());
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(Error::conflict(format!(
                    "another runner has held the migration lock of schema {} for over {:.1} s: {}; wait for it, \
                     or stop it if it is stuck",
                    self.schema,
                    timeout.as_secs_f64(),
                    self.lock_holder().await
                )));
            }
            tokio::time::sleep(pause.min(deadline - now)).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }

    /// Who holds the lock: pid, application name and client address of the session.
    async fn lock_holder(&self) -> String {
        let key = self.lock_key as u64;
        let (high, low) = ((key >> 32) as i64, (key & 0xffff_ffff) as i64);
        let holder = self
            .client
            .query_opt(
                "SELECT a.pid, coalesce(nullif(a.application_name, ''), '(no application_name)'), \
                        coalesce(host(a.client_addr), 'local socket'), \
                        coalesce(extract(epoch FROM now() - a.xact_start)::bigint, 0) \
                 FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
                 WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 \
                   AND l.classid = $1::bigint::oid AND l.objid = $2::bigint::oid \
                   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
                 LIMIT 1",
                &[&high, &low],
            )
            .await;
        match holder {
            Ok(Some(row)) => format!(
                "pid {}, application_name {:?}, client {} (in a transaction for {} s)",
                row.get::<_, i32>(0),
                row.get::<_, String>(1),
                row.get::<_, String>(2),
                row.get::<_, i64>(3)
            ),
            Ok(None) => "the holder has just released it".to_owned(),
            Err(err) => format!(
                "the holder could not be looked up ({})",
                Error::from_driver(err)
            ),
        }
    }

    /// Releases the lock (closing the connection would too).
    pub(crate) async fn unlock(&self) {
        let _ = self
            .client
            .execute("SELECT pg_advisory_unlock($1)", &[&self.lock_key])
            .await;
    }

    /// Creates the schema and its history table if missing (under the lock).
    pub(crate) async fn create(&self) -> Result<(), Error> {
        // The schema name is a validated plain identifier. Create only what is missing:
        // `CREATE SCHEMA IF NOT EXISTS` wants CREATE on the database even when the schema
        // exists, which a migration role that merely owns its schema does not have.
        let schema = &self.schema;
        let schema_exists: bool = self
            .client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
                &[schema],
            )
            .await
            .map_err(Error::from_driver)?
            .get(0);
        if !schema_exists {
            self.client
                .batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .await
                .map_err(Error::from_driver)?;
        }
        let qualified = format!("{schema}.{TABLE}");
        let table_exists: bool = self
            .client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&qualified])
            .await
            .map_err(Error::from_driver)?
            .get(0);
        if !table_exists {
            self.client
                .batch_execute(&format!(
                    "CREATE TABLE IF NOT EXISTS {qualified} ({})",
                    aiblox_sqlfile::HISTORY_TABLE_COLUMNS
                ))
                .await
                .map_err(Error::from_driver)?;
        }
        Ok(())
    }

    /// Every recorded migration, by version; none when the schema or table does not exist.
    pub(crate) async fn applied(&self) -> Result<Vec<AppliedMigration>, Error> {
        let qualified = format!("{}.{TABLE}", self.schema);
        let exists: bool = self
            .client
            .query_one("SELECT to_regclass($1) IS NOT NULL", &[&qualified])
            .await
            .map_err(Error::from_driver)?
            .get(0);
        if !exists {
            return Ok(Vec::new());
        }
        let rows = self
            .client
            .query(
                &format!(
                    "SELECT version, file_name, checksum, contract_version, contract_fingerprint, applied_at \
                     FROM {qualified} ORDER BY version"
                ),
                &[],
            )
            .await.map_err(Error::from_driver)?;
        rows.iter()
            .map(|row| {
                let version: i32 = row.get(0);
                Ok(AppliedMigration {
                    version: u32::try_from(version).map_err(|_| {
                        Error::internal(format!("{qualified} holds a negative version {version}"))
                    })?,
                    file_name: row.get(1),
                    checksum: row.get(2),
                    contract_version: row.get(3),
                    contract_fingerprint: row.get(4),
                    applied_at: row.get::<_, chrono::DateTime<chrono::Utc>>(5),
                })
            })
            .collect()
    }

    /// Records an applied migration (inside its transaction, when it has one).
    pub(crate) async fn record(
        &self,
        migration: &Migration,
        contract_version: &str,
        fingerprint: &str,
        took: Duration,
    ) -> Result<(), Error> {
        let version = i32::try_from(migration.version).unwrap_or(i32::MAX);
        let duration_ms = i32::try_from(took.as_millis()).unwrap_or(i32::MAX);
        self.client
            .execute(
                &format!(
                    "INSERT INTO {}.{TABLE} (version, file_name, checksum, contract_version, contract_fingerprint, duration_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                    self.schema
                ),
                &[&version, &migration.file_name, &migration.checksum, &contract_version, &fingerprint, &duration_ms],
            )
            .await.map_err(Error::from_driver)?;
        Ok(())
    }
}

/// Opens a connection with `tls` and drives it in the background.
async fn connect_with<T>(pg: &tokio_postgres::Config, tls: T) -> Result<Client, Error>
where
    T: MakeTlsConnect<Socket>,
    T::Stream: Send + 'static,
{
    let (client, connection) = pg.connect(tls).await.map_err(Error::from_driver)?;
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::debug!(error = %err, "migration connection closed");
        }
    });
    Ok(client)
}
