//! The one error type of the contract, with database failures mapped from SQLSTATE.

use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

/// Everything that can go wrong in the contract.
///
/// Messages say what happened and what to do; none contains the database password.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration is invalid (bad URL, bad schema name, missing variable).
    #[error("invalid configuration: {message}")]
    Config {
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The caller's input breaks a rule of the contract; nothing was written.
    #[error("invalid input: {message}")]
    InvalidInput {
        /// Which input and which rule.
        message: String,
    },
    /// Something the operation needs does not exist: a referenced row, or the configured
    /// schema and its tables (not migrated). Absent rows asked for by id or key are not
    /// errors: the repositories answer `None` or `false`.
    #[error("not found: {message}")]
    NotFound {
        /// What was missing.
        message: String,
    },
    /// A concurrent change got in the way (unique violation, serialization failure,
    /// deadlock); retrying the operation may succeed.
    #[error("conflict: {message}")]
    Conflict {
        /// What conflicted.
        message: String,
    },
    /// The database cannot be reached or has no connection to spare (refused, closed,
    /// shutting down, pool wait timed out); retry later.
    #[error("database unavailable: {message}")]
    Unavailable {
        /// What failed.
        message: String,
    },
    /// A migration could not be applied; it was rolled back.
    #[error("migration {file} failed at line {line}, column {column}: {message}")]
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
    #[error("incompatible contract: {message}")]
    Incompatible {
        /// Which versions met and what to do.
        message: String,
    },
    /// Any other database error.
    #[error("database error: {message}")]
    Database {
        /// The SQLSTATE code, when the server sent one.
        code: Option<String>,
        /// The server's message, with a hint where we have one.
        message: String,
    },
}

impl Error {
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::InvalidInput {
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
            Error::Unavailable { message } => Error::Unavailable {
                message: format!("{message} (database at {target})"),
            },
            other => other,
        }
    }
}

impl From<tokio_postgres::Error> for Error {
    fn from(err: tokio_postgres::Error) -> Self {
        let Some(db) = err.as_db_error() else {
            // No server response: the connection failed, closed or timed out.
            return Error::Unavailable {
                message: client_error_message(&err),
            };
        };
        let message = match db.detail() {
            Some(detail) => format!("{} ({detail})", db.message()),
            None => db.message().to_owned(),
        };
        let code = db.code();
        let class = &code.code()[..2];
        if *code == SqlState::UNIQUE_VIOLATION
            || *code == SqlState::T_R_SERIALIZATION_FAILURE
            || *code == SqlState::T_R_DEADLOCK_DETECTED
            || *code == SqlState::LOCK_NOT_AVAILABLE
        {
            Error::Conflict { message }
        } else if *code == SqlState::FOREIGN_KEY_VIOLATION {
            Error::NotFound { message }
        } else if class == "28" {
            // Invalid authorization: the server refuses this user, password or connection type.
            Error::Unavailable {
                message: format!(
                    "{message}; check the user and password of the database URL, its sslmode, and the server's pg_hba.conf"
                ),
            }
        } else if class == "08" || class == "53" || class == "57" {
            // Connection exception, insufficient resources, operator intervention.
            Error::Unavailable { message }
        } else if class == "22" || class == "23" || class == "54" {
            // Data exception, integrity constraint, program limit (e.g. a tsvector too long).
            Error::InvalidInput { message }
        } else if *code == SqlState::UNDEFINED_TABLE || *code == SqlState::INVALID_SCHEMA_NAME {
            Error::NotFound {
                message: format!(
                    "{message}: the configured schema is missing or not migrated; run the migrations \
                     (`cargo xtask migrate`) or check AIBLOX_KB_SCHEMA"
                ),
            }
        } else if *code == SqlState::UNDEFINED_COLUMN || *code == SqlState::UNDEFINED_FUNCTION {
            Error::Database {
                code: Some(code.code().to_owned()),
                message: format!(
                    "{message}: the schema does not match this build of aiblox-kb; run the migrations \
                     (`cargo xtask migrate`)"
                ),
            }
        } else {
            Error::Database {
                code: Some(code.code().to_owned()),
                message,
            }
        }
    }
}

impl From<PoolError> for Error {
    fn from(err: PoolError) -> Self {
        match err {
            PoolError::Backend(err) => err.into(),
            PoolError::Timeout(kind) => Error::Unavailable {
                message: format!(
                    "timed out getting a database connection from the pool ({kind:?}); the database may be down or \
                     every connection busy"
                ),
            },
            PoolError::Closed => Error::Unavailable {
                message: "the connection pool is closed".to_owned(),
            },
            other => Error::Unavailable {
                message: other.to_string(),
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
