//! Developer tasks of the aiblox workspace, run as `cargo xtask <command>`.
//!
//! One file per subcommand; shared helpers beside them:
//! - [`codegen`]: `cargo xtask codegen [--check]`, SQL in `schema/` and `queries/` to the
//!   typed crate in `aiblox-kb/gen`.
//! - [`migrate`]: `cargo xtask migrate [apply|status|check]`, through the contract's own
//!   `aiblox-kb-migrate` binary.
//! - [`scratch_db`]: a throwaway database (a local cluster, or `AIBLOX_TEST_DATABASE_URL`).
//! - [`file_tree`]: compares and syncs generated files with their committed copies.
//! - [`workspace`]: where things live in the repository.

mod codegen;
mod file_tree;
mod migrate;
mod scratch_db;
mod workspace;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    about = "Developer tasks of the aiblox workspace"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Regenerate the typed query crate (aiblox-kb/gen) from schema/ and queries/.
    Codegen {
        /// Only check that the committed generated code is current; change nothing.
        #[arg(long)]
        check: bool,
    },
    /// Apply the embedded migrations, or report their status (`status`), or check that a
    /// service of this build may run (`check`). Takes AIBLOX_KB_DATABASE_URL and
    /// AIBLOX_KB_SCHEMA; `cargo xtask migrate --help` lists every flag.
    #[command(disable_help_flag = true)]
    Migrate {
        /// Arguments of aiblox-kb-migrate: [apply|status|check] [--database-url URL]
        /// [--schema NAME] [--lock-timeout SECONDS] [--migrations-dir DIR] [--json]
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let workspace = workspace::Workspace::current();
    let result = match cli.command {
        Command::Codegen { check } => codegen::run(
            &workspace,
            if check {
                codegen::Mode::Check
            } else {
                codegen::Mode::Write
            },
        ),
        Command::Migrate { args } => migrate::run(&workspace, &args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
