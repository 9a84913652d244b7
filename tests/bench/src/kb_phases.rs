//! The phases of `kbpeer-v1` through the public `aiblox-kb` repositories, plus the reference
//! points a reader needs to judge them: a single caller, the plain pooled path, and a bare
//! deadpool-postgres client running the same query.

use std::str::FromStr as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aiblox_kb::{
    ChunkCacheRepo, ItemRepo, KbConfig, KbPool, NewChunk, NewChunkSet, NewItem, UpsertStatus,
};
use anyhow::{Context as _, bail, ensure};
use chrono::{DateTime, Utc};
use sha2::{Digest as _, Sha256};

use crate::ceiling::{self, Statement};
use crate::cpu::CpuSnapshot;
use crate::report::PhaseResult;
use crate::runner::{self, RunOptions, Timed};
use crate::server::{BenchServer, PgbenchRun};
use crate::workload::{self, CHUNKER_KEY, Workload};

/// How the phases run.
#[derive(Debug, Clone, Copy)]
pub struct PhaseOptions {
    /// Concurrent callers of the read phases and chunk_put.
    pub concurrency: usize,
    /// Connections of each pool.
    pub pool_size: usize,
    /// Items per upsert call.
    pub batch: usize,
    /// Untimed operations before each read phase.
    pub warmup: usize,
    /// Connections of the pool that point reads share (`None`: the pool's default).
    pub shared_reads: Option<usize>,
    /// The get phases and chunk_get (the phases that last under a second) run their list this
    /// many times (1 in the specification): a longer phase for steadier figures.
    pub get_repeat: usize,
    /// get_many and its bare reference run their 2,000 calls this many times (1 in the
    /// specification): steadier figures for work on their gap to the ceiling.
    pub get_many_repeat: usize,
    /// Seconds of the read ceilings (pgbench running the contract's statements); 0: no
    /// ceilings.
    pub ceiling_seconds: u32,
}

/// What a run measured: the phases in run order, and the ceilings of those that have one
/// (calls per second PostgreSQL itself serves with the contract's statement), by phase.
pub struct Measured {
    /// Phases in run order.
    pub phases: Vec<(String, PhaseResult)>,
    /// Ceilings by phase name.
    pub ceilings: std::collections::BTreeMap<String, Ceiling>,
}

/// What PostgreSQL itself does with a phase's statement and arguments (pgbench).
#[derive(Debug, Clone, Copy)]
pub struct Ceiling {
    /// Calls per second.
    pub calls_per_s: f64,
    /// Server CPU per call, in milliseconds, when the server is ours: with the phase's client
    /// CPU per call, what bounds the phase on this machine's cores.
    pub server_cpu_ms_per_call: Option<f64>,
}

/// Runs every phase in the specification's order; results in run order.
pub async fn run_all(
    server: &BenchServer,
    config: &KbConfig,
    workload: Arc<Workload>,
    options: PhaseOptions,
) -> anyhow::Result<Measured> {
    let schema = config.schema().to_owned();
    let postmaster = server.postmaster();
    let reads = RunOptions {
        concurrency: options.concurrency,
        warmup: options.warmup,
        postmaster,
    };
    let pool = bench_pool(config, options)?;
    let mut results = Vec::new();
    let mut ceilings = std::collections::BTreeMap::new();

    // (1) Empty tables, fresh statistics, nothing dirty.
    server
        .admin(&format!(
            // CASCADE: every table that references items (chunks, vectors, claims) empties too.
            "TRUNCATE {schema}.item RESTART IDENTITY CASCADE"
        ))
        .await?;
    settle(server, &schema).await?;

    // (2) upsert, sequentially, in batches.
    let (ids, upsert) = upsert_all(&pool, &workload, options.batch, postmaster).await?;
    results.push(("upsert".to_owned(), upsert));
    let ids = Arc::new(ids);

    // (3)
    settle(server, &schema).await?;

    // (4) reads.
    let targets = get_targets(&workload, &ids, options.get_repeat);
    results.extend(get_phases(server, config, &pool, &targets, options, reads).await?);

    results.push((
        "get_many".to_owned(),
        get_many(&pool, &workload, &ids, options.get_many_repeat, reads).await?,
    ));
    results.push((
        "get_many_bare_deadpool".to_owned(),
        get_many_bare_deadpool(server, &schema, &workload, &ids, options, reads).await?,
    ));
    if options.ceiling_seconds > 0 {
        eprintln!("ceiling of get_many: pgbench running get_items ...");
        let ceiling = get_many_ceiling(server, &schema, &workload, &ids, options).await?;
        ceilings.insert("get_many".to_owned(), ceiling);
    }
    results.push(("search".to_owned(), search(&pool, &workload, reads).await?));

    if options.ceiling_seconds > 0 {
        eprintln!("ceiling of chunk_put: pgbench running put_chunks ...");
        let ceiling = chunk_put_ceiling(server, &pool, &schema, &workload, &ids, options).await?;
        ceilings.insert("chunk_put".to_owned(), ceiling);
    }
    let (sets, chunk_put) = chunk_put(&pool, &workload, &ids, reads).await?;
    results.push(("chunk_put".to_owned(), chunk_put));
    settle(server, &schema).await?;
    results.push((
        "chunk_get".to_owned(),
        chunk_get(&pool, &workload, &ids, &sets, options.get_repeat, reads).await?,
    ));
    pool.close();
    Ok(Measured {
        phases: results,
        ceilings,
    })
}

/// The pool the phases run through: `options.pool_size` connections, with
/// `options.shared_reads` of them shared by point reads when given.
fn bench_pool(config: &KbConfig, options: PhaseOptions) -> anyhow::Result<KbPool> {
    let mut builder = KbPool::builder(config)
        .max_size(options.pool_size)
        .application_name("aiblox-bench");
    if let Some(shared) = options.shared_reads {
        builder = builder.shared_read_connections(shared);
    }
    Ok(builder.build()?)
}

/// The ids the get phases read: the workload's get list, `repeat` times over.
fn get_targets(workload: &Workload, ids: &[i64], repeat: usize) -> Arc<Vec<i64>> {
    Arc::new(
        std::iter::repeat_n(&workload.get, repeat.max(1))
            .flatten()
            .map(|&index| ids[index])
            .collect(),
    )
}

/// The get phases on the same targets, in run order: through the phase's pool with every
/// caller and with a single one, then the same two through a plain pool (no shared read
/// connections), then a bare deadpool-postgres client running the same query.
async fn get_phases(
    server: &BenchServer,
    config: &KbConfig,
    pool: &KbPool,
    targets: &Arc<Vec<i64>>,
    options: PhaseOptions,
    reads: RunOptions,
) -> anyhow::Result<Vec<(String, PhaseResult)>> {
    let get = timed_gets(pool, targets, reads).await?;

    let single = RunOptions {
        concurrency: 1,
        ..reads
    };
    // Both pools hold as many warm connections for their lone caller (the 16 callers of the
    // plain pool's phase open all of its own; coalesced gets use few).
    pool.warm_up(options.pool_size).await?;
    let get_c1 = timed_gets(pool, targets, single).await?;

    let plain_pool = KbPool::builder(config)
        .max_size(options.pool_size)
        .shared_read_connections(0)
        .application_name("aiblox-bench-plain")
        .build()?;
    let get_plain_pool = timed_gets(&plain_pool, targets, reads).await?;
    plain_pool.warm_up(options.pool_size).await?;
    let get_c1_plain_pool = timed_gets(&plain_pool, targets, single).await?;
    plain_pool.close();

    let get_bare_deadpool =
        bare_deadpool_gets(server, config.schema(), targets, options.pool_size, reads).await?;
    Ok(vec![
        ("get".to_owned(), get),
        ("get_c1".to_owned(), get_c1),
        ("get_plain_pool".to_owned(), get_plain_pool),
        ("get_c1_plain_pool".to_owned(), get_c1_plain_pool),
        ("get_bare_deadpool".to_owned(), get_bare_deadpool),
    ])
}

/// The distinct ids of each get_many call, as `ItemRepo::get_many` sends them.
fn get_many_lists(workload: &Workload, ids: &[i64]) -> Vec<Vec<i64>> {
    workload
        .get_many
        .iter()
        .map(|call| {
            let mut distinct: Vec<i64> = call.iter().map(|&index| ids[index]).collect();
            distinct.sort_unstable();
            distinct.dedup();
            distinct
        })
        .collect()
}

/// get_many's ceiling: pgbench running `get_items` on the same id lists (one picked at random
/// per call), as many clients as the phase has callers; calls per second.
async fn get_many_ceiling(
    server: &BenchServer,
    schema: &str,
    workload: &Workload,
    ids: &[i64],
    options: PhaseOptions,
) -> anyhow::Result<Ceiling> {
    const TABLE: &str = "ceiling_get_items";
    let columns = [("ids", "bigint[]")];
    let client = server.client().await?;
    ceiling::create_table(&client, schema, TABLE, Statement::GetItems, &columns).await?;
    let lists = get_many_lists(workload, ids);
    let numbers: Vec<i32> = (1..=lists.len() as i32).collect();
    let lists_text: Vec<String> = lists
        .iter()
        .map(|list| {
            let ids: Vec<String> = list.iter().map(i64::to_string).collect();
            format!("{{{}}}", ids.join(","))
        })
        .collect();
    client
        .execute(
            &format!(
                "INSERT INTO {schema}.{TABLE} (n, ids) \
                 SELECT n, ids::bigint[] FROM unnest($1::int[], $2::text[]) AS t(n, ids)"
            ),
            &[&numbers, &lists_text],
        )
        .await
        .context("could not fill the get_many ceiling's table")?;
    server
        .admin(&format!("VACUUM (ANALYZE) {schema}.{TABLE}"))
        .await?;
    let script = ceiling::script(
        Statement::GetItems,
        TABLE,
        ":n",
        &format!("\\set n random(1, {})\n", lists.len()),
    )?;
    let run = server.pgbench_script(
        schema,
        &script,
        options.concurrency,
        2,
        PgbenchRun::Seconds(options.ceiling_seconds),
    );
    server
        .admin(&format!("DROP TABLE {schema}.{TABLE}"))
        .await?;
    let run = run?;
    Ok(Ceiling {
        calls_per_s: run.tps,
        server_cpu_ms_per_call: per_call_ms(run.server_cpu_s, run.transactions),
    })
}

/// CPU milliseconds per call, when the CPU was measured and calls were made.
fn per_call_ms(cpu_seconds: Option<f64>, calls: u64) -> Option<f64> {
    cpu_seconds
        .filter(|_| calls > 0)
        .map(|seconds| seconds * 1000.0 / calls as f64)
}

/// chunk_put's ceiling: pgbench running `put_chunks` on the same chunk sets (their arguments
/// gathered from the contract's own write of them, then the cache emptied), each set once
/// (the clients take them in turn from a sequence), into an empty chunk cache, durable
/// commits, as many clients as the phase has callers; sets per second. The chunk cache is
/// emptied again afterwards, so the phase writes into an empty cache as well.
async fn chunk_put_ceiling(
    server: &BenchServer,
    pool: &KbPool,
    schema: &str,
    workload: &Workload,
    ids: &[i64],
    options: PhaseOptions,
) -> anyhow::Result<Ceiling> {
    const TABLE: &str = "ceiling_put_chunks";
    let client = server.client().await?;
    let expected =
        fill_chunk_put_ceiling_table(&client, pool, schema, TABLE, workload, ids).await?;
    let sets = workload.chunk_put.len();
    let clients = options.concurrency.max(1);
    let per_client = sets.div_ceil(clients);
    server
        .admin(&format!("VACUUM (ANALYZE) {schema}.{TABLE}"))
        .await?;
    server
        .admin(&format!("TRUNCATE {schema}.chunk_cache"))
        .await?;
    settle(server, schema).await?;
    // `:zero`, a pgbench variable, makes the statement take a parameter as the contract's
    // does: PostgreSQL then plans its first executions with the table as it is (custom plans)
    // before it settles on a generic plan. A statement without parameters gets its generic plan
    // at once, made on the empty cache: a sequential scan of chunk_cache in every call, which
    // ran a third as fast as the contract (measured).
    let script = ceiling::script(
        Statement::PutChunks,
        TABLE,
        &format!("(SELECT nextval('{schema}.{TABLE}_n')) + :zero"),
        "\\set zero 0\n",
    )?;
    let run = server.pgbench_script(
        schema,
        &script,
        clients,
        2,
        PgbenchRun::TransactionsPerClient(per_client),
    )?;
    let written: i64 = client
        .query_one(&format!("SELECT count(*) FROM {schema}.chunk_cache"), &[])
        .await?
        .get(0);
    ensure!(
        u64::try_from(written).ok() == Some(expected),
        "the chunk_put ceiling wrote {written} chunks where the phase writes {expected}: \
         it did other work, so it is no ceiling"
    );
    server
        .admin(&format!(
            "DROP TABLE {schema}.{TABLE}; DROP SEQUENCE {schema}.{TABLE}_n; \
             TRUNCATE {schema}.chunk_cache"
        ))
        .await?;
    settle(server, schema).await?;
    // Transactions past the last set picked nothing: count sets, not transactions.
    Ok(Ceiling {
        calls_per_s: run.tps * sets as f64 / (per_client * clients) as f64,
        server_cpu_ms_per_call: per_call_ms(run.server_cpu_s, sets as u64),
    })
}

/// Creates the chunk_put ceiling's `table` (and the sequence its clients take the sets from)
/// and fills it with each set's arguments; returns how many chunks the sets hold.
async fn fill_chunk_put_ceiling_table(
    client: &tokio_postgres::Client,
    pool: &KbPool,
    schema: &str,
    table: &str,
    workload: &Workload,
    ids: &[i64],
) -> anyhow::Result<u64> {
    let columns = [
        ("item_ids", "bigint[]"),
        ("chunk_indexes", "int[]"),
        ("chunk_counts", "int[]"),
        ("content_hashes", "bytea[]"),
        ("start_offsets", "int[]"),
        ("end_offsets", "int[]"),
        ("texts", "text[]"),
        ("token_counts", "int[]"),
        ("chunker_key", "text"),
    ];
    ceiling::create_table(client, schema, table, Statement::PutChunks, &columns).await?;
    client
        .batch_execute(&format!(
            "DROP SEQUENCE IF EXISTS {schema}.{table}_n; CREATE SEQUENCE {schema}.{table}_n"
        ))
        .await?;
    // Each set's arguments as the contract binds them: the sets are put through
    // `ChunkCacheRepo::put` once, and every stored chunk column is one of its arguments, so the
    // rows are gathered back into one array per argument, in chunk order.
    let cache = ChunkCacheRepo::new(pool);
    let sets_to_put: Vec<NewChunkSet> = workload
        .chunk_put
        .iter()
        .map(|&index| chunk_set(ids[index], &workload.items[index].content))
        .collect();
    let mut expected = 0u64;
    for batch in sets_to_put.chunks(100) {
        expected += cache.put(CHUNKER_KEY, batch).await?;
    }
    client
        .batch_execute(&format!(
            "INSERT INTO {schema}.{table} \
             SELECT row_number() OVER (ORDER BY item_id)::int, \
                 array_agg(item_id ORDER BY chunk_index), array_agg(chunk_index ORDER BY chunk_index), \
                 array_agg(chunk_count ORDER BY chunk_index), array_agg(content_hash ORDER BY chunk_index), \
                 array_agg(start_offset ORDER BY chunk_index), array_agg(end_offset ORDER BY chunk_index), \
                 array_agg(text ORDER BY chunk_index), array_agg(token_count ORDER BY chunk_index), \
                 min(chunker_key) \
             FROM {schema}.chunk_cache WHERE chunker_key = '{CHUNKER_KEY}' GROUP BY item_id"
        ))
        .await
        .context("could not fill the chunk_put ceiling's table")?;
    Ok(expected)
}

/// VACUUM (ANALYZE) both tables, then CHECKPOINT: untimed, between phases.
async fn settle(server: &BenchServer, schema: &str) -> anyhow::Result<()> {
    for table in ["item", "chunk_cache"] {
        server
            .admin(&format!("VACUUM (ANALYZE) {schema}.{table}"))
            .await?;
    }
    server.admin("CHECKPOINT").await
}

fn new_item(item: &workload::Item) -> NewItem {
    NewItem::new(item.source, item.external_id.clone(), item.content.clone())
        .with_title(item.title.clone())
        .with_metadata(serde_json::json!({
            "lang": "en",
            "seq": item.index,
            "tags": [item.tags[0], item.tags[1]],
        }))
}

/// Upserts every item in batches, one after another; returns the database id of each item.
async fn upsert_all(
    pool: &KbPool,
    workload: &Workload,
    batch: usize,
    postmaster: Option<u32>,
) -> anyhow::Result<(Vec<i64>, PhaseResult)> {
    let batches: Vec<Vec<NewItem>> = workload
        .items
        .chunks(batch.max(1))
        .map(|items| items.iter().map(new_item).collect())
        .collect();
    let repo = ItemRepo::new(pool);
    let mut ids = Vec::with_capacity(workload.items.len());
    let mut latencies = Vec::with_capacity(batches.len());
    let mut inserted = 0u64;
    let before = CpuSnapshot::take(postmaster);
    let started = Instant::now();
    for items in &batches {
        let call = Instant::now();
        let outcomes = repo.upsert(items).await.context("upsert failed")?;
        latencies.push(call.elapsed());
        for outcome in outcomes {
            inserted += u64::from(outcome.status == UpsertStatus::Inserted);
            ids.push(outcome.id);
        }
    }
    let timed = Timed {
        ops: batches.len(),
        wall: started.elapsed(),
        latencies,
        total: inserted,
        cpu: CpuSnapshot::take(postmaster).since(&before),
    };
    ensure!(
        inserted == workload.items.len() as u64,
        "upsert inserted {inserted} of {} items: were the tables empty?",
        workload.items.len()
    );
    let result = PhaseResult::from_timed(&timed, 1, Some(workload.items.len()))
        .check("batch", batch as u64)
        .check("inserted", inserted);
    Ok((ids, result))
}

async fn timed_gets(
    pool: &KbPool,
    targets: &Arc<Vec<i64>>,
    options: RunOptions,
) -> anyhow::Result<PhaseResult> {
    let pool = pool.clone();
    let targets = Arc::clone(targets);
    let count = targets.len();
    let timed = runner::run(count, options, move |index| {
        let pool = pool.clone();
        let id = targets[index];
        async move {
            let item = ItemRepo::new(&pool).get(id).await?;
            Ok(u64::from(item.is_some()))
        }
    })
    .await?;
    found_all(&timed, count, "get")?;
    Ok(PhaseResult::from_timed(&timed, options.concurrency, None).check("found", timed.total))
}

fn found_all(timed: &Timed, expected: usize, phase: &str) -> anyhow::Result<()> {
    if timed.total != expected as u64 {
        bail!(
            "{phase} found {} of {expected}: the results are wrong, so the figures mean nothing",
            timed.total
        );
    }
    Ok(())
}

/// The item row as a plain deadpool-postgres client decodes it: the same columns and types as
/// the repository's, without the contract's model conversion.
#[derive(Debug)]
#[allow(
    dead_code,
    reason = "decoded to cost what the repository's decoding costs, then dropped"
)]
struct BareItem {
    id: i64,
    source: String,
    external_id: String,
    title: Option<String>,
    content: String,
    content_hash: Vec<u8>,
    metadata: serde_json::Value,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl BareItem {
    fn from_row(row: &tokio_postgres::Row) -> BareItem {
        BareItem {
            id: row.get(0),
            source: row.get(1),
            external_id: row.get(2),
            title: row.get(3),
            content: row.get(4),
            content_hash: row.get(5),
            metadata: row.get(6),
            created_at: row.get(7),
            updated_at: row.get(8),
        }
    }
}

/// A bare deadpool-postgres pool on the KB database (prepared statement cache, fast
/// recycling): the reference the repositories' paths are held to.
fn bare_pool(server: &BenchServer, pool_size: usize) -> anyhow::Result<deadpool_postgres::Pool> {
    let config = tokio_postgres::Config::from_str(server.kb_url())
        .context("the database URL is not a valid PostgreSQL connection string")?;
    let manager = deadpool_postgres::Manager::from_config(
        config,
        tokio_postgres::NoTls,
        deadpool_postgres::ManagerConfig {
            recycling_method: deadpool_postgres::RecyclingMethod::Fast,
        },
    );
    Ok(deadpool_postgres::Pool::builder(manager)
        .max_size(pool_size)
        .runtime(deadpool_postgres::Runtime::Tokio1)
        .wait_timeout(Some(Duration::from_secs(5)))
        .build()?)
}

/// get_many's calls on a bare deadpool-postgres pool: the same statement and id lists, every
/// row decoded into the same owned types as the repository's (strings, the metadata as a
/// `serde_json::Value`, timestamps), then dropped. What the client's side of get_many costs
/// without the contract, on the same cores as the server.
async fn get_many_bare_deadpool(
    server: &BenchServer,
    schema: &str,
    workload: &Workload,
    ids: &[i64],
    phase: PhaseOptions,
    options: RunOptions,
) -> anyhow::Result<PhaseResult> {
    let pool = bare_pool(server, phase.pool_size)?;
    let sql: Arc<str> = format!(
        "SELECT id, source, external_id, title, content, content_hash, metadata, created_at, \
         updated_at FROM {schema}.item WHERE id = ANY($1::bigint[])"
    )
    .into();
    let lists = get_many_lists(workload, ids);
    let calls: Arc<Vec<Vec<i64>>> = Arc::new(
        std::iter::repeat_n(lists, phase.get_many_repeat.max(1))
            .flatten()
            .collect(),
    );
    let count = calls.len();
    let lists = Arc::clone(&calls);
    let timed = runner::run(count, options, move |index| {
        let pool = pool.clone();
        let sql = Arc::clone(&sql);
        let lists = Arc::clone(&lists);
        async move {
            let client = pool.get().await?;
            let statement = client.prepare_cached(&sql).await?;
            let rows = client.query(&statement, &[&lists[index]]).await?;
            let items: Vec<BareItem> = rows.iter().map(BareItem::from_row).collect();
            Ok(std::hint::black_box(items).len() as u64)
        }
    })
    .await?;
    let expected: u64 = calls.iter().map(|list| list.len() as u64).sum();
    ensure!(
        timed.total == expected,
        "bare get_many returned {} rows of {expected}: a wrong result, the run is void",
        timed.total
    );
    let seconds = timed.wall.as_secs_f64().max(f64::MIN_POSITIVE);
    Ok(PhaseResult::from_timed(&timed, options.concurrency, None)
        .check("rows", timed.total)
        .check("rows_per_s", (timed.total as f64 / seconds).round()))
}

/// get by id on a bare deadpool-postgres pool (prepared statement cache, one checkout per
/// call): the figure the repository's plain pooled path is held to.
async fn bare_deadpool_gets(
    server: &BenchServer,
    schema: &str,
    targets: &Arc<Vec<i64>>,
    pool_size: usize,
    options: RunOptions,
) -> anyhow::Result<PhaseResult> {
    let pool = bare_pool(server, pool_size)?;
    let sql: Arc<str> = format!(
        "SELECT id, source, external_id, title, content, content_hash, metadata, created_at, \
         updated_at FROM {schema}.item WHERE id = $1"
    )
    .into();
    let targets = Arc::clone(targets);
    let count = targets.len();
    let timed = runner::run(count, options, move |index| {
        let pool = pool.clone();
        let sql = Arc::clone(&sql);
        let id = targets[index];
        async move {
            let client = pool.get().await?;
            let statement = client.prepare_cached(&sql).await?;
            let row = client.query_opt(&statement, &[&id]).await?;
            let item = row.map(|row| BareItem::from_row(&row));
            Ok(u64::from(std::hint::black_box(item).is_some()))
        }
    })
    .await?;
    found_all(&timed, count, "bare deadpool get")?;
    Ok(PhaseResult::from_timed(&timed, options.concurrency, None).check("found", timed.total))
}

async fn get_many(
    pool: &KbPool,
    workload: &Workload,
    ids: &Arc<Vec<i64>>,
    repeat: usize,
    options: RunOptions,
) -> anyhow::Result<PhaseResult> {
    let calls: Arc<Vec<Vec<i64>>> = Arc::new(
        std::iter::repeat_n(&workload.get_many, repeat.max(1))
            .flatten()
            .map(|call| call.iter().map(|&index| ids[index]).collect())
            .collect(),
    );
    let pool = pool.clone();
    let count = calls.len();
    let timed = runner::run(count, options, move |index| {
        let pool = pool.clone();
        let calls = Arc::clone(&calls);
        async move {
            let items = ItemRepo::new(&pool).get_many(&calls[index]).await?;
            // Rows the server sent: distinct ids found (duplicates in a call are answered from
            // one row), as the peer counts them.
            let mut found: Vec<i64> = items.iter().flatten().map(|item| item.id).collect();
            found.sort_unstable();
            found.dedup();
            Ok(found.len() as u64)
        }
    })
    .await?;
    // Every id of every call exists (the upsert phase wrote them): the rows are the distinct ids.
    let expected: u64 = workload
        .get_many
        .iter()
        .map(|call| {
            let mut distinct = call.clone();
            distinct.sort_unstable();
            distinct.dedup();
            distinct.len() as u64
        })
        .sum::<u64>()
        * repeat.max(1) as u64;
    anyhow::ensure!(
        timed.total == expected,
        "get_many returned {} rows where the workload asks for {expected} distinct existing ids: \
         a wrong result, the run is void",
        timed.total
    );
    let seconds = timed.wall.as_secs_f64().max(f64::MIN_POSITIVE);
    Ok(PhaseResult::from_timed(&timed, options.concurrency, None)
        .check("ids_per_call", workload.sizes.get_many_size as u64)
        .check("rows", timed.total)
        .check("rows_per_s", (timed.total as f64 / seconds).round()))
}

async fn search(
    pool: &KbPool,
    workload: &Workload,
    options: RunOptions,
) -> anyhow::Result<PhaseResult> {
    let queries = Arc::new(workload.search.clone());
    // Hits per query (the warm-up's calls write the same figures again).
    let hits: Arc<Vec<AtomicU64>> =
        Arc::new((0..queries.len()).map(|_| AtomicU64::new(0)).collect());
    let pool = pool.clone();
    let count = queries.len();
    let recorded = Arc::clone(&hits);
    let timed = runner::run(count, options, move |index| {
        let pool = pool.clone();
        let queries = Arc::clone(&queries);
        let recorded = Arc::clone(&recorded);
        async move {
            let found = ItemRepo::new(&pool)
                .search(&queries[index], None, 10)
                .await?
                .len() as u64;
            recorded[index].store(found, Ordering::Relaxed);
            Ok(found)
        }
    })
    .await?;
    let empty = hits
        .iter()
        .filter(|found| found.load(Ordering::Relaxed) == 0)
        .count() as u64;
    let mean_hits = timed.total as f64 / count.max(1) as f64;
    let (spec_mean, spec_empty) = workload::SPEC_SEARCH_HITS;
    if workload.sizes == workload::Sizes::default()
        && (crate::report::round(mean_hits, 1) != spec_mean || empty != spec_empty)
    {
        bail!(
            "search found {mean_hits:.2} hits per query with {empty} empty where the specification \
             expects {spec_mean} and {spec_empty}: a wrong result, the run is void"
        );
    }
    Ok(PhaseResult::from_timed(&timed, options.concurrency, None)
        .check("limit", 10u64)
        .check("mean_hits", crate::report::round(mean_hits, 2))
        .check("empty", empty))
}

fn chunk_set(item_id: i64, content: &str) -> NewChunkSet {
    let chunks = workload::chunk(content)
        .into_iter()
        .map(|chunk| NewChunk {
            text: content[chunk.start..chunk.end].to_owned(),
            start_offset: offset(chunk.start),
            end_offset: offset(chunk.end),
            token_count: offset(chunk.token_count),
        })
        .collect();
    NewChunkSet {
        item_id,
        content_hash: Sha256::digest(content.as_bytes()).into(),
        chunks,
    }
}

fn offset(value: usize) -> u32 {
    u32::try_from(value).unwrap_or(u32::MAX)
}

/// Puts each chunk_put item's chunk set (one call per item, replacing its set); returns the
/// sets, by position in the chunk_put list.
async fn chunk_put(
    pool: &KbPool,
    workload: &Workload,
    ids: &Arc<Vec<i64>>,
    options: RunOptions,
) -> anyhow::Result<(Arc<Vec<NewChunkSet>>, PhaseResult)> {
    let sets: Arc<Vec<NewChunkSet>> = Arc::new(
        workload
            .chunk_put
            .iter()
            .map(|&index| chunk_set(ids[index], &workload.items[index].content))
            .collect(),
    );
    let expected: usize = sets.iter().map(|set| set.chunks.len()).sum();
    let pool = pool.clone();
    let puts = Arc::clone(&sets);
    let count = sets.len();
    let no_warmup = RunOptions {
        warmup: 0,
        ..options
    };
    let timed = runner::run(count, no_warmup, move |index| {
        let pool = pool.clone();
        let sets = Arc::clone(&puts);
        async move {
            Ok(ChunkCacheRepo::new(&pool)
                .put(CHUNKER_KEY, std::slice::from_ref(&sets[index]))
                .await?)
        }
    })
    .await?;
    ensure!(
        timed.total == expected as u64,
        "chunk_put wrote {} chunks of {expected}",
        timed.total
    );
    let seconds = timed.wall.as_secs_f64().max(f64::MIN_POSITIVE);
    let result = PhaseResult::from_timed(&timed, options.concurrency, None)
        .check("chunks", timed.total)
        .check("chunks_per_s", (timed.total as f64 / seconds).round());
    Ok((sets, result))
}

async fn chunk_get(
    pool: &KbPool,
    workload: &Workload,
    ids: &Arc<Vec<i64>>,
    sets: &Arc<Vec<NewChunkSet>>,
    repeat: usize,
    options: RunOptions,
) -> anyhow::Result<PhaseResult> {
    let by_item: std::collections::HashMap<i64, [u8; 32]> = sets
        .iter()
        .map(|set| (set.item_id, set.content_hash))
        .collect();
    let gets: Arc<Vec<(i64, [u8; 32])>> = Arc::new(
        std::iter::repeat_n(&workload.chunk_get, repeat.max(1))
            .flatten()
            .map(|&index| (ids[index], by_item[&ids[index]]))
            .collect(),
    );
    let pool = pool.clone();
    let count = gets.len();
    let timed = runner::run(count, options, move |index| {
        let pool = pool.clone();
        let gets = Arc::clone(&gets);
        async move {
            let (item_id, hash) = gets[index];
            let chunks = ChunkCacheRepo::new(&pool)
                .get(item_id, CHUNKER_KEY, &hash)
                .await?;
            Ok(u64::from(chunks.is_some()))
        }
    })
    .await?;
    found_all(&timed, count, "chunk_get")?;
    Ok(PhaseResult::from_timed(&timed, options.concurrency, None).check("hits", timed.total))
}
