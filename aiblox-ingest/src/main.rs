//! `aiblox-ingest --source NAME PATH...`: loads files into the knowledge base of
//! `AIBLOX_KB_DATABASE_URL` (schema `AIBLOX_KB_SCHEMA`), migrating it first.

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use aiblox_ingest::{DEFAULT_BATCH_SIZE, documents, ingest};
use aiblox_kb::{KbConfig, KbPool};

const USAGE: &str = "\
usage: aiblox-ingest --source NAME [--no-migrate] [--batch-size N] [--json] PATH...

Loads .html, .md and .txt files (a directory is walked; external_id = path relative to it)
and .jsonl files ({\"external_id\", \"content\", \"title\"?, \"metadata\"?} per line) into the
knowledge base of AIBLOX_KB_DATABASE_URL (or DATABASE_URL), schema AIBLOX_KB_SCHEMA (kb).
Re-running changes nothing; bad files are reported and skipped.";

struct Args {
    source: String,
    paths: Vec<PathBuf>,
    migrate: bool,
    batch_size: usize,
    json: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let (mut source, mut paths, mut migrate, mut batch_size, mut json) =
        (None, Vec::new(), true, DEFAULT_BATCH_SIZE, false);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--source" => source = Some(args.next().ok_or("--source needs a name")?),
            "--no-migrate" => migrate = false,
            "--json" => json = true,
            "--batch-size" => {
                batch_size = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .filter(|n| (1..=10_000).contains(n))
                    .ok_or("--batch-size needs a number from 1 to 10000")?;
            }
            "-h" | "--help" => return Err(String::new()),
            flag if flag.starts_with("--") => return Err(format!("unknown flag {flag}")),
            path => paths.push(PathBuf::from(path)),
        }
    }
    let source = source.ok_or("--source NAME is required")?;
    if paths.is_empty() {
        return Err("give at least one PATH".to_owned());
    }
    Ok(Args {
        source,
        paths,
        migrate,
        batch_size,
        json,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) if message.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    match run(&args).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> Result<ExitCode, aiblox_kb::Error> {
    let config = KbConfig::from_env()?;
    if args.migrate {
        aiblox_kb::migrate(&config).await?;
    }
    let pool = KbPool::builder(&config).max_size(2).build()?;
    let terminal = std::io::stderr().is_terminal();
    let mut progress = |done: usize| {
        if terminal {
            eprint!("\ringesting: {done} documents");
            let _ = std::io::stderr().flush();
        } else {
            eprintln!("ingesting: {done} documents");
        }
    };
    let summary = ingest(
        &pool,
        &args.source,
        documents(&args.paths),
        args.batch_size,
        &mut progress,
    )
    .await?;
    if terminal {
        eprintln!();
    }
    for failure in &summary.failures {
        eprintln!("failed: {}: {}", failure.location, failure.reason);
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&summary).unwrap_or_default()
        );
    } else {
        println!(
            "source {}: {} inserted, {} changed, {} unchanged, {} failed",
            args.source, summary.inserted, summary.changed, summary.unchanged, summary.failed
        );
    }
    pool.close();
    Ok(ExitCode::SUCCESS)
}
