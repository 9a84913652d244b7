//! Throwaway PostgreSQL clusters started from the installed server binaries.
//!
//! Written once and used by `cargo xtask codegen`, by every test that needs a database, and by
//! the local demo. No Docker, no network: each cluster listens only on a unix socket inside its
//! own directory under the system temp dir, so parallel test binaries never collide on a port.
//!
//! # Layout
//! - [`binaries`]: finds `initdb` and `postgres` (PATH, `pg_config --bindir`,
//!   `/usr/lib/postgresql/<newest>/bin`) and says how to install them when they are missing.
//! - [`privileges`]: when invoked as root, the server runs as user `postgres` (it refuses root).
//! - [`cluster`]: [`LocalCluster`], one running server; stopped on drop and, through the
//!   parent-death signal, when the owning process dies in any way (panic, SIGKILL, Ctrl-C).
//! - [`pgbouncer`]: [`PgBouncer`], a throwaway connection pooler in front of a cluster.
//! - [`sweep`]: removes cluster directories left behind by killed runs.
//! - [`shared`]: one server per test process, or the one named by `AIBLOX_TEST_DATABASE_URL`.

mod binaries;
mod cluster;
mod error;
mod pgbouncer;
mod privileges;
mod shared;
mod sweep;

pub use binaries::ServerBinaries;
pub use cluster::{LocalCluster, ServerOptions};
pub use error::Error;
pub use pgbouncer::{PgBouncer, PoolMode};
pub use shared::{TEST_DATABASE_URL_ENV, TestServer, test_server};
pub use sweep::is_running;
