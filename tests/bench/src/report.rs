//! The result of a benchmark run: one record per phase, ratios against pgbench, printed as a
//! table for people and as JSON for tools (and for side-by-side comparison with the peer).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::runner::Timed;
use crate::stats::LatencySummary;

/// One measured phase.
#[derive(Debug, Clone, Serialize)]
pub struct PhaseResult {
    /// Operations timed (rows for upsert).
    pub ops: usize,
    /// Wall time, seconds.
    pub wall_s: f64,
    /// Operations (rows for upsert) per second.
    pub ops_per_s: f64,
    /// Latency of each call (each batch for upsert).
    #[serde(flatten)]
    pub latency: LatencySummary,
    /// Concurrent callers.
    pub concurrency: usize,
    /// CPU seconds of the benchmark process.
    pub client_cpu_s: f64,
    /// CPU seconds of the PostgreSQL server (when it runs here).
    pub server_cpu_s: Option<f64>,
    /// Busy CPU seconds of the whole machine.
    pub machine_busy_cpu_s: f64,
    /// Busy time that was neither client nor server.
    pub other_cpu_s: Option<f64>,
    /// Checks of the results (rows found, hits...).
    #[serde(flatten)]
    pub checks: BTreeMap<String, serde_json::Value>,
}

impl PhaseResult {
    /// The record of a timed run; `ops` overrides the operation count (rows for upsert).
    pub fn from_timed(timed: &Timed, concurrency: usize, ops: Option<usize>) -> PhaseResult {
        let ops = ops.unwrap_or(timed.ops);
        PhaseResult {
            ops,
            wall_s: round(timed.wall.as_secs_f64(), 3),
            ops_per_s: round(
                ops as f64 / timed.wall.as_secs_f64().max(f64::MIN_POSITIVE),
                1,
            ),
            latency: LatencySummary::of(&timed.latencies).rounded(),
            concurrency,
            client_cpu_s: round(timed.cpu.client, 2),
            server_cpu_s: timed.cpu.server.map(|value| round(value, 2)),
            machine_busy_cpu_s: round(timed.cpu.machine_busy, 2),
            other_cpu_s: timed.cpu.other().map(|value| round(value, 2)),
            checks: BTreeMap::new(),
        }
    }

    /// Adds a check figure.
    pub fn check(mut self, name: &str, value: impl Into<serde_json::Value>) -> PhaseResult {
        self.checks.insert(name.to_owned(), value.into());
        self
    }
}

impl LatencySummary {
    fn rounded(self) -> LatencySummary {
        LatencySummary {
            p50_ms: round(self.p50_ms, 3),
            p99_ms: round(self.p99_ms, 3),
            mean_ms: round(self.mean_ms, 3),
            max_ms: round(self.max_ms, 3),
        }
    }
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// What was measured.
    #[serde(rename = "impl")]
    pub implementation: String,
    /// When the run started (UTC, RFC 3339).
    pub started_at: String,
    /// The machine and software.
    pub env: BTreeMap<String, serde_json::Value>,
    /// The data set and its fingerprints.
    pub dataset: BTreeMap<String, serde_json::Value>,
    /// Run parameters.
    pub params: BTreeMap<String, serde_json::Value>,
    /// Phases in the order they ran.
    pub phases: Vec<(String, PhaseResult)>,
    /// `pgbench -S -M prepared` on the same cluster, transactions per second.
    pub pgbench_select_only_tps: Option<f64>,
    /// Each phase's ceiling by phase name: calls per second of pgbench running the
    /// contract's own statement with the same arguments (`ceiling`).
    pub ceilings: BTreeMap<String, f64>,
    /// Server CPU milliseconds per call of each ceiling, when the server is ours.
    pub ceiling_server_cpu_ms_per_call: BTreeMap<String, f64>,
    /// Ratios worth a glance: get ÷ pgbench, each phase ÷ its ceiling, and so on.
    pub ratios: BTreeMap<String, f64>,
}

impl Report {
    /// The phase called `name`.
    pub fn phase(&self, name: &str) -> Option<&PhaseResult> {
        self.phases
            .iter()
            .find(|(phase, _)| phase == name)
            .map(|(_, result)| result)
    }

    /// The report as JSON, phases as an object in run order.
    pub fn to_json(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).unwrap_or_default();
        let phases: serde_json::Map<String, serde_json::Value> = self
            .phases
            .iter()
            .map(|(name, result)| {
                (
                    name.clone(),
                    serde_json::to_value(result).unwrap_or_default(),
                )
            })
            .collect();
        value["phases"] = serde_json::Value::Object(phases);
        value
    }

    /// A table: one line per phase, then the ratios.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<22} {:>8} {:>11} {:>9} {:>9} {:>4} {:>8} {:>8} {:>8}  checks",
            "phase", "ops", "ops/s", "p50 ms", "p99 ms", "c", "client s", "server s", "other s"
        );
        for (name, phase) in &self.phases {
            let checks = phase
                .checks
                .iter()
                .map(|(name, value)| format!("{name}={value}"))
                .collect::<Vec<_>>()
                .join(" ");
            let _ = writeln!(
                out,
                "{:<22} {:>8} {:>11.1} {:>9.3} {:>9.3} {:>4} {:>8.2} {:>8} {:>8}  {}",
                name,
                phase.ops,
                phase.ops_per_s,
                phase.latency.p50_ms,
                phase.latency.p99_ms,
                phase.concurrency,
                phase.client_cpu_s,
                optional(phase.server_cpu_s),
                optional(phase.other_cpu_s),
                checks
            );
        }
        if let Some(tps) = self.pgbench_select_only_tps {
            let _ = writeln!(out, "pgbench -S -M prepared: {tps:.1} tps");
        }
        for (phase, calls) in &self.ceilings {
            let _ = writeln!(
                out,
                "ceiling of {phase} (pgbench, the contract's statement): {calls:.1} calls/s"
            );
        }
        for (name, ratio) in &self.ratios {
            let _ = writeln!(out, "{name}: {ratio:.3}");
        }
        out
    }
}

fn optional(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |value| format!("{value:.2}"))
}

/// `value` rounded to `digits` decimals.
pub fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}
