//! The command lines of the benchmark programs, in one file that depends on clap alone: the
//! programs parse them, and `cargo xtask bench --help` / `bench-service --help` print them
//! without building the programs (xtask compiles this file too).

use std::path::PathBuf;

use clap::Parser;

/// The kbpeer-v1 benchmark of the aiblox KB contract.
#[derive(Debug, Parser)]
#[command(version)]
pub struct KbArgs {
    /// Measure this server instead of a durable cluster of our own. The KB phases use their
    /// own schema (--schema) and TRUNCATE it; pgbench creates its tables in this database and
    /// drops them after.
    #[arg(long, env = "AIBLOX_BENCH_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// Schema of the KB phases (created and migrated if missing).
    #[arg(long, default_value = "kb")]
    pub schema: String,
    /// A small workload (a tenth of every size) and a 2 s pgbench: checks that everything
    /// runs; the figures are not comparable.
    #[arg(long)]
    pub quick: bool,
    /// Concurrent callers of the read phases and chunk_put.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// Connections of the pool.
    #[arg(long, default_value_t = 16)]
    pub pool_size: usize,
    /// Untimed operations before each read phase.
    #[arg(long, default_value_t = 500)]
    pub warmup: usize,
    /// Items per upsert call.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// Connections of the pool that point reads share, pipelined (default: the pool's own
    /// default, 1).
    #[arg(long, value_name = "N")]
    pub shared_reads: Option<usize>,
    /// Run the client on tokio's multi-thread runtime (a worker per core) instead of one
    /// thread, as the Python peer runs one event loop.
    #[arg(long)]
    pub multi_thread: bool,
    /// Run the list of each get phase and of chunk_get this many times (the specification:
    /// 1). Those phases last under a second; repeating them steadies their figures.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub get_repeat: usize,
    /// Run get_many's calls (and its bare reference's) this many times (the specification: 1),
    /// for steadier figures beside its ceiling.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub get_many_repeat: usize,
    /// Seconds of `pgbench -S` (0: skip pgbench).
    #[arg(long, default_value_t = 20)]
    pub pgbench_seconds: u32,
    /// Seconds of the get_many ceiling (pgbench running the contract's own statement on the
    /// same id lists; chunk_put's ceiling writes each set once); 0: no ceilings.
    #[arg(long, default_value_t = 5)]
    pub ceiling_seconds: u32,
    /// Also write the JSON report to this file.
    #[arg(long, value_name = "FILE")]
    pub json_out: Option<PathBuf>,
    /// A label stored in the report.
    #[arg(long, default_value = "")]
    pub label: String,
}

/// The service load run of the aiblox orchestrator.
#[derive(Debug, Parser)]
#[command(version)]
pub struct ServiceArgs {
    /// Corpus to ingest (default: the PostgreSQL documentation of postgresql-doc-15).
    #[arg(long, value_name = "DIR")]
    pub corpus: Option<PathBuf>,
    /// The questions, one `{"q": ...}` JSON object per line (default: the development set,
    /// docs/retrieval/pgdocs-dev.jsonl).
    #[arg(long, value_name = "FILE")]
    pub questions: Option<PathBuf>,
    /// Concurrent connections of the load generator.
    #[arg(long, default_value_t = 32)]
    pub connections: u32,
    /// Threads of the load generator.
    #[arg(long, default_value_t = 2)]
    pub threads: u32,
    /// Seconds of the measured run.
    #[arg(long, default_value_t = 30)]
    pub seconds: u32,
    /// Seconds of load before the measured run (fills the chunk cache, warms the pool).
    #[arg(long, default_value_t = 5)]
    pub warmup_seconds: u32,
    /// Evidence items asked for per question.
    #[arg(long, default_value_t = 5)]
    pub top_k: u32,
    /// The orchestrator binary (default: beside this one).
    #[arg(long, value_name = "PATH")]
    pub orchestrator: Option<PathBuf>,
    /// The ingestion binary (default: beside this one).
    #[arg(long, value_name = "PATH")]
    pub ingest: Option<PathBuf>,
    /// Exit with an error when the measured run had no successful request or any error (for
    /// CI's smoke run).
    #[arg(long)]
    pub fail_on_errors: bool,
    /// Also write the JSON report to this file.
    #[arg(long, value_name = "FILE")]
    pub json_out: Option<PathBuf>,
    /// The embedding model's directory (`cargo xtask fetch-model` prints it): the service
    /// indexes the corpus first (a progress bar; the time and CPU it took are reported), then
    /// answers in its default mode, hybrid. Without it: lexical only.
    #[arg(long, value_name = "DIR")]
    pub embedding_model: Option<PathBuf>,
    /// Run against this database instead of a cluster of its own (ingesting the corpus again
    /// changes nothing already there; vectors already embedded are kept, so a hybrid run does
    /// not embed the corpus twice). PostgreSQL's CPU is then not measured.
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
    /// The `mode` every question asks for (lexical, dense, hybrid; default: the service's).
    #[arg(long, value_name = "MODE")]
    pub mode: Option<String>,
    /// The door the questions go through: `query` (`POST /v1/query`) or `mcp` (the MCP tool
    /// `search` at `POST /mcp`, the same arguments).
    #[arg(long, value_enum, default_value = "query")]
    pub door: Door,
    /// A `filter` every question carries, as `/v1/query` takes it (JSON), e.g.
    /// '{"field": "metadata.section", "eq": "textsearch"}' with --sections.
    #[arg(long, value_name = "JSON", value_parser = parse_json)]
    pub filter: Option<serde_json::Value>,
    /// Ingest the corpus's pages in groups by the file name's first word (`sql-`,
    /// `functions-`, `runtime-` ...), each with `--metadata section=WORD`, so that questions
    /// can be filtered by section (a directory of pages, not walked into subdirectories).
    #[arg(long, conflicts_with = "scale_items")]
    pub sections: bool,
    /// Seconds of `pgbench -S -M prepared` (16 clients, scale 10) on the same cluster after the
    /// load run, so the rate can be read as a ratio of it on a noisy host (0: skip).
    #[arg(long, default_value_t = 20)]
    pub pgbench_seconds: u32,
    /// Instead of --corpus and --questions: the scale corpus of N generated items (the rules of
    /// ../shared/bench/scale_corpus.py, byte for byte), written once under target/bench-scale/N
    /// and ingested from its JSONL files as source `scale`, with its 300 questions. `cargo xtask
    /// bench-scale --items N,...` runs one such run per size.
    #[arg(long, value_name = "N", conflicts_with_all = ["corpus", "questions"])]
    pub scale_items: Option<u64>,
}

/// The lexical service at corpus sizes: for each size, `aiblox-bench-service --scale-items N
/// --mode lexical` (the scale corpus generated once per size under target/bench-scale/), then a
/// table of every size: items/s loaded, database size, requests/s, p50/p99, and the service's
/// and PostgreSQL's CPU per question.
#[derive(Debug, Parser)]
#[command(version)]
pub struct ScaleArgs {
    /// Corpus sizes, in items, separated by commas (for example 20000,220000) (required).
    #[arg(long, value_delimiter = ',', required = true, value_name = "N,...")]
    pub items: Vec<u64>,
    /// Keep each size's JSON report as DIR/scale-N.json.
    #[arg(long, value_name = "DIR")]
    pub json_dir: Option<PathBuf>,
    /// Every other argument goes to each run of aiblox-bench-service (for example --seconds 20
    /// --orchestrator PATH; see `cargo xtask bench-service --help`).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ARGS"
    )]
    pub service_args: Vec<String>,
}

fn parse_json(text: &str) -> Result<serde_json::Value, String> {
    serde_json::from_str(text).map_err(|err| format!("not JSON: {err}"))
}

/// The door the service load goes through (`--door`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Door {
    /// `POST /v1/query`.
    Query,
    /// `POST /mcp`, the MCP tool `search` (stateless JSON-RPC `tools/call`).
    Mcp,
}

impl Door {
    /// Its name, as `--door` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Door::Query => "query",
            Door::Mcp => "mcp",
        }
    }
}
