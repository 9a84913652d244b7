//! Settings of the service, layered: defaults, then an optional TOML file, then environment
//! variables (`AIBLOX_*`, and the contract's own `AIBLOX_KB_DATABASE_URL`/`AIBLOX_KB_SCHEMA`),
//! then command-line flags. The database URL is a secret: it is shown redacted everywhere.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aiblox_kb::KbConfig;
use serde::{Deserialize, Serialize};

/// A setting that could not be used: which one, and why.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AccessSettings {
    /// A TOML file of `[[key]]` entries (name, sha256 of the token, optional sources and
    /// requests_per_second); re-read on SIGHUP. None: no keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys_file: Option<PathBuf>,
    /// Serve without keys on an address other than loopback (off: such a start is refused).
    pub allow_anonymous: bool,
}

/// Connection pool settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PoolSettings {
    /// Most connections.
    pub max_size: usize,
    /// How long a request waits for a connection before 503, in milliseconds.
    pub wait_timeout_ms: u64,
    /// How long opening a connection may take, in milliseconds.
    pub connect_timeout_ms: u64,
}

/// Limits on requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Total time budget of one query, in milliseconds.
    pub request_timeout_ms: u64,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Longest query text, in characters.
    pub max_query_chars: usize,
}

/// Retrieval, chunking and evidence settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EmbeddingSettings {
    /// Directory of a sentence-embedding model in Hugging Face format (`cargo xtask
    /// fetch-model` prints one); none: lexical retrieval only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<PathBuf>,
    /// `int8` (default) or `f32`.
    pub precision: Precision,
}

/// How the dense leg holds vectors in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// One byte per value and a scale per vector (a quarter of f32's memory).
    #[default]
    Int8,
    /// Four bytes per value, as stored.
    F32,
}

/// Log settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSettings {
    /// `human` or `json`.
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info` or `aiblox_orchestrator=debug,info`.
    pub level: String,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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

impl Limits {
    pub(crate) fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}

/// The TOML file's shape: every key optional, unknown keys refused.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    listen: Option<String>,
    migrate_on_start: Option<bool>,
    #[serde(default)]
    database: FileDatabase,
    pool: Option<PoolSettings>,
    limits: Option<Limits>,
    retrieval: Option<RetrievalSettings>,
    embedding: Option<EmbeddingSettings>,
    log: Option<LogSettings>,
    access: Option<AccessSettings>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDatabase {
    url: Option<String>,
    schema: Option<String>,
}

/// Values from flags or the environment, applied over the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--config` / `AIBLOX_CONFIG`.
    pub config_file: Option<PathBuf>,
    /// `--listen` / `AIBLOX_LISTEN`.
    pub listen: Option<String>,
    /// `--database-url` / `AIBLOX_KB_DATABASE_URL` (or `DATABASE_URL`).
    pub database_url: Option<String>,
    /// `--schema` / `AIBLOX_KB_SCHEMA`.
    pub schema: Option<String>,
    /// `--no-migrate` / `AIBLOX_MIGRATE_ON_START`.
    pub migrate_on_start: Option<bool>,
    /// `--embedding-model` / `AIBLOX_EMBEDDING_MODEL`.
    pub embedding_model: Option<PathBuf>,
    /// `AIBLOX_EMBEDDING_PRECISION`.
    pub embedding_precision: Option<String>,
    /// `--log-format` / `AIBLOX_LOG_FORMAT`.
    pub log_format: Option<String>,
    /// `--log-level` / `AIBLOX_LOG_LEVEL`.
    pub log_level: Option<String>,
    /// `--api-keys-file` / `AIBLOX_API_KEYS_FILE`.
    pub api_keys_file: Option<PathBuf>,
    /// `AIBLOX_ALLOW_ANONYMOUS` (`true` or `false`, as text).
    pub allow_anonymous: Option<String>,
    /// Numeric settings by environment name (`AIBLOX_POOL_MAX_SIZE`, ...), as text.
    pub numbers: Vec<(&'static str, String)>,
}

/// Numeric settings that the environment may set, with where they go.
pub const NUMERIC_ENV: [&str; 9] = [
    "AIBLOX_POOL_MAX_SIZE",
    "AIBLOX_POOL_WAIT_TIMEOUT_MS",
    "AIBLOX_POOL_CONNECT_TIMEOUT_MS",
    "AIBLOX_REQUEST_TIMEOUT_MS",
    "AIBLOX_MAX_BODY_BYTES",
    "AIBLOX_MAX_QUERY_CHARS",
    "AIBLOX_RETRIEVAL_CANDIDATES",
    "AIBLOX_CHUNK_MAX_BYTES",
    "AIBLOX_CHUNK_OVERLAP_BYTES",
];

impl Overrides {
    /// The environment's overrides, read through `lookup`.
    pub fn from_env(lookup: impl Fn(&str) -> Option<String>) -> Overrides {
        let set = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        Overrides {
            config_file: set("AIBLOX_CONFIG").map(PathBuf::from),
            listen: set("AIBLOX_LISTEN"),
            database_url: set("AIBLOX_KB_DATABASE_URL").or_else(|| set("DATABASE_URL")),
            schema: set("AIBLOX_KB_SCHEMA"),
            migrate_on_start: set("AIBLOX_MIGRATE_ON_START")
                .map(|value| !matches!(value.as_str(), "0" | "false" | "no" | "off")),
            embedding_model: set("AIBLOX_EMBEDDING_MODEL").map(PathBuf::from),
            embedding_precision: set("AIBLOX_EMBEDDING_PRECISION"),
            log_format: set("AIBLOX_LOG_FORMAT"),
            log_level: set("AIBLOX_LOG_LEVEL"),
            api_keys_file: set("AIBLOX_API_KEYS_FILE").map(PathBuf::from),
            allow_anonymous: set("AIBLOX_ALLOW_ANONYMOUS"),
            numbers: NUMERIC_ENV
                .iter()
                .filter_map(|name| set(name).map(|value| (*name, value)))
                .collect(),
        }
    }

    /// `other`'s values where it has them, ours elsewhere.
    pub fn then(mut self, other: Overrides) -> Overrides {
        self.config_file = other.config_file.or(self.config_file);
        self.listen = other.listen.or(self.listen);
        self.database_url = other.database_url.or(self.database_url);
        self.schema = other.schema.or(self.schema);
        self.migrate_on_start = other.migrate_on_start.or(self.migrate_on_start);
        self.embedding_model = other.embedding_model.or(self.embedding_model);
        self.embedding_precision = other.embedding_precision.or(self.embedding_precision);
        self.log_format = other.log_format.or(self.log_format);
        self.log_level = other.log_level.or(self.log_level);
        self.api_keys_file = other.api_keys_file.or(self.api_keys_file);
        self.allow_anonymous = other.allow_anonymous.or(self.allow_anonymous);
        self.numbers.extend(other.numbers);
        self
    }
}

impl Settings {
    /// Resolves the settings: defaults, the file named by the overrides (if any), then the
    /// overrides themselves (environment overridden by flags, merged by the caller).
    pub fn resolve(overrides: &Overrides) -> Result<Settings, ConfigError> {
        let file = match &overrides.config_file {
            Some(path) => read_file(path)?,
            None => FileSettings::default(),
        };
        let error = |message: String| ConfigError(message);

        let listen_text = overrides
            .listen
            .clone()
            .or(file.listen)
            .unwrap_or_else(|| "127.0.0.1:8080".to_owned());
        let listen = listen_text.parse().map_err(|_| {
            error(format!(
                "listen address {listen_text:?} is not host:port (e.g. 127.0.0.1:8080)"
            ))
        })?;
        let url = overrides.database_url.clone().or(file.database.url).ok_or_else(|| {
            error("no database URL: set AIBLOX_KB_DATABASE_URL (or DATABASE_URL), `--database-url`, or `database.url` in the config file".to_owned())
        })?;
        // The contract's configuration errors say "invalid configuration" themselves: keep
        // only their reason, and name the setting.
        let reason = |setting: &str, err: aiblox_kb::Error| match err {
            aiblox_kb::Error::Config { message } => error(format!("{setting}: {message}")),
            other => error(format!("{setting}: {other}")),
        };
        let mut database = KbConfig::new(&url).map_err(|err| reason("database.url", err))?;
        if let Some(schema) = overrides.schema.clone().or(file.database.schema) {
            database = database
                .with_schema(&schema)
                .map_err(|err| reason("database.schema", err))?;
        }
        let mut settings = Settings {
            listen,
            migrate_on_start: overrides
                .migrate_on_start
                .or(file.migrate_on_start)
                .unwrap_or(true),
            database,
            pool: file.pool.unwrap_or_default(),
            limits: file.limits.unwrap_or_default(),
            retrieval: file.retrieval.unwrap_or_default(),
            embedding: file.embedding.unwrap_or_default(),
            log: file.log.unwrap_or_default(),
            access: file.access.unwrap_or_default(),
        };
        if let Some(path) = &overrides.api_keys_file {
            settings.access.keys_file = Some(path.clone());
        }
        if let Some(allow) = &overrides.allow_anonymous {
            settings.access.allow_anonymous = match allow.as_str() {
                "true" | "1" | "yes" | "on" => true,
                "false" | "0" | "no" | "off" => false,
                other => {
                    return Err(error(format!(
                        "AIBLOX_ALLOW_ANONYMOUS {other:?}: use `true` or `false`"
                    )));
                }
            };
        }
        if let Some(model) = &overrides.embedding_model {
            settings.embedding.model = Some(model.clone());
        }
        if let Some(precision) = &overrides.embedding_precision {
            settings.embedding.precision = match precision.as_str() {
                "int8" => Precision::Int8,
                "f32" => Precision::F32,
                other => {
                    return Err(error(format!(
                        "embedding precision {other:?}: use `int8` or `f32`"
                    )));
                }
            };
        }
        if let Some(format) = &overrides.log_format {
            settings.log.format = match format.as_str() {
                "human" => LogFormat::Human,
                "json" => LogFormat::Json,
                other => {
                    return Err(error(format!(
                        "log format {other:?}: use `human` or `json`"
                    )));
                }
            };
        }
        if let Some(level) = &overrides.log_level {
            settings.log.level = level.clone();
        }
        for (name, value) in &overrides.numbers {
            let number: u64 = value
                .trim()
                .parse()
                .map_err(|_| error(format!("{name}={value:?}: expected a whole number")))?;
            let as_usize = usize::try_from(number).unwrap_or(usize::MAX);
            match *name {
                "AIBLOX_POOL_MAX_SIZE" => settings.pool.max_size = as_usize,
                "AIBLOX_POOL_WAIT_TIMEOUT_MS" => settings.pool.wait_timeout_ms = number,
                "AIBLOX_POOL_CONNECT_TIMEOUT_MS" => settings.pool.connect_timeout_ms = number,
                "AIBLOX_REQUEST_TIMEOUT_MS" => settings.limits.request_timeout_ms = number,
                "AIBLOX_MAX_BODY_BYTES" => settings.limits.max_body_bytes = as_usize,
                "AIBLOX_MAX_QUERY_CHARS" => settings.limits.max_query_chars = as_usize,
                "AIBLOX_RETRIEVAL_CANDIDATES" => {
                    settings.retrieval.candidates = u32::try_from(number).unwrap_or(u32::MAX)
                }
                "AIBLOX_CHUNK_MAX_BYTES" => settings.retrieval.chunk_max_bytes = as_usize,
                "AIBLOX_CHUNK_OVERLAP_BYTES" => settings.retrieval.chunk_overlap_bytes = as_usize,
                _ => {}
            }
        }
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let rule = |ok: bool, message: &str| {
            if ok {
                Ok(())
            } else {
                Err(ConfigError(message.to_owned()))
            }
        };
        rule(
            (1..=1_000).contains(&self.pool.max_size),
            "pool.max_size must be 1 to 1000",
        )?;
        rule(
            self.pool.wait_timeout_ms >= 1,
            "pool.wait_timeout_ms must be at least 1",
        )?;
        rule(
            self.pool.connect_timeout_ms >= 1,
            "pool.connect_timeout_ms must be at least 1",
        )?;
        rule(
            self.limits.request_timeout_ms >= 1,
            "limits.request_timeout_ms must be at least 1",
        )?;
        rule(
            (256..=64 * 1024 * 1024).contains(&self.limits.max_body_bytes),
            "limits.max_body_bytes must be 256 to 67108864",
        )?;
        rule(
            (1..=100_000).contains(&self.limits.max_query_chars),
            "limits.max_query_chars must be 1 to 100000",
        )?;
        rule(
            (1..=1_000).contains(&self.retrieval.candidates),
            "retrieval.candidates must be 1 to 1000",
        )?;
        rule(
            (64..=1_000_000).contains(&self.retrieval.chunk_max_bytes),
            "retrieval.chunk_max_bytes must be 64 to 1000000",
        )?;
        rule(
            self.retrieval.chunk_overlap_bytes < self.retrieval.chunk_max_bytes / 2,
            "retrieval.chunk_overlap_bytes must be under half of retrieval.chunk_max_bytes",
        )?;
        rule(
            (1..=50).contains(&self.retrieval.max_chunks_per_item),
            "retrieval.max_chunks_per_item must be 1 to 50",
        )?;
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
                crate::access::Access::open(path).map_err(ConfigError)?;
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
            None if self.listen.ip().is_loopback() => {
                "anonymous, on loopback only (AIBLOX_API_KEYS_FILE requires keys)".to_owned()
            }
            None => format!("anonymous on {} (AIBLOX_ALLOW_ANONYMOUS=true)", self.listen),
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
    pub fn to_redacted_toml(&self) -> String {
        let database = format!(
            "[database]\nurl = {:?}\nschema = {:?}\n",
            self.database.redacted_url(),
            self.database.schema()
        );
        let sections = [
            ("pool", toml::to_string(&self.pool)),
            ("limits", toml::to_string(&self.limits)),
            ("retrieval", toml::to_string(&self.retrieval)),
            ("embedding", toml::to_string(&self.embedding)),
            ("log", toml::to_string(&self.log)),
            ("access", toml::to_string(&self.access)),
        ];
        let mut text = format!(
            "listen = \"{}\"\nmigrate_on_start = {}\n\n{database}",
            self.listen, self.migrate_on_start
        );
        for (name, body) in sections {
            text.push_str(&format!("\n[{name}]\n{}", body.unwrap_or_default()));
            if name == "embedding" {
                text.push_str(&format!("# retrieval: {}\n", self.retrieval_modes()));
            }
            if name == "access" {
                text.push_str(&format!("# access: {}\n", self.access_mode()));
            }
        }
        text
    }
}

fn read_file(path: &Path) -> Result<FileSettings, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| ConfigError(format!("cannot read config file {}: {err}", path.display())))?;
    toml::from_str(&text)
        .map_err(|err| ConfigError(format!("config file {}: {}", path.display(), err.message())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> Overrides {
        Overrides::from_env(|name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        })
    }

    /// `aiblox.example.toml` at the repository's root: it parses, shows every default, and
    /// names every setting `check-config` prints (the optional model as a commented line).
    #[test]
    fn the_example_file_parses_shows_the_defaults_and_lists_every_setting() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../aiblox.example.toml");
        let from_example = Settings::resolve(&Overrides {
            config_file: Some(example.clone()),
            ..Overrides::default()
        })
        .unwrap();
        from_example.validate().unwrap();
        let defaults = Settings::resolve(&Overrides {
            database_url: Some("postgresql://aiblox@localhost:5432/aiblox".to_owned()),
            ..Overrides::default()
        })
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
        assert_eq!(keys(&uncommented), keys(&every.to_redacted_toml()));
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
        let from_env = Overrides {
            config_file: Some(file),
            ..env(&[
                ("AIBLOX_KB_SCHEMA", "kb_env"),
                ("AIBLOX_POOL_MAX_SIZE", "6"),
            ])
        };
        let flags = Overrides {
            schema: Some("kb_flag".to_owned()),
            ..Overrides::default()
        };
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
        let with_model = |model: &Path| Overrides {
            embedding_model: Some(model.to_owned()),
            ..env(&[
                ("AIBLOX_KB_DATABASE_URL", "postgresql://a@h/x"),
                ("AIBLOX_EMBEDDING_PRECISION", "f32"),
            ])
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
                Overrides {
                    listen: Some("localhost".into()),
                    ..base()
                },
                "is not host:port",
            ),
            (
                Overrides {
                    schema: Some("Bad-Name".into()),
                    ..base()
                },
                "invalid schema name",
            ),
            (
                Overrides {
                    log_format: Some("xml".into()),
                    ..base()
                },
                "use `human` or `json`",
            ),
            (
                Overrides {
                    numbers: vec![("AIBLOX_POOL_MAX_SIZE", "many".into())],
                    ..base()
                },
                "expected a whole number",
            ),
            (
                Overrides {
                    numbers: vec![("AIBLOX_POOL_MAX_SIZE", "0".into())],
                    ..base()
                },
                "pool.max_size must be 1 to 1000",
            ),
            (
                Overrides {
                    config_file: Some("/nonexistent/aiblox.toml".into()),
                    ..base()
                },
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
        let err = Settings::resolve(&Overrides {
            config_file: Some(file),
            ..base()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("unknown field `max_sise`"), "{err}");
    }
}
