//! `cargo xtask demo`: from a fresh clone to answers in one command. Starts a local PostgreSQL
//! it manages (persistent: data kept in `AIBLOX_DEMO_DIR`, default `/var/tmp/aiblox-demo`, and
//! reused by the next run), ingests a corpus with the ingestion block (`--corpus DIR`, or the PostgreSQL
//! documentation when installed, else the Rust toolchain's books, else this repository's
//! `docs/`), starts the orchestrator, and
//! prints queries to try. Ctrl-C stops everything it started.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use aiblox_localpg::LocalCluster;
use anyhow::{Context as _, bail};

use crate::workspace::Workspace;

/// Where the PostgreSQL documentation is, when the Debian package is installed.
const PG_DOCS: &str = "/usr/share/doc/postgresql-doc-15/html";

/// A folder to ingest as one source, and whether it is the user's own (read with every type)
/// or a built-in corpus (its pages only).
pub(crate) struct Corpus {
    source: String,
    dir: PathBuf,
    own: bool,
}

impl Corpus {
    /// The user's folder `dir`, as source `source` (default: the folder's name).
    pub(crate) fn named(dir: PathBuf, source: Option<String>) -> Corpus {
        let source = source.unwrap_or_else(|| {
            dir.canonicalize()
                .ok()
                .and_then(|dir| {
                    dir.file_name()
                        .map(|name| name.to_string_lossy().into_owned())
                })
                .unwrap_or_else(|| "corpus".to_owned())
        });
        Corpus {
            source,
            dir,
            own: true,
        }
    }

    fn built_in(source: &str, dir: PathBuf) -> Corpus {
        Corpus {
            source: source.to_owned(),
            dir,
            own: false,
        }
    }
}

pub(crate) fn run(workspace: &Workspace, listen: &str, own: Option<Corpus>) -> anyhow::Result<()> {
    if let Some(corpus) = &own
        && !corpus.dir.is_dir()
    {
        bail!("--corpus {}: not a folder", corpus.dir.display());
    }
    let data = std::env::var_os("AIBLOX_DEMO_DIR")
        .map_or_else(|| PathBuf::from("/var/tmp/aiblox-demo"), PathBuf::from);
    println!(
        "demo: PostgreSQL data in {} (AIBLOX_DEMO_DIR), kept for the next run",
        data.display()
    );
    // Release builds: the service answers in milliseconds, not the debug build's ~100 ms.
    workspace.build(
        "the ingestion block and the orchestrator in release mode",
        &[
            "--release",
            "--package",
            "aiblox-ingest",
            "--package",
            "aiblox-orchestrator",
        ],
    )?;
    let cluster = LocalCluster::start_persistent(&data.join("pg")).with_context(|| {
        format!(
            "could not start the demo's PostgreSQL in {}",
            data.display()
        )
    })?;
    let url = cluster.url("postgres");
    println!("demo: database URL {url} (no password: local socket, trust)");

    let corpus = match own {
        Some(own) => vec![own],
        None => corpus(workspace),
    };
    ingest(workspace, &corpus, &url, &data)?;
    let source = corpus[0].source.as_str();

    let model = embedding_model();
    let mut service = start_orchestrator(workspace, listen, &url, model.as_deref())?;
    wait_until_listening(listen, &mut service)?;
    print_examples(listen, source);
    print_mcp(workspace, listen, &url);
    println!("\ndemo: Ctrl-C stops the service and the database.");
    if model.is_some() {
        let listen = listen.to_owned();
        std::thread::spawn(move || show_index_progress(&listen));
    }

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    println!("\ndemo: stopping");
    // Ctrl-C in a terminal reaches the service too; make sure when it did not.
    let _ = Command::new("kill")
        .arg("-INT")
        .arg(service.id().to_string())
        .status();
    let _ = service.wait();
    cluster.stop();
    println!("demo: stopped; data kept in {}", data.display());
    Ok(())
}

/// Ingests each (source, directory) of `corpus` into the database at `url` with the ingestion
/// block; `data` is the demo's directory, named when an old database is the likely cause of a
/// failure.
fn ingest(workspace: &Workspace, corpus: &[Corpus], url: &str, data: &Path) -> anyhow::Result<()> {
    for Corpus { source, dir, own } in corpus {
        println!(
            "demo: ingesting {} as source {source:?} (unchanged files are skipped)",
            dir.display()
        );
        let mut ingest = workspace.cargo_run(true, "aiblox-ingest", None);
        ingest.args(["--source", source]);
        if !own {
            // Pages only: a docs directory's .jsonl files are not items (the eval's
            // questions).
            ingest.args(["--types", "html,md,txt"]);
        }
        let status = ingest
            .arg(dir)
            .env("AIBLOX_KB_DATABASE_URL", url)
            .status()
            .context("could not run the ingestion block")?;
        if *own && status.code() == Some(1) {
            // Exit status 1: some files failed (listed above), the others are loaded.
            println!(
                "demo: some files of {} could not be read (listed above); the others are loaded",
                dir.display()
            );
            continue;
        }
        if !status.success() {
            bail!(
                "ingestion failed ({status}). If it says a migration changed after it was \
                 applied, the demo's database was made by an older build: remove {} and run \
                 the demo again",
                data.display()
            );
        }
    }
    Ok(())
}

/// Says which retrieval the demo offers (hybrid with `model`, else lexical only) and starts
/// the orchestrator on `listen` against the database at `url`.
fn start_orchestrator(
    workspace: &Workspace,
    listen: &str,
    url: &str,
    model: Option<&Path>,
) -> anyhow::Result<Child> {
    match model {
        Some(dir) => println!(
            "demo: hybrid retrieval with the embedding model in {} (the service embeds the corpus in the background, progress below; answers are lexical until 95 % is embedded)",
            dir.display()
        ),
        None => println!(
            "demo: lexical retrieval only: no embedding model (run `cargo xtask fetch-model` first for hybrid retrieval)"
        ),
    }
    println!("demo: starting the orchestrator on http://{listen}");
    workspace
        .cargo_run(true, "aiblox-orchestrator", None)
        .arg("serve")
        .env("AIBLOX_KB_DATABASE_URL", url)
        .env("AIBLOX_LISTEN", listen)
        .env(
            "AIBLOX_EMBEDDING_MODEL",
            model.map(Path::to_path_buf).unwrap_or_default(),
        )
        .env(
            "AIBLOX_LOG_LEVEL",
            std::env::var("AIBLOX_LOG_LEVEL").unwrap_or_else(|_| "warn".to_owned()),
        )
        .spawn()
        .context("could not start the orchestrator")
}

/// The embedding model: `AIBLOX_EMBEDDING_MODEL`, else the one `cargo xtask fetch-model`
/// put in the model cache, else none.
fn embedding_model() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("AIBLOX_EMBEDDING_MODEL").filter(|dir| !dir.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let cached =
        aiblox_embed::fetch::default_cache_dir().join(aiblox_embed::fetch::ALL_MINILM_L6_V2.name);
    cached.join("model.safetensors").is_file().then_some(cached)
}

/// Prints the embedding backfill's progress (`GET /v1/index`) until every item is embedded.
fn show_index_progress(listen: &str) {
    let started = Instant::now();
    loop {
        std::thread::sleep(Duration::from_secs(2));
        let Ok(index) = get_json(listen, "/v1/index") else {
            continue;
        };
        let items = index["items"].as_u64().unwrap_or(0);
        let indexed = index["indexed"].as_u64().unwrap_or(0);
        if items == 0 {
            continue;
        }
        let filled = (30 * indexed / items) as usize;
        eprint!(
            "\rdemo: embedding [{}{}] {indexed}/{items} items, {:.0} s ",
            "#".repeat(filled),
            " ".repeat(30 - filled),
            started.elapsed().as_secs_f64()
        );
        if indexed == items {
            eprintln!("\ndemo: every item is embedded: hybrid answers use the whole corpus");
            return;
        }
    }
}

/// `GET path` of the local service, as JSON.
fn get_json(listen: &str, path: &str) -> anyhow::Result<serde_json::Value> {
    let (_, body) = crate::http::request(listen, "GET", path, None)?;
    Ok(serde_json::from_str(&body)?)
}

/// What the demo ingests, as (source, directory): the PostgreSQL documentation when
/// installed; else the Rust toolchain's own books (every rustup install has them, as HTML);
/// else this repository's `docs/`.
fn corpus(workspace: &Workspace) -> Vec<Corpus> {
    if Path::new(PG_DOCS).is_dir() {
        return vec![Corpus::built_in("pgdocs", PathBuf::from(PG_DOCS))];
    }
    let books = rust_books();
    if !books.is_empty() {
        println!(
            "demo: the PostgreSQL documentation is not installed; using the Rust toolchain's books \
             (the Book, Cargo's, the Reference) instead.\n\
             demo: for the corpus the figures are measured on: apt-get install postgresql-doc-15"
        );
        return books;
    }
    println!(
        "demo: neither the PostgreSQL documentation nor the Rust books are installed; using this repository's docs/ instead.\n\
         demo: for the real corpus: apt-get install postgresql-doc-15 (then run the demo again)"
    );
    vec![Corpus::built_in(
        "aiblox-docs",
        workspace.root().join("docs"),
    )]
}

/// The Rust books that rustup installs with the toolchain's docs, each its own source.
fn rust_books() -> Vec<Corpus> {
    let Ok(output) = Command::new("rustc").args(["--print", "sysroot"]).output() else {
        return Vec::new();
    };
    let html =
        PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()).join("share/doc/rust/html");
    [
        ("rust-book", "book"),
        ("cargo-book", "cargo"),
        ("rust-reference", "reference"),
    ]
    .into_iter()
    .map(|(source, dir)| Corpus::built_in(source, html.join(dir)))
    .filter(|corpus| corpus.dir.join("index.html").is_file())
    .collect()
}

fn wait_until_listening(listen: &str, service: &mut Child) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(300);
    while TcpStream::connect(listen).is_err() {
        if let Some(status) = service.try_wait()? {
            bail!("the orchestrator exited ({status}); is {listen} already in use?");
        }
        if Instant::now() > deadline {
            bail!("the orchestrator did not listen on {listen} within 5 minutes");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// How an agent's MCP client reaches the demo: over HTTP at `/mcp`, or by starting the stdio
/// server itself on the demo's database.
fn print_mcp(workspace: &Workspace, listen: &str, url: &str) {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map_or_else(|| workspace.root().join("target"), PathBuf::from);
    let binary = target.join("release").join("aiblox-orchestrator");
    let config = serde_json::json!({"mcpServers": {
        "aiblox-demo": {"type": "http", "url": format!("http://{listen}/mcp")},
        "aiblox-demo-stdio": {"command": binary, "args": ["mcp"],
                              "env": {"AIBLOX_KB_DATABASE_URL": url}},
    }});
    println!(
        "\ndemo: agents search it over MCP (tools search, get_item, list_sources): point an MCP \
         client at http://{listen}/mcp, or register either server:\n\n{}",
        serde_json::to_string_pretty(&config).unwrap_or_default()
    );
}

fn print_examples(listen: &str, source: &str) {
    let questions: &[&str] = if source == "rust-book" {
        &[
            "what happens to a value when its owner goes out of scope",
            "how do I add a dependency from crates.io",
            "rust-book:ch04-01-what-is-ownership.html",
            "when can lifetimes be left out of a function signature",
        ]
    } else if source == "pgdocs" {
        &[
            "how do I reclaim disk space after deleting lots of rows",
            "keep a read only copy of the server",
            "pgdocs:sql-vacuum.html",
        ]
    } else if source == "aiblox-docs" {
        &[
            "how do migrations stay safe with many replicas",
            "what does cargo xtask check verify",
        ]
    } else {
        println!(
            "\ndemo: ready. Ask your corpus (evidence names the page of a PDF):\n\n  curl -s \
             http://{listen}/v1/query -H 'content-type: application/json' -d '{{\"query\": \
             \"your question\", \"top_k\": 3}}'"
        );
        &[]
    };
    if !questions.is_empty() {
        println!(
            "\ndemo: ready. Each example, asked once now (the first answer also chunks its pages):\n"
        );
    }
    for question in questions {
        let body = serde_json::json!({"query": question, "top_k": 3}).to_string();
        let started = Instant::now();
        let answer = crate::http::request(listen, "POST", "/v1/query", Some(&body));
        let took = started.elapsed().as_secs_f64() * 1000.0;
        let cited = answer
            .ok()
            .and_then(|(_, body)| serde_json::from_str::<serde_json::Value>(&body).ok())
            .and_then(|answer| {
                let evidence = &answer["evidence"][0];
                let page = evidence["page"]
                    .as_u64()
                    .map(|page| format!(", page {page}"))
                    .unwrap_or_default();
                evidence["external_id"]
                    .as_str()
                    .map(|id| format!("{id}{page}"))
            })
            .unwrap_or_else(|| "no evidence".to_owned());
        println!("  {question:?}: {took:.1} ms, first cites {cited}");
        println!(
            "  curl -s http://{listen}/v1/query -H 'content-type: application/json' -d '{{\"query\": \"{question}\", \"top_k\": 3}}'\n"
        );
    }
    println!(
        "\n  curl -s http://{listen}/v1/index   # how much of the corpus the model has embedded"
    );
    println!("  curl -s http://{listen}/metrics | grep aiblox_");
    if source == "pgdocs" {
        println!(
            "  cargo xtask eval --queries docs/retrieval/pgdocs-dev.jsonl --url http://{listen}"
        );
    }
}
