//! Codegen against a real throwaway PostgreSQL: drift is caught, broken SQL is reported with
//! its file, and nothing is written when generation fails.

use super::*;
use crate::test_support::{append, scratch_workspace};

#[test]
fn committed_generated_code_is_current() {
    run(&Workspace::current().unwrap(), Mode::Check).expect("run `cargo xtask codegen` and commit");
}

#[test]
fn the_sum_file_lists_every_migration_and_the_fingerprint() {
    let (_dir, workspace) = scratch_workspace();
    std::fs::write(
        workspace.schema_dir().join("V0900__add_lang.sql"),
        "ALTER TABLE item ADD COLUMN lang text;\n",
    )
    .unwrap();
    run(&workspace, Mode::Write).unwrap();
    let text = std::fs::read_to_string(workspace.schema_dir().join("migrations.sum")).unwrap();
    let sum = MigrationsSum::parse(&text).unwrap();
    let keys = sum.migrations.keys().collect::<Vec<_>>();
    assert_eq!(keys.first().unwrap().as_str(), "V0001__kb_init.sql");
    assert_eq!(keys.last().unwrap().as_str(), "V0900__add_lang.sql");
    assert_eq!(
        keys.len(),
        workspace_migration_count(&workspace),
        "every migration is listed"
    );
    assert_eq!(sum.fingerprint, contract_fingerprint(&workspace).unwrap());
    let embedded =
        std::fs::read_to_string(workspace.embedded_migrations_dir().join(FINGERPRINT_FILE))
            .unwrap();
    assert_eq!(embedded.trim(), sum.fingerprint);
}

#[test]
fn check_fails_on_stale_code_and_write_brings_it_up_to_date() {
    let (_dir, workspace) = scratch_workspace();
    append(
        &workspace.queries_dir().join("item.sql"),
        "\n--! count_items\nSELECT count(*) AS n FROM item;\n",
    );

    let err = run(&workspace, Mode::Check).unwrap_err().to_string();
    assert!(
        err.contains("aiblox-kb/gen/src/queries/item.rs (stale)"),
        "{err}"
    );
    assert!(
        err.contains("run `cargo xtask codegen` and commit"),
        "{err}"
    );

    run(&workspace, Mode::Write).unwrap();
    let generated =
        std::fs::read_to_string(workspace.gen_dir().join("src/queries/item.rs")).unwrap();
    assert!(
        generated.contains("pub fn count_items()"),
        "new query is generated"
    );
    run(&workspace, Mode::Check).expect("up to date after writing");
}

#[test]
fn a_query_that_does_not_match_the_schema_fails_with_its_file_named() {
    let (_dir, workspace) = scratch_workspace();
    let before = file_tree::read_tree(&workspace.gen_dir()).unwrap();
    append(
        &workspace.queries_dir().join("chunk_cache.sql"),
        "\n--! broken_query\nSELECT no_such_column FROM chunk_cache;\n",
    );

    let err = run(&workspace, Mode::Write).unwrap_err().to_string();
    assert!(err.contains("a query did not compile"), "{err}");
    assert!(err.contains("chunk_cache.sql"), "{err}");
    assert!(err.contains("no_such_column"), "{err}");
    assert_eq!(
        file_tree::read_tree(&workspace.gen_dir()).unwrap(),
        before,
        "nothing written on failure"
    );
}

#[test]
fn a_migration_error_with_a_server_position_points_at_it() {
    let (_dir, workspace) = scratch_workspace();
    std::fs::write(
        workspace.schema_dir().join("V0999__typo.sql"),
        "-- a comment line\nCREATE VIEW item_titles AS\n    SELECT titel FROM item;\n",
    )
    .unwrap();

    let err = run(&workspace, Mode::Check).unwrap_err().to_string();
    assert!(err.contains("schema/V0999__typo.sql:3:12: "), "{err}");
    assert!(err.contains(r#"column "titel" does not exist"#), "{err}");
}

#[test]
fn a_broken_migration_fails_with_its_file_named() {
    let (_dir, workspace) = scratch_workspace();
    std::fs::write(
        workspace.schema_dir().join("V0999__broken.sql"),
        "ALTER TABLE item ADD COLUMN lang text;\nALTER TABLE no_such_table ADD COLUMN x int;\n",
    )
    .unwrap();

    let err = run(&workspace, Mode::Check).unwrap_err().to_string();
    assert!(
        err.contains("a migration failed: schema/V0999__broken.sql:2:1: "),
        "{err}"
    );
    assert!(
        err.contains(r#"relation "no_such_table" does not exist"#),
        "{err}"
    );
    assert!(err.contains("2 | ALTER TABLE no_such_table"), "{err}");
}

#[test]
fn migration_files_must_be_named_and_numbered_uniquely() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("V0002__second.sql"), "").unwrap();
    std::fs::write(dir.path().join("V0001__first.sql"), "").unwrap();
    let files = migration_files(dir.path()).unwrap();
    let names: Vec<_> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_str().unwrap())
        .collect();
    assert_eq!(names, ["V0001__first.sql", "V0002__second.sql"]);

    std::fs::write(dir.path().join("V2__again.sql"), "").unwrap();
    let err = migration_files(dir.path()).unwrap_err().to_string();
    assert!(err.contains("same version 2"), "{err}");

    std::fs::remove_file(dir.path().join("V2__again.sql")).unwrap();
    std::fs::write(dir.path().join("add_column.sql"), "").unwrap();
    let err = format!("{:#}", migration_files(dir.path()).unwrap_err());
    assert!(
        err.contains("`add_column.sql` is not a migration name"),
        "{err}"
    );
}

#[test]
fn a_new_migration_is_copied_into_the_contract_crate() {
    let (_dir, workspace) = scratch_workspace();
    let sql = "ALTER TABLE item ADD COLUMN lang text;\n";
    std::fs::write(workspace.schema_dir().join("V0900__add_item_lang.sql"), sql).unwrap();

    let err = run(&workspace, Mode::Check).unwrap_err().to_string();
    assert!(
        err.contains("aiblox-kb/migrations/V0900__add_item_lang.sql (missing)"),
        "{err}"
    );
    assert!(err.contains("schema/migrations.sum (stale)"), "{err}");

    run(&workspace, Mode::Write).unwrap();
    let copied = workspace
        .embedded_migrations_dir()
        .join("V0900__add_item_lang.sql");
    assert_eq!(std::fs::read_to_string(copied).unwrap(), sql);
}

fn workspace_migration_count(workspace: &Workspace) -> usize {
    std::fs::read_dir(workspace.schema_dir())
        .unwrap()
        .filter(|entry| {
            let name = entry.as_ref().unwrap().file_name();
            let name = name.to_string_lossy();
            name.starts_with('V') && name.ends_with(".sql")
        })
        .count()
}

/// A new query reaches the manifest typed by the server, with the nullability its annotations
/// gave cornucopia (nullable parameters, nullable array elements, nullable columns) and the
/// names cornucopia gives fields (a Rust keyword escaped), and the Python package as a typed
/// function (a Python keyword renamed); a hand edit of the package is stale.
#[test]
fn the_manifest_and_the_python_package_follow_the_queries() {
    let (_dir, workspace) = scratch_workspace();
    append(
        &workspace.queries_dir().join("item.sql"),
        "\n--! titles_of (after?, tags[?]) : (title?)\n-- Titles after `after`.\n\
         SELECT id, title, page_starts, source AS \"type\", external_id AS \"from\" FROM item \
         WHERE (:after::text IS NULL OR title > :after::text) AND title = ANY(:tags::text[]) \
         LIMIT :limit::bigint;\n",
    );
    run(&workspace, Mode::Write).unwrap();
    let text = std::fs::read_to_string(workspace.kb_dir().join(manifest::FILE_NAME)).unwrap();
    let parsed: manifest::ContractManifest = serde_json::from_str(&text).unwrap();
    let query = parsed
        .queries
        .iter()
        .find(|query| query.name == "titles_of")
        .unwrap();
    assert_eq!(query.file, "queries/item.sql");
    assert!(query.sql.contains("$1::text IS NULL"), "{}", query.sql);
    let shape = |values: &[manifest::Value]| -> Vec<String> {
        values
            .iter()
            .map(|v| {
                let array = if v.array { "[]" } else { "" };
                let nullable = if v.nullable { "?" } else { "" };
                let elements = if v.element_nullable { " elements?" } else { "" };
                format!("{} {}{array}{nullable}{elements}", v.name, v.pg_type)
            })
            .collect()
    };
    assert_eq!(
        shape(&query.parameters),
        ["after text?", "tags text[] elements?", "limit int8"]
    );
    // page_starts is not marked: cornucopia reads it as never NULL, and so does the manifest.
    assert_eq!(
        shape(&query.row.as_ref().unwrap().columns),
        [
            "id int8",
            "title text?",
            "page_starts int4[]",
            "type text",
            "from text"
        ]
    );
    assert_eq!(parsed.contract.version, workspace.kb_version().unwrap());
    assert_eq!(
        parsed.migrations.len(),
        workspace_migration_count(&workspace)
    );

    let queries_py = workspace
        .root()
        .join(python::PACKAGE_DIR)
        .join("_queries.py");
    let python = std::fs::read_to_string(&queries_py).unwrap();
    assert!(
        python.contains(
            "async def titles_of(conn: AsyncConnection[Any], after: str | None, tags: Sequence[str | None], \
             limit: int) -> list[TitlesOfRow]:"
        ),
        "{python}"
    );
    assert!(python.contains("(after, _list(tags), limit)"), "{python}");
    assert!(
        python.contains(
            "    title: str | None\n    page_starts: list[int]\n    type: str\n    from_: str\n"
        ),
        "{python}"
    );

    append(&queries_py, "# a hand edit\n");
    let err = run(&workspace, Mode::Check).unwrap_err().to_string();
    assert!(
        err.contains("python/aiblox_kb/_queries.py (stale)"),
        "{err}"
    );
}
