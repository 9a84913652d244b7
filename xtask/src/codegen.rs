//! `cargo xtask codegen [--check]`: applies `schema/` to a throwaway PostgreSQL, has cornucopia
//! prepare every query of `queries/` against it, and writes the typed crate `aiblox-kb/gen`.
//!
//! Generation always goes to a temporary directory first and is formatted with the workspace's
//! rustfmt settings; then only files that differ are written (or, with `--check`, reported).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use aiblox_sqlfile::{excerpt, line_column, offset_of_char, split_statements};
use anyhow::{Context as _, bail};
use cornucopia::cargo_toml::Manifest;
use cornucopia::config::{Config, UseWorkspaceDeps};
use tokio_postgres::error::ErrorPosition;

use crate::file_tree::{self, FileTree};
use crate::migrations_sum::{self, MigrationsSum};
use crate::scratch_db::ScratchDatabase;
use crate::workspace::Workspace;

/// The schema the migrations are applied to at codegen time. Generated SQL is unqualified, so
/// the code works with whatever schema a connection's search_path names.
const CODEGEN_SCHEMA: &str = "kb";
/// The generated crate's package name.
pub(crate) const GENERATED_CRATE: &str = "aiblox-kb-gen";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Write the files that differ.
    Write,
    /// Fail, naming the files, when any differs.
    Check,
}

/// Files codegen writes into a directory.
pub(crate) struct Output {
    pub(crate) dir: PathBuf,
    pub(crate) files: FileTree,
    /// Whether codegen owns the whole directory (other files there are stale) or only its
    /// own files (`schema/migrations.sum` beside the hand-written migrations).
    pub(crate) owns_dir: bool,
}

/// Generates everything and writes (or, in check mode, compares) it; returns a summary line.
pub(crate) fn run(workspace: &Workspace, mode: Mode) -> anyhow::Result<String> {
    let started = Instant::now();
    let generated = generate(workspace)?;
    let manifest_json = serde_json::to_string_pretty(&generated.manifest)? + "\n";
    let outputs = [
        Output {
            dir: workspace.gen_dir(),
            files: generated.crate_files,
            owns_dir: true,
        },
        Output {
            dir: workspace.kb_dir(),
            files: [(
                PathBuf::from(manifest::FILE_NAME),
                manifest_json.into_bytes(),
            )]
            .into_iter()
            .collect(),
            owns_dir: false,
        },
        Output {
            dir: workspace.root().join(python::PACKAGE_DIR),
            files: python::package(&generated.manifest)?,
            owns_dir: true,
        },
        Output {
            dir: workspace.root().join(python::PROJECT_DIR),
            files: python::project(&generated.manifest),
            owns_dir: false,
        },
        Output {
            dir: workspace.embedded_migrations_dir(),
            files: embedded_migrations(workspace)?,
            owns_dir: true,
        },
        Output {
            dir: workspace.schema_dir(),
            files: migrations_sum(workspace)?,
            owns_dir: false,
        },
    ];
    let mut stale = Vec::new();
    let mut summary = Vec::new();
    for output in &outputs {
        let mut differences = file_tree::compare(&output.files, &output.dir)?;
        if !output.owns_dir {
            differences.retain(|difference| !matches!(difference, file_tree::Difference::Extra(_)));
        }
        let dir = workspace.display(&output.dir);
        match mode {
            Mode::Check => stale.extend(
                differences
                    .iter()
                    .map(|d| format!("  {dir}/{} ({})", d.path().display(), d.describe())),
            ),
            Mode::Write => file_tree::apply(&output.files, &output.dir, &differences)?,
        }
        summary.push(format!(
            "{dir}: {} of {} files differ",
            differences.len(),
            output.files.len()
        ));
    }
    if !stale.is_empty() {
        bail!(
            "generated code is stale:\n{}\nrun `cargo xtask codegen` and commit the result",
            stale.join("\n")
        );
    }
    let verb = if mode == Mode::Check {
        "checked"
    } else {
        "written"
    };
    Ok(format!(
        "codegen: {verb} in {:.2?}; {}",
        started.elapsed(),
        summary.join("; ")
    ))
}

/// `schema/migrations.sum`: every migration's checksum and the contract fingerprint.
fn migrations_sum(workspace: &Workspace) -> anyhow::Result<FileTree> {
    let mut migrations = std::collections::BTreeMap::new();
    for path in migration_files(&workspace.schema_dir())? {
        let sql = std::fs::read_to_string(&path)
            .with_context(|| format!("could not read {}", path.display()))?;
        let name = path
            .file_name()
            .expect("migration files have names")
            .to_string_lossy()
            .into_owned();
        migrations.insert(name, aiblox_sqlfile::checksum(&sql));
    }
    let sum = MigrationsSum {
        fingerprint: contract_fingerprint(workspace)?,
        migrations,
    };
    Ok([(
        PathBuf::from(migrations_sum::FILE_NAME),
        sum.render().into_bytes(),
    )]
    .into_iter()
    .collect())
}

/// The migrations of `schema/`, copied into the contract crate so that it embeds them from
/// inside its own directory (a crate packaged with `cargo package` cannot reach `../schema`),
/// and the contract fingerprint of `schema/` and `queries/`, which the crate records with every
/// migration it applies.
fn embedded_migrations(workspace: &Workspace) -> anyhow::Result<FileTree> {
    let mut files = FileTree::new();
    for path in migration_files(&workspace.schema_dir())? {
        let name = path.file_name().expect("migration files have names").into();
        files.insert(
            name,
            std::fs::read(&path).with_context(|| format!("could not read {}", path.display()))?,
        );
    }
    files.insert(
        "README.md".into(),
        b"# Embedded migrations\n\nCopied from `schema/` by `cargo xtask codegen`, with the contract fingerprint of \
`schema/`\nand `queries/` in `CONTRACT_FINGERPRINT`; do not edit. Edit or add migrations in `schema/` and run\n\
`cargo xtask codegen`.\n"
            .to_vec(),
    );
    files.insert(
        FINGERPRINT_FILE.into(),
        format!("{}\n", contract_fingerprint(workspace)?).into_bytes(),
    );
    Ok(files)
}

/// Where the contract fingerprint is written, inside the embedded migrations directory.
pub(crate) const FINGERPRINT_FILE: &str = "CONTRACT_FINGERPRINT";

/// The fingerprint of every file of `schema/` and `queries/`.
pub(crate) fn contract_fingerprint(workspace: &Workspace) -> anyhow::Result<String> {
    let mut sources = Vec::new();
    for (dir_name, dir) in [
        ("schema", workspace.schema_dir()),
        ("queries", workspace.queries_dir()),
    ] {
        for (relative, contents) in file_tree::read_tree(&dir)? {
            if relative.as_os_str() == migrations_sum::FILE_NAME {
                continue;
            }
            let text = String::from_utf8(contents)
                .with_context(|| format!("{} is not UTF-8", dir.join(&relative).display()))?;
            sources.push((format!("{dir_name}/{}", relative.display()), text));
        }
    }
    Ok(aiblox_sqlfile::contract_fingerprint(
        sources
            .iter()
            .map(|(path, text)| (path.as_str(), text.as_str())),
    ))
}

/// What codegen makes of `schema/` and `queries/` with the database's help.
pub(crate) struct Generated {
    /// The typed query crate, every file with its exact committed contents.
    pub(crate) crate_files: FileTree,
    /// The contract as a manifest (`aiblox-kb/contract.json`).
    pub(crate) manifest: manifest::ContractManifest,
}

/// Generates the crate and the manifest into memory.
pub(crate) fn generate(workspace: &Workspace) -> anyhow::Result<Generated> {
    let migrations = migration_files(&workspace.schema_dir())?;
    let version = workspace.kb_version()?;
    let versions = manifest::Versions {
        name: "aiblox-kb".to_owned(),
        version: version.clone(),
        schema_version: workspace.kb_schema_version()?,
        fingerprint: contract_fingerprint(workspace)?,
    };
    let manifest_migrations = migrations
        .iter()
        .map(|path| {
            let sql = std::fs::read_to_string(path)
                .with_context(|| format!("could not read {}", path.display()))?;
            manifest::migration(path, sql)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let out = tempfile::Builder::new()
        .prefix("aiblox-codegen-")
        .tempdir()?;
    let destination = out.path().join("gen");

    let manifest = {
        let database = ScratchDatabase::start()?;
        database.batch_execute(&format!(
            "CREATE SCHEMA {CODEGEN_SCHEMA}; SET search_path TO {CODEGEN_SCHEMA}"
        ))?;
        apply_migrations(workspace, &database, &migrations)?;
        cornucopia::gen_live(
            database.client(),
            config(workspace, &destination, &version)?,
        )
        .map_err(|err| anyhow::anyhow!("a query did not compile:\n{}", err.report()))?;
        let unformatted = file_tree::read_tree(&destination)?;
        manifest::build(&database, &unformatted, versions, manifest_migrations)?
    };

    rustfmt(workspace, &destination)?;
    Ok(Generated {
        crate_files: file_tree::read_tree(&destination)?,
        manifest,
    })
}

/// The migrations of `schema/` in version order.
pub(crate) fn migration_files(schema_dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let migrations = aiblox_sqlfile::migration_files(schema_dir)
        .map_err(|err| anyhow::anyhow!("in {}: {err}", schema_dir.display()))?;
    if migrations.is_empty() {
        bail!("no migrations in {}", schema_dir.display());
    }
    Ok(migrations.into_iter().map(|file| file.path).collect())
}

/// Applies the migrations statement by statement, so that a failure names its file, line and
/// column even when the server reports no position.
pub(crate) fn apply_migrations(
    workspace: &Workspace,
    database: &ScratchDatabase,
    files: &[PathBuf],
) -> anyhow::Result<()> {
    for path in files {
        let sql = std::fs::read_to_string(path)
            .with_context(|| format!("could not read {}", path.display()))?;
        for statement in split_statements(&sql) {
            let Err(err) = database.execute(statement.text) else {
                continue;
            };
            let position = err.as_db_error().and_then(|db| match db.position() {
                Some(ErrorPosition::Original(position)) => Some(*position as usize),
                _ => None,
            });
            let offset =
                statement.offset + position.map_or(0, |p| offset_of_char(statement.text, p));
            let at = line_column(&sql, offset);
            bail!(
                "a migration failed: {}:{}:{}: {}\n{}",
                workspace.display(path),
                at.line,
                at.column,
                describe_db_error(&err),
                excerpt(&sql, offset)
            );
        }
    }
    Ok(())
}

/// The server's message with its detail and hint, or the client error.
pub(crate) fn describe_db_error(err: &tokio_postgres::Error) -> String {
    let Some(db) = err.as_db_error() else {
        return err.to_string();
    };
    let mut text = db.message().to_owned();
    if let Some(detail) = db.detail() {
        text.push_str(&format!(" ({detail})"));
    }
    if let Some(hint) = db.hint() {
        text.push_str(&format!("; hint: {hint}"));
    }
    text
}

fn config(workspace: &Workspace, destination: &Path, version: &str) -> anyhow::Result<Config> {
    let manifest = Manifest::from_str(&format!(
        r#"
[package]
name = "{GENERATED_CRATE}"
version = "{version}"
edition = "2024"
rust-version = "1.89"
description = "Typed queries of the aiblox KB contract, generated by cornucopia from schema/ and queries/ (use aiblox-kb instead)"
license = "MIT OR Apache-2.0"
repository = "https://github.com/aiblox/aiblox"
"#
    ))
    .context("the generated crate's manifest template is invalid")?;
    Ok(Config::builder()
        .queries(workspace.queries_dir())
        .destination(destination)
        .r#async(true)
        .sync(false)
        .manifest(manifest)
        .use_workspace_deps(UseWorkspaceDeps::Path(workspace.manifest()))
        .build())
}

/// Formats the generated sources with the workspace's rustfmt settings, so that
/// `cargo fmt --check` and `cargo xtask codegen --check` agree.
fn rustfmt(workspace: &Workspace, crate_dir: &Path) -> anyhow::Result<()> {
    let sources: Vec<PathBuf> = file_tree::read_tree(&crate_dir.join("src"))?
        .into_keys()
        .filter(|path| path.extension().is_some_and(|ext| ext == "rs"))
        .map(|path| crate_dir.join("src").join(path))
        .collect();
    let status = Command::new("rustfmt")
        .arg("--edition=2024")
        .arg("--config-path")
        .arg(workspace.rustfmt_config())
        .args(&sources)
        .status()
        .context("could not run rustfmt: install it with `rustup component add rustfmt`")?;
    if !status.success() {
        bail!("rustfmt failed on the generated code ({status})");
    }
    Ok(())
}

pub(crate) mod manifest;
pub(crate) mod python;
#[cfg(test)]
mod tests;
