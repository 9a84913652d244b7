//! Tidiness of the workspace as a second contributor meets it: the code map in
//! docs/ARCHITECTURE.md names every crate, module, binary, example and build script; every
//! module says what it is for in a `//!` line; no `dbg!` is left behind.

use std::path::{Path, PathBuf};

use crate::workspace::Workspace;

/// The workspace's crates (directories relative to the root), as the root manifest lists them.
fn crates(workspace: &Workspace) -> Vec<String> {
    cornucopia::cargo_toml::Manifest::from_path(workspace.manifest())
        .unwrap()
        .workspace
        .expect("a [workspace] table")
        .members
}

/// Every `.rs` file under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&current) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// A file's name without its extension (a directory's name).
fn name_of(path: &Path) -> String {
    path.file_stem().unwrap().to_string_lossy().into_owned()
}

/// The code map section of docs/ARCHITECTURE.md.
fn code_map(workspace: &Workspace) -> String {
    let text = std::fs::read_to_string(workspace.root().join("docs/ARCHITECTURE.md")).unwrap();
    let start = text.find("## Code map").expect("a code map section");
    let end = text[start + 3..]
        .find("\n## ")
        .map_or(text.len(), |end| start + 3 + end);
    text[start..end].to_owned()
}

#[test]
fn the_code_map_names_every_crate_module_binary_example_and_build_script() {
    let workspace = Workspace::current().unwrap();
    let map = code_map(&workspace);
    let named = |name: &str| {
        map.contains(&format!("`{name}`"))
            || map.contains(&format!("`{name}.rs`"))
            || map.contains(&format!("`{name}/`"))
    };
    let mut missing = Vec::new();
    if !map.contains("`.ci/run`") {
        missing.push("`.ci/run`".to_owned());
    }
    for krate in crates(&workspace) {
        if !map.contains(&format!("`{krate}/`")) {
            missing.push(format!("crate directory `{krate}/`"));
        }
        let dir = workspace.root().join(&krate);
        if dir.join("build.rs").is_file() && !map.contains(&format!("`{krate}/build.rs`")) {
            missing.push(format!("`{krate}/build.rs`"));
        }
        // The generated crate's modules are codegen's business.
        if krate == "aiblox-kb/gen" {
            continue;
        }
        let src = dir.join("src");
        for entry in std::fs::read_dir(&src).unwrap().filter_map(Result::ok) {
            let path = entry.path();
            let stem = name_of(&path);
            if path.is_dir() && stem == "bin" {
                for binary in std::fs::read_dir(&path).unwrap().filter_map(Result::ok) {
                    let name = name_of(&binary.path());
                    if !named(&name) {
                        missing.push(format!("binary `{name}` of {krate}"));
                    }
                }
            } else if !["lib", "main"].contains(&stem.as_str())
                && (path.is_dir() || path.extension().is_some_and(|ext| ext == "rs"))
                && !named(&stem)
            {
                missing.push(format!("module `{stem}` of {krate}"));
            }
        }
        if let Ok(examples) = std::fs::read_dir(dir.join("examples")) {
            for example in examples.filter_map(Result::ok) {
                let name = name_of(&example.path());
                if !named(&name) {
                    missing.push(format!("example `{name}` of {krate}"));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/ARCHITECTURE.md's code map does not name: {}",
        missing.join(", ")
    );
}

#[test]
fn every_module_says_what_it_is_for_and_no_dbg_is_left() {
    let workspace = Workspace::current().unwrap();
    let mut unexplained = Vec::new();
    let mut debugging = Vec::new();
    for krate in crates(&workspace) {
        if krate == "aiblox-kb/gen" {
            continue;
        }
        let dir = workspace.root().join(&krate);
        for file in ["src", "tests", "examples", "benches"]
            .iter()
            .flat_map(|sub| rust_files(&dir.join(sub)))
            .chain(Some(dir.join("build.rs")).filter(|path| path.is_file()))
        {
            let text = std::fs::read_to_string(&file).unwrap();
            let shown = workspace.display(&file);
            // A test's `mod x;` files inside a tests/<name>/ directory are modules too.
            if !text.trim_start().starts_with("//!") {
                unexplained.push(shown.clone());
            }
            if text.contains(concat!("dbg", "!(")) {
                debugging.push(shown);
            }
        }
    }
    assert!(
        unexplained.is_empty(),
        "files without a `//!` line saying what they are for: {}",
        unexplained.join(", ")
    );
    assert!(
        debugging.is_empty(),
        "dbg! left in: {}",
        debugging.join(", ")
    );
}
