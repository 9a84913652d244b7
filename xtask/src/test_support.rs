//! Scratch copies of the workspace for tests that change it on purpose.

use std::path::Path;

use crate::file_tree::{self, Difference};
use crate::workspace::Workspace;

/// A copy of every source file of the workspace (no `target/`, no `.git/`) in a temp dir.
pub(crate) fn scratch_workspace() -> (tempfile::TempDir, Workspace) {
    let real = Workspace::current().unwrap();
    let dir = tempfile::Builder::new()
        .prefix("aiblox-xtask-test-")
        .tempdir()
        .unwrap();
    copy_sources(real.root(), dir.path());
    let workspace = Workspace::at(dir.path());
    (dir, workspace)
}

fn copy_sources(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name == "target" || name == ".git" {
            continue;
        }
        if path.is_dir() {
            let files = file_tree::read_tree(&path).unwrap();
            let missing: Vec<_> = files.keys().cloned().map(Difference::Missing).collect();
            file_tree::apply(&files, &to.join(&name), &missing).unwrap();
        } else {
            std::fs::copy(&path, to.join(&name)).unwrap();
        }
    }
}

/// Appends `text` to a file of the scratch workspace.
pub(crate) fn append(path: &Path, text: &str) {
    let mut contents = std::fs::read_to_string(path).unwrap();
    contents.push_str(text);
    std::fs::write(path, contents).unwrap();
}

/// Replaces `from` with `to` in a file, insisting that `from` is there.
pub(crate) fn replace(path: &Path, from: &str, to: &str) {
    let contents = std::fs::read_to_string(path).unwrap();
    assert!(
        contents.contains(from),
        "{} does not contain {from:?}",
        path.display()
    );
    std::fs::write(path, contents.replacen(from, to, 1)).unwrap();
}
