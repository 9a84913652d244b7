//! `aiblox-orchestrator`: `serve` (the default), `mcp` (stdio), `migrate`, `check-config`,
//! `purge-chunks`, `keys new`, `completions`.

use std::path::PathBuf;
use std::process::ExitCode;

use aiblox_orchestrator::config::{
    CONFIG_FILE_ENV, Command as SettingsCommand, LogFormat, Overrides, SETTINGS, Settings,
    settings_help,
};
use aiblox_orchestrator::init_tracing;
use aiblox_orchestrator::server::{Application, shutdown_signal};
use clap::{Arg, ArgMatches, Args, FromArgMatches, Parser, Subcommand};

/// With no subcommand the binary serves, and takes `serve`'s flags; a subcommand takes only
/// the flags of the settings it reads, after it.
#[derive(Debug, Parser)]
#[command(
    name = "aiblox-orchestrator",
    version,
    about = "Answers questions with cited passages from the aiblox knowledge base",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    flags: Flags<ForServe>,
}

/// The settings commands read, as a type: which flags a command's [`Flags`] take.
trait Reads {
    const COMMAND: SettingsCommand;
}

#[derive(Debug)]
struct ForServe;
impl Reads for ForServe {
    const COMMAND: SettingsCommand = SettingsCommand::Serve;
}

#[derive(Debug)]
struct ForCheckConfig;
impl Reads for ForCheckConfig {
    const COMMAND: SettingsCommand = SettingsCommand::CheckConfig;
}

#[derive(Debug)]
struct ForMigrate;
impl Reads for ForMigrate {
    const COMMAND: SettingsCommand = SettingsCommand::Migrate;
}

#[derive(Debug)]
struct ForPurgeChunks;
impl Reads for ForPurgeChunks {
    const COMMAND: SettingsCommand = SettingsCommand::PurgeChunks;
}

/// `--config` and one flag per setting the command `R` reads, made from the settings table.
#[derive(Debug)]
struct Flags<R> {
    config: Option<PathBuf>,
    /// (TOML key, value) of each setting given on the command line.
    settings: Vec<(&'static str, String)>,
    command: std::marker::PhantomData<R>,
}

impl<R> Default for Flags<R> {
    fn default() -> Self {
        Flags {
            config: None,
            settings: Vec::new(),
            command: std::marker::PhantomData,
        }
    }
}

impl<R: Reads> Args for Flags<R> {
    fn augment_args(command: clap::Command) -> clap::Command {
        let command = command.arg(
            Arg::new("config")
                .long("config")
                .value_name("FILE")
                .value_parser(clap::value_parser!(PathBuf))
                .help(format!("TOML settings file [env: {CONFIG_FILE_ENV}]")),
        );
        // The table of the settings this command reads (the binary's own help: serve's).
        let command = command.after_long_help(settings_help(R::COMMAND));
        SETTINGS
            .iter()
            .filter(|setting| R::COMMAND.reads(setting))
            .fold(command, |command, setting| {
                command.arg(
                    Arg::new(setting.key)
                        .long(setting.flag())
                        .value_name(setting.value_name)
                        .help(format!(
                            "{} [env: {}] [default: {}]",
                            setting.help,
                            setting.env,
                            setting.default_text()
                        )),
                )
            })
    }

    fn augment_args_for_update(command: clap::Command) -> clap::Command {
        Self::augment_args(command)
    }
}

impl<R: Reads> FromArgMatches for Flags<R> {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut flags = Flags::default();
        flags.update_from_arg_matches(matches)?;
        Ok(flags)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        if let Some(path) = matches.get_one::<PathBuf>("config") {
            self.config = Some(path.clone());
        }
        for setting in SETTINGS.iter().filter(|setting| R::COMMAND.reads(setting)) {
            if let Some(value) = matches.get_one::<String>(setting.key) {
                self.settings.push((setting.key, value.clone()));
            }
        }
        Ok(())
    }
}

impl<R> Flags<R> {
    /// The flags as overrides (applied over the environment's).
    fn overrides(self) -> Overrides {
        let overrides = match self.config {
            Some(path) => Overrides::default().config_file(path),
            None => Overrides::default(),
        };
        self.settings
            .into_iter()
            .fold(overrides, |overrides, (key, value)| {
                overrides.set(key, value)
            })
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the HTTP API (the default); migrates the knowledge base first.
    Serve {
        /// Do not migrate at start; refuse to start unless the database is compatible.
        #[arg(long)]
        no_migrate: bool,
        #[command(flatten)]
        flags: Flags<ForServe>,
    },
    /// Serve the Model Context Protocol over stdin and stdout, for an MCP client that starts
    /// this process (a desktop agent); takes serve's settings. The HTTP service offers the
    /// same at /mcp.
    Mcp {
        /// With API keys in force: the key whose sources, filter and rate the session has
        /// (required then). Without keys the session reads everything, as the local user.
        #[arg(long, value_name = "NAME")]
        key_name: Option<String>,
        #[command(flatten)]
        flags: Flags<ForServe>,
    },
    /// Apply the contract's migrations and exit.
    Migrate {
        #[command(flatten)]
        flags: Flags<ForMigrate>,
    },
    /// Print the resolved settings (password hidden) and exit.
    CheckConfig {
        #[command(flatten)]
        flags: Flags<ForCheckConfig>,
    },
    /// Remove cached chunks no service of this configuration reads: chunks of content their
    /// item no longer has, and chunks made by another chunker than this configuration's.
    PurgeChunks {
        #[command(flatten)]
        flags: Flags<ForPurgeChunks>,
    },
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
        /// The key's name, shown in logs and metrics (required).
        #[arg(long)]
        name: String,
        /// The only sources it may read (default: every source).
        #[arg(long, value_delimiter = ',', value_name = "SOURCE,...")]
        sources: Option<Vec<String>>,
        /// Its requests per second (default: no limit).
        #[arg(long, value_name = "N")]
        rps: Option<f64>,
        /// A filter ANDed with every request of the key, as `/v1/query`'s `filter` (JSON), e.g.
        /// '{"field": "metadata.tenant", "eq": "acme"}': its callers see only items it keeps.
        #[arg(long, value_name = "JSON", value_parser = parse_filter)]
        filter: Option<Box<aiblox_orchestrator::protocol::Filter>>,
        /// It may also write and delete items of its sources, within its filter (PUT and DELETE
        /// /v1/items/{source}/{external_id}, the batch endpoint); default: read only.
        #[arg(long)]
        write: bool,
    },
}

fn parse_filter(text: &str) -> Result<Box<aiblox_orchestrator::protocol::Filter>, String> {
    let filter: aiblox_orchestrator::protocol::Filter =
        serde_json::from_str(text).map_err(|err| format!("not a filter: {err}"))?;
    filter.to_item_filter().map_err(|err| err.to_string())?;
    Ok(Box::new(filter))
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
    let command = cli.command.unwrap_or(Command::Serve {
        no_migrate: false,
        flags: cli.flags,
    });
    let (command, flags) = match command {
        Command::Keys(KeysCommand::New {
            name,
            sources,
            rps,
            filter,
            write,
        }) => {
            return new_key(&name, sources.as_deref(), rps, filter.as_deref(), write);
        }
        Command::Completions { shell } => return completions(shell),
        Command::Serve { no_migrate, flags } => {
            let flags = flags.overrides();
            let flags = if no_migrate {
                flags.set("migrate_on_start", "false")
            } else {
                flags
            };
            (SettingsCommand::Serve, flags)
        }
        Command::Mcp { key_name, flags } => {
            return with_settings(SettingsCommand::Serve, flags.overrides(), Some(key_name));
        }
        Command::Migrate { flags } => (SettingsCommand::Migrate, flags.overrides()),
        Command::CheckConfig { flags } => (SettingsCommand::CheckConfig, flags.overrides()),
        Command::PurgeChunks { flags } => (SettingsCommand::PurgeChunks, flags.overrides()),
    };
    with_settings(command, flags, None)
}

/// `keys new`: prints a new token and its keys-file entry.
fn new_key(
    name: &str,
    sources: Option<&[String]>,
    rps: Option<f64>,
    filter: Option<&aiblox_orchestrator::protocol::Filter>,
    write: bool,
) -> ExitCode {
    match aiblox_orchestrator::new_key(name, sources, rps, filter, write) {
        Ok((token, entry)) => {
            println!("token (shown once; give it to the caller, keep it secret):\n{token}\n");
            println!("add to the keys file (AIBLOX_API_KEYS_FILE), then send SIGHUP:\n{entry}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::from(2)
        }
    }
}

/// `completions SHELL`: prints the shell's completion script.
fn completions(shell: clap_complete::Shell) -> ExitCode {
    let mut cli = <Cli as clap::CommandFactory>::command();
    clap_complete::generate(
        shell,
        &mut cli,
        "aiblox-orchestrator",
        &mut std::io::stdout(),
    );
    ExitCode::SUCCESS
}

/// The commands that need the settings: resolves them (defaults, file, environment, flags),
/// then prints them (`check-config`) or runs the command on an async runtime with logs.
/// `mcp` is `Some(key name)` for the stdio MCP server (which reads serve's settings).
fn with_settings(
    command: SettingsCommand,
    flags: Overrides,
    mcp: Option<Option<String>>,
) -> ExitCode {
    let overrides = Overrides::from_env(std::env::vars()).then(flags);
    let settings = match Settings::resolve_for(&overrides, command) {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::from(2);
        }
    };
    if command == SettingsCommand::CheckConfig {
        print!("{}", settings.to_redacted_toml());
        for warning in overrides.unknown_variables() {
            println!("# warning: {warning}");
        }
        return ExitCode::SUCCESS;
    }
    init_tracing(&settings.log);
    for warning in overrides.unknown_variables() {
        tracing::warn!("{warning}");
    }
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
    let result = match mcp {
        Some(key_name) => runtime.block_on(aiblox_orchestrator::server::serve_mcp_stdio(
            &settings,
            key_name.as_deref(),
        )),
        None => runtime.block_on(run(command, &settings)),
    };
    exit_code(result, &settings)
}

/// Runs `serve`, `migrate` or `purge-chunks`.
async fn run(command: SettingsCommand, settings: &Settings) -> anyhow::Result<()> {
    match command {
        SettingsCommand::Migrate => {
            let report = aiblox_kb::migrate(&settings.database).await?;
            println!(
                "schema {}: {} applied now, {} before",
                report.schema,
                report.applied.len(),
                report.already_applied
            );
            Ok(())
        }
        SettingsCommand::PurgeChunks => {
            let pool = aiblox_kb::KbPool::new(&settings.database)?;
            let cache = aiblox_kb::ChunkCacheRepo::new(&pool);
            let chunker = settings.retrieval.chunker_key();
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
            let application = Application::build(settings).await?;
            Ok(application.run_until(shutdown_signal()).await?)
        }
    }
}

/// Says a failure once, as a log line when logs are JSON (collectors read those), else
/// plainly; and the exit code.
fn exit_code(result: anyhow::Result<()>, settings: &Settings) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if settings.log.format == LogFormat::Json => {
            tracing::error!("{}", said_once(&err));
            ExitCode::FAILURE
        }
        Err(err) => {
            eprintln!("error: {}", said_once(&err));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes, each said once: a cause whose text the message already holds (the
/// contract's errors include their driver error's text and keep it as their source) is not
/// repeated.
fn said_once(err: &anyhow::Error) -> String {
    let mut text = err.to_string();
    for cause in err.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    /// Every setting of the table has its flag, with no subcommand (serving), after `serve` and
    /// after `check-config`, and the long help carries the settings table.
    #[test]
    fn every_setting_has_a_flag_and_the_long_help_lists_every_setting() {
        let long_help = Cli::command().render_long_help().to_string();
        assert!(
            long_help.contains(&settings_help(SettingsCommand::Serve)),
            "{long_help}"
        );
        for setting in &SETTINGS {
            let flag = format!("--{}", setting.flag());
            assert!(long_help.contains(&flag), "{flag} is not in the help");
            let cli = Cli::try_parse_from(["aiblox-orchestrator", flag.as_str(), "text"]).unwrap();
            assert_eq!(cli.flags.settings, [(setting.key, "text".to_owned())]);
            for command in ["serve", "check-config"] {
                let cli =
                    Cli::try_parse_from(["aiblox-orchestrator", command, flag.as_str(), "text"])
                        .unwrap();
                let given = match cli.command {
                    Some(Command::Serve { flags, .. }) => flags.settings,
                    Some(Command::CheckConfig { flags }) => flags.settings,
                    other => panic!("{other:?}"),
                };
                assert_eq!(given, [(setting.key, "text".to_owned())]);
            }
        }
        let cli = Cli::try_parse_from(["aiblox-orchestrator", "--config", "/etc/a.toml"]).unwrap();
        assert_eq!(cli.flags.config, Some(PathBuf::from("/etc/a.toml")));
    }

    /// The flags of a subcommand's help: `--NAME` of every long flag it lists.
    fn flags_in_help(arguments: &[&str]) -> Vec<String> {
        let err = Cli::try_parse_from(arguments).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::DisplayHelp);
        err.to_string()
            .split_whitespace()
            .filter(|word| word.starts_with("--"))
            .map(|word| word.trim_end_matches([',', '.']).to_owned())
            .collect()
    }

    /// `migrate` and `purge-chunks` take only the flags of the settings they read, `keys new`
    /// none; a setting's flag before a subcommand is refused rather than taken for serving.
    #[test]
    fn each_subcommand_takes_only_the_settings_it_reads() {
        let setting_flags: Vec<String> = SETTINGS
            .iter()
            .map(|setting| format!("--{}", setting.flag()))
            .collect();
        let taken = |arguments: &[&str]| -> Vec<String> {
            flags_in_help(arguments)
                .into_iter()
                .filter(|flag| setting_flags.contains(flag))
                .collect()
        };
        assert_eq!(
            taken(&["aiblox-orchestrator", "migrate", "--help"]),
            [
                "--database-url",
                "--schema",
                "--migration-url",
                "--log-format",
                "--log-level"
            ]
        );
        assert_eq!(
            taken(&["aiblox-orchestrator", "purge-chunks", "--help"]),
            [
                "--database-url",
                "--schema",
                "--migration-url",
                "--chunk-max-bytes",
                "--chunk-overlap-bytes",
                "--log-format",
                "--log-level"
            ]
        );
        assert!(taken(&["aiblox-orchestrator", "keys", "new", "--help"]).is_empty());
        assert_eq!(
            taken(&["aiblox-orchestrator", "serve", "--help"]).len(),
            SETTINGS.len()
        );
        for refused in [
            &["aiblox-orchestrator", "migrate", "--listen", "127.0.0.1:1"][..],
            &[
                "aiblox-orchestrator",
                "purge-chunks",
                "--pool-max-size",
                "3",
            ],
            &[
                "aiblox-orchestrator",
                "keys",
                "new",
                "--name",
                "a",
                "--schema",
                "kb",
            ],
            &["aiblox-orchestrator", "--schema", "kb", "migrate"],
        ] {
            assert!(Cli::try_parse_from(refused).is_err(), "{refused:?}");
        }
        let cli = Cli::try_parse_from(["aiblox-orchestrator", "migrate", "--schema", "kb_other"])
            .unwrap();
        let Some(Command::Migrate { flags }) = cli.command else {
            panic!("migrate")
        };
        assert_eq!(flags.settings, [("database.schema", "kb_other".to_owned())]);
    }
}
