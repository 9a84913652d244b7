//! The one error type of the contract, with database failures mapped from SQLSTATE.

use std::fmt;
use std::sync::Arc;

use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

/// The error a contract [`Error`] came from (the driver's or the pool's), shared so that
/// [`Error`] stays `Clone`. Its text is already part of the error's message; it is kept for
/// callers that inspect it (`downcast_ref::<tokio_postgres::Error>()`).
pub type ErrorSource = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Everything that can go wrong in the contract.
///
/// Messages say what happened and what to do, the cause included (so `Display` alone tells the
/// whole story; `source()` gives the underlying error for inspection); none contains the
/// database password. Variants gain fields without a breaking change: match them with `..`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid (bad URL, bad schema name, missing variable).
    #[non_exhaustive]
    Config {
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The caller's input breaks a rule of the contract; nothing was written.
    #[non_exhaustive]
    InvalidInput {
        /// Which input and which rule.
        message: String,
    },
    /// Something the operation needs does not exist: a referenced row, or the configured
    /// schema and its tables (not migrated). Absent rows asked for by id or key are not
    /// errors: the repositories answer `None` or `false`.
    #[non_exhaustive]
    NotFound {
        /// What was missing.
        message: String,
        /// The database's error, when it reported this.
        source: Option<ErrorSource>,
    },
    /// A concurrent change got in the way (unique violation, serialization failure,
    /// deadlock, a lock not available); retrying the operation may succeed.
    #[non_exhaustive]
    Conflict {
        /// What conflicted.
        message: String,
        /// The constraint violated, when the database named one (e.g. `item_source_external_id_key`).
        constraint: Option<String>,
        /// The database's error, when it reported this.
        source: Option<ErrorSource>,
    },
    /// The database cannot be reached or has no connection to spare (refused, closed,
    /// shutting down, pool wait timed out); retry later.
    #[non_exhaustive]
    Unavailable {
        /// What failed.
        message: String,
        /// The driver's or the pool's error, when one caused this.
        source: Option<ErrorSource>,
    },
    /// A migration could not be applied; it was rolled back.
    #[non_exhaustive]
    Migration {
        /// The migration's file name.
        file: String,
        /// Line of the failing statement (or of the error's position in it), from 1.
        line: usize,
        /// Column, from 1.
        column: usize,
        /// The server's message.
        message: String,
    },
    /// The database's contract and this build's cannot work together: the database is behind
    /// and must be migrated, ahead beyond the compatibility rule, or its history diverged.
    #[non_exhaustive]
    Incompatible {
        /// Which versions met and what to do.
        message: String,
    },
    /// Any other error the database reported.
    #[non_exhaustive]
    Database {
        /// The SQLSTATE code.
        code: String,
        /// The server's message, with a hint where we have one.
        message: String,
        /// The driver's error.
        source: Option<ErrorSource>,
    },
    /// The contract broke one of its own invariants (a stored value it cannot have written, a
    /// query answering the wrong number of rows): a bug to report, not something to retry.
    #[non_exhaustive]
    Internal {
        /// Which invariant broke.
        message: String,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config { message, .. } => write!(f, "invalid configuration: {message}"),
            Error::InvalidInput { message, .. } => write!(f, "invalid input: {message}"),
            Error::NotFound { message, .. } => write!(f, "not found: {message}"),
            Error::Conflict { message, .. } => write!(f, "conflict: {message}"),
            Error::Unavailable { message, .. } => write!(f, "database unavailable: {message}"),
            Error::Migration {
                file,
                line,
                column,
                message,
                ..
            } => write!(
                f,
                "migration {file} failed at line {line}, column {column}: {message}"
            ),
            Error::Incompatible { message, .. } => write!(f, "incompatible contract: {message}"),
            Error::Database { message, .. } => write!(f, "database error: {message}"),
            Error::Internal { message, .. } => write!(
                f,
                "internal error of aiblox-kb (please report it): {message}"
            ),
        }
    }
}

impl std::error::Error for Error {
    /// The driver's or the pool's error this came from, itself (not the `Arc` holding it), so
    /// that `downcast_ref::<tokio_postgres::Error>()` works on it.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::NotFound { source, .. }
            | Error::Conflict { source, .. }
            | Error::Unavailable { source, .. }
            | Error::Database { source, .. } => source
                .as_deref()
                .map(|source| source as &(dyn std::error::Error + 'static)),
            _ => None,
        }
    }
}

impl Error {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidInput {
            message: message.into(),
        }
    }

    /// Unavailable without an underlying error (the cause is ours: a batch abandoned).
    pub(crate) fn unavailable(message: impl Into<String>) -> Self {
        Error::Unavailable {
            message: message.into(),
            source: None,
        }
    }

    /// A conflict the contract detected itself (no constraint, no driver error).
    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Error::Conflict {
            message: message.into(),
            constraint: None,
            source: None,
        }
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Error::Internal {
            message: message.into(),
        }
    }

    /// Prefixes a configuration error with the setting it came from.
    pub(crate) fn in_setting(self, setting: &str) -> Self {
        match self {
            Error::Config { message } => Error::Config {
                message: format!("{setting}: {message}"),
            },
            other => other,
        }
    }
}

impl Error {
    /// Names the database a connection could not reach (`host:port`, never the password), so
    /// that "connection refused" says where.
    pub(crate) fn at_target(self, target: &str) -> Self {
        match self {
            Error::Unavailable { message, source } => Error::Unavailable {
                message: format!("{message} (database at {target})"),
                source,
            },
            other => other,
        }
    }
}

impl Error {
    /// The contract's error for a driver error: by SQLSTATE when the server answered, else
    /// unavailable (the connection failed, closed or timed out). Crate-private: the driver is
    /// not part of the contract's API.
    pub(crate) fn from_driver(err: tokio_postgres::Error) -> Self {
        let Some(db) = err.as_db_error() else {
            // No server response: the connection failed, closed or timed out.
            return Error::Unavailable {
                message: client_error_message(&err),
                source: Some(Arc::new(err)),
            };
        };
        let message = match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_owned(),
        };
        let constraint = db.constraint().map(str::to_owned);
        let code = db.code().clone();
        let class = &code.code()[..2];
        let source: Option<ErrorSource> = Some(Arc::new(err));
        if code == SqlState::UNIQUE_VIOLATION
            || code == SqlState::T_R_SERIALIZATION_FAILURE
            || code == SqlState::T_R_DEADLOCK_DETECTED
            || code == SqlState::LOCK_NOT_AVAILABLE
        {
            Error::Conflict {
                message,
                constraint,
                source,
            }
        } else if code == SqlState::FOREIGN_KEY_VIOLATION {
            Error::NotFound { message, source }
        } else if class == "28" {
            // Invalid authorization: the server refuses this user, password or connection type.
            Error::Unavailable {
                message: format!(
                    "{message}; check the user and password of the database URL, its sslmode, and the server's pg_hba.conf"
                ),
                source,
            }
        } else if class == "08" || class == "53" || class == "57" {
            // Connection exception, insufficient resources, operator intervention.
            Error::Unavailable { message, source }
        } else if class == "22" || class == "23" || class == "54" {
            // Data exception, integrity constraint, program limit (e.g. a tsvector too long).
            Error::InvalidInput { message }
        } else if code == SqlState::UNDEFINED_TABLE || code == SqlState::INVALID_SCHEMA_NAME {
            Error::NotFound {
                message: format!(
                    "{message}: the configured schema is missing or not migrated; run the migrations \
                     (`cargo xtask migrate`) or check AIBLOX_KB_SCHEMA (behind PgBouncer, which \
                     drops the search path the contract sets, set it for the role: \
                     docs/operations.md)"
                ),
                source,
            }
        } else {
            Error::Database {
                code: code.code().to_owned(),
                message: with_advice(&code, message),
                source,
            }
        }
    }
}

/// A server error's message, with what to do for the codes whose cause is known.
fn with_advice(code: &SqlState, message: String) -> String {
    if *code == SqlState::INVALID_SQL_STATEMENT_NAME {
        // The connection's prepared statements are gone: the client is not on the server
        // connection that prepared them, as behind a pooler in transaction mode.
        format!(
            "{message}: the contract prepares statements once per connection, which a \
             connection pooler in transaction mode does not keep; use session mode or a \
             direct connection (docs/operations.md)"
        )
    } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
        format!(
            "{message}: the database role lacks this privilege (a reader role such as kb_reader \
             cannot write items; docs/operations.md names each role's grants)"
        )
    } else if *code == SqlState::UNDEFINED_COLUMN || *code == SqlState::UNDEFINED_FUNCTION {
        format!(
            "{message}: the schema does not match this build of aiblox-kb; run the migrations \
             (`cargo xtask migrate`)"
        )
    } else {
        message
    }
}

impl Error {
    /// The contract's error for a pool error (crate-private, as [`Error::from_driver`]).
    pub(crate) fn from_pool(err: PoolError) -> Self {
        match err {
            PoolError::Backend(err) => Error::from_driver(err),
            PoolError::Timeout(kind) => Error::unavailable(format!(
                "timed out getting a database connection from the pool ({kind:?}); the database may be down or \
                 every connection busy"
            )),
            PoolError::Closed => Error::unavailable("the connection pool is closed"),
            other => Error::Unavailable {
                message: other.to_string(),
                source: Some(Arc::new(other)),
            },
        }
    }
}

/// tokio-postgres' `Display` of a client-side error hides its cause ("error connecting to
/// server"); append the cause chain, which holds the OS error and never the password.
fn client_error_message(err: &tokio_postgres::Error) -> String {
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
