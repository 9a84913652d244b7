//! What identifies SQL files: checksums that ignore line-ending style, the marker that takes a
//! migration out of its transaction, and the fingerprint of a whole contract.

use sha2::{Digest as _, Sha256};

/// A migration whose first lines (before any statement) hold this comment runs outside a
/// transaction, statement by statement: for statements PostgreSQL refuses inside one, such
/// as `CREATE INDEX CONCURRENTLY`. Such a migration must be safe to rerun after a partial
/// failure (see docs/migrations.md).
pub const NO_TRANSACTION_MARKER: &str = "-- aiblox:no-transaction";

/// SHA-256 of a SQL file as lower-case hex, the same whether its lines end in LF or CRLF.
pub fn checksum(sql: &str) -> String {
    hex::encode(Sha256::digest(sql.replace("\r\n", "\n").as_bytes()))
}

/// Whether a migration asks to run outside a transaction: [`NO_TRANSACTION_MARKER`] on a line
/// of the comment block it starts with.
pub fn runs_outside_transaction(sql: &str) -> bool {
    sql.lines()
        .map(str::trim)
        .take_while(|line| line.is_empty() || line.starts_with("--"))
        .any(|line| line == NO_TRANSACTION_MARKER)
}

/// The contract fingerprint: one hash of every schema and query file, by relative path and
/// [`checksum`]. Any change to `schema/` or `queries/` changes it; line endings and file
/// order on disk do not.
pub fn contract_fingerprint<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut entries: Vec<(&str, String)> = files
        .into_iter()
        .map(|(path, sql)| (path, checksum(sql)))
        .collect();
    entries.sort();
    let mut hasher = Sha256::new();
    for (path, checksum) in entries {
        hasher.update(path.as_bytes());
        hasher.update(b" ");
        hasher.update(checksum.as_bytes());
        hasher.update(b"\n");
    }
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_ignore_line_endings_only() {
        assert_eq!(
            checksum("SELECT 1;\r\nSELECT 2;\r\n"),
            checksum("SELECT 1;\nSELECT 2;\n")
        );
        assert_ne!(checksum("SELECT 1;\n"), checksum("SELECT 1; \n"));
        assert_eq!(checksum("").len(), 64);
    }

    #[test]
    fn the_marker_counts_only_in_the_leading_comments() {
        assert!(runs_outside_transaction(
            "-- Build the index without locking writes.\n-- aiblox:no-transaction\nCREATE INDEX CONCURRENTLY x ON t (c);"
        ));
        assert!(runs_outside_transaction(
            "\r\n-- aiblox:no-transaction\r\nSELECT 1;"
        ));
        assert!(!runs_outside_transaction(
            "SELECT 1;\n-- aiblox:no-transaction\n"
        ));
        assert!(!runs_outside_transaction(
            "-- aiblox:no-transaction please\nSELECT 1;"
        ));
    }

    #[test]
    fn fingerprints_depend_on_paths_and_contents_not_order() {
        let a = contract_fingerprint([("schema/V1__a.sql", "x"), ("queries/q.sql", "y")]);
        assert_eq!(
            a,
            contract_fingerprint([
                ("queries/q.sql", "y\r\n".trim_end()),
                ("schema/V1__a.sql", "x")
            ])
        );
        assert_ne!(
            a,
            contract_fingerprint([("schema/V1__a.sql", "x"), ("queries/q.sql", "z")])
        );
        assert_ne!(
            a,
            contract_fingerprint([("schema/V1__b.sql", "x"), ("queries/q.sql", "y")])
        );
    }
}
