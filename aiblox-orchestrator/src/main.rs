//! `aiblox-orchestrator`: `serve` (the default), `migrate`, `check-config`, `purge-chunks`,
//! `keys new`, `completions`.

use std::path::PathBuf;
use std::process::ExitCode;

use aiblox_orchestrator::config::{LogFormat, Overrides, Settings};
use aiblox_orchestrator::observability::init_tracing;
use aiblox_orchestrator::server::{Application, shutdown_signal};
use clap::{Args, Parser, Subcommand};

const SETTINGS_HELP: &str = "\
Settings come from defaults, then the TOML file (--config or AIBLOX_CONFIG), then the
environment, then flags. Every setting, with its TOML key, variable and default:

  listen                       AIBLOX_LISTEN                  127.0.0.1:8080
  migrate_on_start             AIBLOX_MIGRATE_ON_START        true (serve --no-migrate: false)
  database.url                 AIBLOX_KB_DATABASE_URL, then DATABASE_URL   (required; a secret)
  database.schema              AIBLOX_KB_SCHEMA               kb
  pool.max_size                AIBLOX_POOL_MAX_SIZE           16
  pool.wait_timeout_ms         AIBLOX_POOL_WAIT_TIMEOUT_MS    2000  (then 503)
  pool.connect_timeout_ms      AIBLOX_POOL_CONNECT_TIMEOUT_MS 3000
  limits.request_timeout_ms    AIBLOX_REQUEST_TIMEOUT_MS      5000  (time budget of a query)
  limits.max_body_bytes        AIBLOX_MAX_BODY_BYTES          65536
  limits.max_query_chars       AIBLOX_MAX_QUERY_CHARS         2000
  retrieval.candidates         AIBLOX_RETRIEVAL_CANDIDATES    15
  retrieval.chunk_max_bytes    AIBLOX_CHUNK_MAX_BYTES         1200
  retrieval.chunk_overlap_bytes AIBLOX_CHUNK_OVERLAP_BYTES    0
  retrieval.max_chunks_per_item                               3
  embedding.model              AIBLOX_EMBEDDING_MODEL         none: lexical retrieval only
  embedding.precision          AIBLOX_EMBEDDING_PRECISION     int8 (or f32: vectors in memory)
  log.format                   AIBLOX_LOG_FORMAT              human (or json)
  log.level                    AIBLOX_LOG_LEVEL, RUST_LOG     info
  access.keys_file             AIBLOX_API_KEYS_FILE           none: anonymous (loopback only)
  access.allow_anonymous       AIBLOX_ALLOW_ANONYMOUS         false (true: anonymous on any address)

`check-config` prints the resolved settings with the password hidden.";

#[derive(Debug, Parser)]
#[command(name = "aiblox-orchestrator", version, about = "Answers questions with cited passages from the aiblox knowledge base", after_long_help = SETTINGS_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    flags: Flags,
}

#[derive(Debug, Args)]
struct Flags {
    /// TOML settings file [env: AIBLOX_CONFIG]
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on [env: AIBLOX_LISTEN] [default: 127.0.0.1:8080]
    #[arg(long, global = true, value_name = "HOST:PORT")]
    listen: Option<String>,
    /// PostgreSQL URL; prefer the variable (a password in flags is visible to ps) [env: AIBLOX_KB_DATABASE_URL]
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    /// Schema of the knowledge base [env: AIBLOX_KB_SCHEMA] [default: kb]
    #[arg(long, global = true, value_name = "NAME")]
    schema: Option<String>,
    /// Directory of the embedding model (hybrid retrieval) [env: AIBLOX_EMBEDDING_MODEL]
    #[arg(long, global = true, value_name = "DIR")]
    embedding_model: Option<PathBuf>,
    /// `human` or `json` [env: AIBLOX_LOG_FORMAT] [default: human]
    #[arg(long, global = true, value_name = "FORMAT")]
    log_format: Option<String>,
    /// A tracing filter such as `info` [env: AIBLOX_LOG_LEVEL] [default: info]
    #[arg(long, global = true, value_name = "FILTER")]
    log_level: Option<String>,
    /// The API keys file (`keys new` prints entries for it) [env: AIBLOX_API_KEYS_FILE]
    #[arg(long, global = true, value_name = "FILE")]
    api_keys_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API (the default); migrates the knowledge base first.
    Serve {
        /// Do not migrate at start; refuse to start unless the database is compatible.
        #[arg(long)]
        no_migrate: bool,
    },
    /// Apply the contract's migrations and exit.
    Migrate,
    /// Print the resolved settings (password hidden) and exit.
    CheckConfig,
    /// Remove cached chunks no service of this configuration reads: chunks of content their
    /// item no longer has, and chunks made by another chunker than this configuration's.
    PurgeChunks,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) and exit.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Make a new random token; print it once, and the [[key]] entry to add to the keys file
    /// (which holds only the token's SHA-256).
    New {
        /// The key's name, shown in logs and metrics.
        #[arg(long)]
        name: String,
        /// The only sources it may read (default: every source).
        #[arg(long, value_delimiter = ',', value_name = "SOURCE,...")]
        sources: Option<Vec<String>>,
        /// Its requests per second (default: no limit).
        #[arg(long, value_name = "N")]
        rps: Option<f64>,
    },
}

/// The thread counts of the embedding model's arithmetic (candle's element-wise pool, and
/// rayon's for the matrix products): one each, because the service runs a question worker per
/// core (two single-core workers embed about 1.6 times as many questions per second on two
/// cores as one worker spread over both: docs/benchmarks.md). candle reads them from the
/// environment only, so the process starts itself again with them set, unless they are.
const ONE_CORE_MATH: [(&str, &str); 2] = [("CANDLE_NUM_THREADS", "1"), ("RAYON_NUM_THREADS", "1")];

fn pin_model_threads() {
    use std::os::unix::process::CommandExt as _;
    if ONE_CORE_MATH
        .iter()
        .all(|(name, _)| std::env::var_os(name).is_some())
    {
        return;
    }
    let Ok(program) = std::env::current_exe() else {
        return;
    };
    let mut command = std::process::Command::new(program);
    command.args(std::env::args_os().skip(1));
    for (name, value) in ONE_CORE_MATH {
        if std::env::var_os(name).is_none() {
            command.env(name, value);
        }
    }
    // Replaces this process; returns only if that failed (then run as is, a little slower).
    let err = command.exec();
    eprintln!("warning: could not restart with {ONE_CORE_MATH:?} set ({err}); continuing");
}

fn main() -> ExitCode {
    pin_model_threads();
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve { no_migrate: false });
    if let Command::Keys(KeysCommand::New { name, sources, rps }) = &command {
        return match aiblox_orchestrator::access::new_key(name, sources.as_deref(), *rps) {
            Ok((token, entry)) => {
                println!("token (shown once; give it to the caller, keep it secret):\n{token}\n");
                println!("add to the keys file (AIBLOX_API_KEYS_FILE), then send SIGHUP:\n{entry}");
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("error: {err}");
                ExitCode::from(2)
            }
        };
    }
    if let Command::Completions { shell } = command {
        let mut cli = <Cli as clap::CommandFactory>::command();
        clap_complete::generate(
            shell,
            &mut cli,
            "aiblox-orchestrator",
            &mut std::io::stdout(),
        );
        return ExitCode::SUCCESS;
    }
    let flags = Overrides {
        config_file: cli.flags.config,
        listen: cli.flags.listen,
        database_url: cli.flags.database_url,
        schema: cli.flags.schema,
        migrate_on_start: matches!(command, Command::Serve { no_migrate: true }).then_some(false),
        embedding_model: cli.flags.embedding_model,
        embedding_precision: None,
        log_format: cli.flags.log_format,
        log_level: cli.flags.log_level,
        api_keys_file: cli.flags.api_keys_file,
        allow_anonymous: None,
        numbers: Vec::new(),
    };
    let overrides = Overrides::from_env(|name| std::env::var(name).ok()).then(flags);
    let settings = match Settings::resolve(&overrides) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    if matches!(command, Command::CheckConfig) {
        print!("{}", settings.to_redacted_toml());
        return ExitCode::SUCCESS;
    }
    init_tracing(&settings.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result: anyhow::Result<()> = runtime.block_on(async {
        match command {
            Command::Migrate => {
                let report = aiblox_kb::migrate(&settings.database).await?;
                println!(
                    "schema {}: {} applied now, {} before",
                    report.schema,
                    report.applied.len(),
                    report.already_applied
                );
                Ok(())
            }
            Command::PurgeChunks => {
                let pool = aiblox_kb::KbPool::new(&settings.database)?;
                let cache = aiblox_kb::ChunkCacheRepo::new(&pool);
                let chunker = aiblox_orchestrator::chunker::Chunker::new(
                    settings.retrieval.chunk_max_bytes,
                    settings.retrieval.chunk_overlap_bytes,
                )
                .key();
                let stale = cache.purge_stale().await?;
                let other = cache.purge_other_chunkers(&chunker).await?;
                println!(
                    "schema {}: {stale} stale chunks and {other} chunks of other chunkers than \
                     {chunker} removed",
                    settings.database.schema()
                );
                pool.close();
                Ok(())
            }
            _ => {
                let application = Application::build(&settings).await?;
                Ok(application.run_until(shutdown_signal()).await?)
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // Said once: as a log line when logs are JSON (collectors read those), else plainly.
        Err(err) if settings.log.format == LogFormat::Json => {
            tracing::error!("{err:#}");
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
