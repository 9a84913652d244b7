//! The migrations of a directory: every `*.sql` file, named `V<version>__<description>.sql`,
//! versions unique, in version order. Other files (READMEs, `migrations.sum`) are ignored.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::{MigrationName, NameError};

/// A migration file found in a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationFile {
    /// Its parsed name.
    pub name: MigrationName,
    /// Its file name.
    pub file_name: String,
    /// Its path.
    pub path: PathBuf,
}

/// Why a directory's migrations cannot be listed.
#[derive(Debug)]
pub enum ListError {
    /// The directory cannot be read.
    Io {
        /// The directory.
        dir: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A `.sql` file is not named like a migration.
    Name(NameError),
    /// Two migrations share a version.
    SameVersion {
        /// The first file.
        first: String,
        /// The second file.
        second: String,
        /// Their version.
        version: u32,
    },
}

impl fmt::Display for ListError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListError::Io { dir, source } => {
                write!(f, "could not list {}: {source}", dir.display())
            }
            ListError::Name(err) => err.fmt(f),
            ListError::SameVersion {
                first,
                second,
                version,
            } => {
                write!(
                    f,
                    "{first} and {second} have the same version {version}: renumber the newer one"
                )
            }
        }
    }
}

impl std::error::Error for ListError {}

/// The migrations of `dir`, in version order.
pub fn migration_files(dir: &Path) -> Result<Vec<MigrationFile>, ListError> {
    let io = |source| ListError::Io {
        dir: dir.to_owned(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        let file_name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        if !file_name.ends_with(".sql") || !path.is_file() {
            continue;
        }
        let name = MigrationName::parse(&file_name).map_err(ListError::Name)?;
        files.push(MigrationFile {
            name,
            file_name,
            path,
        });
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    if let Some(pair) = files
        .windows(2)
        .find(|pair| pair[0].name.version == pair[1].name.version)
    {
        return Err(ListError::SameVersion {
            first: pair[0].file_name.clone(),
            second: pair[1].file_name.clone(),
            version: pair[0].name.version,
        });
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_sql_migrations_in_order_and_refuses_duplicates_and_bad_names() {
        let dir = std::env::temp_dir().join(format!("sqlfile-dir-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for name in [
            "V0002__second.sql",
            "V0001__first.sql",
            "README.md",
            "migrations.sum",
        ] {
            std::fs::write(dir.join(name), "").unwrap();
        }
        let names: Vec<String> = migration_files(&dir)
            .unwrap()
            .into_iter()
            .map(|f| f.file_name)
            .collect();
        assert_eq!(names, ["V0001__first.sql", "V0002__second.sql"]);

        std::fs::write(dir.join("V2__again.sql"), "").unwrap();
        assert!(
            migration_files(&dir)
                .unwrap_err()
                .to_string()
                .contains("have the same version 2")
        );
        std::fs::remove_file(dir.join("V2__again.sql")).unwrap();
        std::fs::write(dir.join("add_column.sql"), "").unwrap();
        assert!(
            migration_files(&dir)
                .unwrap_err()
                .to_string()
                .contains("`add_column.sql` is not a migration name")
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(migration_files(&dir), Err(ListError::Io { .. })));
    }
}
