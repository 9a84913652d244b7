//! Ceilings: what PostgreSQL itself does with the contract's own statements, measured with
//! `pgbench` on the same cluster in the same run, so each phase reads as a ratio of it.
//!
//! The statement is the contract's query as `queries/` writes it (compiled in, so a changed
//! query changes the ceiling with it). Its parameters come from a helper table holding each
//! call's exact arguments (the same id lists, the same chunk sets), picked in the same
//! statement: `WITH pick AS MATERIALIZED (SELECT * FROM <table> WHERE n = <call>)`, and
//! every `:param` of the query replaced by `(SELECT param FROM pick)`. The pick is a
//! primary-key lookup in a table of a few thousand rows: one statement and one round trip per
//! call, as the contract makes them. pgbench runs prepared statements (`-M prepared`).

use anyhow::{Context as _, bail};

/// The contract's query files, as compiled into the contract.
const ITEM_QUERIES: &str = include_str!("../../../queries/item.sql");
const CHUNK_CACHE_QUERIES: &str = include_str!("../../../queries/chunk_cache.sql");

/// A contract statement a ceiling runs.
#[derive(Debug, Clone, Copy)]
pub enum Statement {
    /// `get_items` (`ItemRepo::get_many`).
    GetItems,
    /// `put_chunks` (`ChunkCacheRepo::put`).
    PutChunks,
}

impl Statement {
    /// The query's name in `queries/`.
    pub fn name(self) -> &'static str {
        match self {
            Statement::GetItems => "get_items",
            Statement::PutChunks => "put_chunks",
        }
    }

    fn file(self) -> &'static str {
        match self {
            Statement::GetItems => ITEM_QUERIES,
            Statement::PutChunks => CHUNK_CACHE_QUERIES,
        }
    }

    /// The query's SQL, comments and the trailing semicolon removed.
    pub fn sql(self) -> anyhow::Result<String> {
        query_sql(self.file(), self.name())
    }
}

/// The SQL of the query named `name` in a cornucopia query file.
fn query_sql(file: &str, name: &str) -> anyhow::Result<String> {
    let mut lines = file.lines().skip_while(|line| {
        line.strip_prefix("--! ")
            .and_then(|rest| rest.split_whitespace().next())
            != Some(name)
    });
    if lines.next().is_none() {
        bail!("no query {name} in queries/");
    }
    let sql: Vec<&str> = lines
        .take_while(|line| !line.starts_with("--!"))
        .filter(|line| !line.trim_start().starts_with("--"))
        .collect();
    Ok(sql
        .join("\n")
        .trim()
        .trim_end_matches(';')
        .trim()
        .to_owned())
}

/// The named parameters of a query (`:ids`, not the `::casts`), in order of first use.
pub fn parameters(sql: &str) -> Vec<String> {
    let bytes = sql.as_bytes();
    let mut names = Vec::new();
    for (at, _) in sql.match_indices(':') {
        let after_colon = at > 0 && bytes[at - 1] == b':';
        let next_is_colon = bytes.get(at + 1) == Some(&b':');
        if after_colon || next_is_colon {
            continue;
        }
        let name: String = sql[at + 1..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// The pgbench script of a ceiling: `statement` with its parameters read from `table`'s row
/// `pick` (an SQL expression: a pgbench variable such as `:n`, or `nextval(...)`).
pub fn script(
    statement: Statement,
    table: &str,
    pick: &str,
    setup: &str,
) -> anyhow::Result<String> {
    let sql = statement.sql()?;
    let mut body = sql.clone();
    for name in parameters(&sql) {
        body = replace_parameter(&body, &name, &format!("(SELECT {name} FROM pick)"));
    }
    let pick_cte = format!("pick AS MATERIALIZED (SELECT * FROM {table} WHERE n = {pick})");
    let body = match body.strip_prefix("WITH ") {
        Some(rest) => format!("WITH {pick_cte},\n{rest}"),
        None => format!("WITH {pick_cte}\n{body}"),
    };
    // pgbench reads an SQL command over several lines, up to its semicolon.
    Ok(format!("{setup}{body};\n"))
}

/// `sql` with every `:name` (not `::name`, not `:name_longer`) replaced by `with`.
fn replace_parameter(sql: &str, name: &str, with: &str) -> String {
    let pattern = format!(":{name}");
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut rest_from = 0;
    for (at, _) in sql.match_indices(&pattern) {
        let after_colon = at > 0 && bytes[at - 1] == b':';
        let end = at + pattern.len();
        let continues = bytes
            .get(end)
            .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_');
        if after_colon || continues {
            continue;
        }
        out.push_str(&sql[rest_from..at]);
        out.push_str(with);
        rest_from = end;
    }
    out.push_str(&sql[rest_from..]);
    out
}

/// Creates `table` in `schema`, empty: `n` (the call's number, from 1) as its key, then one
/// column per parameter of `statement`, typed as `columns` says. Refused when `columns` does
/// not name exactly the statement's parameters (the query changed: update the ceiling).
pub async fn create_table(
    client: &tokio_postgres::Client,
    schema: &str,
    table: &str,
    statement: Statement,
    columns: &[(&str, &str)],
) -> anyhow::Result<()> {
    let wanted = parameters(&statement.sql()?);
    let given: Vec<String> = columns.iter().map(|(name, _)| (*name).to_owned()).collect();
    if wanted != given {
        bail!(
            "{} takes {wanted:?}; the ceiling fills {given:?}: update the ceiling with the query",
            statement.name()
        );
    }
    let columns: Vec<String> = columns
        .iter()
        .map(|(name, ty)| format!("{name} {ty} NOT NULL"))
        .collect();
    client
        .batch_execute(&format!(
            "DROP TABLE IF EXISTS {schema}.{table};\n\
             CREATE TABLE {schema}.{table} (n integer PRIMARY KEY, {})",
            columns.join(", ")
        ))
        .await
        .with_context(|| format!("could not create the {} ceiling's table", statement.name()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contracts_statements_are_found_with_their_parameters() {
        assert_eq!(parameters(&Statement::GetItems.sql().unwrap()), ["ids"]);
        assert_eq!(
            parameters(&Statement::PutChunks.sql().unwrap()),
            [
                "item_ids",
                "chunk_indexes",
                "chunk_counts",
                "content_hashes",
                "start_offsets",
                "end_offsets",
                "texts",
                "token_counts",
                "chunker_key"
            ]
        );
    }

    #[test]
    fn a_script_reads_every_parameter_from_the_picked_row() {
        let script = script(
            Statement::GetItems,
            "lists",
            ":n",
            "\\set n random(1, 10)\n",
        )
        .unwrap();
        assert!(script.starts_with("\\set n random(1, 10)\nWITH pick AS MATERIALIZED (SELECT * FROM lists WHERE n = :n)\nSELECT id,"), "{script}");
        assert!(
            script.contains("WHERE id = ANY((SELECT ids FROM pick)::bigint[]);"),
            "{script}"
        );
        let script = script_of_put();
        assert!(script.starts_with("WITH pick AS MATERIALIZED"), "{script}");
        assert!(
            !script.contains(":item_ids")
                && script.contains("(SELECT chunker_key FROM pick)::text"),
            "{script}"
        );
        assert!(script.contains("::bigint[]"), "casts are kept: {script}");
    }

    fn script_of_put() -> String {
        script(Statement::PutChunks, "sets", "1", "").unwrap()
    }
}
