//! `aiblox-kb-migrate`: applies the contract's embedded migrations, reports their status, or
//! checks that a service of this build may run on the database. Deploys run it as
//! `cargo xtask migrate` (or installed on its own); it takes the contract's environment
//! variables and these flags.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use aiblox_kb::{KbConfig, MigrationStatus, Migrator};

mod cli;

use clap::{CommandFactory as _, Parser as _};
use cli::{MigrateArgs as Args, MigrateCommand};

fn config(args: &Args) -> Result<KbConfig, aiblox_kb::Error> {
    KbConfig::from_flags(args.database_url.as_deref(), args.schema.as_deref())
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(shell) = args.completions {
        clap_complete::generate(
            shell,
            &mut Args::command(),
            "aiblox-kb-migrate",
            &mut std::io::stdout(),
        );
        return ExitCode::SUCCESS;
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&args)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> Result<ExitCode, aiblox_kb::Error> {
    let config = config(args)?;
    let mut migrator = Migrator::new(&config);
    if let Some(timeout) = args.lock_timeout.map(Duration::from_secs_f64) {
        migrator = migrator.lock_timeout(timeout);
    }
    if let Some(dir) = &args.migrations_dir {
        migrator = migrator.migrations_from_dir(dir)?;
    }
    match args.command {
        MigrateCommand::Status => {
            let status = migrator.status().await?;
            print_status(&status, args.json);
            Ok(ExitCode::SUCCESS)
        }
        MigrateCommand::Check => {
            let status = migrator.status().await?;
            print_status(&status, args.json);
            Ok(if status.compatibility.allows_running() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        MigrateCommand::Apply => {
            let started = Instant::now();
            let report = migrator.run().await?;
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
            } else {
                println!("schema {} ({}):", report.schema, config.redacted_url());
                for file in &report.applied {
                    println!("  applied {file}");
                }
                println!(
                    "  {} applied now, {} before, {} ({:.0} ms)",
                    report.applied.len(),
                    report.already_applied,
                    report.compatibility,
                    started.elapsed().as_secs_f64() * 1000.0
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_status(status: &MigrationStatus, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(status).unwrap_or_default()
        );
        return;
    }
    println!("schema {}: {}", status.schema, status.compatibility);
    println!(
        "this build: contract {} (fingerprint {}; aiblox-kb {})",
        status.contract_version,
        &status.contract_fingerprint[..12.min(status.contract_fingerprint.len())],
        env!("CARGO_PKG_VERSION")
    );
    for m in &status.applied {
        println!(
            "  applied   {} (contract {}, {})",
            m.file_name,
            m.contract_version,
            m.applied_at.format("%Y-%m-%d %H:%M:%S UTC")
        );
    }
    for file in &status.pending {
        println!("  pending   {file}");
    }
    for m in &status.unknown {
        println!(
            "  unknown   {} (applied by contract {}; not in this build)",
            m.file_name, m.contract_version
        );
    }
    for m in &status.mismatched {
        println!(
            "  CHANGED   {} (applied checksum {}, this build's {})",
            m.file_name, m.applied_checksum, m.build_checksum
        );
    }
}
