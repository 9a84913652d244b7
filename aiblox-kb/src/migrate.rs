//! The migrations embedded in this crate, and the runner every service may call at start.
//!
//! Safe with many runners at once: each takes a PostgreSQL advisory lock keyed by the schema
//! before it creates anything, on a dedicated connection (not a pooled one, so the lock cannot
//! leak into the pool). Each migration runs in its own transaction and is recorded, with its
//! checksum, in the schema's own history table `aiblox_kb_migrations`.

use std::time::{Duration, Instant};

use aiblox_sqlfile::{excerpt, line_column, offset_of_char, split_statements};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use tokio_postgres::error::ErrorPosition;
use tokio_postgres::{Client, NoTls};

use crate::{Error, KbConfig};

/// One migration compiled into this build.
#[derive(Debug)]
pub(crate) struct EmbeddedMigration {
    pub(crate) version: u32,
    pub(crate) file_name: &'static str,
    pub(crate) sql: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/embedded_migrations.rs"));

/// How long a runner waits for another runner's lock.
const LOCK_TIMEOUT: Duration = Duration::from_secs(60);
/// How long opening the dedicated connection may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The contract version of this build, recorded with each migration it applies.
const CONTRACT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What [`migrate`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationReport {
    /// The schema migrated.
    pub schema: String,
    /// File names of the migrations applied by this call, in order.
    pub applied: Vec<String>,
    /// How many migrations had been applied before.
    pub already_applied: usize,
}

/// Applies the pending embedded migrations to the configured schema, creating it if needed.
///
/// Safe to call from every replica of every service at start: runners serialize on an
/// advisory lock, and a runner that finds nothing pending returns at once.
///
/// # Errors
/// [`Error::Migration`] when a migration fails (it is rolled back; fix it and rerun),
/// [`Error::Conflict`] when an applied migration differs from this build's copy or the lock
/// is not obtained in time, [`Error::Unavailable`] when the database cannot be reached.
pub async fn migrate(config: &KbConfig) -> Result<MigrationReport, Error> {
    let client = connect(config).await?;
    let schema = config.schema();
    client
        .batch_execute(&format!("SET lock_timeout = '{}s'", LOCK_TIMEOUT.as_secs()))
        .await?;
    client.execute("SELECT pg_advisory_lock($1)", &[&lock_key(schema)]).await.map_err(|err| match Error::from(err) {
        Error::Conflict { .. } => Error::Conflict {
            message: format!(
                "another migration of schema {schema} has held its lock for over {} s; check pg_stat_activity",
                LOCK_TIMEOUT.as_secs()
            ),
        },
        other => other,
    })?;
    client.batch_execute("SET lock_timeout = 0").await?;
    let result = migrate_locked(&client, schema).await;
    // Closing the connection releases the lock too; unlock explicitly so the next runner
    // does not wait for the close to be noticed.
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&lock_key(schema)])
        .await;
    result
}

async fn migrate_locked(client: &Client, schema: &str) -> Result<MigrationReport, Error> {
    // The schema name is a validated plain identifier.
    client
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {schema};
             CREATE TABLE IF NOT EXISTS {schema}.aiblox_kb_migrations (
                 version integer PRIMARY KEY,
                 file_name text NOT NULL,
                 checksum text NOT NULL,
                 contract_version text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now(),
                 duration_ms integer NOT NULL
             );"
        ))
        .await?;
    let applied = client
        .query(
            "SELECT version, file_name, checksum FROM aiblox_kb_migrations ORDER BY version",
            &[],
        )
        .await?;
    let mut already_applied = 0;
    for row in &applied {
        let version: i32 = row.get(0);
        let checksum: String = row.get(2);
        if let Some(embedded) = EMBEDDED
            .iter()
            .find(|m| i64::from(m.version) == i64::from(version))
        {
            already_applied += 1;
            let expected = checksum_of(embedded.sql);
            if checksum != expected {
                return Err(Error::Conflict {
                    message: format!(
                        "migration {} was changed after it was applied to schema {schema} (applied checksum {checksum}, \
                         this build's {expected}); applied migrations must never be edited: restore the file and put \
                         the change in a new migration",
                        embedded.file_name
                    ),
                });
            }
        }
    }
    let applied_versions: Vec<i32> = applied.iter().map(|row| row.get(0)).collect();
    let mut report = MigrationReport {
        schema: schema.to_owned(),
        applied: Vec::new(),
        already_applied,
    };
    for migration in EMBEDDED {
        if applied_versions
            .iter()
            .any(|&v| i64::from(v) == i64::from(migration.version))
        {
            continue;
        }
        apply(client, migration).await?;
        tracing::info!(schema, migration = migration.file_name, "applied migration");
        report.applied.push(migration.file_name.to_owned());
    }
    Ok(report)
}

async fn apply(client: &Client, migration: &EmbeddedMigration) -> Result<(), Error> {
    let started = Instant::now();
    client.batch_execute("BEGIN").await?;
    for statement in split_statements(migration.sql) {
        if let Err(err) = client.batch_execute(statement.text).await {
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(migration_error(
                migration,
                statement.offset,
                statement.text,
                &err,
            ));
        }
    }
    let duration_ms = i32::try_from(started.elapsed().as_millis()).unwrap_or(i32::MAX);
    let version = i32::try_from(migration.version).unwrap_or(i32::MAX);
    let recorded = client
        .execute(
            "INSERT INTO aiblox_kb_migrations (version, file_name, checksum, contract_version, duration_ms) \
             VALUES ($1, $2, $3, $4, $5)",
            &[&version, &migration.file_name, &checksum_of(migration.sql), &CONTRACT_VERSION, &duration_ms],
        )
        .await;
    if let Err(err) = recorded {
        let _ = client.batch_execute("ROLLBACK").await;
        return Err(err.into());
    }
    client.batch_execute("COMMIT").await?;
    Ok(())
}

fn migration_error(
    migration: &EmbeddedMigration,
    statement_offset: usize,
    statement: &str,
    err: &tokio_postgres::Error,
) -> Error {
    let position = err.as_db_error().and_then(|db| match db.position() {
        Some(ErrorPosition::Original(position)) => Some(*position as usize),
        _ => None,
    });
    let offset = statement_offset + position.map_or(0, |p| offset_of_char(statement, p));
    let at = line_column(migration.sql, offset);
    let server_message = match err.as_db_error() {
        Some(db) => db.message().to_owned(),
        None => err.to_string(),
    };
    Error::Migration {
        file: migration.file_name.to_owned(),
        line: at.line,
        column: at.column,
        message: format!("{server_message}\n{}", excerpt(migration.sql, offset)),
    }
}

/// SHA-256 of a migration, insensitive to line-ending style (CRLF and LF hash alike).
pub(crate) fn checksum_of(sql: &str) -> String {
    let normalized = sql.replace("\r\n", "\n");
    Sha256::digest(normalized.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The advisory lock of a schema's migrations: 64 bits of a hash of its name.
fn lock_key(schema: &str) -> i64 {
    let digest = Sha256::digest(format!("aiblox-kb migrate {schema}").as_bytes());
    i64::from_be_bytes(
        digest[..8]
            .try_into()
            .expect("a SHA-256 digest has 32 bytes"),
    )
}

/// A dedicated connection for migrating: locks must not travel back into a pool.
async fn connect(config: &KbConfig) -> Result<Client, Error> {
    let mut pg = config.pg_config();
    pg.connect_timeout(CONNECT_TIMEOUT);
    pg.application_name("aiblox-kb migrate");
    let (client, connection) = pg.connect(NoTls).await?;
    tokio::spawn(async move {
        if let Err(err) = connection.await {
            tracing::debug!(error = %err, "migration connection closed");
        }
    });
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_migrations_are_ordered_and_named() {
        assert!(!EMBEDDED.is_empty());
        assert_eq!(EMBEDDED[0].file_name, "V0001__kb_init.sql");
        assert!(
            EMBEDDED
                .windows(2)
                .all(|pair| pair[0].version < pair[1].version)
        );
    }

    #[test]
    fn checksums_ignore_line_endings() {
        assert_eq!(
            checksum_of("SELECT 1;\r\nSELECT 2;\r\n"),
            checksum_of("SELECT 1;\nSELECT 2;\n")
        );
        assert_ne!(checksum_of("SELECT 1;"), checksum_of("SELECT 2;"));
    }

    #[test]
    fn lock_keys_differ_per_schema() {
        assert_eq!(lock_key("kb"), lock_key("kb"));
        assert_ne!(lock_key("kb"), lock_key("kb_test"));
    }
}
