//! The database rows of [`super::SETTINGS`]: how each part of the contract's configuration
//! ([`KbConfig`]) is set from text, shown, and said by default (the contract's defaults).

use aiblox_kb::KbConfig;

/// How a part of the contract's configuration is set, shown and said by default: the database
/// rows of [`super::SETTINGS`] are applied in their order, the URL first (it makes the configuration
/// the others change).
#[derive(Clone, Copy)]
pub(super) struct DatabasePart {
    /// The URL: required, and applied first (no configuration exists before it).
    pub(super) makes_the_configuration: bool,
    /// The configuration with this part set from the text, or why the text is refused.
    pub(super) apply: fn(Option<KbConfig>, &str) -> Result<KbConfig, String>,
    /// The part as TOML, secrets redacted (none: unset).
    pub(super) show: fn(&KbConfig) -> Option<toml::Value>,
    /// The default, in words.
    pub(super) default: fn() -> String,
}

impl DatabasePart {
    /// The configuration `database` with `change` made; a refusal in the contract's words.
    fn change(
        database: Option<KbConfig>,
        change: impl FnOnce(KbConfig) -> Result<KbConfig, aiblox_kb::Error>,
    ) -> Result<KbConfig, String> {
        let database = database.ok_or_else(|| "set the database URL first".to_owned())?;
        change(database).map_err(refusal)
    }

    pub(super) const URL: DatabasePart = DatabasePart {
        makes_the_configuration: true,
        apply: |_, text| KbConfig::new(text).map_err(refusal),
        show: |database| Some(toml::Value::String(database.redacted_url())),
        default: || "none (required; a secret)".to_owned(),
    };
    pub(super) const SCHEMA: DatabasePart = DatabasePart {
        makes_the_configuration: false,
        apply: |database, text| DatabasePart::change(database, |d| d.with_schema(text.trim())),
        show: |database| Some(toml::Value::String(database.schema().to_owned())),
        default: || KbConfig::DEFAULT_SCHEMA.to_owned(),
    };
    pub(super) const MIGRATION_URL: DatabasePart = DatabasePart {
        makes_the_configuration: false,
        apply: |database, text| {
            DatabasePart::change(database, |d| d.with_migration_url(text.trim()))
        },
        show: |database| database.redacted_migration_url().map(toml::Value::String),
        default: || "none (the database URL; a secret)".to_owned(),
    };
    pub(super) const READ_URLS: DatabasePart = DatabasePart {
        makes_the_configuration: false,
        apply: |database, text| DatabasePart::change(database, |d| d.with_read_replicas(text)),
        show: |database| {
            Some(database.redacted_read_replicas().join(" "))
                .filter(|urls| !urls.is_empty())
                .map(toml::Value::String)
        },
        default: || "none (reads go to the database URL; secrets)".to_owned(),
    };
    pub(super) const MAX_REPLICA_LAG: DatabasePart = DatabasePart {
        makes_the_configuration: false,
        apply: |database, text| {
            let milliseconds: u64 = text.trim().parse().map_err(|_| {
                "database.max_replica_lag_ms must be a whole number of milliseconds".to_owned()
            })?;
            DatabasePart::change(database, |d| {
                Ok(d.with_max_replica_lag(std::time::Duration::from_millis(milliseconds)))
            })
        },
        show: |database| {
            Some(toml::Value::Integer(
                i64::try_from(database.max_replica_lag().as_millis()).unwrap_or(i64::MAX),
            ))
        },
        default: || KbConfig::DEFAULT_MAX_REPLICA_LAG.as_millis().to_string(),
    };
}

/// A refusal of the contract, in its words: its configuration errors say "invalid
/// configuration" themselves, so only their reason is kept.
fn refusal(err: aiblox_kb::Error) -> String {
    match err {
        aiblox_kb::Error::Config { message, .. } => message,
        other => other.to_string(),
    }
}
