//! The PostgreSQL server a run measures: a durable cluster of its own with the workload's
//! settings (TCP on 127.0.0.1), or one given by URL; and pgbench on it, the yardstick.

use std::path::PathBuf;
use std::process::Command;
use std::str::FromStr as _;

use aiblox_localpg::{LocalCluster, ServerBinaries, ServerOptions};
use anyhow::{Context as _, bail};

use crate::cpu::CpuSnapshot;

/// Settings of the specification (on top of PostgreSQL's durable defaults).
pub const SPEC_SETTINGS: [&str; 2] = ["shared_buffers=512MB", "max_wal_size=2GB"];
/// The database of the KB phases on a cluster of our own.
const KB_DATABASE: &str = "kb_bench";
/// The database of pgbench's tables on a cluster of our own.
const PGBENCH_DATABASE: &str = "pgbench";

/// How long a pgbench run lasts.
#[derive(Debug, Clone, Copy)]
pub enum PgbenchRun {
    /// This many seconds.
    Seconds(u32),
    /// This many transactions by each client.
    TransactionsPerClient(usize),
}

/// The server under test.
#[derive(Debug)]
pub struct BenchServer {
    cluster: Option<LocalCluster>,
    kb_url: String,
    pgbench_url: String,
    bindir: Option<PathBuf>,
}

impl BenchServer {
    /// Starts a durable cluster of our own (removed when dropped), listening on 127.0.0.1.
    pub async fn start_own(settings: &[String]) -> anyhow::Result<BenchServer> {
        let binaries = ServerBinaries::locate()?;
        let options = ServerOptions {
            tcp: true,
            durable: true,
            settings: settings.to_vec(),
            ..ServerOptions::default()
        };
        let cluster = LocalCluster::start_temporary_with_options(&binaries, &options)
            .context("could not start the benchmark's PostgreSQL cluster")?;
        let url = |database: &str| {
            format!(
                "postgresql://postgres@127.0.0.1:{}/{database}?sslmode=disable",
                cluster.port()
            )
        };
        let admin = connect(&url("postgres")).await?;
        for database in [KB_DATABASE, PGBENCH_DATABASE] {
            admin
                .batch_execute(&format!("CREATE DATABASE {database}"))
                .await
                .with_context(|| format!("could not create database {database}"))?;
        }
        Ok(BenchServer {
            kb_url: url(KB_DATABASE),
            pgbench_url: url(PGBENCH_DATABASE),
            bindir: Some(binaries.bindir().to_owned()),
            cluster: Some(cluster),
        })
    }

    /// A server given by URL: the KB phases and pgbench's tables share its database.
    pub fn external(url: &str) -> BenchServer {
        BenchServer {
            cluster: None,
            kb_url: url.to_owned(),
            pgbench_url: url.to_owned(),
            bindir: ServerBinaries::locate()
                .ok()
                .map(|binaries| binaries.bindir().to_owned()),
        }
    }

    /// The URL of the KB database.
    pub fn kb_url(&self) -> &str {
        &self.kb_url
    }

    /// The postmaster's pid when the server is ours.
    pub fn postmaster(&self) -> Option<u32> {
        self.cluster.as_ref().map(LocalCluster::pid)
    }

    /// Whether the cluster is ours (so its settings are the specification's).
    pub fn is_own(&self) -> bool {
        self.cluster.is_some()
    }

    /// Runs pgbench with `args` on `url` (with `options` in `PGOPTIONS`); its standard output.
    fn pgbench(&self, url: &str, args: &[String], options: Option<&str>) -> anyhow::Result<String> {
        let program = self
            .bindir
            .as_ref()
            .map(|dir| dir.join("pgbench"))
            .filter(|path| path.is_file())
            .unwrap_or_else(|| PathBuf::from("pgbench"));
        let mut command = Command::new(&program);
        command.args(args).arg(url);
        if let Some(options) = options {
            command.env("PGOPTIONS", options);
        }
        let output = command.output().with_context(|| {
            format!(
                "could not run {} (PostgreSQL's client tools: apt-get install postgresql-client-15)",
                program.display()
            )
        })?;
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        if !output.status.success() {
            bail!(
                "pgbench {} failed ({}): {}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(stdout)
    }

    /// Runs a custom pgbench `script` (prepared statements, no vacuum) on the KB database with
    /// `schema` first on the search path: `clients` clients on `threads` threads, `run` long;
    /// what it printed of the run.
    pub fn pgbench_script(
        &self,
        schema: &str,
        script: &str,
        clients: usize,
        threads: usize,
        run: PgbenchRun,
    ) -> anyhow::Result<ScriptRun> {
        let file = tempfile::Builder::new()
            .prefix("aiblox-ceiling-")
            .suffix(".sql")
            .tempfile()
            .context("could not write the pgbench script")?;
        std::fs::write(file.path(), script).context("could not write the pgbench script")?;
        let length = match run {
            PgbenchRun::Seconds(seconds) => ["-T".to_owned(), seconds.to_string()],
            PgbenchRun::TransactionsPerClient(count) => ["-t".to_owned(), count.to_string()],
        };
        let mut args = vec![
            "-n".to_owned(),
            "-M".to_owned(),
            "prepared".to_owned(),
            "-f".to_owned(),
            file.path().display().to_string(),
            "-c".to_owned(),
            clients.to_string(),
            "-j".to_owned(),
            threads.min(clients).to_string(),
        ];
        args.extend(length);
        let before = CpuSnapshot::take(self.postmaster());
        let output = self.pgbench(
            &self.kb_url,
            &args,
            Some(&format!("-c search_path={schema}")),
        )?;
        let spent = CpuSnapshot::take(self.postmaster()).since(&before);
        Ok(ScriptRun {
            tps: parse_tps(&output)?,
            transactions: parse_transactions(&output)?,
            server_cpu_s: spent.server,
        })
    }

    /// `pgbench -i -s scale`, then `pgbench -S -M prepared -c clients -j threads -T seconds`;
    /// the TPS it prints (without initial connection time). pgbench's tables are dropped when
    /// the server is not ours.
    pub fn pgbench_select_only(
        &self,
        scale: u32,
        clients: u32,
        threads: u32,
        seconds: u32,
    ) -> anyhow::Result<f64> {
        let run = |args: &[String]| self.pgbench(&self.pgbench_url, args, None);
        run(&["-i".into(), "-q".into(), "-s".into(), scale.to_string()])?;
        let output = run(&[
            "-S".into(),
            "-M".into(),
            "prepared".into(),
            "-c".into(),
            clients.to_string(),
            "-j".into(),
            threads.to_string(),
            "-T".into(),
            seconds.to_string(),
        ]);
        if self.cluster.is_none() {
            run(&["-i".into(), "-I".into(), "d".into()])?;
        }
        parse_tps(&output?)
    }

    /// Runs SQL that is not measured (TRUNCATE, VACUUM, CHECKPOINT) on a connection of its own.
    pub async fn admin(&self, sql: &str) -> anyhow::Result<()> {
        let client = connect(&self.kb_url).await?;
        client
            .batch_execute(sql)
            .await
            .with_context(|| format!("could not run {sql}"))
    }

    /// A plain connection to the KB database for untimed preparation (the ceilings' tables).
    pub async fn client(&self) -> anyhow::Result<tokio_postgres::Client> {
        connect(&self.kb_url).await
    }

    /// `server_version` of the server.
    pub async fn version(&self) -> anyhow::Result<String> {
        let client = connect(&self.kb_url).await?;
        let row = client.query_one("SHOW server_version", &[]).await?;
        Ok(row.get(0))
    }
}

/// A plain connection (no TLS) for untimed administration.
async fn connect(url: &str) -> anyhow::Result<tokio_postgres::Client> {
    let config = tokio_postgres::Config::from_str(url)
        .context("the database URL is not a valid PostgreSQL connection string")?;
    let (client, connection) = config
        .connect(tokio_postgres::NoTls)
        .await
        .context("could not connect to the benchmark database")?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// The figure of pgbench's `tps = N (without initial connection time)` line.
/// What pgbench printed of a custom script's run.
#[derive(Debug, Clone, Copy)]
pub struct ScriptRun {
    /// Transactions per second, without initial connection time.
    pub tps: f64,
    /// Transactions it ran.
    pub transactions: u64,
    /// The server's CPU seconds over the run, when the server is ours.
    pub server_cpu_s: Option<f64>,
}

/// The transactions pgbench says it ran ("number of transactions actually processed: N", or
/// "N/M" when a count was asked for).
fn parse_transactions(output: &str) -> anyhow::Result<u64> {
    const LABEL: &str = "number of transactions actually processed: ";
    output
        .lines()
        .find_map(|line| line.strip_prefix(LABEL))
        .and_then(|figure| figure.split('/').next())
        .and_then(|figure| figure.trim().parse().ok())
        .with_context(|| format!("pgbench printed no transaction count:\n{output}"))
}

pub fn parse_tps(output: &str) -> anyhow::Result<f64> {
    output
        .lines()
        .find(|line| line.starts_with("tps = ") && line.contains("without initial connection"))
        .and_then(|line| line["tps = ".len()..].split_whitespace().next())
        .and_then(|figure| figure.parse().ok())
        .with_context(|| format!("pgbench printed no TPS figure:\n{output}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tps_is_read_from_pgbench_output() {
        let output = "transaction type: <builtin: select only>\nlatency average = 0.180 ms\n\
                      initial connection time = 12.027 ms\n\
                      tps = 88674.266983 (without initial connection time)\n";
        assert_eq!(parse_tps(output).unwrap(), 88674.266983);
        assert!(parse_tps("nothing here").is_err());
        let counted = "number of transactions actually processed: 8011\n";
        assert_eq!(parse_transactions(counted).unwrap(), 8011);
        let asked = "number of transactions actually processed: 1600/1600\n";
        assert_eq!(parse_transactions(asked).unwrap(), 1600);
        assert!(parse_transactions("nothing here").is_err());
    }
}
