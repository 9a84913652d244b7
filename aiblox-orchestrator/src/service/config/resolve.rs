//! Resolving the settings: every default, then the file and the overrides in their order, then
//! the checks that span settings (chunk sizes, the model's files, the keys file, anonymous
//! access off loopback); and the resolved settings as `check-config` prints them.

use std::net::SocketAddr;

use aiblox_kb::KbConfig;

use super::ConfigError;
use super::settings::{
    AccessSettings, EmbeddingSettings, Limits, LogFormat, LogSettings, PoolSettings, Precision,
    RetrievalSettings, Settings,
};
use super::sources::{Overrides, nearest_key, read_file};
use super::table::{Command, SETTINGS, Slot, setting};

impl Settings {
    /// Every default (each row's of [`SETTINGS`]), over `database`.
    pub(super) fn with_defaults(database: KbConfig) -> Settings {
        let mut settings = Settings::unset(database);
        for setting in &SETTINGS {
            if let (Slot::Field(_), Some(default)) = (&setting.slot, setting.default) {
                setting
                    .apply(&mut settings, default)
                    .expect("the table's defaults are values of their settings (tested)");
            }
        }
        settings
    }

    /// The settings' shape before any default: zeros and nothing, replaced by every row's
    /// default in [`Settings::with_defaults`] (a test fails if a setting keeps one of these).
    fn unset(database: KbConfig) -> Settings {
        Settings {
            listen: SocketAddr::from(([0, 0, 0, 0], 0)),
            migrate_on_start: false,
            database,
            pool: PoolSettings {
                max_size: 0,
                open_at_start: 0,
                wait_timeout_ms: 0,
                connect_timeout_ms: 0,
            },
            limits: Limits {
                request_timeout_ms: 0,
                max_body_bytes: 0,
                max_write_body_bytes: 0,
                max_query_chars: 0,
            },
            retrieval: RetrievalSettings {
                candidates: 0,
                chunk_max_bytes: 0,
                chunk_overlap_bytes: 0,
                max_chunks_per_item: 0,
            },
            embedding: EmbeddingSettings {
                model: None,
                precision: Precision::F32,
            },
            log: LogSettings {
                format: LogFormat::Json,
                level: String::new(),
            },
            access: AccessSettings {
                keys_file: None,
                allow_anonymous: false,
            },
        }
    }

    /// The defaults of every setting, over a database that is never connected to (for the
    /// sections' `Default`).
    pub(super) fn defaults() -> Settings {
        Settings::with_defaults(super::table::placeholder_database())
    }

    /// Resolves the settings: defaults, the file named by the overrides (if any), then the
    /// overrides themselves in their order (environment, then flags, merged by the caller).
    pub fn resolve(overrides: &Overrides) -> Result<Settings, ConfigError> {
        Settings::resolve_for(overrides, Command::Serve)
    }

    /// [`Settings::resolve`] for `command`: every value given is parsed, but only the settings
    /// the command reads are checked against each other (`migrate` does not open the keys
    /// file, nor look for the model).
    pub fn resolve_for(overrides: &Overrides, command: Command) -> Result<Settings, ConfigError> {
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
        let url = last(|slot| matches!(slot, Slot::Database(part) if part.makes_the_configuration));
        if url.is_none() {
            return Err(ConfigError(format!(
                "no database URL: set {} (or {}), `--database-url`, or `database.url` in the config file",
                KbConfig::DATABASE_URL_ENV,
                KbConfig::DATABASE_URL_FALLBACK_ENV
            )));
        }
        // The database rows in the table's order, the URL first: each changes the
        // configuration the ones before made.
        let mut database = None;
        for setting in &SETTINGS {
            let Slot::Database(part) = &setting.slot else {
                continue;
            };
            let Some(assignment) = assigned
                .iter()
                .rev()
                .find(|(assigned, _)| std::ptr::eq(*assigned, setting))
                .map(|(_, assignment)| *assignment)
            else {
                continue;
            };
            database = Some(
                (part.apply)(database, &assignment.value)
                    .map_err(|why| ConfigError(format!("{}: {why}", assignment.describe())))?,
            );
        }
        let database = database.expect("the URL is assigned, and makes the configuration");
        let mut settings = Settings::with_defaults(database);
        for (setting, assignment) in assigned {
            if matches!(setting.slot, Slot::Field(_)) {
                setting
                    .apply(&mut settings, &assignment.value)
                    .map_err(|why| ConfigError(format!("{}: {why}", assignment.describe())))?;
            }
        }
        settings.validate(command)?;
        Ok(settings)
    }

    pub(super) fn validate(&self, command: Command) -> Result<(), ConfigError> {
        tracing_subscriber::EnvFilter::try_new(&self.log.level)
            .map_err(|err| ConfigError(format!("log level {:?}: {err}", self.log.level)))?;
        if command == Command::Migrate {
            return Ok(());
        }
        if self.retrieval.chunk_overlap_bytes >= self.retrieval.chunk_max_bytes / 2 {
            return Err(ConfigError(
                "retrieval.chunk_overlap_bytes must be under half of retrieval.chunk_max_bytes"
                    .to_owned(),
            ));
        }
        if !command.reads_all() {
            return Ok(());
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
