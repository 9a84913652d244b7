//! `aiblox-ingest --source NAME PATH...`: loads files into the knowledge base of
//! `--database-url` (or `AIBLOX_KB_DATABASE_URL`), schema `--schema` (or `AIBLOX_KB_SCHEMA`),
//! migrating it first. Exits 1 when any file failed (after loading the others).

use std::io::{IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use aiblox_ingest::{DEFAULT_BATCH_SIZE, FileType, documents_of_types, ingest};
use aiblox_kb::{KbConfig, KbPool};

const USAGE: &str = "\
usage: aiblox-ingest --source NAME [options] PATH...

Loads .html, .md and .txt files (a directory is walked; external_id = path relative to it)
and .jsonl files ({\"external_id\", \"content\", \"title\"?, \"metadata\"?} per line) into the
knowledge base. HTML is decoded by its declared charset, other files as UTF-8 (a byte order
mark wins). Re-running changes nothing. Files of other types and empty documents are skipped;
a file that fails is reported, the others are still loaded, and the exit status is 1.

options:
  --database-url URL   default: AIBLOX_KB_DATABASE_URL, then DATABASE_URL
                       (prefer the variables: a password on the command line is visible to ps)
  --schema NAME        default: AIBLOX_KB_SCHEMA, then kb
  --types LIST         file types to read, of html,md,txt,jsonl (default: all)
  --no-migrate         do not apply the contract's migrations first
  --batch-size N       items per upsert, 1 to 10000 (default 200)
  --json               print the summary as JSON
  -h, --help           this help";

struct Args {
    source: String,
    paths: Vec<PathBuf>,
    database_url: Option<String>,
    schema: Option<String>,
    types: Vec<FileType>,
    migrate: bool,
    batch_size: usize,
    json: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let (mut source, mut paths, mut migrate, mut batch_size, mut json) =
        (None, Vec::new(), true, DEFAULT_BATCH_SIZE, false);
    let (mut database_url, mut schema, mut types) = (None, None, FileType::ALL.to_vec());
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--source" => source = Some(args.next().ok_or("--source needs a name")?),
            "--database-url" => {
                database_url = Some(args.next().ok_or("--database-url needs a URL")?);
            }
            "--schema" => schema = Some(args.next().ok_or("--schema needs a name")?),
            "--types" => {
                let list = args.next().ok_or("--types needs a list such as html,md")?;
                types = list
                    .split(',')
                    .map(|name| {
                        FileType::from_name(name.trim()).ok_or_else(|| {
                            format!("--types: unknown type {name:?}; the types are html, md, txt and jsonl")
                        })
                    })
                    .collect::<Result<_, _>>()?;
            }
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
        database_url,
        schema,
        types,
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
    let config = KbConfig::from_flags(args.database_url.as_deref(), args.schema.as_deref())?;
    eprintln!(
        "knowledge base: schema {} at {}",
        config.schema(),
        config.redacted_url()
    );
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
        documents_of_types(&args.paths, &args.types),
        args.batch_size,
        &mut progress,
    )
    .await?;
    if terminal {
        eprintln!();
    }
    for skip in summary.skips.iter().take(SKIPS_SHOWN) {
        eprintln!("skipped: {}: {}", skip.location, skip.reason);
    }
    if summary.skipped > SKIPS_SHOWN {
        eprintln!(
            "skipped: {} more (--json lists them all)",
            summary.skipped - SKIPS_SHOWN
        );
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
            "source {}: {} inserted, {} changed, {} unchanged, {} skipped, {} failed",
            args.source,
            summary.inserted,
            summary.changed,
            summary.unchanged,
            summary.skipped,
            summary.failed
        );
    }
    pool.close();
    if summary.failed > 0 {
        eprintln!(
            "error: {} failed (listed above); everything else was loaded",
            if summary.failed == 1 {
                "1 file or line".to_owned()
            } else {
                format!("{} files or lines", summary.failed)
            }
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Skipped files listed on the terminal; `--json` lists every one.
const SKIPS_SHOWN: usize = 20;
