//! Locating the PostgreSQL server binaries (`initdb`, `postgres`).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::Error;

/// The directory holding `initdb` and `postgres`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerBinaries {
    bindir: PathBuf,
}

impl ServerBinaries {
    /// Finds the server binaries: first on PATH, then in `pg_config --bindir`, then in the
    /// newest `/usr/lib/postgresql/<major>/bin`.
    pub fn locate() -> Result<Self, Error> {
        let mut candidates: Vec<PathBuf> = std::env::var_os("PATH")
            .map(|path| std::env::split_paths(&path).collect())
            .unwrap_or_default();
        if let Some(bindir) = pg_config_bindir() {
            candidates.push(bindir);
        }
        candidates.extend(debian_bindirs(Path::new("/usr/lib/postgresql")));
        Self::locate_in(&candidates)
    }

    /// Finds the first directory of `candidates` holding both `initdb` and `postgres`. When
    /// `postgres` there is a link into the installation's own directory (as a
    /// `/usr/local/bin/postgres -> /usr/lib/postgresql/15/bin/postgres`), that directory is
    /// the one used: it also holds `pg_ctl`, `pg_basebackup` and the rest.
    pub fn locate_in(candidates: &[PathBuf]) -> Result<Self, Error> {
        let holds_server =
            |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
        candidates
            .iter()
            .find(|dir| holds_server(dir))
            .map(|dir| {
                let installed = dir
                    .join("postgres")
                    .canonicalize()
                    .ok()
                    .and_then(|real| real.parent().map(Path::to_path_buf))
                    .filter(|real| holds_server(real));
                ServerBinaries {
                    bindir: installed.unwrap_or_else(|| dir.clone()),
                }
            })
            .ok_or_else(|| Error::BinariesNotFound {
                searched: if candidates.is_empty() {
                    "nowhere: PATH is empty and no pg_config or /usr/lib/postgresql".to_owned()
                } else {
                    candidates
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                },
            })
    }

    /// The directory holding the binaries.
    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    pub(crate) fn program(&self, name: &str) -> PathBuf {
        self.bindir.join(name)
    }
}

fn pg_config_bindir() -> Option<PathBuf> {
    let output = Command::new("pg_config").arg("--bindir").output().ok()?;
    if !output.status.success() {
        return None;
    }
    let dir = String::from_utf8(output.stdout).ok()?;
    Some(PathBuf::from(dir.trim()))
}

/// `<root>/<major>/bin` directories, newest major first.
fn debian_bindirs(root: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut majors: Vec<(u32, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let major = entry.file_name().to_str()?.parse::<u32>().ok()?;
            Some((major, entry.path().join("bin")))
        })
        .collect();
    majors.sort_by_key(|(major, _)| std::cmp::Reverse(*major));
    majors.into_iter().map(|(_, dir)| dir).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binaries_say_how_to_install_them() {
        let empty = std::env::temp_dir();
        let err = ServerBinaries::locate_in(std::slice::from_ref(&empty)).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("apt-get install postgresql"), "{message}");
        assert!(message.contains(&empty.display().to_string()), "{message}");
    }

    #[test]
    fn newest_debian_major_comes_first() {
        let root = std::env::temp_dir().join(format!("localpg-bindirs-{}", std::process::id()));
        for major in ["9", "15", "13", "notaversion"] {
            std::fs::create_dir_all(root.join(major).join("bin")).unwrap();
        }
        let dirs = debian_bindirs(&root);
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(
            dirs,
            vec![root.join("15/bin"), root.join("13/bin"), root.join("9/bin")]
        );
    }
}
