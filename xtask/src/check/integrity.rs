//! Rule: migrations are never edited, deleted, renumbered or duplicated once released, and
//! `schema/migrations.sum` lists exactly the migrations of `schema/`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context as _;

use super::{Options, Verdict, or_fail};
use crate::codegen::migration_files;
use crate::contract_record::{self, ContractRecord};
use crate::migrations_sum::{self, MigrationsSum};
use crate::workspace::Workspace;

pub(super) fn check(workspace: &Workspace, _options: &Options) -> Verdict {
    or_fail(
        evaluate(workspace),
        "fix the migration files of schema/, then run `cargo xtask codegen`",
    )
}

fn evaluate(workspace: &Workspace) -> anyhow::Result<Verdict> {
    let files = match migration_files(&workspace.schema_dir()) {
        Ok(files) => files,
        Err(err) => {
            return Ok(Verdict::fail(
                format!("{err:#}"),
                "give every migration its own version and a valid name",
            ));
        }
    };
    let current = checksums(&files)?;

    if let Some(record) = contract_record::latest(workspace)?
        && let Some(broken) = changed_since_release(&record, &current)
    {
        return Ok(broken);
    }

    let sum_path = workspace.schema_dir().join(migrations_sum::FILE_NAME);
    let sum = match std::fs::read_to_string(&sum_path)
        .map_err(anyhow::Error::from)
        .and_then(|text| MigrationsSum::parse(&text))
    {
        Ok(sum) => sum,
        Err(err) => {
            return Ok(Verdict::fail(
                format!(
                    "schema/{} is missing or invalid: {err:#}",
                    migrations_sum::FILE_NAME
                ),
                "run `cargo xtask codegen` (never edit it by hand; after a merge conflict, renumber the migrations of one side first)",
            ));
        }
    };
    if sum.migrations != current {
        return Ok(Verdict::fail(
            format!(
                "schema/{} does not match schema/: {}",
                migrations_sum::FILE_NAME,
                sum_differences(&sum, &current).join("; ")
            ),
            "run `cargo xtask codegen` and commit schema/migrations.sum",
        ));
    }
    Ok(Verdict::Pass(format!(
        "{} migrations match schema/migrations.sum and the released ones are untouched",
        current.len()
    )))
}

/// The checksum of each migration file, by file name.
fn checksums(files: &[PathBuf]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut current = BTreeMap::new();
    for path in files {
        let sql = std::fs::read_to_string(path)
            .with_context(|| format!("could not read {}", path.display()))?;
        current.insert(
            path.file_name()
                .expect("named")
                .to_string_lossy()
                .into_owned(),
            aiblox_sqlfile::checksum(&sql),
        );
    }
    Ok(current)
}

/// The failure for the first migration released in `record` that is gone from the `current`
/// ones or has been edited since; `None` when every released migration is untouched.
fn changed_since_release(
    record: &ContractRecord,
    current: &BTreeMap<String, String>,
) -> Option<Verdict> {
    for (name, released) in &record.sum.migrations {
        match current.get(name) {
            None => {
                return Some(Verdict::fail(
                    format!(
                        "{name} was released in contract {} and is gone from schema/ (deleted or renumbered)",
                        record.version
                    ),
                    format!(
                        "restore schema/{name} as released; put further changes in a new migration"
                    ),
                ));
            }
            Some(now) if now != released => {
                return Some(Verdict::fail(
                    format!(
                        "{name} was released in contract {} and has been edited since (released checksum {released}, now {now})",
                        record.version
                    ),
                    format!(
                        "restore schema/{name} as released (applied migrations are never edited) and put the change in a new migration"
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    None
}

/// How the sum file differs from the `current` migrations: those not listed, changed since
/// they were listed, then listed but missing.
fn sum_differences(sum: &MigrationsSum, current: &BTreeMap<String, String>) -> Vec<String> {
    let mut differences = Vec::new();
    for (name, checksum) in current {
        match sum.migrations.get(name) {
            None => differences.push(format!("{name} is not listed")),
            Some(listed) if listed != checksum => {
                differences.push(format!("{name} changed since it was listed"))
            }
            Some(_) => {}
        }
    }
    differences.extend(
        sum.migrations
            .keys()
            .filter(|name| !current.contains_key(*name))
            .map(|name| format!("{name} is listed but missing")),
    );
    differences
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The version of the latest recorded contract, which these messages name.
    fn recorded(workspace: &Workspace) -> cornucopia::cargo_toml::SemVer {
        contract_record::latest(workspace).unwrap().unwrap().version
    }
    use crate::test_support::{append, replace, scratch_workspace};

    fn failure(workspace: &Workspace) -> (String, String) {
        match check(workspace, &Options::default()) {
            Verdict::Fail { reason, fix } => (reason, fix),
            Verdict::Pass(note) => panic!("the rule passed: {note}"),
        }
    }

    #[test]
    fn an_edited_released_migration_fails() {
        let (_dir, workspace) = scratch_workspace();
        append(
            &workspace.schema_dir().join("V0001__kb_init.sql"),
            "\nCREATE INDEX item_title_idx ON item (title);\n",
        );
        let (reason, fix) = failure(&workspace);
        assert!(
            reason.contains(&format!(
                "V0001__kb_init.sql was released in contract {} and has been edited since",
                recorded(&workspace)
            )),
            "{reason}"
        );
        assert!(fix.contains("put the change in a new migration"), "{fix}");
    }

    #[test]
    fn a_deleted_or_renumbered_released_migration_fails() {
        let (_dir, workspace) = scratch_workspace();
        std::fs::rename(
            workspace.schema_dir().join("V0001__kb_init.sql"),
            workspace.schema_dir().join("V0900__kb_init.sql"),
        )
        .unwrap();
        let (reason, _) = failure(&workspace);
        assert!(
            reason.contains(&format!(
                "V0001__kb_init.sql was released in contract {} and is gone",
                recorded(&workspace)
            )),
            "{reason}"
        );
    }

    #[test]
    fn a_duplicated_version_fails() {
        let (_dir, workspace) = scratch_workspace();
        std::fs::write(workspace.schema_dir().join("V0900__a.sql"), "SELECT 1;").unwrap();
        std::fs::write(workspace.schema_dir().join("V2__b.sql"), "SELECT 2;").unwrap();
        let (reason, _) = failure(&workspace);
        assert!(reason.contains("have the same version 2"), "{reason}");
    }

    #[test]
    fn a_new_migration_missing_from_the_sum_file_or_a_hand_edited_sum_fails() {
        let (_dir, workspace) = scratch_workspace();
        std::fs::write(
            workspace.schema_dir().join("V0900__add_lang.sql"),
            "ALTER TABLE item ADD COLUMN lang text;\n",
        )
        .unwrap();
        let (reason, fix) = failure(&workspace);
        assert!(
            reason.contains("V0900__add_lang.sql is not listed"),
            "{reason}"
        );
        assert!(fix.contains("cargo xtask codegen"), "{fix}");

        std::fs::remove_file(workspace.schema_dir().join("V0900__add_lang.sql")).unwrap();
        replace(
            &workspace.schema_dir().join("migrations.sum"),
            "V0001__kb_init.sql 5",
            "V0001__kb_init.sql 6",
        );
        let (reason, _) = failure(&workspace);
        assert!(reason.contains("`total` line does not match"), "{reason}");
    }
}
