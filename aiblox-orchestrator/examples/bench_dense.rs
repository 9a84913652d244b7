//! The dense leg's index alone with generated vectors: `cargo run --release -p
//! aiblox-orchestrator --example bench_dense -- --vectors 1000000` (what `cargo xtask
//! bench-scale --dense` runs). Prints one JSON report per size.

use aiblox_orchestrator::bench::{DenseBenchOptions, dense};
use clap::Parser;

/// Measures the dense index: build, memory, CPU per question, latency, recall.
#[derive(Debug, Parser)]
struct Args {
    /// Passages (vectors) held; several sizes separated by commas.
    #[arg(long, value_delimiter = ',', default_value = "100000")]
    vectors: Vec<usize>,
    /// Chunks per item.
    #[arg(long, default_value_t = 20)]
    chunks_per_item: usize,
    /// Dimensions per vector.
    #[arg(long, default_value_t = 384)]
    dimensions: usize,
    /// Topics the generated vectors gather around (default: one per 50 items, so that a
    /// question's nearest items share its topic, as in a real corpus).
    #[arg(long)]
    clusters: Option<usize>,
    /// Questions asked.
    #[arg(long, default_value_t = 2_000)]
    questions: usize,
    /// Concurrent askers.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Items per question.
    #[arg(long, default_value_t = 50)]
    limit: usize,
    /// Questions compared with the exact scan.
    #[arg(long, default_value_t = 50)]
    recall_questions: usize,
    /// Use the graph from this many vectors (default: the service's).
    #[arg(long)]
    graph_from: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    for &vectors in &args.vectors {
        let report = dense(&DenseBenchOptions {
            vectors,
            chunks_per_item: args.chunks_per_item,
            dimensions: args.dimensions,
            clusters: args
                .clusters
                .unwrap_or((vectors / args.chunks_per_item.max(1) / 50).max(1)),
            questions: args.questions,
            concurrency: args.concurrency,
            limit: args.limit,
            recall_questions: args.recall_questions,
            graph_from: args.graph_from,
        });
        println!("{}", serde_json::to_string(&report)?);
    }
    Ok(())
}
