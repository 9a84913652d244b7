//! `cargo xtask migrate [apply|status|check] [--database-url URL] [--schema NAME] [--json] ...`:
//! runs the contract's `aiblox-kb-migrate` binary, so that xtask itself never depends on the
//! contract crate (it must build while the generated code is broken). `--help` is answered
//! from the binary's own command-line definition (compiled here from its file, which needs
//! clap alone) without building anything; `cargo xtask migrate add NAME` creates the next
//! numbered migration in `schema/`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};

use crate::workspace::Workspace;

/// The migrate binary's command line.
#[path = "../../aiblox-kb/src/bin/aiblox-kb-migrate/cli.rs"]
#[allow(
    dead_code,
    reason = "the binary's own definitions; xtask only prints their help"
)]
mod cli;

pub(crate) fn run(workspace: &Workspace, args: &[String]) -> anyhow::Result<()> {
    if args.iter().any(|arg| arg == "-h" || arg == "--help") {
        println!("{}", usage());
        return Ok(());
    }
    if args.first().is_some_and(|arg| arg == "add") {
        let [_, name] = args else {
            bail!("usage: cargo xtask migrate add NAME (lower-case words joined by _)");
        };
        let path = add(&workspace.schema_dir(), name)?;
        println!("{}", path.display());
        eprintln!(
            "created {}: write the change, then run `cargo xtask codegen` (it embeds the \
             migration and updates schema/migrations.sum) and commit them together. \
             Migrations run forward only: to undo a change, add another migration \
             (docs/migrations.md).",
            path.display()
        );
        return Ok(());
    }
    workspace.build(
        "the migrate binary",
        &["--package", "aiblox-kb", "--bin", "aiblox-kb-migrate"],
    )?;
    let status = workspace
        .cargo_run(false, "aiblox-kb", Some("aiblox-kb-migrate"))
        .args(args)
        .status()
        .context("could not run cargo")?;
    if !status.success() {
        bail!("aiblox-kb-migrate failed ({status})");
    }
    Ok(())
}

/// The binary's help, as `cargo xtask migrate` names it, with `add` beside its commands.
fn usage() -> String {
    let name = "cargo xtask migrate";
    let help = <cli::MigrateArgs as clap::CommandFactory>::command()
        .name(name)
        .bin_name(name)
        .render_long_help();
    format!(
        "{help}\nAlso: cargo xtask migrate add NAME   create the next numbered migration in schema/"
    )
}

/// Creates `V<next>__<name>.sql` in `schema_dir`, numbered after the highest there.
fn add(schema_dir: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let valid = !name.is_empty()
        && name.len() <= 60
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid {
        bail!(
            "migration name {name:?}: use lower-case letters, digits and _ (starting with a \
             letter, at most 60), e.g. add_item_language"
        );
    }
    let mut highest = 0u32;
    for entry in std::fs::read_dir(schema_dir)
        .with_context(|| format!("could not list {}", schema_dir.display()))?
    {
        let file_name = entry?.file_name();
        let file_name = file_name.to_string_lossy();
        if let Some(number) = file_name
            .strip_prefix('V')
            .and_then(|rest| rest.split_once("__"))
            .and_then(|(number, _)| number.parse::<u32>().ok())
        {
            highest = highest.max(number);
        }
    }
    let path = schema_dir.join(format!("V{:04}__{name}.sql", highest + 1));
    let header = format!(
        "-- {}: what this migration changes and why.\n\
         -- Forward only, applied once in a transaction; never edit it after it is released.\n",
        name.replace('_', " ")
    );
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .and_then(|mut file| std::io::Write::write_all(&mut file, header.as_bytes()))
        .with_context(|| format!("could not create {}", path.display()))?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn add_numbers_after_the_highest_and_refuses_bad_names() {
        let dir = tempfile::tempdir().unwrap();
        for file in ["V0001__init.sql", "V0007__later.sql", "migrations.sum"] {
            std::fs::write(dir.path().join(file), "").unwrap();
        }
        let created = add(dir.path(), "add_item_language").unwrap();
        assert_eq!(created.file_name().unwrap(), "V0008__add_item_language.sql");
        assert!(
            std::fs::read_to_string(&created)
                .unwrap()
                .starts_with("-- add item language: ")
        );
        for bad in ["", "Add", "1st", "drop table", "a-b", &"x".repeat(61)] {
            let err = add(dir.path(), bad).unwrap_err().to_string();
            assert!(err.contains("lower-case letters"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn help_names_the_xtask_command_and_needs_no_build() {
        let usage = usage();
        assert!(
            usage.contains("Usage: cargo xtask migrate [OPTIONS] [COMMAND]"),
            "{usage}"
        );
        assert!(usage.contains("--database-url <URL>") && usage.contains("migrate add NAME"));
    }
}
