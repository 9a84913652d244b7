//! `cargo xtask migrate [apply|status|check] [--database-url URL] [--schema NAME] [--json] ...`:
//! runs the contract's `aiblox-kb-migrate` binary, so that xtask itself never depends on the
//! contract crate (it must build while the generated code is broken).

use anyhow::{Context as _, bail};

use crate::workspace::Workspace;

pub(crate) fn run(workspace: &Workspace, args: &[String]) -> anyhow::Result<()> {
    let status = workspace
        .cargo()
        .args([
            "run",
            "--quiet",
            "--package",
            "aiblox-kb",
            "--bin",
            "aiblox-kb-migrate",
            "--",
        ])
        .args(args)
        .status()
        .context("could not run cargo")?;
    if !status.success() {
        bail!("aiblox-kb-migrate failed ({status})");
    }
    Ok(())
}
