//! How fast the embedder runs on this machine: the development set's questions one at a time
//! and in batches, and passages of about 1,000 characters (this repository's docs).
//!
//! `cargo run --release -p aiblox-embed --example throughput [MODEL_DIR]` (default: the model
//! cache, fetched if missing). Prints one line per measurement.

use std::path::PathBuf;
use std::time::Instant;

use aiblox_embed::Embedder;
use aiblox_embed::fetch::{ALL_MINILM_L6_V2, default_cache_dir, fetch_model};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = match std::env::args_os().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => fetch_model(&ALL_MINILM_L6_V2, &default_cache_dir())?,
    };
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let started = Instant::now();
    let embedder = Embedder::load(&dir)?;
    println!(
        "load: {:.2} s ({})",
        started.elapsed().as_secs_f64(),
        embedder.key()
    );

    let questions: Vec<String> =
        std::fs::read_to_string(root.join("docs/retrieval/pgdocs-dev.jsonl"))?
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter_map(|value| value["q"].as_str().map(str::to_owned))
            .collect();
    let questions: Vec<&str> = questions.iter().map(String::as_str).collect();
    embedder.embed(&questions[..4])?; // warm-up
    let rounds = 4;
    let started = Instant::now();
    for _ in 0..rounds {
        for question in &questions {
            embedder.embed(&[question])?;
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    let count = (rounds * questions.len()) as f64;
    println!(
        "questions one at a time: {:.1} per s ({:.2} ms each, {} questions x {rounds})",
        count / seconds,
        seconds * 1000.0 / count,
        questions.len()
    );
    for batch in [8, 32] {
        let started = Instant::now();
        for _ in 0..rounds {
            for group in questions.chunks(batch) {
                embedder.embed(group)?;
            }
        }
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "questions in batches of {batch}: {:.1} per s ({:.2} ms each)",
            count / seconds,
            seconds * 1000.0 / count
        );
    }

    // Concurrent callers (a service's requests) through the batching queue, with one worker
    // (products split over the cores) and with a worker per core (each on one core).
    let embedder = std::sync::Arc::new(embedder);
    let runtime = tokio::runtime::Builder::new_current_thread().build()?;
    for (workers, max_batch) in [(1, 32), (2, 32), (2, 8), (3, 32), (3, 8), (4, 8)] {
        let batching = aiblox_embed::BatchingEmbedder::start(
            std::sync::Arc::clone(&embedder),
            max_batch,
            workers,
        )?;
        let callers = 32;
        let per_caller = 2 * questions.len();
        let started = Instant::now();
        runtime.block_on(async {
            let tasks = (0..callers).map(|caller| {
                let batching = batching.clone();
                let questions = &questions;
                async move {
                    for n in 0..per_caller {
                        let question = questions[(caller + n) % questions.len()];
                        batching.embed(question).await?;
                    }
                    Ok::<(), aiblox_embed::EmbedError>(())
                }
            });
            futures::future::try_join_all(tasks).await
        })?;
        let seconds = started.elapsed().as_secs_f64();
        let stats = batching.stats();
        println!(
            "questions from {callers} concurrent callers, {workers} worker(s), batches of at most {max_batch}: {:.1} per s (mean batch {:.1})",
            (callers * per_caller) as f64 / seconds,
            stats.texts as f64 / stats.batches.max(1) as f64
        );
    }

    let mut passages = Vec::new();
    for entry in std::fs::read_dir(root.join("docs"))? {
        let path = entry?.path();
        if path.extension().is_some_and(|ext| ext == "md") {
            let text = std::fs::read_to_string(&path)?;
            let mut rest = text.as_str();
            while rest.len() > 200 {
                let mut end = rest.len().min(1_000);
                while !rest.is_char_boundary(end) {
                    end -= 1;
                }
                passages.push(rest[..end].to_owned());
                rest = &rest[end..];
            }
        }
    }
    let passages: Vec<&str> = passages.iter().map(String::as_str).take(256).collect();
    let started = Instant::now();
    for group in passages.chunks(16) {
        embedder.embed(group)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "passages of ~1,000 characters in batches of 16: {:.1} per s ({:.1} ms each, {} passages)",
        passages.len() as f64 / seconds,
        seconds * 1000.0 / passages.len() as f64,
        passages.len()
    );
    Ok(())
}
