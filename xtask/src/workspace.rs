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

    /// The workspace this xtask was built from.
    pub(crate) fn current() -> Self {
        let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        Workspace::at(
            manifest_dir
                .parent()
                .expect("xtask lives one level below the workspace root"),
        )
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

    /// `path` relative to the root, for messages.
    pub(crate) fn display(&self, path: &Path) -> String {
        path.strip_prefix(self.root())
            .unwrap_or(path)
            .display()
            .to_string()
    }
}
