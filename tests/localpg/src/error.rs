//! The one error type of this crate.

use std::path::PathBuf;

/// Why a local cluster could not be found, started or stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `initdb`/`postgres` are not installed where we look.
    #[error(
        "PostgreSQL server binaries not found (looked in: {searched}); install them with \
         `apt-get install postgresql` (Debian/Ubuntu), put their directory on PATH, or set \
         AIBLOX_TEST_DATABASE_URL to use an existing server"
    )]
    BinariesNotFound {
        /// Where we looked, for the message.
        searched: String,
    },
    /// `pgbouncer` is not installed where we look.
    #[error(
        "pgbouncer not found (looked on PATH, in /usr/sbin and /usr/local/sbin); install it \
         with `apt-get install pgbouncer` (Debian/Ubuntu)"
    )]
    PgBouncerNotFound,
    /// Running as root, but there is no `postgres` user to drop privileges to.
    #[error(
        "running as root, but PostgreSQL refuses to run as root and there is no `postgres` user \
         to run it as; create one (`useradd --system postgres`) or run as a normal user"
    )]
    NoPostgresUser,
    /// A filesystem operation on the cluster directory failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What we were doing.
        action: &'static str,
        /// The path it was done to.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A server program could not be started at all.
    #[error("could not run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A server program (`initdb`, `pg_basebackup`, `pg_ctl`) ran and failed.
    #[error("{program} failed ({status}):\n{output}")]
    Tool {
        /// The program.
        program: String,
        /// Its exit status.
        status: String,
        /// What it printed.
        output: String,
    },
    /// The server exited or never became ready.
    #[error("PostgreSQL did not start: {reason}; server log {log}:\n{log_tail}")]
    Start {
        /// What went wrong.
        reason: String,
        /// The log file.
        log: PathBuf,
        /// The end of the log.
        log_tail: String,
    },
}

impl Error {
    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Error::Io {
            action,
            path,
            source,
        }
    }
}
