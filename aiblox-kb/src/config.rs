//! The contract's configuration: the database URL (a secret) and the schema name.

use std::fmt;
use std::time::Duration;

use crate::Error;
use crate::tls::{self, TlsMode};

/// PostgreSQL's identifier length limit (NAMEDATALEN - 1).
const MAX_IDENTIFIER_BYTES: usize = 63;

/// Where the knowledge base lives: a PostgreSQL URL and the schema holding the `kb` tables.
///
/// The URL is a secret: `Debug` and `Display` show it with the password replaced by `***`,
/// and no error of this crate contains it.
///
/// ```
/// use aiblox_kb::KbConfig;
///
/// let config = KbConfig::new("postgresql://app:s3cret@db.internal:5432/knowledge")?
///     .with_schema("kb_staging")?;
/// assert_eq!(config.schema(), "kb_staging");
/// assert!(!format!("{config:?}").contains("s3cret"));
/// assert!(KbConfig::new("postgresql://db/x")?.with_schema("Robert'); DROP").is_err());
/// # Ok::<(), aiblox_kb::Error>(())
/// ```
#[derive(Clone)]
pub struct KbConfig {
    pg: tokio_postgres::Config,
    schema: String,
    tls: TlsMode,
    /// Where migrations connect when not the database URL: (driver configuration, TLS).
    migration: Option<(tokio_postgres::Config, TlsMode)>,
    /// Read replicas: (driver configuration, TLS) of each.
    read_replicas: Vec<(tokio_postgres::Config, TlsMode)>,
    /// How far behind the primary a replica may be and still serve reads.
    max_replica_lag: Duration,
}

impl KbConfig {
    /// The environment variable holding the database URL.
    pub const DATABASE_URL_ENV: &str = "AIBLOX_KB_DATABASE_URL";
    /// Read when [`KbConfig::DATABASE_URL_ENV`] is unset: the common convention.
    pub const DATABASE_URL_FALLBACK_ENV: &str = "DATABASE_URL";
    /// The environment variable holding the schema name.
    pub const SCHEMA_ENV: &str = "AIBLOX_KB_SCHEMA";
    /// The environment variable holding a URL of its own for migrations (optional): a direct
    /// connection to the primary when the database URL goes through a pooler in transaction
    /// mode, which breaks the session lock that serialises migration runners.
    pub const MIGRATION_URL_ENV: &str = "AIBLOX_KB_MIGRATION_URL";
    /// The environment variable listing read replicas' URLs, separated by white space (a URL
    /// may hold commas: several hosts).
    pub const READ_URLS_ENV: &str = "AIBLOX_KB_READ_URLS";
    /// The environment variable holding the replay lag, in milliseconds, past which a replica
    /// serves no reads.
    pub const MAX_REPLICA_LAG_ENV: &str = "AIBLOX_KB_MAX_REPLICA_LAG_MS";
    /// The replay lag past which a replica serves no reads, when none is configured.
    pub const DEFAULT_MAX_REPLICA_LAG: Duration = Duration::from_secs(1);
    /// The schema used when none is configured.
    pub const DEFAULT_SCHEMA: &str = "kb";

    /// A configuration for the database at `database_url` (a `postgresql://` URL or a
    /// `key=value` connection string), with the default schema `kb`.
    pub fn new(database_url: &str) -> Result<Self, Error> {
        let (pg, tls) = parse_url(database_url, "database")?;
        Ok(KbConfig {
            pg,
            schema: Self::DEFAULT_SCHEMA.to_owned(),
            tls,
            migration: None,
            read_replicas: Vec::new(),
            max_replica_lag: Self::DEFAULT_MAX_REPLICA_LAG,
        })
    }

    /// The same configuration with one more read replica, a streaming standby of the
    /// database (same forms as the database URL). A pool then sends point reads, `get_many`,
    /// full-text searches and chunk reads to a replica whose replay lag, measured on the
    /// replica every 250 ms, is within [`KbConfig::with_max_replica_lag`], and to the
    /// primary when none is; writes, migrations and the lexical index's reads stay on the
    /// primary.
    pub fn with_read_replica(mut self, replica_url: &str) -> Result<Self, Error> {
        self.read_replicas
            .push(parse_url(replica_url, "read replica")?);
        Ok(self)
    }

    /// [`KbConfig::with_read_replica`] for each URL of `urls`, a list separated by white space
    /// (a URL may hold commas: several hosts), as [`KbConfig::READ_URLS_ENV`] holds them.
    pub fn with_read_replicas(self, urls: &str) -> Result<Self, Error> {
        urls.split_whitespace()
            .try_fold(self, |config, url| config.with_read_replica(url))
    }

    /// The replay lag past which a replica serves no reads (default 1 s), until it catches
    /// up.
    pub fn with_max_replica_lag(mut self, lag: Duration) -> Self {
        self.max_replica_lag = lag;
        self
    }

    /// The replay lag past which a replica serves no reads.
    pub fn max_replica_lag(&self) -> Duration {
        self.max_replica_lag
    }

    /// The read replicas' URLs, each with its password hidden.
    pub fn redacted_read_replicas(&self) -> Vec<String> {
        self.read_replicas
            .iter()
            .map(|(pg, tls)| redacted_url(pg, tls))
            .collect()
    }

    /// A configuration for each read replica (same schema), for its pool.
    pub(crate) fn for_read_replicas(&self) -> Vec<KbConfig> {
        self.read_replicas
            .iter()
            .map(|(pg, tls)| self.on_server(pg, tls))
            .collect()
    }

    /// The same configuration with migrations connecting to `migration_url` (same forms as
    /// the database URL) instead of the database URL: for a database URL that goes through a
    /// connection pooler in transaction mode (the migration lock is a session lock) or that
    /// may name a standby. Pools never use it.
    pub fn with_migration_url(mut self, migration_url: &str) -> Result<Self, Error> {
        self.migration = Some(parse_url(migration_url, "migration")?);
        Ok(self)
    }

    /// Reads the configuration from the environment: the URL from `AIBLOX_KB_DATABASE_URL`
    /// (or, when unset, `DATABASE_URL`), the schema from `AIBLOX_KB_SCHEMA` (default `kb`).
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// What every binary's `--database-url` and `--schema` flags mean: each value given wins,
    /// else the environment's, as [`KbConfig::from_env`] reads it.
    pub fn from_flags(database_url: Option<&str>, schema: Option<&str>) -> Result<Self, Error> {
        Self::resolve(Some((database_url, schema)), |name| {
            std::env::var(name).ok()
        })
    }

    pub(crate) fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        Self::resolve(None, lookup)
    }

    /// `flags`: the `--database-url` and `--schema` values, when the caller has such flags.
    fn resolve(
        flags: Option<(Option<&str>, Option<&str>)>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, Error> {
        let (url_flag, schema_flag) = flags.unwrap_or_default();
        let set = |name: &str| lookup(name).filter(|value| !value.trim().is_empty());
        let (url, url_source) = match url_flag {
            Some(url) => (url.to_owned(), "--database-url"),
            None => {
                let (source, url) =
                    Self::database_url_in_env(&lookup).ok_or_else(|| Error::Config {
                        message: format!(
                            "no database URL: {}set {} (or {})",
                            if flags.is_some() {
                                "pass --database-url URL or "
                            } else {
                                ""
                            },
                            Self::DATABASE_URL_ENV,
                            Self::DATABASE_URL_FALLBACK_ENV
                        ),
                    })?;
                (url, source)
            }
        };
        let mut config = Self::new(&url).map_err(|err| err.in_setting(url_source))?;
        if let Some(migration_url) = set(Self::MIGRATION_URL_ENV) {
            config = config
                .with_migration_url(&migration_url)
                .map_err(|err| err.in_setting(Self::MIGRATION_URL_ENV))?;
        }
        if let Some(urls) = set(Self::READ_URLS_ENV) {
            config = config
                .with_read_replicas(&urls)
                .map_err(|err| err.in_setting(Self::READ_URLS_ENV))?;
        }
        if let Some(lag) = set(Self::MAX_REPLICA_LAG_ENV) {
            let milliseconds = lag.trim().parse::<u64>().map_err(|_| Error::Config {
                message: format!(
                    "{}: {lag:?} is not a whole number of milliseconds",
                    Self::MAX_REPLICA_LAG_ENV
                ),
            })?;
            config = config.with_max_replica_lag(Duration::from_millis(milliseconds));
        }
        let (schema, schema_source) = match schema_flag {
            Some(schema) => (Some(schema.to_owned()), "--schema"),
            None => (set(Self::SCHEMA_ENV), Self::SCHEMA_ENV),
        };
        match schema {
            Some(schema) => config
                .with_schema(&schema)
                .map_err(|err| err.in_setting(schema_source)),
            None => Ok(config),
        }
    }

    /// The database URL the environment gives, read through `lookup`, and the variable it came
    /// from: [`KbConfig::DATABASE_URL_ENV`], else [`KbConfig::DATABASE_URL_FALLBACK_ENV`]
    /// (blank values count as unset). Services with settings of their own layer it with them.
    pub fn database_url_in_env(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Option<(&'static str, String)> {
        [Self::DATABASE_URL_ENV, Self::DATABASE_URL_FALLBACK_ENV]
            .into_iter()
            .find_map(|name| {
                lookup(name)
                    .filter(|value| !value.trim().is_empty())
                    .map(|value| (name, value))
            })
    }

    /// The same database with another schema. The name must be a plain lower-case identifier
    /// (letters, digits, underscores; not starting with a digit or `pg_`; at most 63 bytes),
    /// so it can never carry SQL.
    pub fn with_schema(mut self, schema: &str) -> Result<Self, Error> {
        validate_schema_name(schema)?;
        self.schema = schema.to_owned();
        Ok(self)
    }

    /// The schema holding the knowledge base.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The database URL with its password hidden, for logs and messages.
    pub fn redacted_url(&self) -> String {
        redacted_url(&self.pg, &self.tls)
    }

    /// The migration URL with its password hidden, when one is set
    /// ([`KbConfig::with_migration_url`]).
    pub fn redacted_migration_url(&self) -> Option<String> {
        self.migration
            .as_ref()
            .map(|(pg, tls)| redacted_url(pg, tls))
    }

    /// The same schema on another server (a replica's, the migrations'), naming no other.
    fn on_server(&self, pg: &tokio_postgres::Config, tls: &TlsMode) -> KbConfig {
        KbConfig {
            pg: pg.clone(),
            schema: self.schema.clone(),
            tls: tls.clone(),
            migration: None,
            read_replicas: Vec::new(),
            max_replica_lag: self.max_replica_lag,
        }
    }

    /// The configuration migrations connect with: the migration URL's server when one is set
    /// (same schema), else this one.
    pub(crate) fn for_migrations(&self) -> KbConfig {
        match &self.migration {
            Some((pg, tls)) => self.on_server(pg, tls),
            None => self.clone(),
        }
    }

    /// Where the database is, `host:port` (comma-separated for several hosts), for messages:
    /// no user, no password.
    pub(crate) fn target(&self) -> String {
        hosts(&self.pg)
    }

    /// How connections protect themselves (`sslmode`).
    pub(crate) fn tls(&self) -> &TlsMode {
        &self.tls
    }

    /// The driver configuration, with `search_path` set to the schema at connection start.
    pub(crate) fn pg_config(&self) -> tokio_postgres::Config {
        let mut pg = self.pg.clone();
        // Safe to interpolate: the schema name is a validated plain identifier.
        let search_path = format!("-c search_path={}", self.schema);
        let options = match pg.get_options() {
            Some(existing) if !existing.trim().is_empty() => format!("{existing} {search_path}"),
            _ => search_path,
        };
        pg.options(&options);
        if pg.get_application_name().is_none() {
            pg.application_name("aiblox-kb");
        }
        pg
    }
}

impl fmt::Debug for KbConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KbConfig")
            .field("database_url", &self.redacted_url())
            .field("schema", &self.schema)
            .field("migration_url", &self.redacted_migration_url())
            .field("read_urls", &self.redacted_read_replicas())
            .field("max_replica_lag_ms", &self.max_replica_lag.as_millis())
            .finish()
    }
}

impl fmt::Display for KbConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (schema {})", self.redacted_url(), self.schema)
    }
}

/// A URL's driver configuration and TLS mode; `which` names the URL in the error ("database",
/// "migration"), never its value.
fn parse_url(url: &str, which: &str) -> Result<(tokio_postgres::Config, TlsMode), Error> {
    let (url, tls) = tls::split_url(url)?;
    let pg = url.parse::<tokio_postgres::Config>().map_err(|err| Error::Config {
        message: format!(
            "the {which} URL is not valid ({err}); expected postgresql://user:password@host:port/dbname"
        ),
    })?;
    Ok((pg, tls))
}

/// Checks that `schema` is a plain lower-case identifier that needs no quoting.
pub(crate) fn validate_schema_name(schema: &str) -> Result<(), Error> {
    let valid_chars = schema
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    let valid_start = schema
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b == b'_');
    if valid_chars
        && valid_start
        && schema.len() <= MAX_IDENTIFIER_BYTES
        && !schema.starts_with("pg_")
    {
        return Ok(());
    }
    let shown: String = schema.chars().take(80).collect();
    Err(Error::Config {
        message: format!(
            "invalid schema name {shown:?}: use 1 to {MAX_IDENTIFIER_BYTES} bytes of lower-case letters, digits \
             and underscores, starting with a letter or underscore and not with `pg_`"
        ),
    })
}

/// The URL of `pg` and `tls` with the password shown as `***`: a URL that parses back to the
/// same settings (socket directories and other text percent-encoded, the TLS mode and the other
/// parameters kept), so it can be pasted back once the password is put in.
fn redacted_url(pg: &tokio_postgres::Config, tls: &TlsMode) -> String {
    let mut url = String::from("postgresql://");
    if let Some(user) = pg.get_user() {
        url.push_str(&percent_encoded(user));
    }
    if pg.get_password().is_some() {
        url.push_str(":***");
    }
    if pg.get_user().is_some() || pg.get_password().is_some() {
        url.push('@');
    }
    url.push_str(&url_hosts(pg));
    url.push('/');
    if let Some(dbname) = pg.get_dbname() {
        url.push_str(&percent_encoded(dbname));
    }
    let parameters = url_parameters(pg, tls);
    if !parameters.is_empty() {
        let parameters: Vec<String> = parameters
            .iter()
            .map(|(name, value)| format!("{name}={}", percent_encoded(value)))
            .collect();
        url.push('?');
        url.push_str(&parameters.join("&"));
    }
    url
}

/// The hosts of a URL: `host:port` each, socket directories percent-encoded, IPv6 addresses
/// in brackets.
fn url_hosts(pg: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    hosts_shown(pg, |host| match host {
        Host::Tcp(name) if name.contains(':') => format!("[{name}]"),
        Host::Tcp(name) => percent_encoded(name),
        Host::Unix(path) => percent_encoded(&path.to_string_lossy()),
    })
}

/// The URL parameters that differ from libpq's defaults: the TLS mode (and its roots), the
/// session attributes, the timeout, the application name and the server options.
fn url_parameters(pg: &tokio_postgres::Config, tls: &TlsMode) -> Vec<(&'static str, String)> {
    use tokio_postgres::config::{SslMode, TargetSessionAttrs};
    let mut parameters = Vec::new();
    match tls {
        TlsMode::Disable => parameters.push(("sslmode", "disable".to_owned())),
        TlsMode::Unverified if pg.get_ssl_mode() == SslMode::Require => {
            parameters.push(("sslmode", "require".to_owned()));
        }
        TlsMode::Unverified => {}
        TlsMode::VerifyCa(roots) | TlsMode::VerifyFull(roots) => {
            let mode = if matches!(tls, TlsMode::VerifyCa(_)) {
                "verify-ca"
            } else {
                "verify-full"
            };
            parameters.push(("sslmode", mode.to_owned()));
            parameters.push(("sslrootcert", roots.to_string_lossy().into_owned()));
        }
    }
    match pg.get_target_session_attrs() {
        TargetSessionAttrs::ReadWrite => {
            parameters.push(("target_session_attrs", "read-write".to_owned()));
        }
        TargetSessionAttrs::ReadOnly => {
            parameters.push(("target_session_attrs", "read-only".to_owned()));
        }
        _ => {}
    }
    if let Some(timeout) = pg.get_connect_timeout() {
        parameters.push(("connect_timeout", timeout.as_secs().to_string()));
    }
    if let Some(name) = pg.get_application_name() {
        parameters.push(("application_name", name.to_owned()));
    }
    if let Some(options) = pg.get_options() {
        parameters.push(("options", options.to_owned()));
    }
    parameters
}

/// `text` with every byte but letters, digits and `-._~` written `%XX`.
fn percent_encoded(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// Where a server is, `host:port` (comma-separated for several hosts), for messages: no
/// user, no password, paths as they are.
fn hosts(pg: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    hosts_shown(pg, |host| match host {
        Host::Tcp(name) => name.clone(),
        Host::Unix(path) => path.display().to_string(),
    })
}

/// Every host of `pg` as `show` writes it, with its port (each host's, else the first),
/// comma-separated.
fn hosts_shown(
    pg: &tokio_postgres::Config,
    show: impl Fn(&tokio_postgres::config::Host) -> String,
) -> String {
    let ports = pg.get_ports();
    let hosts: Vec<String> = pg
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(index, host)| {
            let host = show(host);
            match ports.get(index).or(ports.first()) {
                Some(port) => format!("{host}:{port}"),
                None => host,
            }
        })
        .collect();
    hosts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers() {
        for good in ["kb", "kb_test_123", "_private", &"a".repeat(63)] {
            assert!(validate_schema_name(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Kb",
            "1kb",
            "kb-test",
            "kb;drop schema kb",
            "kb\"",
            "kb'",
            "pg_catalog",
            "kb ",
            "kbé",
            &"a".repeat(64),
        ] {
            let err = validate_schema_name(bad).unwrap_err().to_string();
            assert!(err.contains("invalid schema name"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_shown_url_parses_back_to_the_same_settings() {
        for url in [
            "postgresql://app:hunter2@%2Ftmp%2Fpg%20dir:5432/kb?sslmode=disable",
            "postgresql://app:hunter2@db1:5432,db2:5433/kb?target_session_attrs=read-write&connect_timeout=3&application_name=my%20app",
            "postgresql://app:hunter2@[::1]:5433/kb?sslmode=require&options=-c%20statement_timeout%3D5s",
            "postgresql://app:hunter2@db/kb?sslmode=verify-full&sslrootcert=%2Fetc%2Fca%20roots.pem",
            "host=/var/run/postgresql user=app password=hunter2 dbname=kb port=5432",
            "postgresql://db/kb",
        ] {
            let config = KbConfig::new(url).unwrap();
            let shown = config.redacted_url();
            let again = KbConfig::new(&shown.replace(":***@", ":hunter2@"))
                .unwrap_or_else(|err| panic!("{url} shown as {shown}: {err}"));
            assert_eq!(
                (&again.pg, &again.tls),
                (&config.pg, &config.tls),
                "{url} shown as {shown}"
            );
            assert!(!shown.contains("hunter2"), "{shown}");
        }
        let socket = KbConfig::new("postgresql://postgres@%2Ftmp%2Fpg:5432/postgres").unwrap();
        assert_eq!(
            socket.redacted_url(),
            "postgresql://postgres@%2Ftmp%2Fpg:5432/postgres"
        );
    }

    #[test]
    fn the_password_never_shows() {
        for url in [
            "postgresql://app:hunter2@db:5432/kb",
            "postgres://app:hunter2@db/kb?sslmode=disable",
            "host=db user=app password=hunter2 dbname=kb",
            "postgresql://app@db/kb?password=hunter2",
        ] {
            let config = KbConfig::new(url).unwrap();
            for shown in [
                format!("{config:?}"),
                config.to_string(),
                config.redacted_url(),
            ] {
                assert!(!shown.contains("hunter2"), "{url} shown as {shown}");
                assert!(shown.contains("app:***@db"), "{url} shown as {shown}");
            }
        }
        let err = KbConfig::new("postgresql://app:hunter2@db:notaport/kb")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("hunter2"), "{err}");
        assert!(err.contains("not valid"), "{err}");
    }

    #[test]
    fn environment_convention() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(key, _)| *key == name)
                    .map(|(_, value)| (*value).to_owned())
            }
        };
        let config =
            KbConfig::from_lookup(env(&[("DATABASE_URL", "postgresql://a@fallback/x")])).unwrap();
        assert_eq!(
            (config.redacted_url().as_str(), config.schema()),
            ("postgresql://a@fallback:5432/x", "kb")
        );

        let config = KbConfig::from_lookup(env(&[
            ("DATABASE_URL", "postgresql://a@fallback/x"),
            ("AIBLOX_KB_DATABASE_URL", "postgresql://a@primary/x"),
            ("AIBLOX_KB_SCHEMA", "kb_blue"),
        ]))
        .unwrap();
        assert_eq!(
            (config.redacted_url().as_str(), config.schema()),
            ("postgresql://a@primary:5432/x", "kb_blue")
        );

        let err = KbConfig::from_lookup(env(&[])).unwrap_err().to_string();
        assert!(err.contains("set AIBLOX_KB_DATABASE_URL"), "{err}");
        let err = KbConfig::from_lookup(env(&[
            ("DATABASE_URL", "postgresql://a@h/x"),
            ("AIBLOX_KB_SCHEMA", "KB"),
        ]))
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("invalid configuration: AIBLOX_KB_SCHEMA: "),
            "{err}"
        );

        // Flags win over the environment, each on its own; an error names the flag.
        let environment = env(&[
            ("AIBLOX_KB_DATABASE_URL", "postgresql://a@primary/x"),
            ("AIBLOX_KB_SCHEMA", "kb_blue"),
        ]);
        let flagged = |url: Option<&str>, schema: Option<&str>| {
            KbConfig::resolve(Some((url, schema)), environment)
                .map(|config| (config.redacted_url(), config.schema().to_owned()))
        };
        assert_eq!(
            flagged(Some("postgresql://a@flag/y"), None).unwrap(),
            (
                "postgresql://a@flag:5432/y".to_owned(),
                "kb_blue".to_owned()
            )
        );
        assert_eq!(
            flagged(None, Some("demo1")).unwrap(),
            (
                "postgresql://a@primary:5432/x".to_owned(),
                "demo1".to_owned()
            )
        );
        let err = flagged(None, Some("Demo")).unwrap_err().to_string();
        assert!(err.contains("--schema: "), "{err}");
        let err = KbConfig::resolve(Some((None, None)), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("pass --database-url URL or set AIBLOX_KB_DATABASE_URL"),
            "{err}"
        );
    }

    /// An environment holding `pairs`, for [`KbConfig::from_lookup`].
    fn lookup(pairs: Vec<(&'static str, &'static str)>) -> impl Fn(&str) -> Option<String> {
        move |name: &str| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| (*value).to_owned())
        }
    }

    #[test]
    fn a_migration_url_of_its_own_is_read_kept_secret_and_used_only_by_migrations() {
        let config = KbConfig::from_lookup(lookup(vec![
            (
                "AIBLOX_KB_DATABASE_URL",
                "postgresql://app:pw1@pooler:6432/x",
            ),
            (
                "AIBLOX_KB_MIGRATION_URL",
                "postgresql://owner:hunter2@primary/x",
            ),
            ("AIBLOX_KB_SCHEMA", "kb_blue"),
        ]))
        .unwrap();
        assert_eq!(config.target(), "pooler:6432");
        assert_eq!(
            config.redacted_migration_url().as_deref(),
            Some("postgresql://owner:***@primary:5432/x")
        );
        let migrations = config.for_migrations();
        assert_eq!(migrations.target(), "primary:5432");
        assert_eq!(migrations.schema(), "kb_blue");
        assert!(migrations.redacted_migration_url().is_none());
        let shown = format!("{config:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("pw1"),
            "{shown}"
        );
        assert!(shown.contains("owner:***@primary"), "{shown}");

        // Without one, migrations use the database URL.
        let plain = KbConfig::new("postgresql://app@db/x").unwrap();
        assert!(plain.redacted_migration_url().is_none());
        assert_eq!(plain.for_migrations().target(), "db:5432");

        let err = KbConfig::from_lookup(lookup(vec![
            ("AIBLOX_KB_DATABASE_URL", "postgresql://app@db/x"),
            (
                "AIBLOX_KB_MIGRATION_URL",
                "postgresql://owner:hunter2@primary:notaport/x",
            ),
        ]))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("AIBLOX_KB_MIGRATION_URL: the migration URL is not valid"),
            "{err}"
        );
        assert!(!err.contains("hunter2"), "{err}");
    }

    #[test]
    fn read_replicas_and_their_lag_bound_come_from_the_environment() {
        let config = KbConfig::from_lookup(lookup(vec![
            ("AIBLOX_KB_DATABASE_URL", "postgresql://app@primary/x"),
            (
                "AIBLOX_KB_READ_URLS",
                " postgresql://app:pw@replica1/x\n postgresql://app@replica2:5433,replica3/x ",
            ),
            ("AIBLOX_KB_MAX_REPLICA_LAG_MS", "250"),
        ]))
        .unwrap();
        assert_eq!(
            config.redacted_read_replicas(),
            [
                "postgresql://app:***@replica1:5432/x",
                "postgresql://app@replica2:5433,replica3:5432/x"
            ]
        );
        assert_eq!(config.max_replica_lag(), Duration::from_millis(250));
        let replicas = config.for_read_replicas();
        assert_eq!(replicas[1].target(), "replica2:5433,replica3:5432");
        assert!(replicas.iter().all(|replica| replica.schema() == "kb"));
        assert!(!format!("{config:?}").contains("pw"));

        let plain = KbConfig::new("postgresql://app@db/x").unwrap();
        assert!(plain.for_read_replicas().is_empty());
        assert_eq!(plain.max_replica_lag(), KbConfig::DEFAULT_MAX_REPLICA_LAG);

        for (variable, value, expected) in [
            (
                "AIBLOX_KB_READ_URLS",
                "postgresql://app:hunter2@replica:nope/x",
                "AIBLOX_KB_READ_URLS: the read replica URL is not valid",
            ),
            (
                "AIBLOX_KB_MAX_REPLICA_LAG_MS",
                "1s",
                "AIBLOX_KB_MAX_REPLICA_LAG_MS: \"1s\" is not a whole number of milliseconds",
            ),
        ] {
            let err = KbConfig::from_lookup(lookup(vec![
                ("AIBLOX_KB_DATABASE_URL", "postgresql://app@primary/x"),
                (variable, value),
            ]))
            .unwrap_err()
            .to_string();
            assert!(err.contains(expected), "{err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn search_path_is_set_at_connection_start() {
        let config = KbConfig::new("postgresql://a@h/x?options=-c%20statement_timeout%3D5s")
            .unwrap()
            .with_schema("kb_x")
            .unwrap();
        assert_eq!(
            config.pg_config().get_options(),
            Some("-c statement_timeout=5s -c search_path=kb_x")
        );
        assert_eq!(config.pg_config().get_application_name(), Some("aiblox-kb"));
    }
}
