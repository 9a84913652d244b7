//! The command line of `aiblox-kb-migrate`, in a file that depends on clap (and clap_complete) alone: the binary
//! parses it, and `cargo xtask migrate --help` prints it without building the contract (xtask
//! compiles this file too).

use std::path::PathBuf;

use clap::{Parser, ValueEnum};

/// Applies the contract's migrations to a database, reports their status, or checks that a
/// service of this build may run on it.
#[derive(Debug, Parser)]
#[command(name = "aiblox-kb-migrate", version)]
pub(crate) struct MigrateArgs {
    /// What to do.
    #[arg(value_enum, default_value_t = MigrateCommand::Apply)]
    pub(crate) command: MigrateCommand,
    /// The database (default: AIBLOX_KB_DATABASE_URL, then DATABASE_URL; prefer the
    /// variables: a password on the command line is visible to ps).
    #[arg(long, value_name = "URL")]
    pub(crate) database_url: Option<String>,
    /// The schema of the knowledge base (default: AIBLOX_KB_SCHEMA, then kb).
    #[arg(long, value_name = "NAME")]
    pub(crate) schema: Option<String>,
    /// How long to wait for another runner, in seconds, above 0 and at most 86400
    /// (default 60).
    #[arg(long, value_name = "SECONDS", value_parser = lock_timeout)]
    pub(crate) lock_timeout: Option<f64>,
    /// Use this directory's migrations instead of the embedded ones.
    #[arg(long, value_name = "DIR")]
    pub(crate) migrations_dir: Option<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,
    /// Print a completion script for this shell (bash, zsh, fish, elvish, powershell) and exit.
    #[arg(long, value_name = "SHELL")]
    pub(crate) completions: Option<clap_complete::Shell>,
}

/// What `aiblox-kb-migrate` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum MigrateCommand {
    /// Apply pending migrations (the default).
    Apply,
    /// List applied, pending, unknown-to-this-build and mismatched migrations.
    Status,
    /// Exit 0 only if a service of this build may run on the database as it is.
    Check,
}

fn lock_timeout(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .ok()
        .filter(|seconds| seconds.is_finite() && *seconds > 0.0 && *seconds <= 86_400.0)
        .ok_or_else(|| "expected seconds, above 0 and at most 86400".to_owned())
}
