//! Rule: the contract crates (`aiblox-sqlfile`, `aiblox-kb-gen`, `aiblox-kb`) package with
//! `cargo package`: every file they need is inside them and every dependency is publishable.

use std::process::Command;

use anyhow::Context as _;

use super::{Options, Verdict, or_fail};
use crate::workspace::Workspace;

/// The crates other blocks would take from a registry, in dependency order.
const CONTRACT_CRATES: [&str; 3] = ["aiblox-sqlfile", "aiblox-kb-gen", "aiblox-kb"];

pub(super) fn check(workspace: &Workspace, options: &Options) -> Verdict {
    or_fail(evaluate(workspace, options), "cargo must run")
}

fn evaluate(workspace: &Workspace, options: &Options) -> anyhow::Result<Verdict> {
    forget_unpacked_contract_crates();
    forget_compiled_contract_crates(workspace);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace.root())
        .args(["package", "--allow-dirty", "--quiet", "--manifest-path"])
        .arg(workspace.manifest());
    for name in CONTRACT_CRATES {
        command.args(["--package", name]);
    }
    if !options.verify_packages {
        command.arg("--no-verify");
    }
    let output = command.output().context("could not run cargo package")?;
    if output.status.success() {
        let how = if options.verify_packages {
            "package and build from their packages"
        } else {
            "package"
        };
        return Ok(Verdict::Pass(format!(
            "{} {how}",
            CONTRACT_CRATES.join(", ")
        )));
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    let tail: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    Ok(Verdict::fail(
        format!(
            "cargo package failed:\n{}",
            tail[tail.len().saturating_sub(12)..].join("\n")
        ),
        "keep every file a contract crate needs inside it (see `include` in aiblox-kb/Cargo.toml) and give every \
         path dependency a version",
    ))
}

/// `cargo package` verifies each crate against a local overlay registry, unpacking the
/// packaged sources under `$CARGO_HOME/registry/src/-<hash>/<crate>-<version>`, and reuses
/// an existing unpacked copy as is. Since the contract crates are repackaged under an unchanged
/// version while they are developed, a stale copy would be verified instead of the new one:
/// remove ours first.
fn forget_unpacked_contract_crates() {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME").map(|home| std::path::Path::new(&home).join(".cargo"))
        });
    let Some(sources) = cargo_home.map(|home| home.join("registry/src")) else {
        return;
    };
    let Ok(registries) = std::fs::read_dir(sources) else {
        return;
    };
    for registry in registries.filter_map(Result::ok) {
        // Overlay registries have no name: their directory is `-<hash>`.
        if !registry.file_name().to_string_lossy().starts_with('-') {
            continue;
        }
        for unpacked in std::fs::read_dir(registry.path())
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
        {
            let name = unpacked.file_name().to_string_lossy().into_owned();
            if CONTRACT_CRATES.iter().any(|krate| {
                name.strip_prefix(krate)
                    .is_some_and(|rest| rest.starts_with("-"))
            }) {
                let _ = std::fs::remove_dir_all(unpacked.path());
            }
        }
    }
}

/// For the same reason, compiled artifacts of a registry crate are never rebuilt for a change of
/// its contents (a registry version is assumed immutable): drop the fingerprints of ours, so
/// that verification compiles what was just packaged. The crates are small; this costs seconds.
fn forget_compiled_contract_crates(workspace: &Workspace) {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace.root().join("target"), std::path::PathBuf::from);
    let Ok(entries) = std::fs::read_dir(target.join("debug/.fingerprint")) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name().to_string_lossy().into_owned();
        if CONTRACT_CRATES.iter().any(|krate| {
            name.strip_prefix(krate)
                .is_some_and(|rest| rest.starts_with('-'))
        }) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{replace, scratch_workspace};

    #[test]
    fn a_path_dependency_without_a_version_fails() {
        let (_dir, workspace) = scratch_workspace();
        let manifest = std::fs::read_to_string(workspace.manifest()).unwrap();
        let line = manifest
            .lines()
            .find(|line| line.starts_with("aiblox-kb-gen = "))
            .unwrap();
        let version = line
            .split(", ")
            .find(|part| part.starts_with("version = "))
            .unwrap();
        replace(
            &workspace.manifest(),
            line,
            &line.replace(&format!("{version}, "), ""),
        );
        let Verdict::Fail { reason, .. } = check(&workspace, &Options::default()) else {
            panic!("passed")
        };
        assert!(reason.contains("aiblox-kb-gen"), "{reason}");
        assert!(reason.contains("version"), "{reason}");
    }
}
