//! One database server per test process: an existing one named by the environment, or a
//! throwaway cluster started on first use.

use std::sync::OnceLock;

use crate::LocalCluster;

/// Names an existing server for tests and codegen to use instead of starting a cluster.
pub const TEST_DATABASE_URL_ENV: &str = "AIBLOX_TEST_DATABASE_URL";

/// The server that tests of this process share.
#[derive(Debug)]
pub enum TestServer {
    /// The server named by `AIBLOX_TEST_DATABASE_URL`.
    External {
        /// The URL as given.
        url: String,
    },
    /// A throwaway cluster owned by this process, stopped when the process exits.
    Local(LocalCluster),
}

impl TestServer {
    /// A URL connecting as a superuser (or the given role) to the server's default database.
    pub fn url(&self) -> String {
        match self {
            TestServer::External { url } => url.clone(),
            TestServer::Local(cluster) => cluster.url("postgres"),
        }
    }
}

/// The process-wide test server, started on first call.
///
/// # Panics
/// When no server can be started: the message says why and what to install. Meant for tests,
/// where that is the clearest way to fail.
pub fn test_server() -> &'static TestServer {
    static SERVER: OnceLock<Result<TestServer, String>> = OnceLock::new();
    let server = SERVER.get_or_init(|| match std::env::var(TEST_DATABASE_URL_ENV) {
        Ok(url) if !url.trim().is_empty() => Ok(TestServer::External { url }),
        _ => LocalCluster::start_temporary()
            .map(TestServer::Local)
            .map_err(|err| err.to_string()),
    });
    match server {
        Ok(server) => server,
        Err(message) => panic!("no PostgreSQL server for tests: {message}"),
    }
}
