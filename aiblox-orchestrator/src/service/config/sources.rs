//! Where values come from: the TOML file, the environment and the flags, kept in order as
//! [`Overrides`], with the names of unknown variables and keys checked against the table.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use aiblox_kb::KbConfig;

use super::table::{SETTINGS, Setting, Slot, setting};
use super::{CONFIG_FILE_ENV, ConfigError, TEST_TOOLING_PREFIX};

/// Where a value came from, as messages name it.
#[derive(Clone, PartialEq, Eq)]
pub(super) enum Origin {
    File(PathBuf),
    Env(&'static str),
    Flag,
}

/// One setting's value from one source.
#[derive(Clone)]
pub(super) struct Assignment {
    pub(super) key: String,
    pub(super) value: String,
    pub(super) origin: Origin,
}

impl Assignment {
    /// Where the value came from, with the value unless it is a secret.
    pub(super) fn describe(&self) -> String {
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
    pub(super) config_file: Option<PathBuf>,
    pub(super) values: Vec<Assignment>,
    pub(super) unknown_variables: Vec<String>,
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
                Slot::Database(part) if part.makes_the_configuration => {
                    KbConfig::database_url_in_env(lookup)
                }
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
pub(super) fn edit_distance(a: &str, b: &str) -> usize {
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
pub(super) fn nearest_key(key: &str) -> Option<&'static str> {
    SETTINGS
        .iter()
        .map(|setting| (edit_distance(key, setting.key), setting.key))
        .min()
        .filter(|(distance, _)| *distance <= 3)
        .map(|(_, key)| key)
}

/// The settings a TOML file gives, in the file's order.
pub(super) fn read_file(path: &Path) -> Result<Vec<Assignment>, ConfigError> {
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
