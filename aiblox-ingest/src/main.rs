//! `aiblox-ingest --source NAME PATH...`: loads files into the knowledge base of
//! `--database-url` (or `AIBLOX_KB_DATABASE_URL`), schema `--schema` (or `AIBLOX_KB_SCHEMA`),
//! migrating it first. Exits 1 when any file failed (after loading the others).

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use aiblox_ingest::metadata::RunMetadata;
use aiblox_ingest::{
    DEFAULT_BATCH_SIZE, Exclude, FileType, Loaded, MAX_DOCUMENT_BYTES, Pruned, Reading, Summary,
    count_units, documents_read, ingest, ingest_mirroring,
};
use aiblox_kb::{KbConfig, KbPool};
use clap::{CommandFactory as _, Parser};
use indicatif::{ProgressBar, ProgressStyle};

/// Loads .html, .md, .txt, .pdf, .docx, .odt and .epub files (a directory is walked;
/// external_id = path relative to it) and .jsonl files ({"external_id", "content", "title"?, "metadata"?, "page_starts"?}
/// per line) into the knowledge base.
///
/// A PDF's text layer is read page by page (no OCR: a scan fails), with where each page
/// starts, so that answers cite pages; running headers and footers are dropped. PDFs locked
/// with a password fail; those encrypted with an empty one are read. Word and OpenDocument
/// files give their paragraphs and table rows, and pages where the file recorded its breaks;
/// EPUB books their chapters in reading order.
///
/// HTML pages are read without their navigation, headers, footers and sidebars, and the pages
/// of a folder lose the site's name their titles share (" — Python 3.11 documentation");
/// redirect stubs, mdBook's whole-book pages and Sphinx's `_sources` copies are skipped.
///
/// HTML is decoded by its declared charset, other files as UTF-8 (a byte order mark wins; a
/// UTF-16 JSONL file is read whole).
/// A JSONL file is read line by line, whatever its size; a document (a file, or a JSONL
/// line) is at most 16 MiB. Re-running changes nothing. Files of other types and empty documents are skipped; a file
/// that fails is reported, the others are still loaded, and the exit status is 1.
#[derive(Debug, Parser)]
#[command(
    name = "aiblox-ingest",
    version,
    override_usage = "aiblox-ingest --source <NAME> [OPTIONS] <PATH>...\n       aiblox-ingest --completions <SHELL>"
)]
struct Args {
    /// The source the items belong to (their external_id is unique within it) (required).
    #[arg(long, value_name = "NAME", required_unless_present = "completions")]
    source: Option<String>,
    /// Files and directories to load (required).
    #[arg(value_name = "PATH", required_unless_present = "completions")]
    paths: Vec<PathBuf>,
    /// The database (default: AIBLOX_KB_DATABASE_URL, then DATABASE_URL; prefer the
    /// variables: a password on the command line is visible to ps).
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// The schema of the knowledge base (default: AIBLOX_KB_SCHEMA, then kb).
    #[arg(long, value_name = "NAME")]
    schema: Option<String>,
    /// Leave out files matching this pattern (repeatable): `*` within a folder, `**` across
    /// folders, `?` one character; a pattern without `/` matches file names
    /// (`--exclude '*.txt'`), one with `/` paths below the folder given
    /// (`--exclude 'api/**'`).
    #[arg(long, value_name = "GLOB", value_parser = Exclude::new)]
    exclude: Vec<Exclude>,
    /// The encoding of HTML, Markdown and text files that have no byte order mark (nor, for
    /// HTML, a declared charset), by its WHATWG label: latin1, windows-1252, shift_jis, ...
    /// (default: UTF-8).
    #[arg(long, value_name = "LABEL", value_parser = parse_encoding)]
    encoding: Option<&'static encoding_rs::Encoding>,
    /// Largest HTML, Markdown or text file, or JSONL line, read, in bytes (PDF and office
    /// files have limits of their own).
    #[arg(long, value_name = "BYTES", default_value_t = MAX_DOCUMENT_BYTES,
          value_parser = clap::builder::RangedU64ValueParser::<u64>::new().range(1..=512 * 1024 * 1024))]
    max_file_bytes: u64,
    /// File types to read, of html,md,txt,jsonl,pdf,docx,odt,epub (default: all).
    #[arg(long, value_name = "LIST", value_delimiter = ',', value_parser = parse_type)]
    types: Vec<FileType>,
    /// Do not apply the contract's migrations first.
    #[arg(long)]
    no_migrate: bool,
    /// Mirror the paths given: after loading, list the source's items that this run did not
    /// read (their files are gone); with --yes, delete them. Refused when a file failed or
    /// nothing was read. Cannot be combined with --types (items of the types left out would
    /// go).
    #[arg(long, conflicts_with = "types")]
    prune: bool,
    /// With --prune: delete the items listed.
    #[arg(long, requires = "prune")]
    yes: bool,
    /// Items per upsert, 1 to 10000.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_BATCH_SIZE,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=10_000))]
    batch_size: usize,
    /// Metadata for every item of the run, `key=value` (repeatable; over what a document
    /// says for the same key). A value that reads as a JSON number, true, false or a quoted
    /// string is stored as one, any other as text. The key `aiblox` is the block's own.
    #[arg(long = "metadata", value_name = "KEY=VALUE", value_parser = RunMetadata::pair)]
    metadata: Vec<(String, serde_json::Value)>,
    /// Print the summary as JSON.
    #[arg(long)]
    json: bool,
    /// Print a completion script for this shell (bash, zsh, fish, elvish, powershell) and exit.
    #[arg(long, value_name = "SHELL")]
    completions: Option<clap_complete::Shell>,
}

fn parse_encoding(label: &str) -> Result<&'static encoding_rs::Encoding, String> {
    encoding_rs::Encoding::for_label(label.trim().as_bytes()).ok_or_else(|| {
        format!(
            "unknown encoding {label:?}; use a WHATWG label such as latin1, windows-1252, \
             iso-8859-15, shift_jis, euc-kr, gbk or utf-16le"
        )
    })
}

fn parse_type(name: &str) -> Result<FileType, String> {
    FileType::from_name(name.trim()).ok_or_else(|| {
        let names: Vec<&str> = FileType::ALL.iter().map(|t| t.name()).collect();
        format!("unknown type {name:?}; the types are {}", names.join(", "))
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(shell) = args.completions {
        clap_complete::generate(
            shell,
            &mut Args::command(),
            "aiblox-ingest",
            &mut std::io::stdout(),
        );
        return ExitCode::SUCCESS;
    }
    match run(&args).await {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: &Args) -> Result<ExitCode, aiblox_kb::Error> {
    let run_metadata: RunMetadata = args.metadata.iter().cloned().collect();
    let config = KbConfig::from_flags(args.database_url.as_deref(), args.schema.as_deref())?;
    eprintln!(
        "knowledge base: schema {} at {}",
        config.schema(),
        config.redacted_url()
    );
    if !args.no_migrate {
        aiblox_kb::migrate(&config).await?;
    }
    let source = args.source.as_deref().unwrap_or_default();
    let types = if args.types.is_empty() {
        FileType::ALL.to_vec()
    } else {
        args.types.clone()
    };
    let pool = KbPool::builder(&config).max_size(2).build()?;
    // A bar with rate and ETA on a terminal; otherwise a plain line every few seconds.
    let total = count_units(&args.paths, &types);
    let terminal = std::io::stderr().is_terminal();
    let bar = if terminal {
        progress_bar(total)
    } else {
        ProgressBar::hidden()
    };
    let started = Instant::now();
    let mut last_line = started;
    let mut progress = |done: usize| {
        if terminal {
            bar.set_length(bar.length().unwrap_or(0).max(done as u64));
            bar.set_position(done as u64);
        } else if last_line.elapsed() >= PLAIN_PROGRESS_EVERY {
            // The total counts files and PDF pages: JSONL files hold many documents each.
            last_line = Instant::now();
            let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-3);
            let of = if done <= total {
                format!(" of about {total}")
            } else {
                String::new()
            };
            eprintln!("ingesting: {done}{of} files, documents and pages ({rate:.0}/s)");
        }
    };
    let reading = Reading {
        exclude: &args.exclude,
        max_document_bytes: args.max_file_bytes,
        encoding: args.encoding,
        ..Reading::of(&types)
    };
    let documents = documents_read(&args.paths, reading).map(|loaded| match loaded {
        Loaded::Document(mut document) => {
            run_metadata.apply_to(&mut document.metadata);
            Loaded::Document(document)
        }
        other => other,
    });
    let (summary, pruned) = load(args, &pool, source, documents, &mut progress).await?;
    bar.finish_and_clear();
    pool.close();
    let run = RunFigures {
        seconds: started.elapsed().as_secs_f64(),
        peak_memory_bytes: peak_memory_bytes(),
    };
    let pruned_well = pruned
        .as_ref()
        .is_none_or(|pruned| report_prune(pruned, source));
    let code = report(
        &summary,
        &run,
        pruned.as_ref().and_then(|p| p.as_ref().ok()),
        source,
        args.json,
    );
    Ok(if pruned_well { code } else { ExitCode::FAILURE })
}

/// Loads `documents` as items of `source`, and with `--prune` mirrors it (what the prune did,
/// or why it was refused).
async fn load(
    args: &Args,
    pool: &KbPool,
    source: &str,
    documents: impl Iterator<Item = Loaded>,
    progress: aiblox_ingest::Progress<'_>,
) -> Result<(Summary, Option<Result<Pruned, String>>), aiblox_kb::Error> {
    if args.prune {
        let (summary, pruned) =
            ingest_mirroring(pool, source, documents, args.batch_size, progress, args.yes).await?;
        return Ok((summary, Some(pruned)));
    }
    let summary = ingest(pool, source, documents, args.batch_size, progress).await?;
    Ok((summary, None))
}

/// The progress bar of a terminal: files, documents and pages done, rate and ETA.
fn progress_bar(total: usize) -> ProgressBar {
    let style = ProgressStyle::with_template(
        "ingesting [{bar:30}] {pos}/{len} files, documents and pages, {rate}, ETA {eta}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .with_key(
        "rate",
        |state: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
            let _ = write!(out, "{:.0}/s", state.per_sec());
        },
    )
    .progress_chars("=> ");
    ProgressBar::new(total as u64).with_style(style)
}

/// How long a run took and the most memory it held.
struct RunFigures {
    seconds: f64,
    /// The process's peak resident memory (Linux's `VmHWM`), if known.
    peak_memory_bytes: Option<u64>,
}

/// This process's peak resident memory so far (`VmHWM` of /proc/self/status).
fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kilobytes: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kilobytes * 1024)
}

/// Says what was skipped and what failed (stderr), and the summary (stdout, JSON with
/// `json`, with the run's time and peak memory); the exit code fails when anything failed.
fn report(
    summary: &Summary,
    run: &RunFigures,
    pruned: Option<&Pruned>,
    source: &str,
    json: bool,
) -> ExitCode {
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
    if summary.pages > 0 {
        eprintln!(
            "read {} pages of PDF and office files in {:.1} s ({:.0} pages/s of the whole run){}",
            summary.pages,
            run.seconds,
            summary.pages as f64 / run.seconds.max(1e-3),
            run.peak_memory_bytes
                .map(|bytes| format!("; peak memory {} MB", bytes / 1_000_000))
                .unwrap_or_default()
        );
    }
    if json {
        let mut value = serde_json::to_value(summary).unwrap_or_default();
        value["seconds"] = serde_json::json!(run.seconds);
        value["peak_memory_bytes"] = serde_json::json!(run.peak_memory_bytes);
        if let Some(pruned) = pruned {
            value["pruned"] = serde_json::json!(pruned);
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        );
    } else {
        println!(
            "source {}: {} inserted, {} changed, {} unchanged, {} skipped, {} failed",
            source,
            summary.inserted,
            summary.changed,
            summary.unchanged,
            summary.skipped,
            summary.failed
        );
    }
    if summary.inserted + summary.changed + summary.unchanged == 0 {
        eprintln!(
            "error: no file under the paths given could be read as a document ({} skipped, {} \
             failed, listed above): check the paths, --types and --exclude",
            summary.skipped, summary.failed
        );
        return ExitCode::FAILURE;
    }
    if summary.failed > 0 {
        eprintln!(
            "error: {} failed (listed above); everything else was loaded",
            if summary.failed == 1 {
                "1 file or line".to_owned()
            } else {
                format!("{} files or lines", summary.failed)
            }
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Says what a prune found or did, or why it was refused (stderr); whether it went well.
fn report_prune(pruned: &Result<Pruned, String>, source: &str) -> bool {
    let pruned = match pruned {
        Ok(pruned) => pruned,
        Err(refused) => {
            eprintln!("error: prune refused: {refused}");
            return false;
        }
    };
    let count = pruned.external_ids.len();
    if pruned.applied {
        eprintln!("pruned: deleted {count} items of source {source} that this run did not read");
        return true;
    }
    if count == 0 {
        eprintln!("prune: every item of source {source} was read in this run: nothing to delete");
        return true;
    }
    eprintln!(
        "prune: {count} items of source {source} were not read in this run (their files are \
         gone); run again with --yes to delete them:"
    );
    for external_id in pruned.external_ids.iter().take(SKIPS_SHOWN) {
        eprintln!("  {external_id}");
    }
    if count > SKIPS_SHOWN {
        eprintln!("  and {} more (--json lists them all)", count - SKIPS_SHOWN);
    }
    true
}

/// How often a progress line is printed when stderr is not a terminal.
const PLAIN_PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// Skipped files listed on the terminal; `--json` lists every one.
const SKIPS_SHOWN: usize = 20;
