//! Where things live in the repository.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// A checkout of the workspace (the real one, or a scratch copy in tests).
#[derive(Debug, Clone)]
pub(crate) struct Workspace {
    root: PathBuf,
}

impl Workspace {
    /// A `cargo` command (the one running xtask) in the workspace root.
    pub(crate) fn cargo(&self) -> std::process::Command {
        let mut command =
            std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        command.current_dir(self.root());
        command
    }

    /// `cargo run --quiet [--release] --package PACKAGE [--bin BIN] --`, ready for the
    /// program's arguments: through cargo, which knows the target directory
    /// (`CARGO_TARGET_DIR` and the like). Build first with [`Workspace::build`], which shows
    /// progress; this runs quietly.
    pub(crate) fn cargo_run(
        &self,
        release: bool,
        package: &str,
        bin: Option<&str>,
    ) -> std::process::Command {
        let mut command = self.cargo();
        command.args(["run", "--quiet"]);
        if release {
            command.arg("--release");
        }
        command.args(["--package", package]);
        if let Some(bin) = bin {
            command.args(["--bin", bin]);
        }
        command.arg("--");
        command
    }

    /// Builds what `cargo_args` name (`["--release", "--package", "x"]`...) with cargo's own
    /// progress shown, saying first what is built: a first build takes minutes, and a silent
    /// one looks like a hang.
    pub(crate) fn build(&self, what: &str, cargo_args: &[&str]) -> anyhow::Result<()> {
        eprintln!("building {what} (the first build takes a few minutes) ...");
        let status = self
            .cargo()
            .arg("build")
            .args(cargo_args)
            .status()
            .context("could not run cargo")?;
        if !status.success() {
            anyhow::bail!("building {what} failed ({status})");
        }
        Ok(())
    }

    /// The workspace xtask runs in, found at run time: `cargo xtask` (an alias of `cargo run
    /// -p xtask`) sets `CARGO_MANIFEST_DIR` to the xtask package of the checkout it runs in;
    /// run some other way, `cargo locate-project --workspace` from the current directory.
    /// Never the directory the binary was compiled in: with one target directory shared by
    /// two checkouts, cargo may run a binary built from the other one.
    pub(crate) fn current() -> anyhow::Result<Self> {
        Self::locate(std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from))
    }

    /// [`Workspace::current`], with the xtask package's directory as cargo gave it.
    pub(crate) fn locate(manifest_dir: Option<PathBuf>) -> anyhow::Result<Self> {
        if let Some(dir) = manifest_dir
            && dir.join("Cargo.toml").is_file()
            && let Some(root) = dir.parent()
        {
            return Ok(Workspace::at(root));
        }
        let output =
            std::process::Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
                .args(["locate-project", "--workspace", "--message-format", "plain"])
                .output()
                .context("could not run `cargo locate-project`")?;
        let manifest = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        match Path::new(&manifest).parent() {
            Some(root) if output.status.success() && root.join("xtask").is_dir() => {
                Ok(Workspace::at(root))
            }
            _ => anyhow::bail!(
                "cannot find the aiblox workspace from {}: run `cargo xtask` inside a checkout",
                std::env::current_dir()
                    .map(|dir| dir.display().to_string())
                    .unwrap_or_default()
            ),
        }
    }

    pub(crate) fn at(root: &Path) -> Self {
        Workspace {
            root: root.to_owned(),
        }
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The root manifest, holding `[workspace.dependencies]`.
    pub(crate) fn manifest(&self) -> PathBuf {
        self.root.join("Cargo.toml")
    }

    /// Plain SQL migrations, the only schema source.
    pub(crate) fn schema_dir(&self) -> PathBuf {
        self.root.join("schema")
    }

    /// Named queries in cornucopia syntax.
    pub(crate) fn queries_dir(&self) -> PathBuf {
        self.root.join("queries")
    }

    /// The contract crate.
    pub(crate) fn kb_dir(&self) -> PathBuf {
        self.root.join("aiblox-kb")
    }

    /// The generated crate, written only by `cargo xtask codegen`.
    pub(crate) fn gen_dir(&self) -> PathBuf {
        self.kb_dir().join("gen")
    }

    /// The copy of `schema/` that the contract crate embeds.
    pub(crate) fn embedded_migrations_dir(&self) -> PathBuf {
        self.kb_dir().join("migrations")
    }

    /// Recorded contract versions.
    pub(crate) fn contracts_dir(&self) -> PathBuf {
        self.kb_dir().join("contracts")
    }

    pub(crate) fn rustfmt_config(&self) -> PathBuf {
        self.root.join("rustfmt.toml")
    }

    /// The contract version: `aiblox-kb`'s package version.
    pub(crate) fn kb_version(&self) -> anyhow::Result<String> {
        let path = self.kb_dir().join("Cargo.toml");
        let manifest = cornucopia::cargo_toml::Manifest::from_path(&path)
            .with_context(|| format!("could not read {}", path.display()))?;
        let package = manifest
            .package
            .with_context(|| format!("{} has no [package]", path.display()))?;
        match package.version {
            cornucopia::cargo_toml::Inheritable::Set(version) => Ok(version.to_string()),
            cornucopia::cargo_toml::Inheritable::Inherited => {
                anyhow::bail!(
                    "{}: the contract version must be set in the crate, not inherited",
                    path.display()
                )
            }
        }
    }

    /// The schema version: `schema-version` of `aiblox-kb`'s `[package.metadata.contract]`, the
    /// contract version of the schema and queries, recorded with migrations and compared by
    /// the compatibility rule.
    pub(crate) fn kb_schema_version(&self) -> anyhow::Result<String> {
        let path = self.kb_dir().join("Cargo.toml");
        let manifest = cornucopia::cargo_toml::Manifest::from_path(&path)
            .with_context(|| format!("could not read {}", path.display()))?;
        manifest
            .package
            .and_then(|package| package.metadata)
            .and_then(|metadata| {
                metadata
                    .get("contract")?
                    .get("schema-version")?
                    .as_str()
                    .map(str::to_owned)
            })
            .with_context(|| {
                format!(
                    "{} has no schema-version in [package.metadata.contract]",
                    path.display()
                )
            })
    }

    /// `path` relative to the root, for messages.
    pub(crate) fn display(&self, path: &Path) -> String {
        path.strip_prefix(self.root())
            .unwrap_or(path)
            .display()
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use std::process::Command;

    use super::*;
    use crate::test_support::{replace, scratch_workspace};

    /// Two checkouts, one target directory (a shared `CARGO_TARGET_DIR`): cargo may run in the
    /// second checkout the xtask binary it built from the first. That binary must still work
    /// on the second checkout's files: with the path compiled in, it checked the first
    /// checkout's queries (accepting the second's broken one), and failed once the first was
    /// deleted. Here the first checkout's binary is run in the second as cargo would run it
    /// (with the second's `CARGO_MANIFEST_DIR`), and as a user might (from its directory).
    #[test]
    fn a_binary_built_in_one_checkout_works_on_the_checkout_it_runs_in() {
        let first = Workspace::current().unwrap();
        let cargo = || Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        let built = cargo()
            .args([
                "build",
                "--quiet",
                "--package",
                "xtask",
                "--message-format",
                "json",
            ])
            .current_dir(first.root())
            .output()
            .unwrap();
        assert!(
            built.status.success(),
            "{}",
            String::from_utf8_lossy(&built.stderr)
        );
        let binary = String::from_utf8_lossy(&built.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|message| message["target"]["name"] == "xtask")
            .find_map(|message| message["executable"].as_str().map(PathBuf::from))
            .expect("cargo names the xtask executable");

        let (_dir, second) = scratch_workspace();
        replace(
            &second.queries_dir().join("item.sql"),
            "INSERT INTO item AS i (source, external_id, title, content, content_hash, metadata,",
            "INSERT INTO item AS i (source, external_id, title, content, content_digest, metadata,",
        );
        for manifest_dir in [Some(second.root().join("xtask")), None] {
            let mut run = Command::new(&binary);
            run.args(["codegen", "--check"]).current_dir(second.root());
            match &manifest_dir {
                Some(dir) => run.env("CARGO_MANIFEST_DIR", dir),
                None => run.env_remove("CARGO_MANIFEST_DIR"),
            };
            let output = run.output().unwrap();
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                !output.status.success() && stderr.contains("content_digest"),
                "{manifest_dir:?}: the second checkout's broken query went unnoticed: {stderr}"
            );
        }
    }
}
