//! `cargo xtask bench` and `cargo xtask bench-service`: build the benchmark programs in release
//! mode and run them (`aiblox-bench`: the kbpeer-v1 workload through the contract beside
//! pgbench; `aiblox-bench-service`: the orchestrator under wrk load). xtask stays free of the
//! contract crate: the programs are built and run by cargo.

use anyhow::{Context as _, bail};

use crate::workspace::Workspace;

/// Which benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bench {
    /// The KB phases and pgbench.
    Kb,
    /// The service load run.
    Service,
}

pub(crate) fn run(workspace: &Workspace, bench: Bench, args: &[String]) -> anyhow::Result<()> {
    let packages: &[&str] = match bench {
        Bench::Kb => &["aiblox-bench"],
        Bench::Service => &["aiblox-bench", "aiblox-orchestrator", "aiblox-ingest"],
    };
    let mut build = workspace.cargo();
    build.args(["build", "--release", "--quiet"]);
    for package in packages {
        build.args(["--package", package]);
    }
    eprintln!(
        "bench: building {} in release mode ...",
        packages.join(", ")
    );
    let status = build.status().context("could not run cargo")?;
    if !status.success() {
        bail!("the release build failed ({status})");
    }
    let program = match bench {
        Bench::Kb => "aiblox-bench",
        Bench::Service => "aiblox-bench-service",
    };
    // Through cargo, which knows the target directory (CARGO_TARGET_DIR and the like);
    // everything is built already.
    let status = workspace
        .cargo()
        .args([
            "run",
            "--release",
            "--quiet",
            "--package",
            "aiblox-bench",
            "--bin",
        ])
        .arg(program)
        .arg("--")
        .args(args)
        .status()
        .context("could not run cargo")?;
    if !status.success() {
        bail!("{program} failed ({status})");
    }
    Ok(())
}
