//! A throwaway PgBouncer in front of a [`LocalCluster`], for testing the contract behind a
//! connection pooler: Debian's `pgbouncer`, on a unix socket in a directory of its own inside
//! the cluster's, stopped with the cluster's owner (parent-death signal) or on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::Error;
use crate::cluster::{LocalCluster, percent_encode, setpriv, signal_and_wait};
use crate::privileges::ServerAccount;

/// The port in the pooler's socket name (`.s.PGSQL.6432`); its directory is its own.
const PORT: u16 = 6432;
/// How long the pooler may take to open its socket.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// When PgBouncer hands a client's server connection back to its pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoolMode {
    /// When the client disconnects: the client keeps one server connection.
    Session,
    /// After each transaction: consecutive transactions of a client may run on different
    /// server connections.
    Transaction,
}

impl PoolMode {
    fn name(self) -> &'static str {
        match self {
            PoolMode::Session => "session",
            PoolMode::Transaction => "transaction",
        }
    }
}

/// A running PgBouncer in front of one cluster, trusting local connections as the cluster
/// does. It ignores the `options` startup parameter (where clients such as the contract set a
/// search path), which it would otherwise refuse: a search path has to be set on the server,
/// for the role, as docs/operations.md says.
#[derive(Debug)]
pub struct PgBouncer {
    child: Child,
    dir: PathBuf,
}

impl PgBouncer {
    /// Starts PgBouncer in `mode` in front of every database of `cluster`, with at most
    /// `pool_size` server connections per database and user.
    ///
    /// # Errors
    /// [`Error::PgBouncerNotFound`] when it is not installed; [`Error::Start`] when it exits or
    /// does not open its socket.
    pub fn start(cluster: &LocalCluster, mode: PoolMode, pool_size: u32) -> Result<Self, Error> {
        static STARTED: AtomicU32 = AtomicU32::new(0);
        let program = locate()?;
        let account = ServerAccount::detect()?;
        let dir = cluster.socket_dir().join(format!(
            "pgbouncer-{}",
            STARTED.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).map_err(Error::io("could not create", &dir))?;
        account.give(&dir)?;
        let config = format!(
            "[databases]\n\
             * = host={socket} port={port}\n\
             [pgbouncer]\n\
             listen_addr =\n\
             listen_port = {PORT}\n\
             unix_socket_dir = {dir}\n\
             auth_type = trust\n\
             auth_file = {dir}/userlist.txt\n\
             pool_mode = {mode}\n\
             default_pool_size = {pool_size}\n\
             max_client_conn = 500\n\
             ignore_startup_parameters = options\n\
             logfile = {dir}/pgbouncer.log\n",
            socket = cluster.socket_dir().display(),
            port = cluster.port(),
            dir = dir.display(),
            mode = mode.name(),
        );
        let config_path = dir.join("pgbouncer.ini");
        write_file(&config_path, &config, account)?;
        write_file(&dir.join("userlist.txt"), "\"postgres\" \"\"\n", account)?;
        let child = Command::new(setpriv())
            .args(account.setpriv_args())
            .arg("--pdeathsig=TERM")
            .arg("--")
            .arg(&program)
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| Error::Spawn {
                program: program.display().to_string(),
                source,
            })?;
        let mut bouncer = PgBouncer { child, dir };
        bouncer.wait_until_listening()?;
        Ok(bouncer)
    }

    /// A `postgresql://` URL for database `dbname` through the pooler, as user `postgres`.
    pub fn url(&self, dbname: &str) -> String {
        format!(
            "postgresql://postgres@{}:{PORT}/{}",
            percent_encode(&self.dir.to_string_lossy()),
            percent_encode(dbname)
        )
    }

    fn wait_until_listening(&mut self) -> Result<(), Error> {
        let socket = self.dir.join(format!(".s.PGSQL.{PORT}"));
        let log = self.dir.join("pgbouncer.log");
        let failed = |reason: String| Error::Start {
            reason,
            log_tail: std::fs::read_to_string(&log).unwrap_or_default(),
            log: log.clone(),
        };
        let started = Instant::now();
        while !socket.exists() {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(failed(format!("pgbouncer exited ({status})")));
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(failed(format!(
                    "pgbouncer opened no socket in {START_TIMEOUT:?}"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for PgBouncer {
    fn drop(&mut self) {
        // SIGTERM: immediate shutdown. The child is pgbouncer itself (setpriv execs it).
        signal_and_wait(&mut self.child, "-TERM");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `pgbouncer` on PATH, else where Debian puts it (`/usr/sbin`, often not on a user's PATH).
fn locate() -> Result<PathBuf, Error> {
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/sbin")])
        .map(|dir| dir.join("pgbouncer"))
        .find(|program| program.is_file())
        .ok_or(Error::PgBouncerNotFound)
}

fn write_file(path: &Path, text: &str, account: ServerAccount) -> Result<(), Error> {
    std::fs::write(path, text).map_err(Error::io("could not write", path))?;
    account.give(path)
}
