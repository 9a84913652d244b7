//! Rule: new migrations (not in the latest recorded contract) are free of statements that lock
//! or rewrite tables in production or break running services, as the squawk linter finds them
//! (adding a required column, a non-concurrent index on an existing table, a column type change,
//! dropping or renaming), plus one rule of ours: dropping a column a query still uses.
//!
//! A reviewed exception is marked in the migration itself with squawk's comments
//! (`-- squawk-ignore changing-column-type` before the statement).

use std::collections::BTreeSet;

use anyhow::Context as _;
use squawk_linter::{Linter, Rule};

use super::{Options, Verdict, or_fail};
use crate::codegen::migration_files;
use crate::contract_record;
use crate::file_tree;
use crate::workspace::Workspace;

/// The squawk rules that matter for a shared, continuously deployed database.
const RULES: [Rule; 12] = [
    Rule::AddingRequiredField,
    Rule::AddingNotNullableField,
    Rule::RequireConcurrentIndexCreation,
    Rule::BanConcurrentIndexCreationInTransaction,
    Rule::ChangingColumnType,
    Rule::BanDropColumn,
    Rule::BanDropTable,
    Rule::RenamingColumn,
    Rule::RenamingTable,
    Rule::ConstraintMissingNotValid,
    Rule::AddingForeignKeyConstraint,
    Rule::DisallowedUniqueConstraint,
];

pub(super) fn check(workspace: &Workspace, _options: &Options) -> Verdict {
    or_fail(evaluate(workspace), "fix the migration files of schema/")
}

fn evaluate(workspace: &Workspace) -> anyhow::Result<Verdict> {
    let released: BTreeSet<String> = contract_record::latest(workspace)?
        .map(|record| record.sum.migrations.into_keys().collect())
        .unwrap_or_default();
    let queries: String = file_tree::read_tree(&workspace.queries_dir())?
        .into_values()
        .map(|contents| String::from_utf8_lossy(&contents).to_lowercase())
        .collect::<Vec<_>>()
        .join("\n");

    let mut findings = Vec::new();
    let mut linted = 0;
    for path in migration_files(&workspace.schema_dir())? {
        let file_name = path
            .file_name()
            .expect("named")
            .to_string_lossy()
            .into_owned();
        if released.contains(&file_name) {
            continue;
        }
        linted += 1;
        let sql = std::fs::read_to_string(&path)
            .with_context(|| format!("could not read {}", path.display()))?;
        findings.extend(lint(&file_name, &sql));
        for column in dropped_columns(&sql) {
            if contains_word(&queries, &column) {
                findings.push(format!(
                    "{file_name}: drops column {column}, which a query in queries/ still uses"
                ));
            }
        }
    }
    if findings.is_empty() {
        return Ok(Verdict::Pass(format!(
            "{linted} new migration(s) linted, nothing risky"
        )));
    }
    Ok(Verdict::fail(
        findings.join("\n"),
        "split the change into expand/contract steps (docs/migrations.md); for a reviewed exception, add \
         `-- squawk-ignore <rule>` before the statement",
    ))
}

/// squawk's findings, as `file:line:column: rule: message (help)`.
fn lint(file_name: &str, sql: &str) -> Vec<String> {
    let parsed = squawk_syntax::SourceFile::parse(sql);
    let mut linter = Linter::from(RULES);
    linter.settings.assume_in_transaction = !aiblox_sqlfile::runs_outside_transaction(sql);
    linter
        .lint(&parsed, sql)
        .into_iter()
        .map(|violation| {
            let at =
                aiblox_sqlfile::line_column(sql, u32::from(violation.text_range.start()) as usize);
            let help = violation
                .help
                .map(|help| format!(" ({help})"))
                .unwrap_or_default();
            format!(
                "{file_name}:{}:{}: {}: {}{help}",
                at.line, at.column, violation.code, violation.message
            )
        })
        .collect()
}

/// Column names after `DROP COLUMN [IF EXISTS]`, lower-cased.
fn dropped_columns(sql: &str) -> Vec<String> {
    let lower = sql.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    let mut columns = Vec::new();
    for (index, pair) in words.windows(2).enumerate() {
        if pair == ["drop", "column"] {
            let mut next = index + 2;
            if words.get(next) == Some(&"if") && words.get(next + 1) == Some(&"exists") {
                next += 2;
            }
            if let Some(column) = words.get(next) {
                columns.push((*column).to_owned());
            }
        }
    }
    columns
}

fn contains_word(text: &str, word: &str) -> bool {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .any(|candidate| candidate == word)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::scratch_workspace;

    fn verdict_with(migration: &str) -> Verdict {
        let (_dir, workspace) = scratch_workspace();
        std::fs::write(workspace.schema_dir().join("V0900__change.sql"), migration).unwrap();
        check(&workspace, &Options::default())
    }

    fn reason(verdict: Verdict) -> String {
        match verdict {
            Verdict::Fail { reason, .. } => reason,
            Verdict::Pass(note) => panic!("passed: {note}"),
        }
    }

    #[test]
    fn released_migrations_are_not_linted_and_safe_ones_pass() {
        // New: the one written here, and any not released yet in the repository itself.
        let verdict = verdict_with("ALTER TABLE item ADD COLUMN lang text;\n");
        assert!(
            matches!(&verdict, Verdict::Pass(note) if note.ends_with("new migration(s) linted, nothing risky")),
            "{verdict:?}"
        );
    }

    #[test]
    fn a_required_column_fails() {
        let reason = reason(verdict_with(
            "ALTER TABLE item ADD COLUMN lang text NOT NULL;\n",
        ));
        assert!(
            reason.contains("V0900__change.sql:1:") && reason.contains("adding-required-field"),
            "{reason}"
        );
    }

    #[test]
    fn an_index_without_concurrently_on_an_existing_table_fails() {
        let reason = reason(verdict_with(
            "CREATE INDEX item_title_idx ON item (title);\n",
        ));
        assert!(
            reason.contains("require-concurrent-index-creation"),
            "{reason}"
        );
        let marked =
            "-- aiblox:no-transaction\nCREATE INDEX CONCURRENTLY item_title_idx ON item (title);\n";
        assert!(matches!(verdict_with(marked), Verdict::Pass(_)));
    }

    #[test]
    fn a_type_change_fails() {
        let reason = reason(verdict_with(
            "ALTER TABLE chunk_cache ALTER COLUMN token_count TYPE bigint;\n",
        ));
        assert!(reason.contains("changing-column-type"), "{reason}");
    }

    #[test]
    fn dropping_a_column_a_query_uses_fails() {
        let reason = reason(verdict_with(
            "ALTER TABLE chunk_cache DROP COLUMN IF EXISTS token_count;\n",
        ));
        assert!(
            reason.contains("drops column token_count, which a query in queries/ still uses"),
            "{reason}"
        );
    }

    #[test]
    fn dropped_column_names_are_found() {
        assert_eq!(
            dropped_columns("alter table t drop column a, DROP COLUMN IF EXISTS \"b\";"),
            ["a", "b"]
        );
    }
}
