//! Settings of the service, from one table ([`SETTINGS`]): each setting's TOML key, environment
//! variable, flag, default and help are written there once, and the TOML file, the environment,
//! the flags, `--help` and `check-config` all read it. Layered: defaults, then an optional TOML
//! file, then environment variables, then flags. The database URL is a secret: it is shown
//! redacted everywhere, and its value never appears in an error.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aiblox_kb::KbConfig;

/// A setting that could not be used: which one, and why.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

/// The environment variable naming the TOML file (`--config` on the command line).
pub const CONFIG_FILE_ENV: &str = "AIBLOX_CONFIG";
/// Variables of the test tooling start so; the service leaves them alone.
const TEST_TOOLING_PREFIX: &str = "AIBLOX_TEST_";

/// Every setting of the service.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Run the contract's migrations at start.
    pub migrate_on_start: bool,
    /// The knowledge base (URL redacted in `Debug`).
    pub database: KbConfig,
    /// Pool and database timeouts.
    pub pool: PoolSettings,
    /// Request limits.
    pub limits: Limits,
    /// Retrieval and evidence tuning.
    pub retrieval: RetrievalSettings,
    /// The embedding model of the dense leg (none: lexical retrieval only).
    pub embedding: EmbeddingSettings,
    /// Log output.
    pub log: LogSettings,
    /// Who may call the API.
    pub access: AccessSettings,
}

/// Who may call `/v1/*`: API keys from a file, or anyone (on loopback, or when allowed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccessSettings {
    /// A TOML file of `[[key]]` entries (name, sha256 of the token, optional sources and
    /// requests_per_second); re-read on SIGHUP. None: no keys.
    pub keys_file: Option<PathBuf>,
    /// Serve without keys on an address other than loopback (off: such a start is refused).
    pub allow_anonymous: bool,
}

/// Connection pool settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// Most connections.
    pub max_size: usize,
    /// How long a request waits for a connection before 503, in milliseconds.
    pub wait_timeout_ms: u64,
    /// How long opening a connection may take, in milliseconds.
    pub connect_timeout_ms: u64,
}

/// Limits on requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Total time budget of one query, in milliseconds.
    pub request_timeout_ms: u64,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Longest query text, in characters.
    pub max_query_chars: usize,
}

/// Retrieval, chunking and evidence settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrievalSettings {
    /// Candidate items fetched per query.
    pub candidates: u32,
    /// Largest chunk, in bytes of text.
    pub chunk_max_bytes: usize,
    /// Bytes of the previous chunk repeated at the start of the next (0: none).
    pub chunk_overlap_bytes: usize,
    /// Default cap of passages per item in one answer.
    pub max_chunks_per_item: u32,
}

/// The dense leg's model and how its vectors are held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EmbeddingSettings {
    /// Directory of a sentence-embedding model in Hugging Face format (`cargo xtask
    /// fetch-model` prints one); none: lexical retrieval only.
    pub model: Option<PathBuf>,
    /// `int8` (default) or `f32`.
    pub precision: Precision,
}

/// How the dense leg holds vectors in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// One byte per value and a scale per vector (a quarter of f32's memory).
    #[default]
    Int8,
    /// Four bytes per value, as stored.
    F32,
}

/// Log settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// `human` or `json`.
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info` or `aiblox_orchestrator=debug,info`.
    pub level: String,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_size: 16,
            wait_timeout_ms: 2_000,
            connect_timeout_ms: 3_000,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            request_timeout_ms: 5_000,
            max_body_bytes: 64 * 1024,
            max_query_chars: 2_000,
        }
    }
}

impl Default for RetrievalSettings {
    fn default() -> Self {
        RetrievalSettings {
            candidates: 15,
            chunk_max_bytes: 1200,
            chunk_overlap_bytes: 0,
            max_chunks_per_item: 3,
        }
    }
}

impl Default for LogSettings {
    fn default() -> Self {
        LogSettings {
            format: LogFormat::Human,
            level: "info".to_owned(),
        }
    }
}

impl PoolSettings {
    pub(crate) fn wait_timeout(&self) -> Duration {
        Duration::from_millis(self.wait_timeout_ms)
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
}

impl RetrievalSettings {
    /// The key of the chunker these settings make: chunk sets and their vectors are stored
    /// under it (`purge-chunks` keeps only its own).
    pub fn chunker_key(&self) -> String {
        crate::pipeline::chunker::Chunker::new(self.chunk_max_bytes, self.chunk_overlap_bytes).key()
    }
}

impl Limits {
    pub(crate) fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

/// One setting: where each source names it, what it means, and where its value goes.
pub struct Setting {
    /// Its key in the TOML file (`section.name`, or `name` at the top).
    pub key: &'static str,
    /// Its environment variable.
    pub env: &'static str,
    /// What its value looks like, for `--help` (`N`, `FILE`, `HOST:PORT`).
    pub value_name: &'static str,
    /// What it does, in one line.
    pub help: &'static str,
    /// Whole numbers only: the smallest and largest accepted.
    range: Option<(u64, u64)>,
    /// Its value is a secret: never repeated in messages.
    secret: bool,
    /// A valid value other than the default: shown when a value is refused, and set from each
    /// source by the table's own test.
    example: &'static str,
    slot: Slot,
}

/// Where a setting's value goes in the settings (its slot).
enum Slot {
    /// A field of [`Settings`].
    Field(fn(&mut Settings) -> &mut dyn Value),
    /// The contract's database URL (read first: every other setting is applied over it).
    DatabaseUrl,
    /// The contract's schema name.
    DatabaseSchema,
    /// The contract's migration URL (optional: migrations use the database URL without it).
    DatabaseMigrationUrl,
    /// The contract's read replicas' URLs, separated by white space.
    DatabaseReadUrls,
    /// The contract's replay lag bound for read replicas, in milliseconds.
    DatabaseMaxReplicaLag,
}

impl Setting {
    /// Its command-line flag, made from the variable: `AIBLOX_POOL_MAX_SIZE` is
    /// `--pool-max-size`, `AIBLOX_KB_SCHEMA` is `--schema`.
    pub fn flag(&self) -> String {
        let name = self.env.trim_start_matches("AIBLOX_");
        let name = name.strip_prefix("KB_").unwrap_or(name);
        name.to_ascii_lowercase().replace('_', "-")
    }

    /// Its default in words, for `--help`.
    pub fn default_text(&self) -> String {
        match self.slot {
            Slot::DatabaseUrl => "none (required; a secret)".to_owned(),
            Slot::DatabaseSchema => KbConfig::DEFAULT_SCHEMA.to_owned(),
            Slot::DatabaseMigrationUrl => "none (the database URL; a secret)".to_owned(),
            Slot::DatabaseReadUrls => "none (reads go to the database URL; secrets)".to_owned(),
            Slot::DatabaseMaxReplicaLag => {
                KbConfig::DEFAULT_MAX_REPLICA_LAG.as_millis().to_string()
            }
            Slot::Field(_) => match self.show(&Settings::with_defaults(placeholder_database())) {
                Some(toml::Value::String(text)) => text,
                Some(value) => value.to_string(),
                None => "none".to_owned(),
            },
        }
    }

    /// Its value in `settings`, as TOML (none: unset).
    fn show(&self, settings: &Settings) -> Option<toml::Value> {
        match self.slot {
            Slot::DatabaseUrl => Some(toml::Value::String(settings.database.redacted_url())),
            Slot::DatabaseSchema => {
                Some(toml::Value::String(settings.database.schema().to_owned()))
            }
            Slot::DatabaseMigrationUrl => settings
                .database
                .redacted_migration_url()
                .map(toml::Value::String),
            Slot::DatabaseReadUrls => Some(settings.database.redacted_read_replicas().join(" "))
                .filter(|urls| !urls.is_empty())
                .map(toml::Value::String),
            Slot::DatabaseMaxReplicaLag => Some(toml::Value::Integer(
                i64::try_from(settings.database.max_replica_lag().as_millis()).unwrap_or(i64::MAX),
            )),
            Slot::Field(field) => field(&mut settings.clone()).show(),
        }
    }

    /// Sets its field in `settings` from `text`: the reason when the text is not a value of it.
    fn apply(&self, settings: &mut Settings, text: &str) -> Result<(), String> {
        let Slot::Field(field) = self.slot else {
            unreachable!("the database settings are applied before the others")
        };
        let value = field(settings);
        value
            .set(text.trim())
            .map_err(|why| format!("{why} (e.g. {})", self.example))?;
        if let (Some((low, high)), Some(toml::Value::Integer(number))) = (self.range, value.show())
            && !(low as i64..=high as i64).contains(&number)
        {
            return Err(format!("{} must be {low} to {high}", self.key));
        }
        Ok(())
    }
}

/// How messages name the setting `key` (its TOML key and its variable), for errors that
/// mention a limit: the one place these names come from is [`SETTINGS`].
pub(crate) fn setting_names(key: &str) -> String {
    SETTINGS
        .iter()
        .find(|setting| setting.key == key)
        .map_or_else(
            || key.to_owned(),
            |setting| format!("{}, {}", setting.key, setting.env),
        )
}

/// Every setting, in the order `--help` and `check-config` show them (top-level keys first,
/// then each section's keys together).
pub static SETTINGS: [Setting; 23] = [
    Setting {
        key: "listen",
        env: "AIBLOX_LISTEN",
        value_name: "HOST:PORT",
        help: "Address to listen on",
        range: None,
        secret: false,
        example: "127.0.0.1:9000",
        slot: Slot::Field(|s| &mut s.listen),
    },
    Setting {
        key: "migrate_on_start",
        env: "AIBLOX_MIGRATE_ON_START",
        value_name: "BOOL",
        help: "Run the contract's migrations at start (serve --no-migrate: false)",
        range: None,
        secret: false,
        example: "false",
        slot: Slot::Field(|s| &mut s.migrate_on_start),
    },
    Setting {
        key: "database.url",
        env: KbConfig::DATABASE_URL_ENV,
        value_name: "URL",
        help: "PostgreSQL URL (the variable falls back to DATABASE_URL); prefer the variable: a password in flags is visible to ps",
        range: None,
        secret: true,
        example: "postgresql://example:secret@db.example:5433/knowledge",
        slot: Slot::DatabaseUrl,
    },
    Setting {
        key: "database.schema",
        env: KbConfig::SCHEMA_ENV,
        value_name: "NAME",
        help: "Schema of the knowledge base",
        range: None,
        secret: false,
        example: "kb_example",
        slot: Slot::DatabaseSchema,
    },
    Setting {
        key: "database.migration_url",
        env: KbConfig::MIGRATION_URL_ENV,
        value_name: "URL",
        help: "PostgreSQL URL migrations connect to, when not the database URL: a direct connection to the primary where the database URL goes through a pooler in transaction mode (the migration lock is a session lock)",
        range: None,
        secret: true,
        example: "postgresql://example:secret@primary.example:5432/knowledge",
        slot: Slot::DatabaseMigrationUrl,
    },
    Setting {
        key: "database.read_urls",
        env: KbConfig::READ_URLS_ENV,
        value_name: "URLS",
        help: "Read replicas' URLs, separated by spaces: point reads, item and chunk reads and searches go to one within database.max_replica_lag_ms, else to the database URL",
        range: None,
        secret: true,
        example: "postgresql://example:secret@replica1.example/knowledge postgresql://example:secret@replica2.example/knowledge",
        slot: Slot::DatabaseReadUrls,
    },
    Setting {
        key: "database.max_replica_lag_ms",
        env: KbConfig::MAX_REPLICA_LAG_ENV,
        value_name: "MS",
        help: "Replay lag past which a read replica serves no reads until it catches up (measured on the replica every 250 ms)",
        range: None,
        secret: false,
        example: "250",
        slot: Slot::DatabaseMaxReplicaLag,
    },
    Setting {
        key: "pool.max_size",
        env: "AIBLOX_POOL_MAX_SIZE",
        value_name: "N",
        help: "Most database connections",
        range: Some((1, 1_000)),
        secret: false,
        example: "7",
        slot: Slot::Field(|s| &mut s.pool.max_size),
    },
    Setting {
        key: "pool.wait_timeout_ms",
        env: "AIBLOX_POOL_WAIT_TIMEOUT_MS",
        value_name: "MS",
        help: "How long a request waits for a connection before 503",
        range: Some((1, u32::MAX as u64)),
        secret: false,
        example: "1500",
        slot: Slot::Field(|s| &mut s.pool.wait_timeout_ms),
    },
    Setting {
        key: "pool.connect_timeout_ms",
        env: "AIBLOX_POOL_CONNECT_TIMEOUT_MS",
        value_name: "MS",
        help: "How long opening a connection may take",
        range: Some((1, u32::MAX as u64)),
        secret: false,
        example: "2500",
        slot: Slot::Field(|s| &mut s.pool.connect_timeout_ms),
    },
    Setting {
        key: "limits.request_timeout_ms",
        env: "AIBLOX_REQUEST_TIMEOUT_MS",
        value_name: "MS",
        help: "Time budget of one query",
        range: Some((1, u32::MAX as u64)),
        secret: false,
        example: "4000",
        slot: Slot::Field(|s| &mut s.limits.request_timeout_ms),
    },
    Setting {
        key: "limits.max_body_bytes",
        env: "AIBLOX_MAX_BODY_BYTES",
        value_name: "BYTES",
        help: "Largest request body",
        range: Some((256, 64 * 1024 * 1024)),
        secret: false,
        example: "32768",
        slot: Slot::Field(|s| &mut s.limits.max_body_bytes),
    },
    Setting {
        key: "limits.max_query_chars",
        env: "AIBLOX_MAX_QUERY_CHARS",
        value_name: "N",
        help: "Longest query text, in characters",
        range: Some((1, 100_000)),
        secret: false,
        example: "1000",
        slot: Slot::Field(|s| &mut s.limits.max_query_chars),
    },
    Setting {
        key: "retrieval.candidates",
        env: "AIBLOX_RETRIEVAL_CANDIDATES",
        value_name: "N",
        help: "Candidate items fetched per query",
        range: Some((1, 1_000)),
        secret: false,
        example: "25",
        slot: Slot::Field(|s| &mut s.retrieval.candidates),
    },
    Setting {
        key: "retrieval.chunk_max_bytes",
        env: "AIBLOX_CHUNK_MAX_BYTES",
        value_name: "BYTES",
        help: "Largest chunk of text",
        range: Some((64, 1_000_000)),
        secret: false,
        example: "900",
        slot: Slot::Field(|s| &mut s.retrieval.chunk_max_bytes),
    },
    Setting {
        key: "retrieval.chunk_overlap_bytes",
        env: "AIBLOX_CHUNK_OVERLAP_BYTES",
        value_name: "BYTES",
        help: "Bytes of a chunk repeated at the start of the next (under half the largest chunk)",
        range: Some((0, 500_000)),
        secret: false,
        example: "100",
        slot: Slot::Field(|s| &mut s.retrieval.chunk_overlap_bytes),
    },
    Setting {
        key: "retrieval.max_chunks_per_item",
        env: "AIBLOX_MAX_CHUNKS_PER_ITEM",
        value_name: "N",
        help: "Default cap of passages per item in one answer",
        range: Some((1, 50)),
        secret: false,
        example: "5",
        slot: Slot::Field(|s| &mut s.retrieval.max_chunks_per_item),
    },
    Setting {
        key: "embedding.model",
        env: "AIBLOX_EMBEDDING_MODEL",
        value_name: "DIR",
        help: "Directory of the embedding model (hybrid retrieval; `cargo xtask fetch-model` prints one); none: lexical only",
        range: None,
        secret: false,
        example: "/nonexistent/model",
        slot: Slot::Field(|s| &mut s.embedding.model),
    },
    Setting {
        key: "embedding.precision",
        env: "AIBLOX_EMBEDDING_PRECISION",
        value_name: "int8|f32",
        help: "How the dense leg holds vectors in memory",
        range: None,
        secret: false,
        example: "f32",
        slot: Slot::Field(|s| &mut s.embedding.precision),
    },
    Setting {
        key: "log.format",
        env: "AIBLOX_LOG_FORMAT",
        value_name: "human|json",
        help: "Log line format",
        range: None,
        secret: false,
        example: "json",
        slot: Slot::Field(|s| &mut s.log.format),
    },
    Setting {
        key: "log.level",
        env: "AIBLOX_LOG_LEVEL",
        value_name: "FILTER",
        help: "A tracing filter such as `info` or `aiblox_orchestrator=debug,info` (RUST_LOG overrides it)",
        range: None,
        secret: false,
        example: "debug",
        slot: Slot::Field(|s| &mut s.log.level),
    },
    Setting {
        key: "access.keys_file",
        env: "AIBLOX_API_KEYS_FILE",
        value_name: "FILE",
        help: "The API keys file (`keys new` prints entries for it; re-read on SIGHUP); none: anonymous",
        range: None,
        secret: false,
        example: "/nonexistent/keys.toml",
        slot: Slot::Field(|s| &mut s.access.keys_file),
    },
    Setting {
        key: "access.allow_anonymous",
        env: "AIBLOX_ALLOW_ANONYMOUS",
        value_name: "BOOL",
        help: "Serve without keys on an address other than loopback (off: such a start is refused)",
        range: None,
        secret: false,
        example: "true",
        slot: Slot::Field(|s| &mut s.access.allow_anonymous),
    },
];

/// A value a setting's text turns into, and back into TOML for `check-config`.
trait Value {
    /// Replaces the value with the one `text` names, or says why it cannot.
    fn set(&mut self, text: &str) -> Result<(), String>;
    /// The value as TOML; none when unset.
    fn show(&self) -> Option<toml::Value>;
}

fn whole_number(text: &str) -> Result<u64, String> {
    text.parse()
        .map_err(|_| "expected a whole number".to_owned())
}

macro_rules! whole_number_value {
    ($($number:ty),*) => {$(
        impl Value for $number {
            fn set(&mut self, text: &str) -> Result<(), String> {
                *self = <$number>::try_from(whole_number(text)?)
                    .map_err(|_| "the number is too large".to_owned())?;
                Ok(())
            }
            fn show(&self) -> Option<toml::Value> {
                Some(toml::Value::Integer(i64::try_from(*self).unwrap_or(i64::MAX)))
            }
        }
    )*};
}
whole_number_value!(u32, u64, usize);

impl Value for bool {
    fn set(&mut self, text: &str) -> Result<(), String> {
        *self = match text {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => return Err("use `true` or `false`".to_owned()),
        };
        Ok(())
    }
    fn show(&self) -> Option<toml::Value> {
        Some(toml::Value::Boolean(*self))
    }
}

impl Value for String {
    fn set(&mut self, text: &str) -> Result<(), String> {
        text.clone_into(self);
        Ok(())
    }
    fn show(&self) -> Option<toml::Value> {
        Some(toml::Value::String(self.clone()))
    }
}

impl Value for Option<PathBuf> {
    fn set(&mut self, text: &str) -> Result<(), String> {
        *self = Some(PathBuf::from(text));
        Ok(())
    }
    fn show(&self) -> Option<toml::Value> {
        self.as_ref()
            .map(|path| toml::Value::String(path.display().to_string()))
    }
}

impl Value for SocketAddr {
    fn set(&mut self, text: &str) -> Result<(), String> {
        *self = text.parse().map_err(|_| "not host:port".to_owned())?;
        Ok(())
    }
    fn show(&self) -> Option<toml::Value> {
        Some(toml::Value::String(self.to_string()))
    }
}

/// A value named by one of a few words.
trait Choice: Copy + PartialEq + 'static {
    const CHOICES: &'static [(&'static str, Self)];
}

impl<T: Choice> Value for T {
    fn set(&mut self, text: &str) -> Result<(), String> {
        *self = T::CHOICES
            .iter()
            .find(|(name, _)| *name == text)
            .map(|(_, choice)| *choice)
            .ok_or_else(|| {
                let names: Vec<String> = T::CHOICES
                    .iter()
                    .map(|(name, _)| format!("`{name}`"))
                    .collect();
                format!("use {}", names.join(" or "))
            })?;
        Ok(())
    }
    fn show(&self) -> Option<toml::Value> {
        T::CHOICES
            .iter()
            .find(|(_, choice)| choice == self)
            .map(|(name, _)| toml::Value::String((*name).to_owned()))
    }
}

impl Choice for Precision {
    const CHOICES: &'static [(&'static str, Self)] =
        &[("int8", Precision::Int8), ("f32", Precision::F32)];
}

impl Choice for LogFormat {
    const CHOICES: &'static [(&'static str, Self)] =
        &[("human", LogFormat::Human), ("json", LogFormat::Json)];
}

/// The setting with this TOML key.
fn setting(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|setting| setting.key == key)
}

/// A database for showing defaults (never connected to).
fn placeholder_database() -> KbConfig {
    KbConfig::new("postgresql://localhost/postgres").expect("a valid URL")
}

/// Where a value came from, as messages name it.
#[derive(Clone, PartialEq, Eq)]
enum Origin {
    File(PathBuf),
    Env(&'static str),
    Flag,
}

/// One setting's value from one source.
#[derive(Clone)]
struct Assignment {
    key: String,
    value: String,
    origin: Origin,
}

impl Assignment {
    /// Where the value came from, with the value unless it is a secret.
    fn describe(&self) -> String {
        let secret = setting(&self.key).is_some_and(|setting| setting.secret);
        let value = if secret {
            String::new()
        } else {
            format!("{:?}", self.value)
        };
        match &self.origin {
            Origin::File(path) => format!("{} = {value} in {}", self.key, path.display()),
            Origin::Env(name) if secret => (*name).to_owned(),
            Origin::Env(name) => format!("{name}={value}"),
            Origin::Flag => {
                let flag = setting(&self.key).map_or_else(|| self.key.clone(), Setting::flag);
                format!("--{flag} {value}").trim_end().to_owned()
            }
        }
    }
}

impl fmt::Debug for Assignment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Settings given by the environment and flags, applied over the file (the file is named by
/// them too) in the order given: a later value of a setting wins.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    config_file: Option<PathBuf>,
    values: Vec<Assignment>,
    unknown_variables: Vec<String>,
}

impl Overrides {
    /// The environment's settings, from its variables (`std::env::vars()`): each setting's
    /// variable, the contract's database URL (with its fallback) and `AIBLOX_CONFIG`. Blank
    /// values count as unset; other `AIBLOX_*` variables are kept to be reported.
    pub fn from_env(vars: impl IntoIterator<Item = (String, String)>) -> Overrides {
        let vars: HashMap<String, String> = vars
            .into_iter()
            .filter(|(_, value)| !value.trim().is_empty())
            .collect();
        let lookup = |name: &str| vars.get(name).cloned();
        let mut overrides = Overrides {
            config_file: lookup(CONFIG_FILE_ENV).map(PathBuf::from),
            ..Overrides::default()
        };
        for setting in &SETTINGS {
            let found = match setting.slot {
                Slot::DatabaseUrl => KbConfig::database_url_in_env(lookup),
                _ => lookup(setting.env).map(|value| (setting.env, value)),
            };
            if let Some((name, value)) = found {
                overrides.values.push(Assignment {
                    key: setting.key.to_owned(),
                    value,
                    origin: Origin::Env(name),
                });
            }
        }
        let mut unknown: Vec<String> = vars
            .keys()
            .filter(|name| name.starts_with("AIBLOX_") && *name != CONFIG_FILE_ENV)
            // The test tooling's (AIBLOX_TEST_DATABASE_URL, ...), which a developer's shell
            // and CI export for the tests, not for the service.
            .filter(|name| !name.starts_with(TEST_TOOLING_PREFIX))
            .filter(|name| SETTINGS.iter().all(|setting| setting.env != *name))
            .cloned()
            .collect();
        unknown.sort();
        overrides.unknown_variables = unknown;
        overrides
    }

    /// The setting with TOML key `key` set to `value`, as its command-line flag sets it.
    /// A key that names no setting is refused by [`Settings::resolve`].
    #[must_use]
    pub fn set(mut self, key: &str, value: impl Into<String>) -> Overrides {
        self.values.push(Assignment {
            key: key.to_owned(),
            value: value.into(),
            origin: Origin::Flag,
        });
        self
    }

    /// The TOML file to read (`--config`).
    #[must_use]
    pub fn config_file(mut self, path: impl Into<PathBuf>) -> Overrides {
        self.config_file = Some(path.into());
        self
    }

    /// These overrides, then `other`'s over them.
    #[must_use]
    pub fn then(mut self, other: Overrides) -> Overrides {
        self.config_file = other.config_file.or(self.config_file);
        self.values.extend(other.values);
        self.unknown_variables.extend(other.unknown_variables);
        self
    }

    /// `AIBLOX_*` variables that are no setting of this service (each is ignored), with the
    /// setting meant when the name is close to one: a typo otherwise goes unnoticed.
    pub fn unknown_variables(&self) -> Vec<String> {
        self.unknown_variables
            .iter()
            .map(|name| {
                let nearest = SETTINGS
                    .iter()
                    .map(|setting| setting.env)
                    .chain([CONFIG_FILE_ENV])
                    .map(|known| (edit_distance(name, known), known))
                    .min();
                match nearest {
                    Some((distance, known)) if distance <= 3 => {
                        format!("{name} is not a setting of this service, ignored (did you mean {known}?)")
                    }
                    _ => format!("{name} is not a setting of this service, ignored"),
                }
            })
            .collect()
    }
}

/// Levenshtein distance, for suggesting the setting a misspelt name meant.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous_diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous_diagonal + usize::from(ca != *cb);
            previous_diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

/// The nearest TOML key to `key`, when one is close.
fn nearest_key(key: &str) -> Option<&'static str> {
    SETTINGS
        .iter()
        .map(|setting| (edit_distance(key, setting.key), setting.key))
        .min()
        .filter(|(distance, _)| *distance <= 3)
        .map(|(_, key)| key)
}

/// The settings a TOML file gives, in the file's order.
fn read_file(path: &Path) -> Result<Vec<Assignment>, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| ConfigError(format!("cannot read config file {}: {err}", path.display())))?;
    let in_file =
        |message: String| ConfigError(format!("config file {}: {message}", path.display()));
    let table: toml::Table = text
        .parse()
        .map_err(|err: toml::de::Error| in_file(err.message().trim().to_owned()))?;
    let mut pairs = Vec::new();
    for (name, value) in table {
        match value {
            toml::Value::Table(section) => {
                for (inner, value) in section {
                    pairs.push((format!("{name}.{inner}"), value));
                }
            }
            value => pairs.push((name, value)),
        }
    }
    pairs
        .into_iter()
        .map(|(key, value)| {
            if setting(&key).is_none() {
                let hint = nearest_key(&key)
                    .map(|near| format!(" (did you mean `{near}`?)"))
                    .unwrap_or_default();
                return Err(in_file(format!("unknown setting `{key}`{hint}")));
            }
            let value = match value {
                toml::Value::String(text) => text,
                toml::Value::Integer(number) => number.to_string(),
                toml::Value::Boolean(flag) => flag.to_string(),
                other => {
                    return Err(in_file(format!(
                        "`{key}`: a TOML {} is not accepted here; expected text, a whole \
                         number or true/false",
                        other.type_str()
                    )));
                }
            };
            Ok(Assignment {
                key,
                value,
                origin: Origin::File(path.to_owned()),
            })
        })
        .collect()
}

impl Settings {
    /// Every default, over `database`.
    fn with_defaults(database: KbConfig) -> Settings {
        Settings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            migrate_on_start: true,
            database,
            pool: PoolSettings::default(),
            limits: Limits::default(),
            retrieval: RetrievalSettings::default(),
            embedding: EmbeddingSettings::default(),
            log: LogSettings::default(),
            access: AccessSettings::default(),
        }
    }

    /// Resolves the settings: defaults, the file named by the overrides (if any), then the
    /// overrides themselves in their order (environment, then flags, merged by the caller).
    pub fn resolve(overrides: &Overrides) -> Result<Settings, ConfigError> {
        let mut assignments = match &overrides.config_file {
            Some(path) => read_file(path)?,
            None => Vec::new(),
        };
        assignments.extend(overrides.values.iter().cloned());
        let mut assigned = Vec::with_capacity(assignments.len());
        for assignment in &assignments {
            let setting = setting(&assignment.key).ok_or_else(|| {
                let hint = nearest_key(&assignment.key)
                    .map(|near| format!(" (did you mean `{near}`?)"))
                    .unwrap_or_default();
                ConfigError(format!("unknown setting `{}`{hint}", assignment.key))
            })?;
            assigned.push((setting, assignment));
        }
        let last = |wanted: fn(&Slot) -> bool| {
            assigned
                .iter()
                .rev()
                .find(|(setting, _)| wanted(&setting.slot))
                .map(|(_, assignment)| *assignment)
        };
        // The contract's configuration errors say "invalid configuration" themselves: keep
        // only their reason, and say where the value came from.
        let reason = |assignment: &Assignment, err: aiblox_kb::Error| match err {
            aiblox_kb::Error::Config { message, .. } => {
                ConfigError(format!("{}: {message}", assignment.describe()))
            }
            other => ConfigError(format!("{}: {other}", assignment.describe())),
        };
        let url = last(|slot| matches!(slot, Slot::DatabaseUrl)).ok_or_else(|| {
            ConfigError(format!(
                "no database URL: set {} (or {}), `--database-url`, or `database.url` in the config file",
                KbConfig::DATABASE_URL_ENV,
                KbConfig::DATABASE_URL_FALLBACK_ENV
            ))
        })?;
        let mut database = KbConfig::new(&url.value).map_err(|err| reason(url, err))?;
        if let Some(schema) = last(|slot| matches!(slot, Slot::DatabaseSchema)) {
            database = database
                .with_schema(schema.value.trim())
                .map_err(|err| reason(schema, err))?;
        }
        if let Some(migration_url) = last(|slot| matches!(slot, Slot::DatabaseMigrationUrl)) {
            database = database
                .with_migration_url(migration_url.value.trim())
                .map_err(|err| reason(migration_url, err))?;
        }
        if let Some(read_urls) = last(|slot| matches!(slot, Slot::DatabaseReadUrls)) {
            database = database
                .with_read_replicas(&read_urls.value)
                .map_err(|err| reason(read_urls, err))?;
        }
        if let Some(lag) = last(|slot| matches!(slot, Slot::DatabaseMaxReplicaLag)) {
            let milliseconds: u64 = lag.value.trim().parse().map_err(|_| {
                ConfigError(format!(
                    "{}: database.max_replica_lag_ms must be a whole number of milliseconds",
                    lag.describe()
                ))
            })?;
            database = database.with_max_replica_lag(Duration::from_millis(milliseconds));
        }
        let mut settings = Settings::with_defaults(database);
        for (setting, assignment) in assigned {
            if matches!(setting.slot, Slot::Field(_)) {
                setting
                    .apply(&mut settings, &assignment.value)
                    .map_err(|why| ConfigError(format!("{}: {why}", assignment.describe())))?;
            }
        }
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.retrieval.chunk_overlap_bytes >= self.retrieval.chunk_max_bytes / 2 {
            return Err(ConfigError(
                "retrieval.chunk_overlap_bytes must be under half of retrieval.chunk_max_bytes"
                    .to_owned(),
            ));
        }
        if let Some(dir) = &self.embedding.model {
            let missing: Vec<&str> = ["config.json", "tokenizer.json", "model.safetensors"]
                .into_iter()
                .filter(|file| !dir.join(file).is_file())
                .collect();
            if !missing.is_empty() {
                return Err(ConfigError(format!(
                    "embedding.model {} lacks {}: it must be a model directory in Hugging Face format (`cargo xtask fetch-model` prints one as its last line)",
                    dir.display(),
                    missing.join(", ")
                )));
            }
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|err| ConfigError(format!("log level {:?}: {err}", self.log.level)))?;
        match &self.access.keys_file {
            Some(path) => {
                crate::service::access::Access::open(path).map_err(ConfigError)?;
            }
            None if !self.listen.ip().is_loopback() && !self.access.allow_anonymous => {
                return Err(ConfigError(format!(
                    "refusing to serve {} without API keys: create a key with \
                     `aiblox-orchestrator keys new --name NAME`, add its entry to a keys file and \
                     set AIBLOX_API_KEYS_FILE (docs/operations.md); or set \
                     AIBLOX_ALLOW_ANONYMOUS=true to serve anyone who can reach the port, \
                     deliberately",
                    self.listen
                )));
            }
            None => {}
        }
        Ok(())
    }

    /// Who may call the API under these settings, in words (check-config and the start-up
    /// log say it).
    pub fn access_mode(&self) -> String {
        match &self.access.keys_file {
            Some(path) => format!("API keys from {}", path.display()),
            None if self.listen.ip().is_loopback() => "anonymous callers, on loopback only \
                 (allow_anonymous matters on other addresses; AIBLOX_API_KEYS_FILE requires keys)"
                .to_owned(),
            None => format!(
                "anonymous callers on {}, as allow_anonymous = true",
                self.listen
            ),
        }
    }

    /// What retrieval the settings give, in words (check-config and the start-up log say it).
    pub fn retrieval_modes(&self) -> String {
        match &self.embedding.model {
            Some(model) => format!(
                "hybrid (lexical and dense; model at {})",
                model.display()
            ),
            None => "lexical only (no embedding.model / AIBLOX_EMBEDDING_MODEL; `cargo xtask fetch-model` gets one)".to_owned(),
        }
    }

    /// The settings as TOML, with the database password hidden: what `check-config` prints.
    /// Every setting of [`SETTINGS`] is shown, but those unset (no model, no keys file).
    pub fn to_redacted_toml(&self) -> String {
        let mut text = String::new();
        let mut section = "";
        for setting in &SETTINGS {
            let (this_section, name) = setting.key.split_once('.').unwrap_or(("", setting.key));
            if this_section != section {
                self.end_section(section, &mut text);
                text.push_str(&format!("\n[{this_section}]\n"));
                section = this_section;
            }
            if let Some(value) = setting.show(self) {
                text.push_str(&format!("{name} = {value}\n"));
            }
        }
        self.end_section(section, &mut text);
        text
    }

    /// What a section's values mean together, as a TOML comment after it.
    fn end_section(&self, section: &str, text: &mut String) {
        match section {
            "embedding" => text.push_str(&format!("# retrieval: {}\n", self.retrieval_modes())),
            "access" => text.push_str(&format!("# access: {}\n", self.access_mode())),
            _ => {}
        }
    }
}

/// The table of every setting for `--help`: TOML key, environment variable, default.
pub fn settings_help() -> String {
    let mut text = format!(
        "Settings come from defaults, then the TOML file (--config or {CONFIG_FILE_ENV}), then the\n\
         environment, then flags (each setting's flag is shown above). Every setting, with its\n\
         TOML key, variable and default:\n\n"
    );
    for setting in &SETTINGS {
        text.push_str(&format!(
            "  {:<31} {:<31} {}\n",
            setting.key,
            setting.env,
            setting.default_text()
        ));
    }
    text.push_str(
        "\nOther AIBLOX_* variables are reported at start. `check-config` prints the resolved\n\
         settings with the password hidden.",
    );
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Overrides {
        Overrides::from_env(
            pairs
                .iter()
                .map(|(name, value)| ((*name).to_owned(), (*value).to_owned())),
        )
    }

    /// `aiblox.example.toml` at the repository's root: it parses, shows every default, and
    /// names every setting `check-config` prints (the optional model as a commented line).
    #[test]
    fn the_example_file_parses_shows_the_defaults_and_lists_every_setting() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../aiblox.example.toml");
        let from_example =
            Settings::resolve(&Overrides::default().config_file(example.clone())).unwrap();
        from_example.validate().unwrap();
        let defaults = Settings::resolve(
            &Overrides::default().set("database.url", "postgresql://aiblox@localhost:5432/aiblox"),
        )
        .unwrap();
        assert_eq!(
            from_example.to_redacted_toml(),
            defaults.to_redacted_toml(),
            "the example shows the defaults"
        );

        let keys = |text: &str| -> std::collections::BTreeSet<String> {
            let table: toml::Table = text.parse().unwrap();
            table
                .iter()
                .flat_map(|(key, value)| match value.as_table() {
                    Some(section) => section
                        .keys()
                        .map(|inner| format!("{key}.{inner}"))
                        .collect(),
                    None => vec![key.clone()],
                })
                .collect()
        };
        let text = std::fs::read_to_string(&example).unwrap();
        // Commented-out settings (`# model = ...`) count as listed.
        let uncommented: String = text
            .lines()
            .map(|line| {
                let setting = line.strip_prefix("# ").filter(|rest| {
                    rest.split_once(" = ").is_some_and(|(key, _)| {
                        key.chars().all(|c| c.is_ascii_lowercase() || c == '_')
                    })
                });
                format!("{}\n", setting.unwrap_or(line))
            })
            .collect();
        let mut every = defaults.clone();
        every.embedding.model = Some(PathBuf::from("/model"));
        every.access.keys_file = Some(PathBuf::from("/keys.toml"));
        every.database = every
            .database
            .with_migration_url("postgresql://owner@primary/aiblox")
            .and_then(|database| database.with_read_replica("postgresql://aiblox@replica/aiblox"))
            .unwrap();
        assert_eq!(keys(&uncommented), keys(&every.to_redacted_toml()));
    }

    /// A value as the TOML file writes it: whole numbers and booleans bare, the rest quoted.
    fn toml_literal(text: &str) -> toml::Value {
        match text {
            "true" | "false" => toml::Value::Boolean(text == "true"),
            _ => text.parse::<i64>().map_or_else(
                |_| toml::Value::String(text.to_owned()),
                toml::Value::Integer,
            ),
        }
    }

    /// A shown value as text, to compare with what was set.
    fn plain(value: Option<toml::Value>) -> String {
        match value {
            Some(toml::Value::String(text)) => text,
            Some(other) => other.to_string(),
            None => "(unset)".to_owned(),
        }
    }

    /// The fields of `settings` whose values differ from `defaults`', read from `Debug`
    /// (independent of the table, so a setting wired to the wrong field is caught).
    fn changed_fields(settings: &Settings, defaults: &Settings) -> Vec<String> {
        let fields = |settings: &Settings| -> std::collections::BTreeSet<String> {
            format!("{settings:?}")
                .split([',', '{', '}'])
                .map(str::trim)
                .filter(|part| part.contains(": "))
                .map(str::to_owned)
                .collect()
        };
        let before = fields(defaults);
        fields(settings)
            .difference(&before)
            .map(|part| part.split(": ").next().unwrap_or_default().to_owned())
            .collect()
    }

    /// The table is the one home of the settings: every setting, set to a value other than its
    /// default from the file, from its variable and from its flag in turn, resolves to that
    /// value, and the `--help` table names its key, variable and default.
    #[test]
    fn every_setting_parses_from_the_file_the_environment_and_a_flag_and_is_in_the_help() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("model");
        std::fs::create_dir(&model).unwrap();
        for file in ["config.json", "tokenizer.json", "model.safetensors"] {
            std::fs::write(model.join(file), "").unwrap();
        }
        let keys = dir.path().join("keys.toml");
        let (_, entry) = crate::service::access::new_key("table", None, None).unwrap();
        std::fs::write(&keys, entry).unwrap();
        let url = "postgresql://app@db.internal/kb";
        let with_url =
            |overrides: Overrides| env(&[(KbConfig::DATABASE_URL_ENV, url)]).then(overrides);
        let defaults = Settings::resolve(&with_url(Overrides::default())).unwrap();
        let help = settings_help();
        for setting in &SETTINGS {
            let row = help
                .lines()
                .find(|line| line.split_whitespace().next() == Some(setting.key))
                .unwrap_or_else(|| panic!("{} is not in the help:\n{help}", setting.key));
            assert!(
                row.contains(setting.env) && row.trim_end().ends_with(&setting.default_text()),
                "{row}"
            );
            let example = match setting.key {
                "embedding.model" => model.display().to_string(),
                "access.keys_file" => keys.display().to_string(),
                _ => setting.example.to_owned(),
            };
            let expected = if setting.secret {
                // Several URLs (the read replicas') are separated by white space.
                example
                    .split_whitespace()
                    .map(|url| KbConfig::new(url).unwrap().redacted_url())
                    .collect::<Vec<_>>()
                    .join(" ")
            } else {
                example.clone()
            };
            assert_ne!(
                expected,
                plain(setting.show(&defaults)),
                "{}: the example must differ from the default",
                setting.key
            );
            let file = dir.path().join(format!("{}.toml", setting.key));
            let line = format!(
                "{} = {}\n",
                setting.key.rsplit('.').next().unwrap(),
                toml_literal(&example)
            );
            let text = match setting.key.split_once('.') {
                Some((section, _)) => format!("[{section}]\n{line}"),
                None => line,
            };
            std::fs::write(&file, text).unwrap();
            let from = |overrides: Overrides| match setting.slot {
                Slot::DatabaseUrl => overrides,
                _ => with_url(overrides),
            };
            let sources = [
                ("the file", from(Overrides::default().config_file(&file))),
                ("the environment", from(env(&[(setting.env, &example)]))),
                (
                    "a flag",
                    from(Overrides::default().set(setting.key, &example)),
                ),
            ];
            for (source, overrides) in sources {
                let settings = Settings::resolve(&overrides)
                    .unwrap_or_else(|err| panic!("{} from {source}: {err}", setting.key));
                assert_eq!(
                    plain(setting.show(&settings)),
                    expected,
                    "{} from {source}",
                    setting.key
                );
                let changed = changed_fields(&settings, &defaults);
                let name = setting.key.rsplit('.').next().unwrap();
                assert!(
                    changed.len() == 1 && changed[0].ends_with(name),
                    "{} from {source} changed {changed:?}",
                    setting.key
                );
            }
        }
    }

    /// docs/operations.md's table of limits states each setting's default as the table has it.
    #[test]
    fn the_operations_guide_states_the_defaults_of_the_table() {
        let guide = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/operations.md");
        let guide = std::fs::read_to_string(guide).unwrap();
        let mut stated = 0;
        for row in guide.lines().filter(|line| line.starts_with("| `")) {
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            let key = cells[1].split('`').nth(1).unwrap_or_default();
            if let Some(setting) = setting(key) {
                let default = cells[2].trim_matches('`');
                assert_eq!(default, setting.default_text(), "{row}");
                stated += 1;
            }
        }
        assert!(stated >= 6, "the guide's table of limits is gone");
    }

    #[test]
    fn unknown_variables_are_reported_with_the_setting_meant_and_known_ones_are_not() {
        let overrides = env(&[
            ("AIBLOX_POOL_MAXSIZE", "3"),
            ("AIBLOX_SOMETHING_ELSE", "1"),
            ("AIBLOX_CONFIG", "/etc/aiblox.toml"),
            ("AIBLOX_KB_DATABASE_URL", "postgresql://a@h/x"),
            ("AIBLOX_LISTEN", "127.0.0.1:1"),
            ("DATABASE_URL", "postgresql://a@h/y"),
            ("AIBLOX_BLANK_TYPO", " "),
            ("AIBLOX_TEST_REQUIRE_PGBOUNCER", "1"),
            ("PATH", "/usr/bin"),
        ]);
        assert_eq!(
            overrides.unknown_variables(),
            [
                "AIBLOX_POOL_MAXSIZE is not a setting of this service, ignored (did you mean \
                 AIBLOX_POOL_MAX_SIZE?)",
                "AIBLOX_SOMETHING_ELSE is not a setting of this service, ignored",
            ]
        );
    }

    /// The URL fallback is the contract's: `AIBLOX_KB_DATABASE_URL`, else `DATABASE_URL`; a
    /// bad URL is refused naming where it came from, never repeating it.
    #[test]
    fn the_database_url_falls_back_as_the_contract_says_and_is_never_repeated() {
        let url_of = |pairs: &[(&str, &str)]| {
            Settings::resolve(&env(pairs))
                .unwrap()
                .database
                .redacted_url()
        };
        assert_eq!(
            url_of(&[("DATABASE_URL", "postgresql://a@fallback/x")]),
            "postgresql://a@fallback:5432/x"
        );
        assert_eq!(
            url_of(&[
                ("DATABASE_URL", "postgresql://a@fallback/x"),
                ("AIBLOX_KB_DATABASE_URL", "postgresql://a@primary/x"),
            ]),
            "postgresql://a@primary:5432/x"
        );
        let bad = "postgresql://app:hunter2@db:notaport/kb";
        for (overrides, origin) in [
            (env(&[("DATABASE_URL", bad)]), "DATABASE_URL: "),
            (
                Overrides::default().set("database.url", bad),
                "--database-url: ",
            ),
        ] {
            let err = Settings::resolve(&overrides).unwrap_err().to_string();
            assert!(err.contains(origin) && !err.contains("hunter2"), "{err}");
            assert!(!format!("{overrides:?}").contains("hunter2"));
        }
    }

    #[test]
    fn defaults_then_file_then_env_then_flags() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("aiblox.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:9000\"\n[database]\nurl = \"postgresql://app:filesecret@db/kb\"\nschema = \"kb_file\"\n\
             [pool]\nmax_size = 4\n[limits]\nrequest_timeout_ms = 900\n[access]\nallow_anonymous = true\n",
        )
        .unwrap();
        let from_env = env(&[
            ("AIBLOX_KB_SCHEMA", "kb_env"),
            ("AIBLOX_POOL_MAX_SIZE", "6"),
        ])
        .config_file(file);
        let flags = Overrides::default().set("database.schema", "kb_flag");
        let settings = Settings::resolve(&from_env.then(flags)).unwrap();
        assert_eq!(
            settings.listen.to_string(),
            "0.0.0.0:9000",
            "file over default"
        );
        assert_eq!(
            settings.database.schema(),
            "kb_flag",
            "flag over env over file"
        );
        assert_eq!(settings.pool.max_size, 6, "env over file");
        assert_eq!(settings.limits.request_timeout_ms, 900);
        assert_eq!(
            settings.limits.max_body_bytes,
            Limits::default().max_body_bytes,
            "default where nothing is set"
        );
        let shown = settings.to_redacted_toml();
        assert!(
            !shown.contains("filesecret") && !format!("{settings:?}").contains("filesecret"),
            "{shown}"
        );
        assert!(shown.contains("postgresql://app:***@db:5432/kb"), "{shown}");
    }

    #[test]
    fn check_config_says_whether_retrieval_is_hybrid_or_lexical_only() {
        let lexical =
            Settings::resolve(&env(&[("AIBLOX_KB_DATABASE_URL", "postgresql://a@h/x")])).unwrap();
        let shown = lexical.to_redacted_toml();
        assert!(
            shown.contains("# retrieval: lexical only") && shown.contains("fetch-model"),
            "{shown}"
        );
        let model = tempfile::tempdir().unwrap();
        let with_model = |model: &Path| {
            env(&[
                ("AIBLOX_KB_DATABASE_URL", "postgresql://a@h/x"),
                ("AIBLOX_EMBEDDING_PRECISION", "f32"),
            ])
            .set("embedding.model", model.display().to_string())
        };
        let refused = Settings::resolve(&with_model(model.path())).unwrap_err();
        assert!(
            refused
                .to_string()
                .contains("lacks config.json, tokenizer.json, model.safetensors"),
            "{refused}"
        );
        for file in ["config.json", "tokenizer.json", "model.safetensors"] {
            std::fs::write(model.path().join(file), "").unwrap();
        }
        let hybrid = Settings::resolve(&with_model(model.path())).unwrap();
        let shown = hybrid.to_redacted_toml();
        assert!(
            shown.contains(&format!("model = {:?}", model.path().display().to_string())),
            "{shown}"
        );
        assert!(shown.contains("precision = \"f32\""), "{shown}");
        assert!(shown.contains("# retrieval: hybrid"), "{shown}");
        let refused = Settings::resolve(&env(&[
            ("AIBLOX_KB_DATABASE_URL", "postgresql://a@h/x"),
            ("AIBLOX_EMBEDDING_PRECISION", "f16"),
        ]))
        .unwrap_err();
        assert!(refused.to_string().contains("`int8` or `f32`"), "{refused}");
    }

    #[test]
    fn bad_settings_are_refused_with_the_reason() {
        let base = || env(&[("AIBLOX_KB_DATABASE_URL", "postgresql://a@h/x")]);
        let cases: Vec<(Overrides, &str)> = vec![
            (Overrides::default(), "no database URL"),
            (
                base().set("listen", "localhost"),
                "--listen \"localhost\": not host:port",
            ),
            (
                base().set("database.schema", "Bad-Name"),
                "--schema \"Bad-Name\": invalid schema name",
            ),
            (base().set("log.format", "xml"), "use `human` or `json`"),
            (
                base().then(env(&[("AIBLOX_POOL_MAX_SIZE", "many")])),
                "AIBLOX_POOL_MAX_SIZE=\"many\": expected a whole number",
            ),
            (
                base().then(env(&[("AIBLOX_POOL_MAX_SIZE", "0")])),
                "AIBLOX_POOL_MAX_SIZE=\"0\": pool.max_size must be 1 to 1000",
            ),
            (
                base().set("retrieval.chunk_overlap_bytes", "600"),
                "must be under half of retrieval.chunk_max_bytes",
            ),
            (
                base().set("pool.max_sise", "3"),
                "unknown setting `pool.max_sise` (did you mean `pool.max_size`?)",
            ),
            (
                base().config_file("/nonexistent/aiblox.toml"),
                "cannot read config file",
            ),
        ];
        for (overrides, expected) in cases {
            let err = Settings::resolve(&overrides).unwrap_err().to_string();
            assert!(err.contains(expected), "{expected}: {err}");
        }
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "[pool]\nmax_sise = 3\n").unwrap();
        let err = Settings::resolve(&base().config_file(&file))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown setting `pool.max_sise` (did you mean `pool.max_size`?)"),
            "{err}"
        );
        std::fs::write(&file, "[pool]\nmax_size = 0\n").unwrap();
        let err = Settings::resolve(&base().config_file(&file))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pool.max_size = \"0\" in ") && err.contains("must be 1 to 1000"),
            "{err}"
        );
        std::fs::write(&file, "[pool]\nmax_size = [3]\n").unwrap();
        let err = Settings::resolve(&base().config_file(&file))
            .unwrap_err()
            .to_string();
        assert!(err.contains("a TOML array is not accepted"), "{err}");
    }
}
