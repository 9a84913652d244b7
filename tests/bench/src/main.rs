//! `aiblox-bench`: runs the `kbpeer-v1` workload through the public `aiblox-kb` repositories
//! on a durable PostgreSQL cluster of its own (or `--database-url`), and pgbench beside it;
//! prints a table (and writes JSON with `--json-out`). Run it with `cargo xtask bench` (release build).

use std::sync::Arc;
use std::time::Instant;

use aiblox_bench::cli::KbArgs;
use aiblox_bench::kb_phases::{self, PhaseOptions};
use aiblox_bench::report::{Report, round};
use aiblox_bench::server::{BenchServer, SPEC_SETTINGS};
use aiblox_bench::workload::{SPEC_ITEMS_SHA256, SPEC_WORKLOAD_SHA256, Sizes, Workload};
use aiblox_kb::KbConfig;
use anyhow::Context as _;
use clap::Parser;
use serde_json::json;

fn main() -> std::process::ExitCode {
    let args = KbArgs::parse();
    let runtime = if !args.multi_thread {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: could not start the async runtime: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: KbArgs) -> anyhow::Result<()> {
    let started_at = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (workload, dataset) = generate_workload(sizes(args.quick))?;

    let settings: Vec<String> = SPEC_SETTINGS.iter().map(|s| (*s).to_owned()).collect();
    let server = match &args.database_url {
        Some(url) => BenchServer::external(url),
        None => BenchServer::start_own(&settings).await?,
    };
    let config = KbConfig::new(server.kb_url())?.with_schema(&args.schema)?;
    eprintln!("server: {}", config.redacted_url());
    let version = server.version().await?;
    aiblox_kb::migrate(&config)
        .await
        .context("could not migrate the benchmark schema")?;
    let contract_version = aiblox_kb::Migrator::new(&config)
        .status()
        .await?
        .contract_version;

    let pgbench_tps = pgbench_select_only(&server, &args)?;

    let options = phase_options(&args);
    eprintln!("running the phases ...");
    let measured = kb_phases::run_all(&server, &config, Arc::clone(&workload), options).await?;

    let mut report = Report {
        implementation: "aiblox-kb".to_owned(),
        started_at,
        env: report_env(
            &args,
            &server,
            &config,
            &settings,
            version,
            contract_version,
        ),
        dataset: dataset.report_fields(),
        params: report_params(&options, args.multi_thread),
        phases: measured.phases,
        pgbench_select_only_tps: pgbench_tps.map(|tps| round(tps, 1)),
        ceilings: measured
            .ceilings
            .iter()
            .map(|(phase, ceiling)| (phase.clone(), round(ceiling.calls_per_s, 1)))
            .collect(),
        ceiling_server_cpu_ms_per_call: measured
            .ceilings
            .iter()
            .filter_map(|(phase, ceiling)| {
                Some((phase.clone(), round(ceiling.server_cpu_ms_per_call?, 4)))
            })
            .collect(),
        ratios: Default::default(),
    };
    add_ratios(&mut report);

    println!("{}", report.table());
    if let Some(path) = &args.json_out {
        let json = serde_json::to_string_pretty(&report.to_json())?;
        std::fs::write(path, format!("{json}\n"))
            .with_context(|| format!("could not write {}", path.display()))?;
        eprintln!("JSON report: {}", path.display());
    }
    Ok(())
}

/// The report's `env` section: the contract's and the server's versions, which server, and
/// the machine.
fn report_env(
    args: &KbArgs,
    server: &BenchServer,
    config: &KbConfig,
    settings: &[String],
    postgres_version: String,
    contract_version: String,
) -> std::collections::BTreeMap<String, serde_json::Value> {
    [
        ("aiblox_kb".to_owned(), json!(contract_version)),
        ("postgres".to_owned(), json!(postgres_version)),
        ("database".to_owned(), json!(config.redacted_url())),
        ("own_cluster".to_owned(), json!(server.is_own())),
        (
            "server_settings".to_owned(),
            json!(if server.is_own() {
                settings.to_vec()
            } else {
                Vec::new()
            }),
        ),
        (
            "cpus".to_owned(),
            json!(std::thread::available_parallelism().map_or(0, usize::from)),
        ),
        ("label".to_owned(), json!(args.label)),
    ]
    .into_iter()
    .collect()
}

/// The specification's sizes, or a tenth of every count with `--quick`.
fn sizes(quick: bool) -> Sizes {
    if quick {
        let full = Sizes::default();
        Sizes {
            items: full.items / 10,
            gets: full.gets / 10,
            get_many_calls: full.get_many_calls / 10,
            searches: full.searches / 10,
            chunk_puts: full.chunk_puts / 10,
            chunk_gets: full.chunk_gets / 10,
            ..full
        }
    } else {
        Sizes::default()
    }
}

/// What the report says of the generated data set.
struct Dataset {
    sizes: Sizes,
    /// Seconds the generation took.
    generate_s: f64,
    items_sha256: String,
    workload_sha256: String,
    /// Whether the sizes are the specification's (whose fingerprints the workload matches).
    reference: bool,
}

/// Generates the workload of `sizes`, fails when the specification's sizes do not give the
/// specification's fingerprints, and says on stderr what was generated.
fn generate_workload(sizes: Sizes) -> anyhow::Result<(Arc<Workload>, Dataset)> {
    let generating = Instant::now();
    let workload = Arc::new(Workload::generate(sizes));
    let generate_s = generating.elapsed().as_secs_f64();
    let items_sha256 = workload.items_sha256();
    let workload_sha256 = workload.workload_sha256();
    let reference = sizes == Sizes::default();
    let fingerprints_match =
        reference && items_sha256 == SPEC_ITEMS_SHA256 && workload_sha256 == SPEC_WORKLOAD_SHA256;
    if reference && !fingerprints_match {
        anyhow::bail!(
            "the generated workload does not match the specification's fingerprints \
             (items_sha256 {items_sha256}, workload_sha256 {workload_sha256}): fix the generator"
        );
    }
    eprintln!(
        "workload kbpeer-v1: {} items generated in {generate_s:.2} s; items_sha256 {items_sha256}, \
         workload_sha256 {workload_sha256}{}",
        workload.items.len(),
        if fingerprints_match {
            " (match the specification)"
        } else {
            " (reduced sizes)"
        }
    );
    let dataset = Dataset {
        sizes,
        generate_s,
        items_sha256,
        workload_sha256,
        reference,
    };
    Ok((workload, dataset))
}

impl Dataset {
    /// The report's `dataset` section: the generator, its sizes and the fingerprints.
    fn report_fields(&self) -> std::collections::BTreeMap<String, serde_json::Value> {
        [
            ("generator".to_owned(), json!("kbpeer-v1")),
            ("seed".to_owned(), json!(self.sizes.seed)),
            ("items".to_owned(), json!(self.sizes.items)),
            ("generate_s".to_owned(), json!(round(self.generate_s, 2))),
            ("items_sha256".to_owned(), json!(self.items_sha256)),
            ("workload_sha256".to_owned(), json!(self.workload_sha256)),
            (
                "sizes".to_owned(),
                json!(if self.reference {
                    "reference (fingerprints match the specification)"
                } else {
                    "quick: a tenth of every size, which has no reference fingerprint"
                }),
            ),
        ]
        .into_iter()
        .collect()
    }
}

/// pgbench's select-only run on the same server, in transactions per second (a short one with
/// `--quick`); `None` when `--pgbench-seconds` is 0.
fn pgbench_select_only(server: &BenchServer, args: &KbArgs) -> anyhow::Result<Option<f64>> {
    if args.pgbench_seconds == 0 {
        return Ok(None);
    }
    let (scale, seconds) = if args.quick {
        (1, 2)
    } else {
        (10, args.pgbench_seconds)
    };
    eprintln!("pgbench -i -s {scale}; pgbench -S -M prepared -c 16 -j 2 -T {seconds} ...");
    let tps = server.pgbench_select_only(scale, 16, 2, seconds)?;
    eprintln!("pgbench: {tps:.1} tps");
    Ok(Some(tps))
}

/// How the phases run, from the command line (shorter warm-ups and ceilings with `--quick`).
fn phase_options(args: &KbArgs) -> PhaseOptions {
    PhaseOptions {
        concurrency: args.concurrency,
        pool_size: args.pool_size,
        batch: args.batch,
        warmup: if args.quick {
            args.warmup / 10
        } else {
            args.warmup
        },
        shared_reads: args.shared_reads,
        get_repeat: args.get_repeat,
        get_many_repeat: args.get_many_repeat,
        ceiling_seconds: if args.quick {
            args.ceiling_seconds.min(1)
        } else {
            args.ceiling_seconds
        },
    }
}

/// The report's `params` section: how the phases ran, and on which runtime.
fn report_params(
    options: &PhaseOptions,
    multi_thread: bool,
) -> std::collections::BTreeMap<String, serde_json::Value> {
    [
        ("concurrency".to_owned(), json!(options.concurrency)),
        ("pool_size".to_owned(), json!(options.pool_size)),
        ("batch".to_owned(), json!(options.batch)),
        ("warmup".to_owned(), json!(options.warmup)),
        ("shared_reads".to_owned(), json!(options.shared_reads)),
        ("get_repeat".to_owned(), json!(options.get_repeat)),
        ("get_many_repeat".to_owned(), json!(options.get_many_repeat)),
        ("ceiling_seconds".to_owned(), json!(options.ceiling_seconds)),
        (
            "runtime".to_owned(),
            json!(if multi_thread {
                "tokio multi-thread"
            } else {
                "tokio current-thread"
            }),
        ),
    ]
    .into_iter()
    .collect()
}

/// get ÷ pgbench and the other ratios the benchmark's targets are stated in.
fn add_ratios(report: &mut Report) {
    let rate = |name: &str| report.phase(name).map(|phase| phase.ops_per_s);
    let mut ratios = std::collections::BTreeMap::new();
    if let Some(tps) = report.pgbench_select_only_tps {
        for phase in [
            "get",
            "get_c1",
            "get_plain_pool",
            "get_bare_deadpool",
            "chunk_get",
        ] {
            if let Some(ops) = rate(phase) {
                ratios.insert(format!("{phase}_vs_pgbench"), round(ops / tps, 3));
            }
        }
    }
    for (phase, ceiling) in &report.ceilings {
        if let Some(ops) = rate(phase) {
            ratios.insert(format!("{phase}_vs_ceiling"), round(ops / ceiling, 3));
        }
    }
    // The lone caller against the plain pool: throughput, and p50 latency (above 1: slower).
    if let (Some(lone), Some(plain)) = (report.phase("get_c1"), report.phase("get_c1_plain_pool")) {
        ratios.insert(
            "get_c1_vs_plain_pool".to_owned(),
            round(lone.ops_per_s / plain.ops_per_s, 3),
        );
        if plain.latency.p50_ms > 0.0 {
            ratios.insert(
                "get_c1_p50_vs_plain_pool".to_owned(),
                round(lone.latency.p50_ms / plain.latency.p50_ms, 3),
            );
        }
    }
    if let (Some(many), Some(bare)) = (rate("get_many"), rate("get_many_bare_deadpool")) {
        ratios.insert(
            "get_many_vs_bare_deadpool".to_owned(),
            round(many / bare, 3),
        );
        if let Some(ceiling) = report.ceilings.get("get_many") {
            ratios.insert(
                "get_many_bare_deadpool_vs_ceiling".to_owned(),
                round(bare / ceiling, 3),
            );
        }
    }
    // What the machine's cores allow: were every core busy with the ceiling's server work
    // per call plus the phase's own client work per call, this many calls per second, as a
    // ratio of the ceiling (pgbench's own client work is small). A phase cannot pass it on
    // this machine however lean the code between the two.
    let cores = std::thread::available_parallelism().map_or(1, usize::from) as f64;
    for (phase, reference) in [
        ("get_many", "get_many"),
        ("get_many_bare_deadpool", "get_many"),
    ] {
        let (Some(result), Some(ceiling), Some(server_ms)) = (
            report.phase(phase),
            report.ceilings.get(reference),
            report.ceiling_server_cpu_ms_per_call.get(reference),
        ) else {
            continue;
        };
        let client_ms = result.client_cpu_s * 1000.0 / result.ops.max(1) as f64;
        if client_ms + server_ms > 0.0 {
            let bound = cores * 1000.0 / (client_ms + server_ms);
            ratios.insert(
                format!("{phase}_cpu_bound_vs_ceiling"),
                round(bound / ceiling, 3),
            );
        }
    }
    if let (Some(plain), Some(bare)) = (rate("get_plain_pool"), rate("get_bare_deadpool")) {
        ratios.insert(
            "get_plain_pool_vs_bare_deadpool".to_owned(),
            round(plain / bare, 3),
        );
    }
    report.ratios = ratios;
}
