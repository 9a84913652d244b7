//! The dense leg's index measured alone, with generated vectors (embedding millions of
//! passages would take days on a small machine): build time, memory, CPU per question and
//! latency under concurrent questions, and recall against the exact scan, unnarrowed and under
//! a narrowing that keeps 1 % of the items. Run by the `bench_dense` example
//! (`cargo xtask bench-scale --dense`).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use aiblox_kb::{ItemSet, StoredVector};
use serde::Serialize;

use super::hnsw::splitmix64;
use super::narrowing::Narrowing;
use super::vectors::{ChunkVectors, GRAPH_FROM};
use crate::service::config::Precision;

/// What to measure.
#[derive(Debug, Clone)]
pub struct DenseBenchOptions {
    /// Passages (vectors) held.
    pub vectors: usize,
    /// Chunks per item.
    pub chunks_per_item: usize,
    /// Dimensions of each vector (all-MiniLM-L6-v2's: 384).
    pub dimensions: usize,
    /// Topics the vectors gather around.
    pub clusters: usize,
    /// Questions asked, round robin, by the concurrent askers.
    pub questions: usize,
    /// Concurrent askers (threads).
    pub concurrency: usize,
    /// Items asked for per question (the dense leg's candidates).
    pub limit: usize,
    /// Questions whose answers are compared with the exact scan's.
    pub recall_questions: usize,
    /// Search through the graph from this many vectors (the service's default otherwise).
    pub graph_from: Option<usize>,
}

/// What was measured.
#[derive(Debug, Clone, Serialize)]
pub struct DenseBenchReport {
    pub vectors: usize,
    pub items: usize,
    pub dimensions: usize,
    /// Whether questions went through the graph (else the exact scan).
    pub graph: bool,
    /// Seconds to take the vectors in, and to link them into the graph.
    pub load_seconds: f64,
    pub link_seconds: f64,
    /// Bytes the store and graph say they take, and the process's resident memory.
    pub held_bytes: usize,
    pub resident_bytes: usize,
    pub concurrency: usize,
    pub questions: usize,
    pub questions_per_second: f64,
    /// Process CPU per question (all threads), microseconds.
    pub cpu_us_per_question: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Share of the exact scan's top `limit` items found, unnarrowed and within 1 % of the items.
    pub recall: f64,
    pub recall_narrowed: f64,
    pub limit: usize,
}

/// Unit vectors near `clusters` random centres (the same centres whatever `seed`; `seed`
/// draws the vectors around them), deterministic: runs of `run` vectors share a centre, as an
/// item's passages share its topic.
fn generated(
    count: usize,
    d: usize,
    clusters: usize,
    run: usize,
    seed: u64,
) -> impl Iterator<Item = Vec<f32>> {
    let splitmix = |mut state: u64| {
        move || (splitmix64(&mut state) >> 11) as f32 / (1u64 << 53) as f32 * 2.0 - 1.0
    };
    let mut centre_draw = splitmix(1);
    let centres: Vec<Vec<f32>> = (0..clusters)
        .map(|_| (0..d).map(|_| centre_draw()).collect())
        .collect();
    let mut next = splitmix(seed.wrapping_mul(0xD1B5_4A32_D192_ED03));
    let mut centre = 0;
    (0..count).map(move |n| {
        if n % run.max(1) == 0 {
            centre = ((next() + 1.0) / 2.0 * clusters as f32) as usize % clusters;
        }
        let v: Vec<f32> = centres[centre].iter().map(|c| c + 0.8 * next()).collect();
        let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.into_iter().map(|x| x / norm).collect()
    })
}

/// Runs the measurement.
pub fn run(options: &DenseBenchOptions) -> DenseBenchReport {
    let d = options.dimensions;
    let chunks = options.chunks_per_item.max(1);
    let store = Arc::new(ChunkVectors::with_graph_from(
        d,
        Precision::Int8,
        options.graph_from.unwrap_or(GRAPH_FROM),
    ));
    let loading = Instant::now();
    let mut batch = Vec::with_capacity(50_000);
    for (n, vector) in generated(options.vectors, d, options.clusters, chunks, 1).enumerate() {
        batch.push(StoredVector {
            item_id: (n / chunks) as i64 + 1,
            source: "bench".to_owned(),
            chunk_index: (n % chunks) as u32,
            chunk_count: chunks as u32,
            content_hash: [1; 32],
            vector,
        });
        if batch.len() == batch.capacity() {
            store.apply(&batch);
            batch.clear();
        }
    }
    store.apply(&batch);
    let load_seconds = loading.elapsed().as_secs_f64();
    let linking = Instant::now();
    while !store.link_pending() {}
    let link_seconds = linking.elapsed().as_secs_f64();
    let items = options.vectors.div_ceil(chunks);
    let questions: Vec<Vec<f32>> =
        generated(options.questions.max(1), d, options.clusters, 1, 99).collect();
    let (recall, recall_narrowed) = recall(&store, &questions, options, items);
    let (elapsed, cpu, mut latencies) = ask(&store, &questions, options);
    latencies.sort_by(f64::total_cmp);
    let at = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    DenseBenchReport {
        vectors: options.vectors,
        items,
        dimensions: d,
        graph: store.has_graph(),
        load_seconds,
        link_seconds,
        held_bytes: store.sizes().1,
        resident_bytes: resident_bytes(),
        concurrency: options.concurrency,
        questions: latencies.len(),
        questions_per_second: latencies.len() as f64 / elapsed,
        cpu_us_per_question: cpu * 1e6 / latencies.len() as f64,
        p50_ms: at(0.50) * 1e3,
        p99_ms: at(0.99) * 1e3,
        recall,
        recall_narrowed,
        limit: options.limit,
    }
}

/// Share of the exact scan's items found, unnarrowed and within 1 % of the items.
fn recall(
    store: &ChunkVectors,
    questions: &[Vec<f32>],
    options: &DenseBenchOptions,
    items: usize,
) -> (f64, f64) {
    let few = ItemSet::new((1..=items as i64).step_by(100).collect());
    let mut found = [0usize; 2];
    let mut asked = [0usize; 2];
    for question in questions.iter().take(options.recall_questions) {
        for (case, narrowing) in [Narrowing::default(), Narrowing::new(None, Some(&few))]
            .into_iter()
            .enumerate()
        {
            let truth: HashSet<i64> = store
                .search_exact(question, narrowing, options.limit)
                .iter()
                .map(|hit| hit.item_id)
                .collect();
            let hits = store.search(question, narrowing, options.limit);
            found[case] += hits
                .iter()
                .filter(|hit| truth.contains(&hit.item_id))
                .count();
            asked[case] += truth.len();
        }
    }
    let share = |case: usize| found[case] as f64 / asked[case].max(1) as f64;
    (share(0), share(1))
}

/// The questions asked by `concurrency` threads: wall seconds, process CPU seconds, and each
/// question's seconds.
fn ask(
    store: &Arc<ChunkVectors>,
    questions: &[Vec<f32>],
    options: &DenseBenchOptions,
) -> (f64, f64, Vec<f64>) {
    let questions = Arc::new(questions.to_vec());
    let cpu_before = process_cpu_seconds();
    let started = Instant::now();
    let threads: Vec<_> = (0..options.concurrency.max(1))
        .map(|thread| {
            let (store, questions, limit, step) = (
                Arc::clone(store),
                Arc::clone(&questions),
                options.limit,
                options.concurrency.max(1),
            );
            std::thread::spawn(move || {
                let mut latencies = Vec::new();
                for question in questions.iter().skip(thread).step_by(step) {
                    let asked = Instant::now();
                    std::hint::black_box(store.search(question, Narrowing::default(), limit));
                    latencies.push(asked.elapsed().as_secs_f64());
                }
                latencies
            })
        })
        .collect();
    let latencies = threads
        .into_iter()
        .flat_map(|thread| thread.join().expect("an asker panicked"))
        .collect();
    (
        started.elapsed().as_secs_f64(),
        process_cpu_seconds() - cpu_before,
        latencies,
    )
}

/// User and system CPU seconds of this process (Linux; 0 elsewhere).
fn process_cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| {
        f.iter().filter_map(|v| v.parse::<f64>().ok()).sum()
    });
    ticks / 100.0
}

/// Resident memory of this process (Linux; 0 elsewhere).
fn resident_bytes() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
            let kib: usize = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kib * 1024)
        })
        .unwrap_or(0)
}
