//! One running PostgreSQL server in a directory of its own, tied to the life of its owner.

use std::fs::{File, TryLockError};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::privileges::ServerAccount;
use crate::{Error, ServerBinaries, sweep};

/// The port number in the socket's name (`.s.PGSQL.<port>`); no TCP port is opened.
const PORT: u16 = 5432;
/// How long a server may take to accept connections before we give up.
const READY_TIMEOUT: Duration = Duration::from_secs(60);
/// Name of the file whose lock marks a cluster directory as in use.
pub(crate) const OWNER_LOCK: &str = "owner.lock";
/// Extension of an owner lock file being set up, beside its cluster directory.
pub(crate) const STAGING_LOCK_EXTENSION: &str = "lock-staging";

/// What a throwaway cluster needs beyond the defaults (TLS tests, benchmarks).
#[derive(Debug, Clone, Default)]
pub struct ServerOptions {
    /// Also listen on `127.0.0.1` at a free TCP port (PostgreSQL does TLS only over TCP).
    pub tcp: bool,
    /// Extra settings, `name=value`; `{dir}` stands for the cluster directory.
    pub settings: Vec<String>,
    /// Files written into the cluster directory before the server starts, owned by the
    /// server's account and readable by it alone (certificates and keys).
    pub files: Vec<(String, Vec<u8>)>,
    /// Keep PostgreSQL's durable defaults (fsync, synchronous commit, full-page writes)
    /// instead of the throwaway settings: for benchmarks that must pay what production pays.
    /// The cluster is still removed when dropped.
    pub durable: bool,
}

/// A running PostgreSQL server, listening only on a unix socket in its own directory.
///
/// Stopped (immediate shutdown) and its directory removed when dropped. If the owning process
/// dies without dropping it (a panic in a static, SIGKILL, Ctrl-C), the kernel's parent-death
/// signal stops the server, and the next [`LocalCluster::start_temporary`] sweeps the directory.
#[derive(Debug)]
pub struct LocalCluster {
    dir: PathBuf,
    port: u16,
    binaries: ServerBinaries,
    server: Option<ServerKeeper>,
    remove_on_drop: bool,
    _owner_lock: File,
}

/// The thread that spawned the server: the parent-death signal is tied to a thread, so the
/// server is started from one that lives as long as the cluster does.
#[derive(Debug)]
struct ServerKeeper {
    pid: u32,
    stop: mpsc::Sender<()>,
    thread: JoinHandle<()>,
}

impl LocalCluster {
    /// Starts a throwaway cluster (non-durable settings) in a new directory under the system
    /// temp dir, after sweeping directories left behind by killed runs.
    pub fn start_temporary() -> Result<Self, Error> {
        Self::start_temporary_with(&ServerBinaries::locate()?)
    }

    /// [`LocalCluster::start_temporary`] with the given binaries.
    pub fn start_temporary_with(binaries: &ServerBinaries) -> Result<Self, Error> {
        Self::start_temporary_with_options(binaries, &ServerOptions::default())
    }

    /// [`LocalCluster::start_temporary`] with the given binaries and options.
    pub fn start_temporary_with_options(
        binaries: &ServerBinaries,
        options: &ServerOptions,
    ) -> Result<Self, Error> {
        let account = ServerAccount::detect()?;
        let cluster = Self::new_temporary(binaries, account, options)?;
        initdb(binaries, account, &cluster.data_dir())?;
        cluster.start_server(account, options)
    }

    /// A streaming standby of this cluster, running as a hot standby (read-only queries) in a
    /// directory of its own, with `options` of its own (TCP, settings, durability): a copy
    /// taken with `pg_basebackup -R -X stream`, following this cluster until promoted.
    ///
    /// To make it synchronous, start the primary with `synchronous_standby_names=*` in its
    /// settings and `durable` (throwaway clusters commit asynchronously): every commit then
    /// waits for the standby. To make lag on demand, run `SELECT pg_wal_replay_pause()` on the
    /// standby (and `pg_wal_replay_resume()`); to fail over, stop this cluster and
    /// [`promote`](LocalCluster::promote) the standby.
    pub fn start_standby(&self, options: &ServerOptions) -> Result<LocalCluster, Error> {
        let account = ServerAccount::detect()?;
        let standby = Self::new_temporary(&self.binaries, account, options)?;
        self.base_backup(account, &standby.data_dir())?;
        standby.start_server(account, options)
    }

    /// Ends recovery on a standby: it becomes a primary accepting writes. Returns once it does
    /// (`pg_ctl promote --wait`).
    pub fn promote(&self) -> Result<(), Error> {
        let account = ServerAccount::detect()?;
        let mut command = Command::new(setpriv());
        command
            .args(account.setpriv_args())
            .arg("--")
            .arg(self.binaries.program("pg_ctl"))
            .arg("promote")
            .arg("--wait")
            .args(["--timeout", "60"])
            .arg("-D")
            .arg(self.data_dir());
        run_tool("pg_ctl promote", &mut command)
    }

    /// A new, locked, empty cluster directory under the system temp dir (after sweeping
    /// directories left behind by killed runs), given to the server's account; no server yet.
    fn new_temporary(
        binaries: &ServerBinaries,
        account: ServerAccount,
        options: &ServerOptions,
    ) -> Result<LocalCluster, Error> {
        let base = base_dir();
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&base)
            .map_err(Error::io("could not create", &base))?;
        sweep::sweep_stale_clusters(&base);

        let dir = base.join(unique_name());
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(&dir)
            .map_err(Error::io("could not create", &dir))?;
        let owner_lock = lock_owner_file(&dir)?;
        let port = if options.tcp {
            free_tcp_port(&dir)?
        } else {
            PORT
        };
        let cluster = LocalCluster {
            dir,
            port,
            binaries: binaries.clone(),
            server: None,
            remove_on_drop: true,
            _owner_lock: owner_lock,
        };
        account.give(&cluster.dir)?;
        Ok(cluster)
    }

    /// Copies this running cluster into `data_dir` as a standby of it (`standby.signal` and
    /// `primary_conninfo` written by `pg_basebackup -R`).
    fn base_backup(&self, account: ServerAccount, data_dir: &Path) -> Result<(), Error> {
        let mut command = Command::new(setpriv());
        command
            .args(account.setpriv_args())
            .arg("--")
            .arg(self.binaries.program("pg_basebackup"))
            .arg("-D")
            .arg(data_dir)
            .args([
                "-R",
                "-X",
                "stream",
                "-c",
                "fast",
                "--no-sync",
                "-U",
                "postgres",
            ])
            .arg("-h")
            .arg(&self.dir)
            .arg("-p")
            .arg(self.port.to_string());
        run_tool("pg_basebackup", &mut command)
    }

    /// Writes `options.files` into the directory and starts the server on its data.
    fn start_server(
        mut self,
        account: ServerAccount,
        options: &ServerOptions,
    ) -> Result<LocalCluster, Error> {
        for (name, contents) in &options.files {
            let path = self.dir.join(name);
            std::fs::write(&path, contents).map_err(Error::io("could not write", &path))?;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(Error::io("could not protect", &path))?;
            account.give(&path)?;
        }
        let durability = if options.durable {
            Durability::Durable
        } else {
            Durability::Throwaway
        };
        self.server = Some(ServerKeeper::start(
            &self.binaries,
            account,
            &self.dir,
            durability,
            self.port,
            options,
        )?);
        Ok(self)
    }

    /// Starts a durable cluster whose data lives in `dir` and survives this process: created
    /// on the first call, reused on the next. One process at a time may use it.
    pub fn start_persistent(dir: &Path) -> Result<Self, Error> {
        let binaries = ServerBinaries::locate()?;
        let account = ServerAccount::detect()?;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
            .map_err(Error::io("could not create", dir))?;
        let owner_lock = lock_persistent_owner_file(dir)?;
        let mut cluster = LocalCluster {
            dir: dir.to_owned(),
            port: PORT,
            binaries: binaries.clone(),
            server: None,
            remove_on_drop: false,
            _owner_lock: owner_lock,
        };
        account.give(&cluster.dir)?;
        if !cluster.data_dir().join("PG_VERSION").is_file() {
            initdb(&binaries, account, &cluster.data_dir())?;
        }
        // A server killed without shutdown leaves its pid file; postgres itself checks whether
        // that pid still runs, so a stale file is harmless.
        cluster.server = Some(ServerKeeper::start(
            &binaries,
            account,
            &cluster.dir,
            Durability::Durable,
            PORT,
            &ServerOptions::default(),
        )?);
        Ok(cluster)
    }

    /// The directory holding the socket (and the data directory).
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// The port: in the socket's name, and on 127.0.0.1 when the cluster listens on TCP.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id of the postmaster.
    pub fn pid(&self) -> u32 {
        self.server.as_ref().map_or(0, |server| server.pid)
    }

    /// A `postgresql://` URL for database `dbname` as superuser `postgres` (no password: the
    /// cluster trusts local connections).
    pub fn url(&self, dbname: &str) -> String {
        format!(
            "postgresql://postgres@{}:{}/{}",
            percent_encode(&self.dir.to_string_lossy()),
            self.port,
            percent_encode(dbname)
        )
    }

    /// Stops the server now and removes a temporary cluster's directory.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn shutdown(&mut self) {
        if let Some(server) = self.server.take() {
            server.stop();
        }
        if self.remove_on_drop {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    Throwaway,
    Durable,
}

impl ServerKeeper {
    fn start(
        binaries: &ServerBinaries,
        account: ServerAccount,
        dir: &Path,
        durability: Durability,
        port: u16,
        options: &ServerOptions,
    ) -> Result<Self, Error> {
        let log_path = dir.join("postgres.log");
        let log = File::create(&log_path).map_err(Error::io("could not create", &log_path))?;
        let log_err = log
            .try_clone()
            .map_err(Error::io("could not open", &log_path))?;

        let mut command = postgres_command(binaries, account, dir, durability, port, options);
        command.stdin(Stdio::null()).stdout(log).stderr(log_err);

        let data_dir = dir.join("data");
        let (ready_tx, ready_rx) = mpsc::channel::<Result<u32, Error>>();
        let (stop_tx, stop_rx) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("localpg-server".to_owned())
            .spawn(move || {
                let mut child = match command.spawn() {
                    Ok(child) => child,
                    Err(source) => {
                        let _ = ready_tx.send(Err(Error::Spawn {
                            program: "postgres (through setpriv)".to_owned(),
                            source,
                        }));
                        return;
                    }
                };
                if let Err(err) = wait_until_ready(&mut child, &data_dir, &log_path) {
                    stop_child(&mut child, durability);
                    let _ = ready_tx.send(Err(err));
                    return;
                }
                let _ = ready_tx.send(Ok(child.id()));
                // Until asked to stop, or until the cluster is dropped without asking.
                let _ = stop_rx.recv();
                stop_child(&mut child, durability);
            })
            .map_err(|source| Error::Spawn {
                program: "the server keeper thread".to_owned(),
                source,
            })?;
        let pid = match ready_rx.recv() {
            Ok(Ok(pid)) => pid,
            Ok(Err(err)) => {
                let _ = thread.join();
                return Err(err);
            }
            Err(_) => {
                let _ = thread.join();
                return Err(Error::Spawn {
                    program: "postgres".to_owned(),
                    source: std::io::Error::other("the server keeper thread died"),
                });
            }
        };
        Ok(ServerKeeper {
            pid,
            stop: stop_tx,
            thread,
        })
    }

    fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.thread.join();
    }
}

/// The command that runs the postmaster of the cluster in `dir` as `account`, dying with its
/// parent (`setpriv --pdeathsig`), with the cluster's settings: the socket in `dir`, `port`,
/// TCP when asked, the options' settings, and no durability for a throwaway cluster.
fn postgres_command(
    binaries: &ServerBinaries,
    account: ServerAccount,
    dir: &Path,
    durability: Durability,
    port: u16,
    options: &ServerOptions,
) -> Command {
    let mut command = Command::new(setpriv());
    command
        .args(account.setpriv_args())
        .arg("--pdeathsig=QUIT")
        .arg("--")
        .arg(binaries.program("postgres"));
    command.arg("-D").arg(dir.join("data"));
    command.arg("-c").arg(if options.tcp {
        "listen_addresses=127.0.0.1"
    } else {
        "listen_addresses="
    });
    command
        .arg("-c")
        .arg(format!("unix_socket_directories={}", dir.display()));
    command.arg("-c").arg(format!("port={port}"));
    for setting in &options.settings {
        command
            .arg("-c")
            .arg(setting.replace("{dir}", &dir.display().to_string()));
    }
    command.arg("-c").arg("max_connections=200");
    if durability == Durability::Throwaway {
        for setting in [
            "fsync=off",
            "synchronous_commit=off",
            "full_page_writes=off",
        ] {
            command.arg("-c").arg(setting);
        }
    }
    command
}

/// Throwaway clusters get an immediate shutdown (SIGQUIT, milliseconds); durable ones a fast
/// shutdown (SIGINT: a checkpoint, so the next start needs no recovery).
fn stop_child(child: &mut Child, durability: Durability) {
    let signal = if durability == Durability::Durable {
        "-INT"
    } else {
        "-QUIT"
    };
    signal_and_wait(child, signal);
}

/// Sends `signal` (`kill`'s form, `-TERM`) to `child` (killed outright if that fails) and
/// waits for it to exit.
pub(crate) fn signal_and_wait(child: &mut Child, signal: &str) {
    let signalled = Command::new("kill")
        .arg(signal)
        .arg(child.id().to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !signalled {
        let _ = child.kill();
    }
    let _ = child.wait();
}

/// Polls `postmaster.pid` until its status line says `ready` (or `standby`: a hot standby
/// accepting read-only connections), or the server exits.
fn wait_until_ready(child: &mut Child, data_dir: &Path, log_path: &Path) -> Result<(), Error> {
    let started = Instant::now();
    let pid_file = data_dir.join("postmaster.pid");
    let failed = |reason: String| Error::Start {
        reason,
        log: log_path.to_owned(),
        log_tail: log_tail(log_path),
    };
    loop {
        if let Some(status) = child
            .try_wait()
            .map_err(Error::io("could not wait for postgres in", data_dir))?
        {
            return Err(failed(format!("the server exited at start ({status})")));
        }
        if let Ok(contents) = std::fs::read_to_string(&pid_file)
            && contents
                .lines()
                .nth(7)
                .is_some_and(|status| matches!(status.trim(), "ready" | "standby"))
        {
            return Ok(());
        }
        if started.elapsed() > READY_TIMEOUT {
            return Err(failed(format!(
                "not ready after {} s",
                READY_TIMEOUT.as_secs()
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn initdb(binaries: &ServerBinaries, account: ServerAccount, data_dir: &Path) -> Result<(), Error> {
    let mut command = Command::new(setpriv());
    command
        .args(account.setpriv_args())
        .arg("--")
        .arg(binaries.program("initdb"));
    command.arg("-D").arg(data_dir);
    command.args([
        "-U",
        "postgres",
        "--auth=trust",
        "--no-sync",
        "-E",
        "UTF8",
        "--locale=C",
        "--no-instructions",
    ]);
    // Case folding of non-ASCII words (full-text search lower-cases them) needs a UTF-8
    // ctype; collation stays C (byte order).
    if Path::new("/usr/lib/locale/C.utf8").exists() {
        command.arg("--lc-ctype=C.UTF-8");
    }
    run_tool("initdb", &mut command)
}

/// Runs a server program to its end; its output becomes the error when it fails.
fn run_tool(program: &str, command: &mut Command) -> Result<(), Error> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::Spawn {
            program: program.to_owned(),
            source,
        })?;
    if !output.status.success() {
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        return Err(Error::Tool {
            program: program.to_owned(),
            status: output.status.to_string(),
            output: text,
        });
    }
    Ok(())
}

pub(crate) fn setpriv() -> PathBuf {
    ["/usr/bin/setpriv", "/bin/setpriv"]
        .iter()
        .map(PathBuf::from)
        .find(|path| path.is_file())
        .unwrap_or_else(|| PathBuf::from("setpriv"))
}

/// Creates `dir/owner.lock` already locked: it is locked under a temporary name outside any
/// cluster directory, then renamed into place, so a sweeper never sees it unlocked.
fn lock_owner_file(dir: &Path) -> Result<File, Error> {
    let path = dir.join(OWNER_LOCK);
    let staging = dir.with_extension(STAGING_LOCK_EXTENSION);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&staging)
        .map_err(Error::io("could not create", &staging))?;
    try_lock(&file, dir, &staging)?;
    std::fs::rename(&staging, &path).map_err(Error::io("could not create", &path))?;
    Ok(file)
}

/// Locks `dir/owner.lock` of a persistent cluster (never swept).
fn lock_persistent_owner_file(dir: &Path) -> Result<File, Error> {
    let path = dir.join(OWNER_LOCK);
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(Error::io("could not create", &path))?;
    try_lock(&file, dir, &path)?;
    Ok(file)
}

fn try_lock(file: &File, dir: &Path, path: &Path) -> Result<(), Error> {
    match file.try_lock() {
        Ok(()) => Ok(()),
        Err(TryLockError::WouldBlock) => Err(Error::Io {
            action: "another process is using the cluster in",
            path: dir.to_owned(),
            source: std::io::Error::from(std::io::ErrorKind::WouldBlock),
        }),
        Err(TryLockError::Error(source)) => Err(Error::Io {
            action: "could not lock",
            path: path.to_owned(),
            source,
        }),
    }
}

/// A TCP port free at the moment (the kernel's choice for port 0).
fn free_tcp_port(dir: &Path) -> Result<u16, Error> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(Error::io("could not find a free TCP port for", dir))?;
    listener
        .local_addr()
        .map(|address| address.port())
        .map_err(Error::io("could not find a free TCP port for", dir))
}

/// The directory holding all temporary clusters of this machine.
pub(crate) fn base_dir() -> PathBuf {
    // Under the system temp dir: user `postgres` must be able to traverse every parent.
    std::env::temp_dir().join("aiblox-localpg")
}

fn unique_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{}-{}-{nanos:x}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

fn log_tail(path: &Path) -> String {
    let log = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_paths_are_percent_encoded() {
        assert_eq!(
            percent_encode("/tmp/aiblox-localpg/1-0-ff"),
            "%2Ftmp%2Faiblox-localpg%2F1-0-ff"
        );
        assert_eq!(percent_encode("a b"), "a%20b");
    }
}
