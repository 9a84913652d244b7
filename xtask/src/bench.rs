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

/// The programs' command lines, compiled from their own file (it needs clap alone), so that
/// `--help` is answered without building the programs.
#[path = "../../tests/bench/src/cli.rs"]
#[allow(
    unreachable_pub,
    dead_code,
    reason = "the programs' own definitions; xtask only prints their help"
)]
mod cli;

pub(crate) fn run(workspace: &Workspace, bench: Bench, args: &[String]) -> anyhow::Result<()> {
    if args.iter().any(|arg| arg == "-h" || arg == "--help") {
        let (command, name) = match bench {
            Bench::Kb => (
                <cli::KbArgs as clap::CommandFactory>::command(),
                "cargo xtask bench",
            ),
            Bench::Service => (
                <cli::ServiceArgs as clap::CommandFactory>::command(),
                "cargo xtask bench-service",
            ),
        };
        command.name(name).bin_name(name).print_long_help()?;
        return Ok(());
    }
    let packages: &[&str] = match bench {
        Bench::Kb => &["aiblox-bench"],
        Bench::Service => &["aiblox-bench", "aiblox-orchestrator", "aiblox-ingest"],
    };
    let mut cargo_args = vec!["--release"];
    for package in packages {
        cargo_args.extend(["--package", package]);
    }
    workspace.build(
        &format!("{} in release mode", packages.join(", ")),
        &cargo_args,
    )?;
    let program = match bench {
        Bench::Kb => "aiblox-bench",
        Bench::Service => "aiblox-bench-service",
    };
    // Everything is built already.
    let status = workspace
        .cargo_run(true, "aiblox-bench", Some(program))
        .args(args)
        .status()
        .context("could not run cargo")?;
    if !status.success() {
        bail!("{program} failed ({status})");
    }
    Ok(())
}
