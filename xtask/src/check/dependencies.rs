//! Rule (from `cargo metadata`): `aiblox-kb` does not depend on the orchestrator, directly or
//! transitively; xtask does not depend on the contract crates (it must build, and regenerate
//! them, while the generated code is broken); and only the contract crates (and test and build
//! tooling) depend on a PostgreSQL driver, so only they can run SQL.

use std::collections::{BTreeSet, HashMap};
use std::process::Command;

use anyhow::Context as _;
use serde_json::Value;

use super::{Options, Verdict, or_fail};
use crate::workspace::Workspace;

/// Crates that speak to PostgreSQL.
const DRIVERS: [&str; 6] = [
    "tokio-postgres",
    "postgres",
    "deadpool-postgres",
    "sqlx",
    "diesel",
    "postgres-protocol",
];
/// Workspace members allowed to depend on a driver: the contract, and test and build tooling
/// (the benchmark measures a bare driver beside the repositories, and runs VACUUM and
/// CHECKPOINT between phases).
const DRIVER_USERS: [&str; 6] = [
    "aiblox-bench",
    "aiblox-kb",
    "aiblox-kb-gen",
    "aiblox-kb-testkit",
    "aiblox-localpg",
    "xtask",
];

pub(super) fn check(workspace: &Workspace, _options: &Options) -> Verdict {
    or_fail(
        evaluate(workspace),
        "cargo metadata must succeed: fix the manifests",
    )
}

fn evaluate(workspace: &Workspace) -> anyhow::Result<Verdict> {
    // Read the manifest first: once the orchestrator depends on the contract (it does), a
    // dependency the other way is a cycle, and cargo metadata refuses to run at all.
    if let Some(found) = declared_orchestrator_dependency(workspace)? {
        return Ok(orchestrator_dependency(&found));
    }
    let metadata = cargo_metadata(workspace)?;
    let packages = metadata["packages"]
        .as_array()
        .context("metadata without packages")?;
    let name_of: HashMap<&str, &str> = packages
        .iter()
        .filter_map(|package| Some((package["id"].as_str()?, package["name"].as_str()?)))
        .collect();

    // aiblox-kb's normal and build dependencies, transitively.
    let edges = runtime_edges(&metadata)?;
    let id_of = |wanted: &str| {
        name_of
            .iter()
            .find(|(_, name)| **name == wanted)
            .map(|(id, _)| *id)
            .with_context(|| format!("no {wanted} package"))
    };
    let reached = reachable(&edges, id_of("aiblox-kb")?);

    // xtask builds the contract crates (codegen): depending on them, it could not build while
    // they are broken, which is when it is needed.
    let from_xtask = reachable(&edges, id_of("xtask")?);
    if let Some(contract) = from_xtask
        .iter()
        .filter_map(|id| name_of.get(id).copied())
        .find(|name| ["aiblox-kb", "aiblox-kb-gen"].contains(name))
    {
        return Ok(Verdict::fail(
            format!("xtask depends on {contract} (xtask must build while the contract is broken)"),
            "run the contract's code through cargo (as `cargo xtask migrate` runs its binary), or move what xtask needs into a crate of its own",
        ));
    }
    if let Some(orchestrator) = orchestrator_in_contract_tree(packages, &reached, &name_of) {
        return Ok(orchestrator_dependency(orchestrator));
    }

    let offenders = driver_offenders(&metadata, packages);
    if !offenders.is_empty() {
        return Ok(Verdict::fail(
            format!("only aiblox-kb may run SQL, but {}", offenders.join(", ")),
            "go through aiblox-kb's repositories (add a query to queries/ if one is missing) and remove the driver dependency",
        ));
    }
    Ok(Verdict::Pass(format!(
        "aiblox-kb's {} dependencies hold nothing of the orchestrator; xtask holds no contract crate; only the contract and tooling use a PostgreSQL driver",
        reached.len()
    )))
}

/// The resolved dependency graph, by package id, with only normal and build dependencies
/// (what a crate needs to build and run; not what its tests need).
fn runtime_edges(metadata: &Value) -> anyhow::Result<HashMap<&str, Vec<&str>>> {
    let nodes = metadata["resolve"]["nodes"]
        .as_array()
        .context("metadata without resolve graph")?;
    Ok(nodes
        .iter()
        .filter_map(|node| {
            let deps = node["deps"].as_array()?.iter().filter(|dep| {
                dep["dep_kinds"].as_array().is_some_and(|kinds| {
                    kinds
                        .iter()
                        .any(|kind| kind["kind"].is_null() || kind["kind"] == "build")
                })
            });
            Some((
                node["id"].as_str()?,
                deps.filter_map(|dep| dep["pkg"].as_str()).collect(),
            ))
        })
        .collect())
}

/// An `aiblox-orchestrator*` package among aiblox-kb's declared (non-dev) dependencies or in
/// its dependency tree (`reached`, by package id).
fn orchestrator_in_contract_tree<'a>(
    packages: &'a [Value],
    reached: &BTreeSet<&'a str>,
    name_of: &HashMap<&'a str, &'a str>,
) -> Option<&'a str> {
    // Declared dependencies count too, even those cargo ignores (a crate without a library).
    let declared = packages
        .iter()
        .filter(|package| package["name"] == "aiblox-kb")
        .flat_map(|package| package["dependencies"].as_array().into_iter().flatten())
        .filter(|dep| dep["kind"] != "dev")
        .filter_map(|dep| dep["name"].as_str());
    let in_tree = reached.iter().filter_map(|id| name_of.get(id).copied());
    declared
        .chain(in_tree)
        .find(|name| name.starts_with("aiblox-orchestrator"))
}

/// Each direct driver dependency (normal and build; tests may reach beneath) of a workspace
/// member not allowed one, as "member depends on driver".
fn driver_offenders(metadata: &Value, packages: &[Value]) -> Vec<String> {
    let members: BTreeSet<&str> = metadata["workspace_members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let mut offenders = Vec::new();
    for package in packages
        .iter()
        .filter(|p| p["id"].as_str().is_some_and(|id| members.contains(id)))
    {
        let name = package["name"].as_str().unwrap_or_default();
        if DRIVER_USERS.contains(&name) {
            continue;
        }
        for dep in package["dependencies"].as_array().into_iter().flatten() {
            let dep_name = dep["name"].as_str().unwrap_or_default();
            if DRIVERS.contains(&dep_name) && dep["kind"] != "dev" {
                offenders.push(format!("{name} depends on {dep_name}"));
            }
        }
    }
    offenders
}

/// Every package `start` depends on (normal and build dependencies), transitively.
fn reachable<'a>(edges: &HashMap<&'a str, Vec<&'a str>>, start: &'a str) -> BTreeSet<&'a str> {
    let mut reached = BTreeSet::new();
    let mut stack = vec![start];
    while let Some(id) = stack.pop() {
        for &dep in edges.get(id).into_iter().flatten() {
            if reached.insert(dep) {
                stack.push(dep);
            }
        }
    }
    reached
}

fn orchestrator_dependency(name: &str) -> Verdict {
    Verdict::fail(
        format!("aiblox-kb depends on {name} (the contract must never depend on the runtime)"),
        "remove that dependency from aiblox-kb (or from whatever crate of aiblox-kb's tree pulls it in)",
    )
}

/// An `aiblox-orchestrator*` dependency declared (in any section but dev) by aiblox-kb.
fn declared_orchestrator_dependency(workspace: &Workspace) -> anyhow::Result<Option<String>> {
    let path = workspace.kb_dir().join("Cargo.toml");
    let manifest = cornucopia::cargo_toml::Manifest::from_path(&path)
        .with_context(|| format!("could not read {}", path.display()))?;
    let mut declared = manifest
        .dependencies
        .keys()
        .chain(manifest.build_dependencies.keys());
    Ok(declared
        .find(|name| name.starts_with("aiblox-orchestrator"))
        .cloned())
}

fn cargo_metadata(workspace: &Workspace) -> anyhow::Result<Value> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--manifest-path"])
        .arg(workspace.manifest())
        .output()
        .context("could not run cargo metadata")?;
    if !output.status.success() {
        anyhow::bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    serde_json::from_slice(&output.stdout).context("cargo metadata printed invalid JSON")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{replace, scratch_workspace};

    #[test]
    fn the_contract_depending_on_the_orchestrator_fails() {
        let (_dir, workspace) = scratch_workspace();
        replace(
            &workspace.kb_dir().join("Cargo.toml"),
            "[dependencies]\n",
            "[dependencies]\naiblox-orchestrator = { path = \"../aiblox-orchestrator\" }\n",
        );
        let Verdict::Fail { reason, .. } = check(&workspace, &Options::default()) else {
            panic!("passed")
        };
        assert!(
            reason.contains("aiblox-kb depends on aiblox-orchestrator"),
            "{reason}"
        );
    }

    #[test]
    fn xtask_depending_on_the_contract_fails() {
        let (_dir, workspace) = scratch_workspace();
        replace(
            &workspace.root().join("xtask/Cargo.toml"),
            "[dependencies]\n",
            "[dependencies]\naiblox-kb.workspace = true\n",
        );
        let Verdict::Fail { reason, .. } = check(&workspace, &Options::default()) else {
            panic!("passed")
        };
        assert!(reason.contains("xtask depends on aiblox-kb"), "{reason}");
    }

    #[test]
    fn the_orchestrator_using_a_driver_fails() {
        let (_dir, workspace) = scratch_workspace();
        replace(
            &workspace.root().join("aiblox-orchestrator/Cargo.toml"),
            "[dependencies]\n",
            "[dependencies]\ntokio-postgres.workspace = true\n",
        );
        let Verdict::Fail { reason, fix } = check(&workspace, &Options::default()) else {
            panic!("passed")
        };
        assert!(
            reason.contains("aiblox-orchestrator depends on tokio-postgres"),
            "{reason}"
        );
        assert!(fix.contains("aiblox-kb's repositories"), "{fix}");
    }
}
