//! Migrations of the knowledge base: embedded in every build of the contract, and a runner
//! every service may call at start.
//!
//! - Safe with many runners at once: each takes a PostgreSQL advisory lock keyed by the schema,
//!   before it creates anything, on a dedicated connection (a lock must not travel back into a
//!   pool). A runner that times out waiting names the holder.
//! - Each migration runs in its own transaction, unless its leading comments hold
//!   `-- aiblox:no-transaction`; a failure rolls back and names file, line and column.
//! - History per schema (`<schema>.aiblox_kb_migrations`): version, file, checksum (line-ending
//!   insensitive), and the contract version and fingerprint of the build that applied it.
//! - Version skew is decided by one rule ([`Compatibility`], docs/contract-versioning.md).
//!
//! # Layout
//! - `source`: embedded migrations, or a directory's.
//! - `status`: [`MigrationStatus`] and its parts.
//! - `compat`: the compatibility rule.
//! - `history`: the history table and the advisory lock.

mod compat;
mod history;
mod source;
mod status;

use std::path::Path;
use std::time::{Duration, Instant};

use aiblox_sqlfile::{excerpt, line_column, offset_of_char, split_statements};
use serde::{Deserialize, Serialize};
use tokio_postgres::Client;
use tokio_postgres::error::ErrorPosition;

pub use compat::Compatibility;
pub use status::{AppliedMigration, ChecksumMismatch, MigrationStatus};

use crate::{Error, KbConfig};
use history::History;
use source::Migration;

/// The schema version of this build (`[package.metadata.contract]` of its Cargo.toml), recorded
/// with each migration it applies and compared by the compatibility rule: the contract version
/// of the schema and queries, which moves apart from the crate's version when only the Rust API
/// changes (docs/contract-versioning.md).
const CONTRACT_VERSION: &str = env!("AIBLOX_KB_SCHEMA_VERSION");
/// The fingerprint of the `schema/` and `queries/` this build was generated from.
const CONTRACT_FINGERPRINT: &str = env!("AIBLOX_KB_CONTRACT_FINGERPRINT");
/// How long a runner waits for another runner's lock, by default.
const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(60);

/// What [`Migrator::run`] did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationReport {
    /// The schema migrated.
    pub schema: String,
    /// File names of the migrations applied by this run, in order.
    pub applied: Vec<String>,
    /// How many of this build's migrations had been applied before.
    pub already_applied: usize,
    /// How the database relates to this build after the run.
    pub compatibility: Compatibility,
}

/// Applies pending migrations, reports status, or checks that a service may start.
///
/// ```no_run
/// # async fn demo() -> Result<(), aiblox_kb::Error> {
/// use std::time::Duration;
/// use aiblox_kb::{KbConfig, Migrator};
///
/// let config = KbConfig::from_env()?;
/// let report = Migrator::new(&config).lock_timeout(Duration::from_secs(30)).run().await?;
/// println!("applied {:?}", report.applied);
///
/// // A service that does not migrate itself checks at start instead:
/// Migrator::new(&config).check().await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Migrator {
    config: KbConfig,
    lock_timeout: Duration,
    migrations: Vec<Migration>,
}

/// Applies the pending embedded migrations to the configured schema: shorthand for
/// `Migrator::new(config).run()`.
pub async fn migrate(config: &KbConfig) -> Result<MigrationReport, Error> {
    Migrator::new(config).run().await
}

impl Migrator {
    /// A runner of this build's embedded migrations on `config`'s schema.
    pub fn new(config: &KbConfig) -> Self {
        Migrator {
            config: config.clone(),
            lock_timeout: DEFAULT_LOCK_TIMEOUT,
            migrations: source::embedded(),
        }
    }

    /// How long [`Migrator::run`] waits for another runner's lock (default 60 s).
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// Uses the migrations of `dir` instead of the embedded ones: for tools and tests that
    /// need another set (an older contract, a migration being written).
    pub fn migrations_from_dir(mut self, dir: &Path) -> Result<Self, Error> {
        self.migrations = source::from_dir(dir)?;
        Ok(self)
    }

    /// Applies every pending migration, in order, creating the schema if needed.
    ///
    /// Safe to call from every replica of every service at start. Refuses, changing nothing,
    /// when the history has diverged from this build or the database is ahead of it beyond
    /// the compatibility rule.
    ///
    /// # Errors
    /// [`Error::Migration`] when a migration fails (rolled back: fix it and rerun);
    /// [`Error::Incompatible`] on divergence or incompatible skew; [`Error::Conflict`] when
    /// another runner holds the lock past the timeout (the message names it);
    /// [`Error::Unavailable`] when the database cannot be reached.
    pub async fn run(&self) -> Result<MigrationReport, Error> {
        let target = self.config.for_migrations();
        let history = History::connect(&target).await?;
        history.ensure_primary(&target.target()).await?;
        history.lock(self.lock_timeout).await?;
        let result = self.run_locked(&history, &target.target()).await;
        history.unlock().await;
        result
    }

    /// `target`: where the migrations run (`host:port`), for messages.
    async fn run_locked(&self, history: &History, target: &str) -> Result<MigrationReport, Error> {
        let schema = self.config.schema();
        history.create().await?;
        history.ensure_search_path(target).await?;
        let status = self.status_of(history.applied().await?);
        match &status.compatibility {
            Compatibility::Diverged { reason } | Compatibility::AheadIncompatible { reason } => {
                return Err(incompatible(schema, reason));
            }
            Compatibility::UpToDate | Compatibility::Behind | Compatibility::AheadCompatible => {}
        }
        let mut report = MigrationReport {
            schema: schema.to_owned(),
            applied: Vec::new(),
            already_applied: status.applied.len(),
            compatibility: status.compatibility.clone(),
        };
        for migration in self
            .migrations
            .iter()
            .filter(|m| status.pending.contains(&m.file_name))
        {
            let started = Instant::now();
            apply(history, migration).await?;
            tracing::info!(schema, migration = %migration.file_name, elapsed_ms = started.elapsed().as_millis() as u64, "applied migration");
            report.applied.push(migration.file_name.clone());
        }
        if !report.applied.is_empty() {
            report.compatibility = self.status_of(history.applied().await?).compatibility;
        }
        Ok(report)
    }

    /// The schema's migration state compared with this build. Reads only: takes no lock and
    /// creates nothing (a missing schema has every migration pending).
    pub async fn status(&self) -> Result<MigrationStatus, Error> {
        let history = History::connect(&self.config).await?;
        Ok(self.status_of(history.applied().await?))
    }

    /// The startup check of a service that does not migrate itself: succeeds when the
    /// database is up to date or ahead within the compatibility rule.
    ///
    /// # Errors
    /// [`Error::Incompatible`] saying what to do: run the migrations (the database is behind),
    /// or which contract versions met (ahead beyond the rule, or diverged).
    pub async fn check(&self) -> Result<MigrationStatus, Error> {
        let history = History::connect(&self.config).await?;
        let status = self.status_of(history.applied().await?);
        match &status.compatibility {
            Compatibility::UpToDate | Compatibility::AheadCompatible => {
                history.ensure_search_path(&self.config.target()).await?;
                Ok(status)
            }
            Compatibility::Behind => Err(incompatible(
                &status.schema,
                &format!(
                    "{} migration(s) of contract {CONTRACT_VERSION} are not applied ({}): run the migrations \
                     (`cargo xtask migrate`, or start a service with migrations enabled)",
                    status.pending.len(),
                    status.pending.join(", ")
                ),
            )),
            Compatibility::Diverged { reason } | Compatibility::AheadIncompatible { reason } => {
                Err(incompatible(&status.schema, reason))
            }
        }
    }

    fn status_of(&self, history: Vec<AppliedMigration>) -> MigrationStatus {
        let recorded: Vec<u32> = history.iter().map(|row| row.version).collect();
        let mut status = MigrationStatus {
            schema: self.config.schema().to_owned(),
            contract_version: CONTRACT_VERSION.to_owned(),
            contract_fingerprint: CONTRACT_FINGERPRINT.to_owned(),
            applied: Vec::new(),
            pending: Vec::new(),
            unknown: Vec::new(),
            mismatched: Vec::new(),
            compatibility: Compatibility::UpToDate,
        };
        for row in history {
            match self.migrations.iter().find(|m| m.version == row.version) {
                Some(known)
                    if known.checksum == row.checksum && known.file_name == row.file_name =>
                {
                    status.applied.push(row)
                }
                Some(known) => status.mismatched.push(ChecksumMismatch {
                    file_name: known.file_name.clone(),
                    applied_checksum: if known.file_name == row.file_name {
                        row.checksum
                    } else {
                        format!("{} (applied as {})", row.checksum, row.file_name)
                    },
                    build_checksum: known.checksum.clone(),
                }),
                None => status.unknown.push(row),
            }
        }
        let pending: Vec<(u32, String)> = self
            .migrations
            .iter()
            .filter(|m| !recorded.contains(&m.version))
            .map(|m| (m.version, m.file_name.clone()))
            .collect();
        status.pending = pending.iter().map(|(_, name)| name.clone()).collect();
        status.compatibility = compat::assess(
            CONTRACT_VERSION,
            &pending,
            &status.applied,
            &status.unknown,
            &status.mismatched,
        );
        status
    }
}

fn incompatible(schema: &str, reason: &str) -> Error {
    Error::Incompatible {
        message: format!("schema {schema}: {reason}"),
    }
}

async fn apply(history: &History, migration: &Migration) -> Result<(), Error> {
    let client = history.client();
    let started = Instant::now();
    if migration.outside_transaction {
        run_statements(client, migration).await?;
        history
            .record(
                migration,
                CONTRACT_VERSION,
                CONTRACT_FINGERPRINT,
                started.elapsed(),
            )
            .await?;
        return Ok(());
    }
    client
        .batch_execute("BEGIN")
        .await
        .map_err(Error::from_driver)?;
    let result = async {
        run_statements(client, migration).await?;
        history
            .record(
                migration,
                CONTRACT_VERSION,
                CONTRACT_FINGERPRINT,
                started.elapsed(),
            )
            .await
    }
    .await;
    match result {
        Ok(()) => Ok(client
            .batch_execute("COMMIT")
            .await
            .map_err(Error::from_driver)?),
        Err(err) => {
            let _ = client.batch_execute("ROLLBACK").await;
            Err(err)
        }
    }
}

async fn run_statements(client: &Client, migration: &Migration) -> Result<(), Error> {
    for statement in split_statements(&migration.sql) {
        if let Err(err) = client.batch_execute(statement.text).await {
            return Err(migration_error(
                migration,
                statement.offset,
                statement.text,
                err,
            ));
        }
    }
    Ok(())
}

fn migration_error(
    migration: &Migration,
    statement_offset: usize,
    statement: &str,
    err: tokio_postgres::Error,
) -> Error {
    let Some(db) = err.as_db_error() else {
        return Error::from_driver(err);
    };
    let position = match db.position() {
        Some(ErrorPosition::Original(position)) => Some(*position as usize),
        _ => None,
    };
    let offset = statement_offset + position.map_or(0, |p| offset_of_char(statement, p));
    let at = line_column(&migration.sql, offset);
    let mut message = db.message().to_owned();
    if migration.outside_transaction {
        message.push_str(
            " (this migration runs outside a transaction: statements before this one stay applied, so it must be \
             safe to rerun)",
        );
    }
    Error::Migration {
        file: migration.file_name.clone(),
        line: at.line,
        column: at.column,
        message: format!("{message}\n{}", excerpt(&migration.sql, offset)),
    }
}
