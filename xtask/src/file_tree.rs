//! Generated file trees: compare them with their committed copies and bring those up to date.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// Files by path relative to the tree's root.
pub(crate) type FileTree = BTreeMap<PathBuf, Vec<u8>>;

/// How a committed file differs from the generated one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Difference {
    /// Generated, but not committed.
    Missing(PathBuf),
    /// Committed, with other contents.
    Changed(PathBuf),
    /// Committed, but no longer generated.
    Extra(PathBuf),
}

impl Difference {
    pub(crate) fn path(&self) -> &Path {
        match self {
            Difference::Missing(path) | Difference::Changed(path) | Difference::Extra(path) => path,
        }
    }

    pub(crate) fn describe(&self) -> &'static str {
        match self {
            Difference::Missing(_) => "missing",
            Difference::Changed(_) => "stale",
            Difference::Extra(_) => "no longer generated",
        }
    }
}

/// Reads every file under `dir` (an absent directory is an empty tree).
pub(crate) fn read_tree(dir: &Path) -> anyhow::Result<FileTree> {
    let mut tree = FileTree::new();
    if dir.exists() {
        read_into(dir, dir, &mut tree)?;
    }
    Ok(tree)
}

fn read_into(root: &Path, dir: &Path, tree: &mut FileTree) -> anyhow::Result<()> {
    for entry in
        std::fs::read_dir(dir).with_context(|| format!("could not list {}", dir.display()))?
    {
        let path = entry?.path();
        if path.is_dir() {
            read_into(root, &path, tree)?;
        } else {
            let contents = std::fs::read(&path)
                .with_context(|| format!("could not read {}", path.display()))?;
            tree.insert(path.strip_prefix(root)?.to_owned(), contents);
        }
    }
    Ok(())
}

/// What differs between the `expected` tree and the files under `dir`.
pub(crate) fn compare(expected: &FileTree, dir: &Path) -> anyhow::Result<Vec<Difference>> {
    let actual = read_tree(dir)?;
    let mut differences = Vec::new();
    for (path, contents) in expected {
        match actual.get(path) {
            None => differences.push(Difference::Missing(path.clone())),
            Some(existing) if existing != contents => {
                differences.push(Difference::Changed(path.clone()))
            }
            Some(_) => {}
        }
    }
    differences.extend(
        actual
            .keys()
            .filter(|path| !expected.contains_key(*path))
            .cloned()
            .map(Difference::Extra),
    );
    Ok(differences)
}

/// Makes the files under `dir` equal to `expected`, touching only those that differ (so an
/// unchanged regeneration does not make dependents recompile).
pub(crate) fn apply(
    expected: &FileTree,
    dir: &Path,
    differences: &[Difference],
) -> anyhow::Result<()> {
    for difference in differences {
        let path = dir.join(difference.path());
        match difference {
            Difference::Missing(relative) | Difference::Changed(relative) => {
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)
                        .with_context(|| format!("could not create {}", parent.display()))?;
                }
                std::fs::write(&path, &expected[relative])
                    .with_context(|| format!("could not write {}", path.display()))?;
            }
            Difference::Extra(_) => {
                std::fs::remove_file(&path)
                    .with_context(|| format!("could not remove {}", path.display()))?;
                remove_empty_parents(&path, dir);
            }
        }
    }
    Ok(())
}

fn remove_empty_parents(file: &Path, stop_at: &Path) {
    let mut current = file.parent();
    while let Some(dir) = current {
        if dir == stop_at || std::fs::remove_dir(dir).is_err() {
            break;
        }
        current = dir.parent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compare_and_apply_bring_a_directory_in_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("src/old")).unwrap();
        std::fs::write(dir.path().join("same.txt"), "same").unwrap();
        std::fs::write(dir.path().join("changed.txt"), "before").unwrap();
        std::fs::write(dir.path().join("src/old/extra.rs"), "gone").unwrap();
        let expected: FileTree = [
            (PathBuf::from("same.txt"), b"same".to_vec()),
            (PathBuf::from("changed.txt"), b"after".to_vec()),
            (PathBuf::from("src/new.rs"), b"new".to_vec()),
        ]
        .into_iter()
        .collect();

        let differences = compare(&expected, dir.path()).unwrap();
        assert_eq!(
            differences,
            vec![
                Difference::Changed("changed.txt".into()),
                Difference::Missing("src/new.rs".into()),
                Difference::Extra("src/old/extra.rs".into()),
            ]
        );
        apply(&expected, dir.path(), &differences).unwrap();
        assert_eq!(read_tree(dir.path()).unwrap(), expected);
        assert!(
            !dir.path().join("src/old").exists(),
            "emptied directories are removed"
        );
        assert!(compare(&expected, dir.path()).unwrap().is_empty());
    }
}
