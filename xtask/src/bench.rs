//! `cargo xtask bench`, `bench-service`, `bench-scale` and `bench-dense`: build the benchmark
//! programs in release mode and run them (`aiblox-bench`: the kbpeer-v1 workload through the
//! contract beside pgbench; `aiblox-bench-service`: the orchestrator under wrk load, once per
//! corpus size for `bench-scale`; the orchestrator's example `bench_dense`: the dense leg's
//! index alone with generated vectors). xtask stays free of the contract crate: the programs are built and run by
//! cargo.

use anyhow::{Context as _, bail};

use crate::workspace::Workspace;

/// Which benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bench {
    /// The KB phases and pgbench.
    Kb,
    /// The service load run.
    Service,
    /// The service load run at corpus sizes.
    Scale,
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
            Bench::Scale => (
                <cli::ScaleArgs as clap::CommandFactory>::command(),
                "cargo xtask bench-scale",
            ),
        };
        command.name(name).bin_name(name).print_long_help()?;
        return Ok(());
    }
    let packages: &[&str] = match bench {
        Bench::Kb => &["aiblox-bench"],
        Bench::Service | Bench::Scale => &["aiblox-bench", "aiblox-orchestrator", "aiblox-ingest"],
    };
    let scale = match bench {
        Bench::Scale => Some(
            <cli::ScaleArgs as clap::Parser>::try_parse_from(
                std::iter::once("cargo xtask bench-scale").chain(args.iter().map(String::as_str)),
            )
            .map_err(|err| anyhow::anyhow!("{err}"))?,
        ),
        _ => None,
    };
    let mut cargo_args = vec!["--release"];
    for package in packages {
        cargo_args.extend(["--package", package]);
    }
    workspace.build(
        &format!("{} in release mode", packages.join(", ")),
        &cargo_args,
    )?;
    if let Some(scale) = scale {
        return run_scale(workspace, &scale);
    }
    let program = match bench {
        Bench::Kb => "aiblox-bench",
        Bench::Service | Bench::Scale => "aiblox-bench-service",
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

/// `bench-dense`: the orchestrator's example `bench_dense` in release mode, with `args` (its
/// `--help` lists them; the example is built first, as it needs the orchestrator).
pub(crate) fn run_dense(workspace: &Workspace, args: &[String]) -> anyhow::Result<()> {
    let status = workspace
        .cargo()
        .args([
            "run",
            "--quiet",
            "--release",
            "--package",
            "aiblox-orchestrator",
            "--example",
            "bench_dense",
            "--",
        ])
        .args(args)
        .status()
        .context("could not run cargo")?;
    if !status.success() {
        bail!("bench_dense failed ({status})");
    }
    Ok(())
}

/// `bench-scale`: one service run per size, then the table of every size.
fn run_scale(workspace: &Workspace, scale: &cli::ScaleArgs) -> anyhow::Result<()> {
    let scratch = tempfile::tempdir().context("could not make a temporary directory")?;
    let reports = scale
        .json_dir
        .clone()
        .unwrap_or_else(|| scratch.path().to_owned());
    std::fs::create_dir_all(&reports)
        .with_context(|| format!("could not create {}", reports.display()))?;
    let mut rows = Vec::new();
    for items in &scale.items {
        let report = reports.join(format!("scale-{items}.json"));
        eprintln!("== {items} items");
        let status = workspace
            .cargo_run(true, "aiblox-bench", Some("aiblox-bench-service"))
            .args([
                "--scale-items",
                &items.to_string(),
                "--mode",
                "lexical",
                "--json-out",
            ])
            .arg(&report)
            .args(&scale.service_args)
            .status()
            .context("could not run cargo")?;
        if !status.success() {
            bail!("aiblox-bench-service at {items} items failed ({status})");
        }
        let text = std::fs::read_to_string(&report)
            .with_context(|| format!("could not read {}", report.display()))?;
        rows.push(scale_row(&serde_json::from_str(&text)?));
    }
    println!(
        "{:>10} {:>12} {:>9} {:>11} {:>9} {:>9} {:>14} {:>15}",
        "items",
        "ingest it/s",
        "db MB",
        "requests/s",
        "p50 ms",
        "p99 ms",
        "service us/q",
        "postgres us/q"
    );
    for row in rows {
        println!("{row}");
    }
    Ok(())
}

/// One size's line of the table, from its JSON report.
fn scale_row(report: &serde_json::Value) -> String {
    let number = |value: &serde_json::Value| value.as_f64().unwrap_or(f64::NAN);
    let requests = number(&report["requests"]).max(1.0);
    let per_question = |seconds: &serde_json::Value| number(seconds) * 1e6 / requests;
    format!(
        "{:>10} {:>12.0} {:>9.1} {:>11.1} {:>9.2} {:>9.2} {:>14.0} {:>15.0}",
        number(&report["corpus"]["items"]),
        number(&report["corpus"]["ingest_items_per_s"]),
        number(&report["corpus"]["database_mb"]),
        number(&report["requests_per_s"]),
        number(&report["p50_ms"]),
        number(&report["p99_ms"]),
        per_question(&report["service_cpu_s"]),
        per_question(&report["server_cpu_s"]),
    )
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::cli::ScaleArgs;

    #[test]
    fn bench_scale_takes_its_sizes_and_passes_the_rest_on() {
        let args = ScaleArgs::try_parse_from([
            "cargo xtask bench-scale",
            "--items",
            "20000,220000",
            "--seconds",
            "5",
        ])
        .unwrap();
        assert_eq!(args.items, [20_000, 220_000]);
        assert_eq!(args.service_args, ["--seconds", "5"]);
        assert!(ScaleArgs::try_parse_from(["cargo xtask bench-scale"]).is_err());
    }
}
