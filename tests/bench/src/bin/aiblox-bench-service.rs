//! `aiblox-bench-service`: the service load run. Ingests the PostgreSQL documentation into a
//! durable cluster of its own, starts the orchestrator, drives it with `wrk` (a fixed list of
//! questions, 32 connections, 30 s after a warm-up) and prints requests/s, p50/p99, errors
//! and the service's peak RSS (JSON with `--json-out`). Run it with `cargo xtask bench-service`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use aiblox_bench::cli::ServiceArgs;
use aiblox_bench::cpu::CpuSnapshot;
use aiblox_bench::report::round;
use aiblox_bench::server::{BenchServer, SPEC_SETTINGS};
use aiblox_bench::service::{self, Service};
use anyhow::{Context as _, bail};
use clap::Parser;
use serde_json::json;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    match run(ServiceArgs::parse()).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn sibling(name: &str, given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let path = match given {
        Some(path) => path,
        None => std::env::current_exe()?
            .parent()
            .context("this program has no directory")?
            .join(name),
    };
    if !path.is_file() {
        bail!(
            "{} is missing: build it (cargo build --release -p {name}), or run `cargo xtask \
             bench-service`, which does",
            path.display()
        );
    }
    Ok(path)
}

async fn run(args: ServiceArgs) -> anyhow::Result<()> {
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let orchestrator = sibling("aiblox-orchestrator", args.orchestrator.clone())?;
    let ingest = sibling("aiblox-ingest", args.ingest.clone())?;
    let input = Input::of(&args)?;
    let corpus = input.corpus.clone();
    let questions = load_questions(&input.questions)?;
    Command::new("wrk")
        .arg("--version")
        .output()
        .context("wrk, the load generator, is not installed: apt-get install wrk")?;

    let settings: Vec<String> = SPEC_SETTINGS.iter().map(|s| (*s).to_owned()).collect();
    let server = match &args.database_url {
        Some(url) => BenchServer::external(url),
        None => BenchServer::start_own(&settings).await?,
    };
    let loaded = Loaded::ingesting(&ingest, &input, &server, args.sections).await?;

    let listen = format!("127.0.0.1:{}", service::free_port()?);
    let service = Service::start(
        &orchestrator,
        &listen,
        server.kb_url(),
        args.embedding_model.as_deref(),
    )?;
    let indexing = match &args.embedding_model {
        Some(_) => Some(wait_for_index(&service, &listen)?),
        None => None,
    };
    let script_path = write_wrk_script(&args, &questions)?;
    let url = format!("http://{listen}");
    let outcome = measure(&args, &server, &service, &script_path, &url);
    let _ = std::fs::remove_file(&script_path);
    let (warmup, measured, service_cpu, cpu) = outcome?;
    let peak_rss = service.peak_rss_bytes();
    drop(service);
    let pgbench_tps = pgbench_select_only(&server, &args)?;

    let rps = measured.requests_per_second();
    let ratio = pgbench_tps.map(|tps| rps / tps);
    let report = json!({
        "impl": "aiblox-orchestrator",
        "started_at": started_at,
        "env": report_env(server.version().await?, &settings),
        "corpus": loaded.report(&corpus, args.scale_items),
        "params": report_params(&args, questions.len()),
        "indexing": indexing,
        "warmup": { "requests": warmup.requests, "errors": warmup.errors() },
        "requests": measured.requests,
        "requests_per_s": round(rps, 1),
        "pgbench_select_only_tps": pgbench_tps.map(|tps| round(tps, 1)),
        "requests_per_s_over_pgbench": ratio.map(|r| round(r, 4)),
        "p50_ms": round(measured.p50_us as f64 / 1000.0, 3),
        "p99_ms": round(measured.p99_us as f64 / 1000.0, 3),
        "max_ms": round(measured.max_us as f64 / 1000.0, 3),
        "errors": report_errors(&measured),
        "service_peak_rss_mb": peak_rss.map(|bytes| round(bytes as f64 / 1048576.0, 1)),
        "service_cpu_s": service_cpu.map(|s| round(s, 2)),
        "server_cpu_s": cpu.server.map(|s| round(s, 2)),
        "machine_busy_cpu_s": round(cpu.machine_busy, 2),
    });
    print_summary(&args, &measured, pgbench_tps, peak_rss, service_cpu, &cpu);
    if let Some(path) = &args.json_out {
        write_report(path, &report)?;
    }
    if args.fail_on_errors && (measured.requests == 0 || measured.errors() > 0) {
        bail!(
            "{} requests, {} errors: the service did not answer every request",
            measured.requests,
            measured.errors()
        );
    }
    Ok(())
}

/// Writes the JSON report to `path`.
fn write_report(path: &Path, report: &serde_json::Value) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(report)?;
    std::fs::write(path, format!("{text}\n"))
        .with_context(|| format!("could not write {}", path.display()))?;
    eprintln!("JSON report: {}", path.display());
    Ok(())
}

/// What ingesting the corpus did: how long it took, the items before and after, and the
/// database's size.
struct Loaded {
    ingest_s: f64,
    items_before: u64,
    items: u64,
    database_bytes: u64,
}

impl Loaded {
    /// Ingests `input` into `server`, measured.
    async fn ingesting(
        ingest: &Path,
        input: &Input,
        server: &BenchServer,
        sections: bool,
    ) -> anyhow::Result<Loaded> {
        let (items_before, _) = database_size(server).await?;
        let ingest_s = ingest_corpus(ingest, input, server, sections).await?;
        let (items, database_bytes) = database_size(server).await?;
        Ok(Loaded {
            ingest_s,
            items_before,
            items,
            database_bytes,
        })
    }

    /// The report's `corpus` section.
    fn report(&self, corpus: &Path, scale_items: Option<u64>) -> serde_json::Value {
        // Items the run added (none of those already there, on a database given).
        let added = self.items.saturating_sub(self.items_before) as f64;
        json!({
            "path": corpus.display().to_string(),
            "scale_items": scale_items,
            "items": self.items,
            "ingest_s": round(self.ingest_s, 2),
            "ingest_items_per_s": round(added / self.ingest_s.max(1e-9), 1),
            "database_mb": round(self.database_bytes as f64 / 1_048_576.0, 1),
        })
    }
}

/// What the run ingests and asks.
struct Input {
    /// The directory ingested.
    corpus: PathBuf,
    /// The source its items go to.
    source: &'static str,
    /// The file types read from it.
    types: &'static str,
    /// The questions file.
    questions: PathBuf,
}

impl Input {
    /// `--scale-items`' generated corpus, else `--corpus` (default: the installed PostgreSQL
    /// documentation) with `--questions` (default: the pgdocs development set).
    fn of(args: &ServiceArgs) -> anyhow::Result<Input> {
        if let Some(items) = args.scale_items {
            let dir = scale_corpus(items)?;
            return Ok(Input {
                corpus: dir.join("items"),
                source: "scale",
                types: "jsonl",
                questions: dir.join("questions.jsonl"),
            });
        }
        let corpus = match args.corpus.clone().or_else(service::default_corpus) {
            Some(corpus) => corpus,
            None => bail!(
                "the PostgreSQL documentation is not installed: apt-get install postgresql-doc-15 \
                 (or pass --corpus DIR)"
            ),
        };
        Ok(Input {
            corpus,
            // Pages only: a docs directory's .jsonl files are not items (the eval's questions).
            source: "pgdocs",
            types: "html,md,txt",
            questions: args.questions.clone().unwrap_or_else(|| {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/retrieval/pgdocs-dev.jsonl")
            }),
        })
    }
}

/// The scale corpus of `items` items under target/bench-scale/, written now unless it is
/// there from an earlier run (the same size always gives the same files).
fn scale_corpus(items: u64) -> anyhow::Result<PathBuf> {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let root = workspace
        .canonicalize()
        .unwrap_or(workspace)
        .join("target/bench-scale");
    let dir = root.join(items.to_string());
    if dir.join("questions.jsonl").is_file() {
        return Ok(dir);
    }
    let partial = root.join(format!("{items}.partial-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&partial);
    eprintln!(
        "generating the scale corpus of {items} items in {} ...",
        dir.display()
    );
    aiblox_bench::scale_corpus::write(items, &partial)?;
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::rename(&partial, &dir)
        .with_context(|| format!("could not move {} to {}", partial.display(), dir.display()))?;
    Ok(dir)
}

/// The questions of `questions_file`; fails when there are none.
fn load_questions(questions_file: &Path) -> anyhow::Result<Vec<String>> {
    let questions = service::questions(questions_file)?;
    if questions.is_empty() {
        bail!("{} holds no question", questions_file.display());
    }
    Ok(questions)
}

/// The items of the knowledge base (in the schema the service and the ingestion use:
/// `AIBLOX_KB_SCHEMA`, default `kb`; 0 before it exists) and the database's size in bytes.
async fn database_size(server: &BenchServer) -> anyhow::Result<(u64, u64)> {
    let schema = std::env::var("AIBLOX_KB_SCHEMA")
        .ok()
        .filter(|schema| !schema.trim().is_empty())
        .unwrap_or_else(|| "kb".to_owned());
    let client = server.client().await?;
    let table = format!("\"{}\".item", schema.replace('"', "\"\""));
    let exists: bool = client
        .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
        .await
        .context("could not look for the items' table")?
        .get(0);
    let count_items = if exists {
        format!("SELECT count(*) FROM {table}")
    } else {
        "SELECT 0::bigint".to_owned()
    };
    let row = client
        .query_one(
            &format!("SELECT ({count_items}), pg_database_size(current_database())"),
            &[],
        )
        .await
        .context("could not measure the database")?;
    let count: i64 = row.get(0);
    let bytes: i64 = row.get(1);
    Ok((count.max(0) as u64, bytes.max(0) as u64))
}

/// Ingests `corpus` with the ingestion block (in groups by section with `sections`), then
/// vacuums and checkpoints the server; returns the seconds the ingestion took.
async fn ingest_corpus(
    ingest: &Path,
    input: &Input,
    server: &BenchServer,
    sections: bool,
) -> anyhow::Result<f64> {
    let corpus = &input.corpus;
    let ingesting = Instant::now();
    let groups = if sections {
        section_groups(corpus)?
    } else {
        vec![(None, vec![corpus.clone()])]
    };
    for (section, paths) in &groups {
        let mut command = Command::new(ingest);
        command.args(["--source", input.source, "--types", input.types]);
        if let Some(section) = section {
            command.arg("--metadata").arg(format!("section={section}"));
        }
        let status = command
            .args(paths)
            .env("AIBLOX_KB_DATABASE_URL", server.kb_url())
            .stdout(std::process::Stdio::null())
            .status()
            .with_context(|| format!("could not run {}", ingest.display()))?;
        if !status.success() {
            bail!("ingesting {} failed ({status})", corpus.display());
        }
    }
    let ingest_s = ingesting.elapsed().as_secs_f64();
    server.admin("VACUUM (ANALYZE)").await?;
    server.admin("CHECKPOINT").await?;
    Ok(ingest_s)
}

/// The pages of `corpus` (not walked into; `.html`, `.htm`, `.md`, `.markdown` and `.txt`
/// files) by section: the file name's first word, before a `-` or the extension.
fn section_groups(corpus: &Path) -> anyhow::Result<Vec<(Option<String>, Vec<PathBuf>)>> {
    let mut groups: std::collections::BTreeMap<String, Vec<PathBuf>> = Default::default();
    for entry in
        std::fs::read_dir(corpus).with_context(|| format!("could not list {}", corpus.display()))?
    {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
            continue;
        };
        let page = ["html", "htm", "md", "markdown", "txt"]
            .iter()
            .any(|extension| path.extension().is_some_and(|found| found == *extension));
        if !path.is_file() || !page {
            continue;
        }
        let word = name.split(['-', '.']).next().unwrap_or(name).to_owned();
        groups.entry(word).or_default().push(path);
    }
    eprintln!(
        "ingesting {} sections of {}",
        groups.len(),
        corpus.display()
    );
    Ok(groups
        .into_iter()
        .map(|(section, paths)| (Some(section), paths))
        .collect())
}

/// Writes the wrk script that posts the questions to `/v1/query` or the MCP tool `search`
/// (`--door`, with `--top-k`, `--mode` and `--filter`) to a temporary file; returns its path.
fn write_wrk_script(args: &ServiceArgs, questions: &[String]) -> anyhow::Result<PathBuf> {
    let bodies: Vec<String> = questions
        .iter()
        .map(|question| {
            let mut body = json!({ "query": question, "top_k": args.top_k });
            if let Some(mode) = &args.mode {
                body["mode"] = json!(mode);
            }
            if let Some(filter) = &args.filter {
                body["filter"] = filter.clone();
            }
            args.door.body(body)
        })
        .collect();
    let script_path = std::env::temp_dir().join(format!("aiblox-wrk-{}.lua", std::process::id()));
    std::fs::write(&script_path, service::wrk_script(args.door, &bodies))
        .with_context(|| format!("could not write {}", script_path.display()))?;
    Ok(script_path)
}

/// pgbench's select-only run on the same server, in transactions per second; `None` when
/// `--pgbench-seconds` is 0.
fn pgbench_select_only(server: &BenchServer, args: &ServiceArgs) -> anyhow::Result<Option<f64>> {
    if args.pgbench_seconds == 0 {
        return Ok(None);
    }
    eprintln!(
        "pgbench -i -s 10; pgbench -S -M prepared -c 16 -j 2 -T {} ...",
        args.pgbench_seconds
    );
    Ok(Some(server.pgbench_select_only(
        10,
        16,
        2,
        args.pgbench_seconds,
    )?))
}

/// The report's `env` section: the server's version and settings, and the machine's CPUs.
fn report_env(postgres_version: String, settings: &[String]) -> serde_json::Value {
    json!({
        "postgres": postgres_version,
        "server_settings": settings,
        "cpus": std::thread::available_parallelism().map_or(0, usize::from),
    })
}

/// The report's `params` section: how the load ran.
fn report_params(args: &ServiceArgs, questions: usize) -> serde_json::Value {
    json!({
        "load_generator": "wrk",
        "connections": args.connections,
        "threads": args.threads,
        "seconds": args.seconds,
        "warmup_seconds": args.warmup_seconds,
        "questions": questions,
        "top_k": args.top_k,
        "mode": args.mode,
        "door": args.door.as_str(),
        "filter": args.filter,
        "sections": args.sections,
        "embedding_model": args.embedding_model.as_ref().map(|dir| dir.display().to_string()),
    })
}

/// The report's `errors` section: the measured run's errors, in total and by kind.
fn report_errors(measured: &service::WrkResult) -> serde_json::Value {
    json!({
        "total": measured.errors(),
        "non_2xx": measured.non_2xx,
        "connect": measured.connect_errors,
        "read": measured.read_errors,
        "write": measured.write_errors,
        "timeout": measured.timeouts,
        "failed_answers": measured.failed_answers,
    })
}

/// Prints the one-line summary of the measured run.
fn print_summary(
    args: &ServiceArgs,
    measured: &service::WrkResult,
    pgbench_tps: Option<f64>,
    peak_rss: Option<u64>,
    service_cpu: Option<f64>,
    cpu: &aiblox_bench::cpu::CpuSpent,
) {
    let rps = measured.requests_per_second();
    println!(
        "service: {rps:.1} requests/s{}, p50 {:.2} ms, p99 {:.2} ms, {} errors, peak RSS {} \
         ({} requests in {} s, {} connections; service CPU {} s, PostgreSQL CPU {} s)",
        pgbench_tps.map_or_else(String::new, |tps| format!(
            " ({:.4} x pgbench -S at {tps:.0} tps)",
            rps / tps
        )),
        measured.p50_us as f64 / 1000.0,
        measured.p99_us as f64 / 1000.0,
        measured.errors(),
        peak_rss.map_or_else(
            || "?".to_owned(),
            |bytes| format!("{:.1} MB", bytes as f64 / 1048576.0)
        ),
        measured.requests,
        args.seconds,
        args.connections,
        service_cpu.map_or_else(|| "?".to_owned(), |s| format!("{s:.1}")),
        cpu.server
            .map_or_else(|| "?".to_owned(), |s| format!("{s:.1}")),
    );
}

/// Waits until the service has embedded the whole corpus, drawing a progress bar on stderr;
/// returns the time, the service's CPU and what was embedded.
fn wait_for_index(service: &Service, address: &str) -> anyhow::Result<serde_json::Value> {
    let started = Instant::now();
    let cpu_before = service.cpu_seconds();
    loop {
        let (status, index) = service::get_json(address, "/v1/index")?;
        if status != 200 {
            bail!("GET /v1/index answered {status}: {index}");
        }
        let items = index["items"].as_u64().unwrap_or(0);
        let indexed = index["indexed"].as_u64().unwrap_or(0);
        let chunks = index["embedded_here"]["chunks"].as_u64().unwrap_or(0);
        let elapsed = started.elapsed().as_secs_f64();
        let filled = (40 * indexed).checked_div(items).unwrap_or(0).min(40) as usize;
        eprint!(
            "\rindexing [{}{}] {indexed}/{items} items, {chunks} chunks, {elapsed:.0} s   ",
            "#".repeat(filled),
            " ".repeat(40 - filled)
        );
        if items > 0 && indexed == items {
            eprintln!();
            let seconds = started.elapsed().as_secs_f64();
            let cpu = match (service.cpu_seconds(), cpu_before) {
                (Some(after), Some(before)) => Some(round(after - before, 1)),
                _ => None,
            };
            // The vectors in memory catch up every second.
            std::thread::sleep(std::time::Duration::from_secs(2));
            return Ok(json!({
                "seconds": round(seconds, 1),
                "service_cpu_s": cpu,
                "items": items,
                "chunks": chunks,
                "chunks_per_s": round(chunks as f64 / seconds.max(1e-9), 2),
                "model": index["model"],
            }));
        }
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}

type Measured = (
    service::WrkResult,
    service::WrkResult,
    Option<f64>,
    aiblox_bench::cpu::CpuSpent,
);

fn measure(
    args: &ServiceArgs,
    server: &BenchServer,
    service: &Service,
    script: &Path,
    url: &str,
) -> anyhow::Result<Measured> {
    eprintln!("warm-up: {} s ...", args.warmup_seconds);
    let warmup = service::run_wrk(
        script,
        url,
        args.connections,
        args.threads,
        args.warmup_seconds.max(1),
    )?;
    eprintln!(
        "measuring: {} connections for {} s ...",
        args.connections, args.seconds
    );
    let before = CpuSnapshot::take(server.postmaster());
    let service_before = service.cpu_seconds();
    let measured = service::run_wrk(script, url, args.connections, args.threads, args.seconds)?;
    let cpu = CpuSnapshot::take(server.postmaster()).since(&before);
    let service_cpu = match (service.cpu_seconds(), service_before) {
        (Some(after), Some(before)) => Some(after - before),
        _ => None,
    };
    Ok((warmup, measured, service_cpu, cpu))
}
