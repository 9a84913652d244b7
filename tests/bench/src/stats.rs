//! Latency summaries: nearest-rank percentiles, as the workload specification asks.

use std::time::Duration;

use serde::Serialize;

/// p50, p99, mean and max of a set of latencies, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct LatencySummary {
    /// Median (nearest rank).
    pub p50_ms: f64,
    /// 99th percentile (nearest rank).
    pub p99_ms: f64,
    /// Mean.
    pub mean_ms: f64,
    /// Maximum.
    pub max_ms: f64,
}

impl LatencySummary {
    /// The summary of `latencies` (any order); zeros when empty.
    pub fn of(latencies: &[Duration]) -> LatencySummary {
        if latencies.is_empty() {
            return LatencySummary {
                p50_ms: 0.0,
                p99_ms: 0.0,
                mean_ms: 0.0,
                max_ms: 0.0,
            };
        }
        let mut sorted = latencies.to_vec();
        sorted.sort_unstable();
        let total: Duration = sorted.iter().sum();
        LatencySummary {
            p50_ms: millis(nearest_rank(&sorted, 50.0)),
            p99_ms: millis(nearest_rank(&sorted, 99.0)),
            mean_ms: millis(total) / sorted.len() as f64,
            max_ms: millis(sorted[sorted.len() - 1]),
        }
    }
}

/// The nearest-rank percentile `p` (0 < p ≤ 100) of sorted, non-empty values: the value at
/// rank `ceil(p/100 × n)`.
pub fn nearest_rank(sorted: &[Duration], p: f64) -> Duration {
    let n = sorted.len();
    let rank = ((p / 100.0) * n as f64).ceil() as usize;
    sorted[rank.clamp(1, n) - 1]
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|&v| Duration::from_millis(v)).collect()
    }

    #[test]
    fn nearest_rank_takes_the_value_at_the_rounded_up_rank() {
        let sorted = ms(&(1..=100).collect::<Vec<_>>());
        assert_eq!(nearest_rank(&sorted, 50.0), Duration::from_millis(50));
        assert_eq!(nearest_rank(&sorted, 99.0), Duration::from_millis(99));
        let sorted = ms(&[10, 20, 30]);
        assert_eq!(nearest_rank(&sorted, 50.0), Duration::from_millis(20));
        assert_eq!(nearest_rank(&sorted, 99.0), Duration::from_millis(30));
        assert_eq!(nearest_rank(&ms(&[7]), 99.0), Duration::from_millis(7));
    }

    #[test]
    fn summary_ignores_input_order() {
        let summary = LatencySummary::of(&ms(&[40, 10, 30, 20]));
        assert_eq!(summary.p50_ms, 20.0);
        assert_eq!(summary.p99_ms, 40.0);
        assert_eq!(summary.mean_ms, 25.0);
        assert_eq!(summary.max_ms, 40.0);
    }
}
