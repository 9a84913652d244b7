//! Settings of the service, from one table ([`SETTINGS`]): each setting's TOML key, environment
//! variable, flag, default and help are written there once, and the TOML file, the environment,
//! the flags, `--help` and `check-config` all read it. Layered: defaults, then an optional TOML
//! file, then environment variables, then flags. The database URL is a secret: it is shown
//! redacted everywhere, and its value never appears in an error.
//!
//! - `settings`: the settings' types, as the service reads them.
//! - `table`: [`SETTINGS`], one row per setting, and what each row derives (flag, default text,
//!   help).
//! - `database`: the database rows, each a part of the contract's configuration.
//! - `values`: how a setting's text becomes its value, and back.
//! - `sources`: the TOML file, the environment and the flags, as [`Overrides`].
//! - `resolve`: defaults, then the sources in order, then the checks across settings.

mod database;
mod resolve;
mod settings;
mod sources;
mod table;
#[cfg(test)]
mod tests;
mod values;

pub use settings::{
    AccessSettings, EmbeddingSettings, Limits, LogFormat, LogSettings, PoolSettings, Precision,
    RetrievalSettings, Settings,
};
pub use sources::Overrides;
pub(crate) use table::setting_names;
pub use table::{Command, SETTINGS, Setting, settings_help};

/// A setting that could not be used: which one, and why.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {0}")]
pub struct ConfigError(String);

/// The environment variable naming the TOML file (`--config` on the command line).
pub const CONFIG_FILE_ENV: &str = "AIBLOX_CONFIG";
/// Variables of the test tooling start so; the service leaves them alone.
const TEST_TOOLING_PREFIX: &str = "AIBLOX_TEST_";
