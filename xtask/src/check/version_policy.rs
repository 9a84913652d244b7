//! Rule: when the contract fingerprint (schema/ and queries/) differs from the latest recorded
//! contract, the aiblox-kb version and the schema version (`[package.metadata.contract]`) are
//! both greater; when the change removes or alters a table, column or query, both bumps are
//! breaking ones (major; minor below 1.0). The schema version moves only with schema/ and
//! queries/.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context as _;
use cornucopia::cargo_toml::SemVer;

use super::{Options, Verdict, or_fail};
use crate::codegen::{self, migration_files};
use crate::contract_record::{self, ContractRecord};
use crate::file_tree::FileTree;
use crate::scratch_db::ScratchDatabase;
use crate::workspace::Workspace;

pub(super) fn check(workspace: &Workspace, _options: &Options) -> Verdict {
    or_fail(evaluate(workspace), "see docs/contract-versioning.md")
}

fn evaluate(workspace: &Workspace) -> anyhow::Result<Verdict> {
    let Some(record) = contract_record::latest(workspace)? else {
        return Ok(Verdict::fail(
            "no contract is recorded in aiblox-kb/contracts/",
            "run `cargo xtask record-contract` for the released version",
        ));
    };
    let fingerprint = codegen::contract_fingerprint(workspace)?;
    let version =
        SemVer::parse(&workspace.kb_version()?).context("aiblox-kb's version is not semver")?;
    let schema_version = SemVer::parse(&workspace.kb_schema_version()?)
        .context("aiblox-kb's schema-version is not semver")?;
    if fingerprint == record.sum.fingerprint {
        return Ok(unchanged_contract(&record, &schema_version));
    }
    if let Some(missing) = missing_bump(&record, &version, &schema_version) {
        return Ok(missing);
    }
    let breaking = breaking_changes(workspace, &record)?;
    if !breaking.is_empty()
        && let Some(too_small) = bump_too_small(&record, &version, &schema_version, &breaking)
    {
        return Ok(too_small);
    }
    let kind = if breaking.is_empty() {
        "additive"
    } else {
        "breaking"
    };
    Ok(Verdict::Pass(format!(
        "{kind} change since contract {}, versioned {version} (schema version {schema_version})",
        record.version
    )))
}

/// The verdict when schema/ and queries/ are those of `record`: the schema version must be
/// the recorded one.
fn unchanged_contract(record: &ContractRecord, schema_version: &SemVer) -> Verdict {
    let recorded_schema = &record.schema_version;
    if schema_version != recorded_schema {
        return Verdict::fail(
            format!(
                "schema/ and queries/ are those of recorded contract {}, whose schema version is \
                 {recorded_schema}, but the schema version is {schema_version}",
                record.version
            ),
            format!(
                "set schema-version back to {recorded_schema} in aiblox-kb/Cargo.toml: it moves \
                 only with schema/ and queries/"
            ),
        );
    }
    Verdict::Pass(format!(
        "schema/ and queries/ are those of recorded contract {} (schema version {recorded_schema})",
        record.version
    ))
}

/// The failure when schema/ or queries/ changed since `record` but aiblox-kb's version or the
/// schema version is not greater than the recorded one; `None` when both moved up.
fn missing_bump(
    record: &ContractRecord,
    version: &SemVer,
    schema_version: &SemVer,
) -> Option<Verdict> {
    let recorded_schema = &record.schema_version;
    if *version <= record.version {
        return Some(Verdict::fail(
            format!(
                "schema/ or queries/ changed since contract {} was recorded, but aiblox-kb is still {version}",
                record.version
            ),
            format!(
                "bump aiblox-kb to {} (additive change) or {} (removal or rename), in aiblox-kb/Cargo.toml and the \
                 aiblox-kb/aiblox-kb-gen requirements of the root Cargo.toml, then run `cargo xtask codegen`",
                next_additive(&record.version),
                next_breaking(&record.version)
            ),
        ));
    }
    if schema_version <= recorded_schema {
        return Some(Verdict::fail(
            format!(
                "schema/ or queries/ changed since contract {} (schema version {recorded_schema}) was recorded, \
                 but the schema version is still {schema_version}",
                record.version
            ),
            format!(
                "set schema-version in aiblox-kb/Cargo.toml's [package.metadata.contract] to {} (additive \
                 change) or {} (removal or rename)",
                next_additive(recorded_schema),
                next_breaking(recorded_schema)
            ),
        ));
    }
    None
}

/// The failure when the change since `record` is `breaking` but aiblox-kb's version or the
/// schema version is still semver-compatible with the recorded one; `None` when both made a
/// breaking bump.
fn bump_too_small(
    record: &ContractRecord,
    version: &SemVer,
    schema_version: &SemVer,
    breaking: &[String],
) -> Option<Verdict> {
    let compatible = [
        (
            "aiblox-kb",
            &record.version,
            version,
            "in aiblox-kb/Cargo.toml",
        ),
        (
            "the schema version",
            &record.schema_version,
            schema_version,
            "in aiblox-kb/Cargo.toml's [package.metadata.contract]",
        ),
    ]
    .into_iter()
    .find(|(_, recorded, current, _)| semver_compatible(recorded, current));
    let (what, recorded, current, place) = compatible?;
    Some(Verdict::fail(
        format!(
            "the change since contract {} is breaking ({}), but {what} {current} is semver-compatible \
             with {recorded}",
            record.version,
            breaking.join("; ")
        ),
        format!(
            "bump {what} to {} (a breaking version) {place}, or make the change additive in \
             expand/contract steps (docs/migrations.md)",
            next_breaking(recorded)
        ),
    ))
}

/// What the working tree removes or alters compared with `record`: tables, columns (and their
/// types) from the migrations, and queries by name.
fn breaking_changes(workspace: &Workspace, record: &ContractRecord) -> anyhow::Result<Vec<String>> {
    let mut breaking = Vec::new();
    let old_queries = query_names(&record.queries);
    let new_queries = query_names(&crate::file_tree::read_tree(&workspace.queries_dir())?);
    breaking.extend(
        old_queries
            .difference(&new_queries)
            .map(|name| format!("query {name} removed")),
    );

    let all = migration_files(&workspace.schema_dir())?;
    let released: Vec<_> = all
        .iter()
        .filter(|path| {
            record
                .sum
                .migrations
                .contains_key(&*path.file_name().expect("named").to_string_lossy())
        })
        .cloned()
        .collect();
    let database = ScratchDatabase::start()?;
    let old = columns_after(workspace, &database, "contract_old", &released)?;
    let new = columns_after(workspace, &database, "contract_new", &all)?;
    let tables = |columns: &BTreeMap<(String, String), String>| -> BTreeSet<String> {
        columns.keys().map(|(table, _)| table.clone()).collect()
    };
    let new_tables = tables(&new);
    breaking.extend(
        tables(&old)
            .difference(&new_tables)
            .map(|table| format!("table {table} removed")),
    );
    for ((table, column), old_type) in old
        .iter()
        .filter(|((table, _), _)| new_tables.contains(table))
    {
        match new.get(&(table.clone(), column.clone())) {
            None => breaking.push(format!("column {table}.{column} removed")),
            Some(new_type) if new_type != old_type => breaking.push(format!(
                "column {table}.{column} changed type from {old_type} to {new_type}"
            )),
            Some(_) => {}
        }
    }
    Ok(breaking)
}

/// (table, column) -> type of every column after applying `migrations` to a fresh schema.
fn columns_after(
    workspace: &Workspace,
    database: &ScratchDatabase,
    schema: &str,
    migrations: &[std::path::PathBuf],
) -> anyhow::Result<BTreeMap<(String, String), String>> {
    database.batch_execute(&format!(
        "CREATE SCHEMA {schema}; SET search_path TO {schema}"
    ))?;
    codegen::apply_migrations(workspace, database, migrations)?;
    let rows = database.query(
        "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_schema = $1",
        &[&schema],
    )?;
    Ok(rows
        .iter()
        .map(|row| ((row.get(0), row.get(1)), row.get(2)))
        .collect())
}

/// The names of the queries (`--! name`) of a queries tree.
fn query_names(queries: &FileTree) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (path, contents) in queries {
        let module = path.with_extension("").display().to_string();
        for line in String::from_utf8_lossy(contents).lines() {
            if let Some(rest) = line.strip_prefix("--!")
                && let Some(name) = rest.split_whitespace().next()
            {
                names.insert(format!(
                    "{module}::{}",
                    name.split(['(', ':']).next().unwrap_or(name)
                ));
            }
        }
    }
    names
}

/// Cargo's compatibility rule: same major, or same minor below 1.0 (same patch below 0.1).
fn semver_compatible(old: &SemVer, new: &SemVer) -> bool {
    match (old.major, old.minor) {
        (0, 0) => new.major == 0 && new.minor == 0 && new.patch == old.patch,
        (0, minor) => new.major == 0 && new.minor == minor,
        (major, _) => new.major == major,
    }
}

fn next_additive(version: &SemVer) -> SemVer {
    if version.major == 0 {
        SemVer::new(0, version.minor, version.patch + 1)
    } else {
        SemVer::new(version.major, version.minor + 1, 0)
    }
}

fn next_breaking(version: &SemVer) -> SemVer {
    if version.major == 0 {
        SemVer::new(0, version.minor + 1, 0)
    } else {
        SemVer::new(version.major + 1, 0, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{append, replace, scratch_workspace};

    /// The versions a scratch workspace is at: aiblox-kb's and its schema's.
    struct Versions {
        crate_version: SemVer,
        schema: SemVer,
    }

    /// The verdict after `change`, on a scratch copy whose current contract is recorded (so the
    /// tests hold whatever versions the workspace is at). `change` gets the current versions.
    fn verdict_after(change: impl FnOnce(&Workspace, &Versions)) -> Verdict {
        let (_dir, workspace) = scratch_workspace();
        let _ = std::fs::remove_dir_all(workspace.contracts_dir());
        contract_record::record(&workspace).unwrap();
        let current = Versions {
            crate_version: SemVer::parse(&workspace.kb_version().unwrap()).unwrap(),
            schema: SemVer::parse(&workspace.kb_schema_version().unwrap()).unwrap(),
        };
        change(&workspace, &current);
        check(&workspace, &Options::default())
    }

    /// Sets aiblox-kb's version and its schema version with `next` of each.
    fn bump(workspace: &Workspace, versions: &Versions, next: fn(&SemVer) -> SemVer) {
        bump_crate(workspace, versions, next);
        bump_schema(workspace, versions, next);
    }

    fn bump_crate(workspace: &Workspace, versions: &Versions, next: fn(&SemVer) -> SemVer) {
        let from = &versions.crate_version;
        replace(
            &workspace.kb_dir().join("Cargo.toml"),
            &format!("\nversion = \"{from}\""),
            &format!("\nversion = \"{}\"", next(from)),
        );
    }

    fn bump_schema(workspace: &Workspace, versions: &Versions, next: fn(&SemVer) -> SemVer) {
        let from = &versions.schema;
        replace(
            &workspace.kb_dir().join("Cargo.toml"),
            &format!("schema-version = \"{from}\""),
            &format!("schema-version = \"{}\"", next(from)),
        );
    }

    fn add_query(workspace: &Workspace) {
        append(
            &workspace.queries_dir().join("item.sql"),
            "\n--! count_items\nSELECT count(*) AS n FROM item;\n",
        );
    }

    #[test]
    fn an_unchanged_contract_passes() {
        assert!(matches!(verdict_after(|_, _| {}), Verdict::Pass(_)));
    }

    #[test]
    fn a_query_change_without_a_version_bump_fails() {
        let mut current = None;
        let verdict = verdict_after(|workspace, versions| {
            current = Some(versions.crate_version.clone());
            add_query(workspace);
        });
        let current = current.unwrap();
        let Verdict::Fail { reason, fix } = verdict else {
            panic!("passed: {verdict:?}")
        };
        assert!(
            reason.contains(&format!(
                "changed since contract {current} was recorded, but aiblox-kb is still {current}"
            )),
            "{reason}"
        );
        let expected = format!(
            "bump aiblox-kb to {} (additive change) or {}",
            next_additive(&current),
            next_breaking(&current)
        );
        assert!(fix.contains(&expected), "{fix}");
    }

    #[test]
    fn an_additive_change_with_a_compatible_bump_passes() {
        let verdict = verdict_after(|workspace, versions| {
            std::fs::write(
                workspace.schema_dir().join("V0099__add_lang.sql"),
                "ALTER TABLE item ADD COLUMN lang text;\n",
            )
            .unwrap();
            add_query(workspace);
            bump(workspace, versions, next_additive);
        });
        assert!(
            matches!(&verdict, Verdict::Pass(note) if note.starts_with("additive change")),
            "{verdict:?}"
        );
    }

    #[test]
    fn a_contract_change_moves_the_schema_version_and_only_it_does() {
        // The crate bumped, the schema version not: refused, naming the versions to take.
        let mut current = None;
        let verdict = verdict_after(|workspace, versions| {
            current = Some(versions.schema.clone());
            add_query(workspace);
            bump_crate(workspace, versions, next_additive);
        });
        let current = current.unwrap();
        let Verdict::Fail { reason, fix } = verdict else {
            panic!("passed: {verdict:?}")
        };
        assert!(
            reason.contains(&format!("but the schema version is still {current}")),
            "{reason}"
        );
        assert!(
            fix.contains(&format!(
                "to {} (additive change) or {}",
                next_additive(&current),
                next_breaking(&current)
            )),
            "{fix}"
        );

        // A Rust-only change (the crate bumped, schema/ and queries/ as recorded) keeps it.
        let verdict = verdict_after(|workspace, versions| {
            bump_crate(workspace, versions, next_breaking);
        });
        assert!(matches!(verdict, Verdict::Pass(_)), "{verdict:?}");
        let verdict = verdict_after(|workspace, versions| {
            bump_schema(workspace, versions, next_additive);
        });
        let Verdict::Fail { fix, .. } = verdict else {
            panic!("passed: {verdict:?}")
        };
        assert!(fix.contains("set schema-version back to"), "{fix}");
    }

    #[test]
    fn dropping_a_column_needs_a_breaking_bump() {
        let drop_column = |workspace: &Workspace| {
            std::fs::write(
                workspace.schema_dir().join("V0099__drop_token_count.sql"),
                "ALTER TABLE chunk_cache DROP COLUMN token_count;\n",
            )
            .unwrap();
        };
        let verdict = verdict_after(|workspace, versions| {
            drop_column(workspace);
            bump(workspace, versions, next_additive);
        });
        let Verdict::Fail { reason, fix } = verdict else {
            panic!("passed: {verdict:?}")
        };
        assert!(
            reason.contains("column chunk_cache.token_count removed"),
            "{reason}"
        );
        assert!(fix.contains("bump aiblox-kb to"), "{fix}");

        // The crate's bump breaking, the schema version's not: still refused.
        let verdict = verdict_after(|workspace, versions| {
            drop_column(workspace);
            bump_crate(workspace, versions, next_breaking);
            bump_schema(workspace, versions, next_additive);
        });
        let Verdict::Fail { fix, .. } = verdict else {
            panic!("passed: {verdict:?}")
        };
        assert!(fix.contains("bump the schema version to"), "{fix}");

        let verdict = verdict_after(|workspace, versions| {
            drop_column(workspace);
            bump(workspace, versions, next_breaking);
        });
        assert!(
            matches!(&verdict, Verdict::Pass(note) if note.starts_with("breaking change")),
            "{verdict:?}"
        );
    }

    #[test]
    fn removing_a_query_needs_a_breaking_bump() {
        let verdict = verdict_after(|workspace, versions| {
            replace(
                &workspace.queries_dir().join("chunk_cache.sql"),
                "--! delete_chunks_of_other_chunkers",
                "--! delete_chunks_of_other_keys",
            );
            bump(workspace, versions, next_additive);
        });
        let Verdict::Fail { reason, .. } = verdict else {
            panic!("passed: {verdict:?}")
        };
        assert!(
            reason.contains("query chunk_cache::delete_chunks_of_other_chunkers removed"),
            "{reason}"
        );
    }

    #[test]
    fn semver_rules() {
        let v = |s: &str| SemVer::parse(s).unwrap();
        assert!(semver_compatible(&v("0.1.0"), &v("0.1.5")));
        assert!(!semver_compatible(&v("0.1.0"), &v("0.2.0")));
        assert!(semver_compatible(&v("1.2.0"), &v("1.9.0")));
        assert!(!semver_compatible(&v("1.2.0"), &v("2.0.0")));
        assert_eq!(next_breaking(&v("1.4.2")), v("2.0.0"));
        assert_eq!(next_additive(&v("1.4.2")), v("1.5.0"));
    }
}
