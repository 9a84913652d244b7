//! Where migrations come from: the ones embedded in this build, or a directory (for tools and
//! tests that need another set).

use std::path::Path;

use aiblox_sqlfile::{checksum, migration_files, runs_outside_transaction};

use crate::Error;

/// A migration this build knows.
#[derive(Debug, Clone)]
pub(crate) struct Migration {
    pub(crate) version: u32,
    pub(crate) file_name: String,
    pub(crate) sql: String,
    pub(crate) checksum: String,
    pub(crate) outside_transaction: bool,
}

impl Migration {
    fn new(version: u32, file_name: String, sql: String) -> Self {
        Migration {
            version,
            checksum: checksum(&sql),
            outside_transaction: runs_outside_transaction(&sql),
            file_name,
            sql,
        }
    }
}

/// One migration compiled into this build.
#[derive(Debug)]
struct EmbeddedMigration {
    version: u32,
    file_name: &'static str,
    sql: &'static str,
}

include!(concat!(env!("OUT_DIR"), "/embedded_migrations.rs"));

/// The migrations embedded in this build, in version order.
pub(crate) fn embedded() -> Vec<Migration> {
    EMBEDDED
        .iter()
        .map(|m| Migration::new(m.version, m.file_name.to_owned(), m.sql.to_owned()))
        .collect()
}

/// The migrations of `dir` (files `V<version>__<description>.sql`), in version order.
pub(crate) fn from_dir(dir: &Path) -> Result<Vec<Migration>, Error> {
    let config_error = |message: String| Error::Config { message };
    let files = migration_files(dir)
        .map_err(|err| config_error(format!("migrations in {}: {err}", dir.display())))?;
    files
        .into_iter()
        .map(|file| {
            let sql = std::fs::read_to_string(&file.path).map_err(|err| {
                config_error(format!("cannot read {}: {err}", file.path.display()))
            })?;
            Ok(Migration::new(file.name.version, file.file_name, sql))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_migrations_are_ordered_and_checksummed() {
        let migrations = embedded();
        assert_eq!(migrations[0].file_name, "V0001__kb_init.sql");
        assert!(
            migrations
                .windows(2)
                .all(|pair| pair[0].version < pair[1].version)
        );
        assert!(migrations.iter().all(|m| m.checksum.len() == 64));
        // Only the metadata's index is built outside a transaction (CONCURRENTLY).
        let outside: Vec<&str> = migrations
            .iter()
            .filter(|m| m.outside_transaction)
            .map(|m| m.file_name.as_str())
            .collect();
        assert_eq!(outside, ["V0008__item_metadata_index.sql"]);
    }
}
