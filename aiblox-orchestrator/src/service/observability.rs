//! Logs, request ids and Prometheus metrics.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tracing_subscriber::EnvFilter;

use crate::service::config::{LogFormat, LogSettings};

/// Installs the global `tracing` subscriber: human or JSON lines on stderr, filtered by the
/// configured level (`RUST_LOG` overrides it). Calling it twice is harmless.
pub fn init_tracing(settings: &LogSettings) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.level));
    let colors = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colors);
    let _ = match settings.format {
        LogFormat::Human => builder.try_init(),
        LogFormat::Json => builder.json().with_current_span(true).try_init(),
    };
}

/// Labels of an HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct RequestLabels {
    /// HTTP method.
    pub method: String,
    /// Matched route (`/v1/query`), not the raw path, to bound cardinality.
    pub route: String,
    /// Response status.
    pub status: u16,
}

/// Labels of a pipeline stage.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StageLabels {
    /// `retrieve` (both legs, embedding included), `embed` (the question), `dense_search`
    /// (the in-memory cosine scan), `chunk`, `score`.
    pub stage: String,
}

/// The service's metrics.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Histogram>,
    stages: Family<StageLabels, Histogram>,
    /// Chunk cache hits and misses ([`CACHE_COUNTERS`]).
    cache: [Counter; 2],
    /// The pool's connections ([`POOL_GAUGES`]).
    pool: [Gauge; 4],
    /// What the passage store keeps ([`PASSAGE_STORE_GAUGES`]).
    passage_store: [Gauge; 2],
    /// The dense leg's figures, by name (registered only with a model).
    dense: Vec<(&'static str, Gauge)>,
    /// Requests with a valid API key, by key name and outcome (`admitted`, `rate_limited`).
    key_requests: Family<KeyLabels, Counter>,
    /// Requests to `/v1/*` without a valid API key.
    unauthorized: Counter,
    /// MCP tool calls, by tool and outcome (`ok`, `error`).
    mcp_calls: Family<McpLabels, Counter>,
    /// Each read replica's state, by `replica` (`host:port`): serving (0/1), replay lag in
    /// milliseconds (-1: unknown), reads served, times passed over.
    replica_gauges: [(&'static str, Family<ReplicaLabels, Gauge>); 4],
    /// Reads meant for a replica that the primary served.
    replica_reads_on_primary: Gauge,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReplicaLabels {
    replica: String,
}

/// The chunk cache's counters, hits then misses: name and help.
const CACHE_COUNTERS: [(&str, &str); 2] = [
    (
        "chunk_cache_hits",
        "Candidate items whose chunks came from the cache",
    ),
    (
        "chunk_cache_misses",
        "Candidate items chunked because the cache had no valid set",
    ),
];

/// The pool's gauges (open, idle, waiting requests, most): name and help.
const POOL_GAUGES: [(&str, &str); 4] = [
    ("pool_connections", "Open database connections"),
    ("pool_idle_connections", "Idle database connections"),
    (
        "pool_waiting_requests",
        "Requests waiting for a database connection",
    ),
    ("pool_max_connections", "Most database connections"),
];

/// The passage store's gauges (chunk sets, text bytes): name and help. The names say "chunk
/// store", as before the store was named apart from the chunk cache: dashboards read them.
const PASSAGE_STORE_GAUGES: [(&str, &str); 2] = [
    (
        "chunk_store_sets",
        "Chunk sets whose term statistics are kept in memory",
    ),
    (
        "chunk_store_text_bytes",
        "Bytes of chunk text kept in memory, with the stems of its words",
    ),
];

/// The read replicas' gauges: name and help.
const REPLICA_GAUGES: [(&str, &str); 4] = [
    (
        "replica_serving",
        "Whether the read replica serves reads now (1) or is passed over (0)",
    ),
    (
        "replica_lag_ms",
        "Replay lag of the read replica at its last probe, in milliseconds (-1: unknown)",
    ),
    ("replica_reads", "Reads the read replica served"),
    (
        "replica_skipped",
        "Times the read replica was passed over (past the lag bound, or unreachable)",
    ),
];

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct McpLabels {
    tool: String,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyLabels {
    key: String,
    outcome: &'static str,
}

/// The dense leg's figures as of now (with an embedding model).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DenseReport {
    pub(crate) items: u64,
    pub(crate) indexed: u64,
    pub(crate) items_embedded: u64,
    pub(crate) chunks_embedded: u64,
    pub(crate) embedding_seconds: f64,
    pub(crate) vectors: usize,
    pub(crate) vector_bytes: usize,
    pub(crate) question_batches: u64,
    pub(crate) questions: u64,
}

/// The dense leg's gauges: name and help.
const DENSE_GAUGES: [(&str, &str); 9] = [
    (
        "index_items",
        "Items in the knowledge base (the embedding backfill's last count)",
    ),
    (
        "index_indexed_items",
        "Items whose current content has vectors for the service's chunker and model",
    ),
    (
        "index_embedded_items",
        "Items this replica embedded since it started",
    ),
    (
        "index_embedded_chunks",
        "Chunks this replica embedded since it started",
    ),
    (
        "index_embedding_seconds",
        "Seconds this replica spent embedding chunks since it started",
    ),
    ("dense_vectors", "Chunk vectors held in memory"),
    (
        "dense_vector_bytes",
        "Bytes of the chunk vectors held in memory",
    ),
    (
        "question_batches",
        "Batches of questions embedded since start",
    ),
    ("questions_embedded", "Questions embedded since start"),
];

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 8 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

/// Latency histograms by label set.
fn latency_family<L: Clone + std::hash::Hash + Eq>() -> Family<L, Histogram> {
    Family::new_with_constructor(latency_histogram as fn() -> Histogram)
}

/// Registers `metric` under `name` with its `help`, and returns it (metrics are shared
/// handles: the registry and the service hold the same one).
fn registered<M>(registry: &mut Registry, name: &str, help: &str, metric: M) -> M
where
    M: prometheus_client::registry::Metric + Clone,
{
    registry.register(name, help, metric.clone());
    metric
}

impl Default for Metrics {
    /// Every metric, registered where it is made: its name and help are written once, here.
    fn default() -> Self {
        let mut registry = Registry::with_prefix("aiblox");
        let r = &mut registry;
        Metrics {
            requests: registered(
                r,
                "http_request_duration_seconds",
                "Latency of HTTP requests",
                latency_family(),
            ),
            stages: registered(
                r,
                "stage_duration_seconds",
                "Latency of the query pipeline's stages",
                latency_family(),
            ),
            key_requests: registered(
                r,
                "api_key_requests",
                "Requests to /v1/* with a valid API key, by key name and outcome (admitted, rate_limited)",
                Family::default(),
            ),
            unauthorized: registered(
                r,
                "api_unauthorized_requests",
                "Requests to /v1/* without a valid API key (401)",
                Counter::default(),
            ),
            mcp_calls: registered(
                r,
                "mcp_tool_calls",
                "MCP tool calls (over /mcp and stdio), by tool and outcome (ok, error: a tool result with isError)",
                Family::default(),
            ),
            cache: CACHE_COUNTERS.map(|(name, help)| registered(r, name, help, Counter::default())),
            pool: POOL_GAUGES.map(|(name, help)| registered(r, name, help, Gauge::default())),
            replica_gauges: REPLICA_GAUGES
                .map(|(name, help)| (name, registered(r, name, help, Family::default()))),
            replica_reads_on_primary: registered(
                r,
                "replica_reads_on_primary",
                "Reads meant for a read replica that the primary served (no replica within the lag bound)",
                Gauge::default(),
            ),
            passage_store: PASSAGE_STORE_GAUGES
                .map(|(name, help)| registered(r, name, help, Gauge::default())),
            dense: Vec::new(),
            registry,
        }
    }
}

impl Metrics {
    /// Records a finished HTTP request.
    /// Counts a request of the key `name`: `admitted` or `rate_limited`.
    pub(crate) fn count_key_request(&self, name: &str, outcome: &'static str) {
        self.key_requests
            .get_or_create(&KeyLabels {
                key: name.to_owned(),
                outcome,
            })
            .inc();
    }

    /// Counts an MCP tool call of `tool` (a known tool's name, else `unknown`): `ok` or `error`.
    pub(crate) fn count_mcp_call(&self, tool: &str, outcome: &'static str) {
        self.mcp_calls
            .get_or_create(&McpLabels {
                tool: tool.to_owned(),
                outcome,
            })
            .inc();
    }

    /// Counts a request turned away for want of a valid key.
    pub(crate) fn count_unauthorized(&self) {
        self.unauthorized.inc();
    }

    pub(crate) fn observe_request(
        &self,
        method: &str,
        route: &str,
        status: u16,
        elapsed: Duration,
    ) {
        let labels = RequestLabels {
            method: method.to_owned(),
            route: route.to_owned(),
            status,
        };
        self.requests
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// Records a pipeline stage.
    pub(crate) fn observe_stage(&self, stage: &str, elapsed: Duration) {
        self.stages
            .get_or_create(&StageLabels {
                stage: stage.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Counts chunk-cache hits and misses of one query.
    pub(crate) fn count_cache(&self, hits: usize, misses: usize) {
        self.cache[0].inc_by(hits as u64);
        self.cache[1].inc_by(misses as u64);
    }

    /// Metrics with the dense leg's gauges registered too (a service with a model).
    pub(crate) fn with_dense_gauges(mut self) -> Self {
        for (name, help) in DENSE_GAUGES {
            let gauge = registered(&mut self.registry, name, help, Gauge::default());
            self.dense.push((name, gauge));
        }
        self
    }

    /// The Prometheus text exposition, with pool, passage store and dense leg gauges as of now.
    pub(crate) fn render(
        &self,
        pool: &aiblox_kb::KbPool,
        passage_store: (usize, usize),
        dense: Option<DenseReport>,
    ) -> String {
        if let Some(report) = dense {
            let values = [
                report.items as f64,
                report.indexed as f64,
                report.items_embedded as f64,
                report.chunks_embedded as f64,
                report.embedding_seconds,
                report.vectors as f64,
                report.vector_bytes as f64,
                report.question_batches as f64,
                report.questions as f64,
            ];
            for ((_, gauge), value) in self.dense.iter().zip(values) {
                gauge.set(value as i64);
            }
        }
        let status = pool.status();
        let as_gauge = |value: usize| i64::try_from(value).unwrap_or(i64::MAX);
        let kept = [passage_store.0, passage_store.1];
        for (gauge, value) in self.passage_store.iter().zip(kept) {
            gauge.set(as_gauge(value));
        }
        let connections = [
            status.size,
            status.available,
            status.waiting,
            status.max_size,
        ];
        for (gauge, value) in self.pool.iter().zip(connections) {
            gauge.set(as_gauge(value));
        }
        for replica in pool.replicas() {
            let labels = ReplicaLabels {
                replica: replica.target.clone(),
            };
            let values = [
                i64::from(replica.serving),
                replica
                    .lag_ms
                    .map_or(-1, |lag| i64::try_from(lag).unwrap_or(i64::MAX)),
                i64::try_from(replica.reads).unwrap_or(i64::MAX),
                i64::try_from(replica.skipped).unwrap_or(i64::MAX),
            ];
            for ((_, family), value) in self.replica_gauges.iter().zip(values) {
                family.get_or_create(&labels).set(value);
            }
        }
        self.replica_reads_on_primary
            .set(i64::try_from(pool.replica_reads_on_primary()).unwrap_or(i64::MAX));
        let mut text = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

/// A request id from the client's `x-request-id` when it is sane (1 to 128 visible ASCII
/// characters of `[A-Za-z0-9._:-]`), else a new one.
pub(crate) fn request_id(incoming: Option<&str>) -> String {
    match incoming {
        Some(id)
            if (1..=128).contains(&id.len())
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b)) =>
        {
            id.to_owned()
        }
        _ => new_request_id(),
    }
}

fn new_request_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mixed =
        (nanos ^ u64::from(std::process::id()).rotate_left(32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    format!("{mixed:016x}-{:x}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_kept_when_sane_and_made_otherwise() {
        assert_eq!(request_id(Some("abc-123")), "abc-123");
        for bad in [
            None,
            Some(""),
            Some("has space"),
            Some("line\nbreak"),
            Some(&*"x".repeat(129)),
        ] {
            let id = request_id(bad);
            assert!(
                id.len() > 16 && id != bad.unwrap_or_default(),
                "{bad:?} -> {id}"
            );
        }
        assert_ne!(request_id(None), request_id(None));
    }
}
