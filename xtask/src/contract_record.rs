//! Recorded contract versions: `aiblox-kb/contracts/<version>/`, each holding the
//! `migrations.sum`, the `queries/` and the `schema-version` of that version as released (a
//! record without `schema-version` predates it: its schema version is its crate version). The version policy, the
//! migration integrity rule and the compatibility check compare the working tree against the
//! most recent one. `cargo xtask record-contract` writes them.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use cornucopia::cargo_toml::SemVer;

use crate::file_tree::{self, FileTree};
use crate::migrations_sum::{self, MigrationsSum};
use crate::workspace::Workspace;

/// The file of a record holding its schema version.
const SCHEMA_VERSION_FILE: &str = "schema-version";

/// One recorded contract version.
#[derive(Debug, Clone)]
pub(crate) struct ContractRecord {
    pub(crate) version: SemVer,
    /// The version of its schema and queries, which the compatibility rule compares.
    pub(crate) schema_version: SemVer,
    pub(crate) sum: MigrationsSum,
    /// The queries of that version, by path relative to `queries/`.
    pub(crate) queries: FileTree,
}

/// The most recent recorded version, if any.
pub(crate) fn latest(workspace: &Workspace) -> anyhow::Result<Option<ContractRecord>> {
    let dir = workspace.contracts_dir();
    if !dir.exists() {
        return Ok(None);
    }
    let mut versions = Vec::new();
    for entry in
        std::fs::read_dir(&dir).with_context(|| format!("could not list {}", dir.display()))?
    {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if path.is_dir() {
            let version = SemVer::parse(&name)
                .with_context(|| format!("{} is not named after a version", path.display()))?;
            versions.push((version, path));
        }
    }
    let Some((version, dir)) = versions.into_iter().max_by(|a, b| a.0.cmp(&b.0)) else {
        return Ok(None);
    };
    let sum_path = dir.join(migrations_sum::FILE_NAME);
    let text = std::fs::read_to_string(&sum_path)
        .with_context(|| format!("could not read {}", sum_path.display()))?;
    let sum = MigrationsSum::parse(&text).with_context(|| format!("{}", sum_path.display()))?;
    let queries = file_tree::read_tree(&dir.join("queries"))?;
    let schema_version_path = dir.join(SCHEMA_VERSION_FILE);
    let schema_version = match std::fs::read_to_string(&schema_version_path) {
        Ok(text) => SemVer::parse(text.trim())
            .with_context(|| format!("{} is not a version", schema_version_path.display()))?,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => version.clone(),
        Err(err) => {
            return Err(err)
                .with_context(|| format!("could not read {}", schema_version_path.display()));
        }
    };
    Ok(Some(ContractRecord {
        version,
        schema_version,
        sum,
        queries,
    }))
}

/// Records the working tree's contract under the `aiblox-kb` version. Refuses to change a
/// version already recorded with other contents: a released contract never changes.
pub(crate) fn record(workspace: &Workspace) -> anyhow::Result<String> {
    let version = workspace.kb_version()?;
    let sum_path = workspace.schema_dir().join(migrations_sum::FILE_NAME);
    let sum = std::fs::read(&sum_path).with_context(|| {
        format!(
            "could not read {}: run `cargo xtask codegen`",
            sum_path.display()
        )
    })?;
    let mut files = FileTree::new();
    files.insert(migrations_sum::FILE_NAME.into(), sum);
    files.insert(
        SCHEMA_VERSION_FILE.into(),
        format!("{}\n", workspace.kb_schema_version()?).into_bytes(),
    );
    for (path, contents) in file_tree::read_tree(&workspace.queries_dir())? {
        files.insert(PathBuf::from("queries").join(path), contents);
    }
    let dir = workspace.contracts_dir().join(&version);
    let differences = file_tree::compare(&files, &dir)?;
    if differences.is_empty() {
        return Ok(format!("contract {version} is already recorded as it is"));
    }
    if dir.exists() {
        bail!(
            "contract {version} is recorded with other contents ({}): a recorded contract never changes; bump the \
             aiblox-kb version for the new one",
            differences
                .iter()
                .map(|d| d.path().display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    file_tree::apply(&files, &dir, &differences)?;
    Ok(format!(
        "recorded contract {version} in {}",
        workspace.display(&dir)
    ))
}
