//! The settings from each source, the table's own rules, and the example file.

use std::path::{Path, PathBuf};

use aiblox_kb::KbConfig;

use super::settings::*;
use super::sources::*;
use super::table::*;

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
    from_example.validate(Command::Serve).unwrap();
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
                rest.split_once(" = ")
                    .is_some_and(|(key, _)| key.chars().all(|c| c.is_ascii_lowercase() || c == '_'))
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

/// Each setting starts at its row's default and nowhere else: a row without one shows unset
/// (only an optional path may), so a default left out of the table would show the unset
/// shape's zero here; and a section's `Default` reads the rows (its values are theirs).
#[test]
fn every_setting_starts_at_its_rows_default() {
    let defaults = Settings::defaults();
    for setting in SETTINGS
        .iter()
        .filter(|setting| matches!(setting.slot, Slot::Field(_)))
    {
        assert_eq!(
            plain(setting.show(&defaults)),
            setting.default.unwrap_or("(unset)"),
            "{}",
            setting.key
        );
    }
    assert_eq!(
        (Limits::default().max_query_chars, Precision::Int8),
        (2_000, EmbeddingSettings::default().precision),
        "read from the table"
    );
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

/// The help's row of `setting` names its variable and ends with its default.
fn assert_in_help(help: &str, setting: &Setting) {
    let row = help
        .lines()
        .find(|line| line.split_whitespace().next() == Some(setting.key))
        .unwrap_or_else(|| panic!("{} is not in the help:\n{help}", setting.key));
    assert!(
        row.contains(setting.env) && row.trim_end().ends_with(&setting.default_text()),
        "{row}"
    );
}

/// What `check-config` shows for `setting` set to `example`: a secret redacted (several URLs,
/// the read replicas', are separated by white space).
fn shown(setting: &Setting, example: &str) -> String {
    if setting.secret {
        example
            .split_whitespace()
            .map(|url| KbConfig::new(url).unwrap().redacted_url())
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        example.to_owned()
    }
}

/// A TOML file in `dir` setting only `setting`, to `example`.
fn file_setting(dir: &Path, setting: &Setting, example: &str) -> PathBuf {
    let file = dir.join(format!("{}.toml", setting.key));
    let line = format!(
        "{} = {}\n",
        setting.key.rsplit('.').next().unwrap(),
        toml_literal(example)
    );
    let text = match setting.key.split_once('.') {
        Some((section, _)) => format!("[{section}]\n{line}"),
        None => line,
    };
    std::fs::write(&file, text).unwrap();
    file
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
    let (_, entry) = crate::service::access::new_key("table", None, None, None, false).unwrap();
    std::fs::write(&keys, entry).unwrap();
    let url = "postgresql://app@db.internal/kb";
    let with_url = |overrides: Overrides| env(&[(KbConfig::DATABASE_URL_ENV, url)]).then(overrides);
    let defaults = Settings::resolve(&with_url(Overrides::default())).unwrap();
    let help = settings_help(Command::Serve);
    for setting in &SETTINGS {
        assert_in_help(&help, setting);
        let example = match setting.key {
            "embedding.model" => model.display().to_string(),
            "access.keys_file" => keys.display().to_string(),
            _ => setting.example.to_owned(),
        };
        let expected = shown(setting, &example);
        assert_ne!(
            expected,
            plain(setting.show(&defaults)),
            "{}: the example must differ from the default",
            setting.key
        );
        let file = file_setting(dir.path(), setting, &example);
        let from = |overrides: Overrides| match setting.slot {
            Slot::Database(part) if part.makes_the_configuration => overrides,
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

/// A command checks only the settings it reads: `migrate` neither opens the keys file nor
/// looks for the model, nor minds the chunk sizes; `purge-chunks` minds the chunk sizes (its
/// chunker key comes from them); every value given is still parsed, and the log level checked.
#[test]
fn a_command_checks_only_the_settings_it_reads() {
    let service_only = env(&[
        (KbConfig::DATABASE_URL_ENV, "postgresql://localhost/kb"),
        ("AIBLOX_API_KEYS_FILE", "/nonexistent/keys.toml"),
        ("AIBLOX_EMBEDDING_MODEL", "/nonexistent/model"),
    ]);
    assert!(Settings::resolve(&service_only).is_err());
    assert!(Settings::resolve_for(&service_only, Command::CheckConfig).is_err());
    for command in [Command::Migrate, Command::PurgeChunks] {
        let settings = Settings::resolve_for(&service_only, command).unwrap();
        assert_eq!(settings.database.schema(), "kb");
    }
    let chunks = env(&[
        (KbConfig::DATABASE_URL_ENV, "postgresql://localhost/kb"),
        ("AIBLOX_CHUNK_MAX_BYTES", "400"),
        ("AIBLOX_CHUNK_OVERLAP_BYTES", "300"),
    ]);
    assert!(Settings::resolve_for(&chunks, Command::PurgeChunks).is_err());
    assert!(Settings::resolve_for(&chunks, Command::Migrate).is_ok());
    for (name, value) in [
        ("AIBLOX_POOL_MAX_SIZE", "many"),
        ("AIBLOX_LOG_LEVEL", "no=such=level"),
    ] {
        let bad = env(&[
            (KbConfig::DATABASE_URL_ENV, "postgresql://localhost/kb"),
            (name, value),
        ]);
        assert!(
            Settings::resolve_for(&bad, Command::Migrate).is_err(),
            "{name}={value}"
        );
    }
}
