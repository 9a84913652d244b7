//! [`SETTINGS`]: one row per setting (its TOML key, variable, help, range, example, and where
//! its value goes), and what each row derives: its flag, its default in words, `--help`'s table.

use aiblox_kb::KbConfig;

use super::CONFIG_FILE_ENV;
pub(super) use super::database::DatabasePart;
use super::settings::Settings;
use super::values::Value;

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
    pub(super) range: Option<(u64, u64)>,
    /// Its value is a secret: never repeated in messages.
    pub(super) secret: bool,
    /// Its default, as the TOML file or its variable would write it (the one home of every
    /// default of the service's own settings: the service, `--help`, `check-config` and the
    /// operations guide read it here); none: unset (an optional file or directory), or, for the
    /// database rows, the contract's default ([`DatabasePart`]).
    pub(super) default: Option<&'static str>,
    /// A valid value other than the default: shown when a value is refused, and set from each
    /// source by the table's own test.
    pub(super) example: &'static str,
    pub(super) slot: Slot,
    /// Which commands read it.
    pub(super) scope: Scope,
}

/// Which commands read a setting: `serve` and `check-config` read every setting; `migrate` and
/// `purge-chunks` only some, and take only their flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scope {
    /// The service alone.
    Service,
    /// Every command that connects: where the knowledge base is.
    Database,
    /// The service and `purge-chunks`: the chunker the cached chunks are kept for.
    Chunking,
    /// Every command that logs.
    Logging,
}

/// A command of the binary that reads settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// `serve`, the default.
    Serve,
    /// `check-config`: resolves and prints every setting.
    CheckConfig,
    /// `migrate`.
    Migrate,
    /// `purge-chunks`.
    PurgeChunks,
}

impl Command {
    /// Whether this command reads every setting.
    pub fn reads_all(self) -> bool {
        matches!(self, Command::Serve | Command::CheckConfig)
    }

    /// Whether this command reads `setting` (and so takes its flag).
    pub fn reads(self, setting: &Setting) -> bool {
        match (self, setting.scope) {
            (Command::Serve | Command::CheckConfig, _) => true,
            (_, Scope::Database | Scope::Logging) => true,
            (Command::PurgeChunks, Scope::Chunking) => true,
            (Command::Migrate | Command::PurgeChunks, _) => false,
        }
    }
}

/// Where a setting's value goes in the settings (its slot).
pub(super) enum Slot {
    /// A field of [`Settings`].
    Field(fn(&mut Settings) -> &mut dyn Value),
    /// A part of the contract's configuration ([`KbConfig`]).
    Database(DatabasePart),
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
            Slot::Database(part) => (part.default)(),
            Slot::Field(_) => match self.show(&Settings::defaults()) {
                Some(toml::Value::String(text)) => text,
                Some(value) => value.to_string(),
                None => "none".to_owned(),
            },
        }
    }

    /// Its value in `settings`, as TOML (none: unset).
    pub(super) fn show(&self, settings: &Settings) -> Option<toml::Value> {
        match self.slot {
            Slot::Database(part) => (part.show)(&settings.database),
            Slot::Field(field) => field(&mut settings.clone()).show(),
        }
    }

    /// Sets its field in `settings` from `text`: the reason when the text is not a value of it.
    pub(super) fn apply(&self, settings: &mut Settings, text: &str) -> Result<(), String> {
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
pub static SETTINGS: [Setting; 25] = [
    Setting {
        key: "listen",
        env: "AIBLOX_LISTEN",
        value_name: "HOST:PORT",
        help: "Address to listen on",
        range: None,
        secret: false,
        default: Some("127.0.0.1:8080"),
        example: "127.0.0.1:9000",
        slot: Slot::Field(|s| &mut s.listen),
        scope: Scope::Service,
    },
    Setting {
        key: "migrate_on_start",
        env: "AIBLOX_MIGRATE_ON_START",
        value_name: "BOOL",
        help: "Run the contract's migrations at start (serve --no-migrate: false)",
        range: None,
        secret: false,
        default: Some("true"),
        example: "false",
        slot: Slot::Field(|s| &mut s.migrate_on_start),
        scope: Scope::Service,
    },
    Setting {
        key: "database.url",
        env: KbConfig::DATABASE_URL_ENV,
        value_name: "URL",
        help: "PostgreSQL URL (the variable falls back to DATABASE_URL); prefer the variable: a password in flags is visible to ps",
        range: None,
        secret: true,
        default: None,
        example: "postgresql://example:secret@db.example:5433/knowledge",
        slot: Slot::Database(DatabasePart::URL),
        scope: Scope::Database,
    },
    Setting {
        key: "database.schema",
        env: KbConfig::SCHEMA_ENV,
        value_name: "NAME",
        help: "Schema of the knowledge base",
        range: None,
        secret: false,
        default: None,
        example: "kb_example",
        slot: Slot::Database(DatabasePart::SCHEMA),
        scope: Scope::Database,
    },
    Setting {
        key: "database.migration_url",
        env: KbConfig::MIGRATION_URL_ENV,
        value_name: "URL",
        help: "PostgreSQL URL migrations connect to, when not the database URL: a direct connection to the primary where the database URL goes through a pooler in transaction mode (the migration lock is a session lock)",
        range: None,
        secret: true,
        default: None,
        example: "postgresql://example:secret@primary.example:5432/knowledge",
        slot: Slot::Database(DatabasePart::MIGRATION_URL),
        scope: Scope::Database,
    },
    Setting {
        key: "database.read_urls",
        env: KbConfig::READ_URLS_ENV,
        value_name: "URLS",
        help: "Read replicas' URLs, separated by spaces: point reads, item and chunk reads and searches go to one within database.max_replica_lag_ms, else to the database URL",
        range: None,
        secret: true,
        default: None,
        example: "postgresql://example:secret@replica1.example/knowledge postgresql://example:secret@replica2.example/knowledge",
        slot: Slot::Database(DatabasePart::READ_URLS),
        scope: Scope::Service,
    },
    Setting {
        key: "database.max_replica_lag_ms",
        env: KbConfig::MAX_REPLICA_LAG_ENV,
        value_name: "MS",
        help: "Replay lag past which a read replica serves no reads until it catches up (measured on the replica every 250 ms)",
        range: None,
        secret: false,
        default: None,
        example: "250",
        slot: Slot::Database(DatabasePart::MAX_REPLICA_LAG),
        scope: Scope::Service,
    },
    Setting {
        key: "pool.max_size",
        env: "AIBLOX_POOL_MAX_SIZE",
        value_name: "N",
        help: "Most database connections",
        range: Some((1, 1_000)),
        secret: false,
        default: Some("16"),
        example: "7",
        slot: Slot::Field(|s| &mut s.pool.max_size),
        scope: Scope::Service,
    },
    Setting {
        key: "pool.open_at_start",
        env: "AIBLOX_POOL_OPEN_AT_START",
        value_name: "N",
        help: "Connections opened at start (at most pool.max_size), so that the first requests do not wait for one to open (0: none)",
        range: Some((0, 1_000)),
        secret: false,
        default: Some("0"),
        example: "16",
        slot: Slot::Field(|s| &mut s.pool.open_at_start),
        scope: Scope::Service,
    },
    Setting {
        key: "pool.wait_timeout_ms",
        env: "AIBLOX_POOL_WAIT_TIMEOUT_MS",
        value_name: "MS",
        help: "How long a request waits for a connection before 503",
        range: Some((1, u32::MAX as u64)),
        secret: false,
        default: Some("2000"),
        example: "1500",
        slot: Slot::Field(|s| &mut s.pool.wait_timeout_ms),
        scope: Scope::Service,
    },
    Setting {
        key: "pool.connect_timeout_ms",
        env: "AIBLOX_POOL_CONNECT_TIMEOUT_MS",
        value_name: "MS",
        help: "How long opening a connection may take",
        range: Some((1, u32::MAX as u64)),
        secret: false,
        default: Some("3000"),
        example: "2500",
        slot: Slot::Field(|s| &mut s.pool.connect_timeout_ms),
        scope: Scope::Service,
    },
    Setting {
        key: "limits.request_timeout_ms",
        env: "AIBLOX_REQUEST_TIMEOUT_MS",
        value_name: "MS",
        help: "Time budget of one query",
        range: Some((1, u32::MAX as u64)),
        secret: false,
        default: Some("5000"),
        example: "4000",
        slot: Slot::Field(|s| &mut s.limits.request_timeout_ms),
        scope: Scope::Service,
    },
    Setting {
        key: "limits.max_body_bytes",
        env: "AIBLOX_MAX_BODY_BYTES",
        value_name: "BYTES",
        help: "Largest request body",
        range: Some((256, 64 * 1024 * 1024)),
        secret: false,
        default: Some("65536"),
        example: "32768",
        slot: Slot::Field(|s| &mut s.limits.max_body_bytes),
        scope: Scope::Service,
    },
    Setting {
        key: "limits.max_write_body_bytes",
        env: "AIBLOX_MAX_WRITE_BODY_BYTES",
        value_name: "BYTES",
        help: "Largest body of an item write (PUT /v1/items/..., a batch)",
        range: Some((256, 512 * 1024 * 1024)),
        secret: false,
        default: Some("33554432"),
        example: "67108864",
        slot: Slot::Field(|s| &mut s.limits.max_write_body_bytes),
        scope: Scope::Service,
    },
    Setting {
        key: "limits.max_query_chars",
        env: "AIBLOX_MAX_QUERY_CHARS",
        value_name: "N",
        help: "Longest query text, in characters",
        range: Some((1, 100_000)),
        secret: false,
        default: Some("2000"),
        example: "1000",
        slot: Slot::Field(|s| &mut s.limits.max_query_chars),
        scope: Scope::Service,
    },
    Setting {
        key: "retrieval.candidates",
        env: "AIBLOX_RETRIEVAL_CANDIDATES",
        value_name: "N",
        help: "Candidate items fetched per query",
        range: Some((1, 1_000)),
        secret: false,
        default: Some("15"),
        example: "25",
        slot: Slot::Field(|s| &mut s.retrieval.candidates),
        scope: Scope::Service,
    },
    Setting {
        key: "retrieval.chunk_max_bytes",
        env: "AIBLOX_CHUNK_MAX_BYTES",
        value_name: "BYTES",
        help: "Largest chunk of text",
        range: Some((64, 1_000_000)),
        secret: false,
        default: Some("1200"),
        example: "900",
        slot: Slot::Field(|s| &mut s.retrieval.chunk_max_bytes),
        scope: Scope::Chunking,
    },
    Setting {
        key: "retrieval.chunk_overlap_bytes",
        env: "AIBLOX_CHUNK_OVERLAP_BYTES",
        value_name: "BYTES",
        help: "Bytes of a chunk repeated at the start of the next (under half the largest chunk)",
        range: Some((0, 500_000)),
        secret: false,
        default: Some("0"),
        example: "100",
        slot: Slot::Field(|s| &mut s.retrieval.chunk_overlap_bytes),
        scope: Scope::Chunking,
    },
    Setting {
        key: "retrieval.max_chunks_per_item",
        env: "AIBLOX_MAX_CHUNKS_PER_ITEM",
        value_name: "N",
        help: "Default cap of passages per item in one answer",
        range: Some((1, crate::protocol::MAX_TOP_K as u64)),
        secret: false,
        default: Some("3"),
        example: "5",
        slot: Slot::Field(|s| &mut s.retrieval.max_chunks_per_item),
        scope: Scope::Service,
    },
    Setting {
        key: "embedding.model",
        env: "AIBLOX_EMBEDDING_MODEL",
        value_name: "DIR",
        help: "Directory of the embedding model (hybrid retrieval; `cargo xtask fetch-model` prints one); none: lexical only",
        range: None,
        secret: false,
        default: None,
        example: "/nonexistent/model",
        slot: Slot::Field(|s| &mut s.embedding.model),
        scope: Scope::Service,
    },
    Setting {
        key: "embedding.precision",
        env: "AIBLOX_EMBEDDING_PRECISION",
        value_name: "int8|f32",
        help: "How the dense leg holds vectors in memory",
        range: None,
        secret: false,
        default: Some("int8"),
        example: "f32",
        slot: Slot::Field(|s| &mut s.embedding.precision),
        scope: Scope::Service,
    },
    Setting {
        key: "log.format",
        env: "AIBLOX_LOG_FORMAT",
        value_name: "human|json",
        help: "Log line format",
        range: None,
        secret: false,
        default: Some("human"),
        example: "json",
        slot: Slot::Field(|s| &mut s.log.format),
        scope: Scope::Logging,
    },
    Setting {
        key: "log.level",
        env: "AIBLOX_LOG_LEVEL",
        value_name: "FILTER",
        help: "A tracing filter such as `info` or `aiblox_orchestrator=debug,info` (RUST_LOG overrides it)",
        range: None,
        secret: false,
        default: Some("info"),
        example: "debug",
        slot: Slot::Field(|s| &mut s.log.level),
        scope: Scope::Logging,
    },
    Setting {
        key: "access.keys_file",
        env: "AIBLOX_API_KEYS_FILE",
        value_name: "FILE",
        help: "The API keys file (`keys new` prints entries for it; re-read on SIGHUP); none: anonymous",
        range: None,
        secret: false,
        default: None,
        example: "/nonexistent/keys.toml",
        slot: Slot::Field(|s| &mut s.access.keys_file),
        scope: Scope::Service,
    },
    Setting {
        key: "access.allow_anonymous",
        env: "AIBLOX_ALLOW_ANONYMOUS",
        value_name: "BOOL",
        help: "Serve without keys on an address other than loopback (off: such a start is refused)",
        range: None,
        secret: false,
        default: Some("false"),
        example: "true",
        slot: Slot::Field(|s| &mut s.access.allow_anonymous),
        scope: Scope::Service,
    },
];

/// The setting with this TOML key.
pub(super) fn setting(key: &str) -> Option<&'static Setting> {
    SETTINGS.iter().find(|setting| setting.key == key)
}

/// A database for showing defaults (never connected to).
pub(super) fn placeholder_database() -> KbConfig {
    KbConfig::new("postgresql://localhost/postgres").expect("a valid URL")
}

/// The table of the settings `command` reads, for its `--help`: TOML key, environment
/// variable, default.
pub fn settings_help(command: Command) -> String {
    let which = if command.reads_all() {
        "Every setting"
    } else {
        "The settings this command reads"
    };
    let mut text = format!(
        "Settings come from defaults, then the TOML file (--config or {CONFIG_FILE_ENV}), then the\n\
         environment, then flags (each setting's flag is shown above). {which}, with its\n\
         TOML key, variable and default:\n\n"
    );
    for setting in SETTINGS.iter().filter(|setting| command.reads(setting)) {
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
