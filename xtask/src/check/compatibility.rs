//! Rule: the queries that deployed services still run keep working on the schema about to be
//! deployed. Takes the queries of an older contract (the latest recorded one, or a git ref with
//! `--compat-with`) and prepares every one against the working tree's migrations on a
//! throwaway database, listing each query that would break with the server's error.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context as _, bail};
use cornucopia::config::Config;

use super::{Options, Verdict, or_fail};
use crate::codegen::{self, migration_files};
use crate::contract_record;
use crate::file_tree::FileTree;
use crate::scratch_db::ScratchDatabase;
use crate::workspace::Workspace;

pub(super) fn check(workspace: &Workspace, options: &Options) -> Verdict {
    or_fail(
        evaluate(workspace, options),
        "the old queries and the migrations must be readable",
    )
}

fn evaluate(workspace: &Workspace, options: &Options) -> anyhow::Result<Verdict> {
    let (label, old_queries) = match &options.compat_with {
        Some(reference) => (
            format!("queries/ at {reference}"),
            queries_at(workspace, reference)?,
        ),
        None => match contract_record::latest(workspace)? {
            Some(record) => (format!("contract {}", record.version), record.queries),
            None => {
                return Ok(Verdict::fail(
                    "no recorded contract to compare with",
                    "run `cargo xtask record-contract`, or pass `--compat-with <git-ref>`",
                ));
            }
        },
    };
    let database = ScratchDatabase::start()?;
    database.batch_execute("CREATE SCHEMA kb; SET search_path TO kb")?;
    codegen::apply_migrations(
        workspace,
        &database,
        &migration_files(&workspace.schema_dir())?,
    )?;

    let mut broken = Vec::new();
    let mut count = 0;
    for (path, contents) in &old_queries {
        let text = String::from_utf8_lossy(contents).into_owned();
        let queries = split_queries(&text);
        count += queries.len();
        if prepares(&database, path, &text).is_ok() {
            continue;
        }
        for (name, chunk) in queries {
            if let Err(message) = prepares(&database, path, &chunk) {
                broken.push(format!("queries/{}: {name}: {message}", path.display()));
            }
        }
    }
    if broken.is_empty() {
        return Ok(Verdict::Pass(format!(
            "all {count} queries of {label} prepare against the current migrations"
        )));
    }
    Ok(Verdict::fail(
        format!(
            "{} of the {count} queries of {label} break against the current migrations:\n{}",
            broken.len(),
            broken.join("\n")
        ),
        "keep what running services read until none runs that contract: expand/contract (docs/migrations.md)",
    ))
}

/// The `queries/` tree of a git revision.
fn queries_at(workspace: &Workspace, reference: &str) -> anyhow::Result<FileTree> {
    let git = |args: &[&str]| -> anyhow::Result<Vec<u8>> {
        let output = Command::new("git")
            .current_dir(workspace.root())
            .args(args)
            .output()
            .context("could not run git")?;
        if !output.status.success() {
            bail!(
                "git {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&output.stderr).trim()
            );
        }
        Ok(output.stdout)
    };
    let listing = git(&["ls-tree", "-r", "--name-only", reference, "--", "queries/"])?;
    let mut tree = FileTree::new();
    for path in String::from_utf8_lossy(&listing)
        .lines()
        .filter(|path| path.ends_with(".sql"))
    {
        let relative = PathBuf::from(path.strip_prefix("queries/").unwrap_or(path));
        tree.insert(relative, git(&["show", &format!("{reference}:{path}")])?);
    }
    if tree.is_empty() {
        bail!("{reference} has no queries/*.sql");
    }
    Ok(tree)
}

/// The queries of a file, each with the file's row type annotations (`--:`).
fn split_queries(text: &str) -> Vec<(String, String)> {
    let annotations: String = text
        .lines()
        .filter(|line| line.starts_with("--:"))
        .map(|line| format!("{line}\n"))
        .collect();
    let mut queries: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("--!") {
            let name = rest
                .split_whitespace()
                .next()
                .unwrap_or("?")
                .split(['(', ':'])
                .next()
                .unwrap_or("?")
                .to_owned();
            queries.push((name, format!("{annotations}\n{line}\n")));
        } else if let Some((_, chunk)) = queries.last_mut()
            && !line.starts_with("--:")
        {
            chunk.push_str(line);
            chunk.push('\n');
        }
    }
    queries
}

/// Whether cornucopia can prepare the queries of one file against the database.
fn prepares(database: &ScratchDatabase, path: &Path, text: &str) -> Result<(), String> {
    let run =
        || -> anyhow::Result<Result<(), String>> {
            let dir = tempfile::tempdir()?;
            let queries = dir.path().join("queries");
            std::fs::create_dir_all(&queries)?;
            std::fs::write(
                queries.join(path.file_name().context("query file without a name")?),
                text,
            )?;
            let config = Config::builder()
                .queries(&queries)
                .destination(dir.path().join("out"))
                .build();
            Ok(cornucopia::gen_live(database.client(), config)
                .map_err(|err| first_line(&err.report())))
        };
    run().unwrap_or_else(|err| Err(format!("{err:#}")))
}

fn first_line(report: &str) -> String {
    report
        .lines()
        .map(|line| line.trim().trim_start_matches('×').trim())
        .find(|line| !line.is_empty())
        .unwrap_or("failed")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The version of the latest recorded contract, which these messages name.
    fn recorded(workspace: &Workspace) -> cornucopia::cargo_toml::SemVer {
        contract_record::latest(workspace).unwrap().unwrap().version
    }
    use crate::test_support::{replace, scratch_workspace};

    const DROP_TOKEN_COUNT: &str = "ALTER TABLE chunk_cache DROP COLUMN token_count;\n";

    #[test]
    fn the_recorded_contract_prepares_against_the_current_schema() {
        let (_dir, workspace) = scratch_workspace();
        let verdict = check(&workspace, &Options::default());
        assert!(
            matches!(&verdict, Verdict::Pass(note) if note.contains(&format!("queries of contract {}", recorded(&workspace)))),
            "{verdict:?}"
        );
    }

    #[test]
    fn dropping_a_column_that_old_queries_read_lists_each_broken_query() {
        let (_dir, workspace) = scratch_workspace();
        std::fs::write(
            workspace.schema_dir().join("V0900__drop_token_count.sql"),
            DROP_TOKEN_COUNT,
        )
        .unwrap();
        let Verdict::Fail { reason, .. } = check(&workspace, &Options::default()) else {
            panic!("passed")
        };
        assert!(
            reason.contains(&format!(
                "queries of contract {} break against the current migrations",
                recorded(&workspace)
            )),
            "{reason}"
        );
        for query in ["get_chunks", "get_chunks_for_items", "put_chunks"] {
            assert!(
                reason.contains(&format!("queries/chunk_cache.sql: {query}: ")),
                "{query}: {reason}"
            );
        }
        assert!(reason.contains("token_count"), "{reason}");
        assert!(
            !reason.contains("item.sql"),
            "queries that still work are not listed: {reason}"
        );
    }

    #[test]
    fn compat_with_a_git_ref_uses_that_revision_s_queries() {
        let (dir, workspace) = scratch_workspace();
        let git = |args: &[&str]| {
            let status = Command::new("git")
                .current_dir(dir.path())
                .args(["-c", "user.name=test", "-c", "user.email=test@example.com"])
                .args(args)
                .status()
                .unwrap();
            assert!(status.success(), "git {args:?}");
        };
        git(&["init", "-q"]);
        git(&["add", "-A"]);
        git(&["commit", "-q", "-m", "base"]);
        std::fs::write(
            workspace.schema_dir().join("V0900__drop_token_count.sql"),
            DROP_TOKEN_COUNT,
        )
        .unwrap();
        replace(
            &workspace.queries_dir().join("chunk_cache.sql"),
            "text, token_count, created_at",
            "text, created_at",
        );

        let options = Options {
            compat_with: Some("HEAD".to_owned()),
            ..Options::default()
        };
        let Verdict::Fail { reason, .. } = check(&workspace, &options) else {
            panic!("passed")
        };
        assert!(
            reason.contains("queries of queries/ at HEAD break"),
            "{reason}"
        );
        assert!(
            reason.contains("queries/chunk_cache.sql: get_chunks: "),
            "{reason}"
        );

        let missing = Options {
            compat_with: Some("no-such-ref".to_owned()),
            ..Options::default()
        };
        let Verdict::Fail { reason, .. } = check(&workspace, &missing) else {
            panic!("passed")
        };
        assert!(reason.contains("no-such-ref"), "{reason}");
    }

    #[test]
    fn files_split_into_queries_with_their_row_types() {
        let text = "--: Item(title?)\n\n--! get_item : Item\nSELECT 1;\n\n--! count\nSELECT 2;\n";
        let queries = split_queries(text);
        assert_eq!(
            queries
                .iter()
                .map(|(name, _)| name.as_str())
                .collect::<Vec<_>>(),
            ["get_item", "count"]
        );
        assert!(
            queries[1].1.starts_with("--: Item(title?)\n")
                && queries[1].1.contains("SELECT 2;")
                && !queries[1].1.contains("SELECT 1;")
        );
    }
}
