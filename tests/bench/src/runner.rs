//! Runs a list of operations with a fixed number of concurrent callers pulling from one shared
//! list, timing each call as its caller sees it, and measures the CPU the run cost.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;

use crate::cpu::{CpuSnapshot, CpuSpent};

/// What a timed run measured.
#[derive(Debug, Clone)]
pub struct Timed {
    /// Operations timed.
    pub ops: usize,
    /// Wall time of the timed run.
    pub wall: Duration,
    /// Each operation's latency, in no particular order.
    pub latencies: Vec<Duration>,
    /// Sum of what the operations returned (rows found, hits...).
    pub total: u64,
    /// CPU spent during the timed run.
    pub cpu: CpuSpent,
}

/// How to run a phase.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    /// Concurrent callers.
    pub concurrency: usize,
    /// The first this many operations run once, untimed, before the timed run of all of them.
    pub warmup: usize,
    /// The server's postmaster, when it runs here (for its CPU time).
    pub postmaster: Option<u32>,
}

/// Runs `operation(0..count)` with `options.concurrency` callers: first the warm-up, then
/// every operation, timed. An operation returns a count that is summed (rows, hits...).
pub async fn run<F, Fut>(count: usize, options: RunOptions, operation: F) -> anyhow::Result<Timed>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<u64>> + Send + 'static,
{
    let operation = Arc::new(operation);
    let warmup = options.warmup.min(count);
    if warmup > 0 {
        run_callers(warmup, options.concurrency, Arc::clone(&operation))
            .await
            .context("during the warm-up")?;
    }
    let before = CpuSnapshot::take(options.postmaster);
    let started = Instant::now();
    let (latencies, total) = run_callers(count, options.concurrency, operation).await?;
    let wall = started.elapsed();
    let cpu = CpuSnapshot::take(options.postmaster).since(&before);
    Ok(Timed {
        ops: count,
        wall,
        latencies,
        total,
        cpu,
    })
}

async fn run_callers<F, Fut>(
    count: usize,
    concurrency: usize,
    operation: Arc<F>,
) -> anyhow::Result<(Vec<Duration>, u64)>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<u64>> + Send + 'static,
{
    let next = Arc::new(AtomicUsize::new(0));
    let mut callers = Vec::with_capacity(concurrency);
    for _ in 0..concurrency.max(1) {
        let next = Arc::clone(&next);
        let operation = Arc::clone(&operation);
        callers.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(count / concurrency.max(1) + 1);
            let mut total = 0u64;
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= count {
                    break;
                }
                let started = Instant::now();
                let found = operation(index)
                    .await
                    .with_context(|| format!("operation {index} failed"))?;
                latencies.push(started.elapsed());
                total += found;
            }
            anyhow::Ok((latencies, total))
        }));
    }
    let mut latencies = Vec::with_capacity(count);
    let mut total = 0;
    for caller in callers {
        let (caller_latencies, caller_total) = caller.await.context("a caller panicked")??;
        latencies.extend(caller_latencies);
        total += caller_total;
    }
    Ok((latencies, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_operation_runs_once_timed_after_the_warmup() {
        let calls = Arc::new((0..100).map(|_| AtomicUsize::new(0)).collect::<Vec<_>>());
        let seen = Arc::clone(&calls);
        let options = RunOptions {
            concurrency: 8,
            warmup: 10,
            postmaster: None,
        };
        let timed = run(100, options, move |index| {
            let seen = Arc::clone(&seen);
            async move {
                seen[index].fetch_add(1, Ordering::Relaxed);
                Ok(index as u64)
            }
        })
        .await
        .unwrap();
        assert_eq!(timed.ops, 100);
        assert_eq!(timed.latencies.len(), 100);
        assert_eq!(timed.total, (0..100).sum::<u64>());
        for (index, count) in calls.iter().enumerate() {
            let expected = if index < 10 { 2 } else { 1 };
            assert_eq!(count.load(Ordering::Relaxed), expected, "operation {index}");
        }
    }

    #[tokio::test]
    async fn a_failing_operation_fails_the_run_and_names_it() {
        let options = RunOptions {
            concurrency: 2,
            warmup: 0,
            postmaster: None,
        };
        let err = run(5, options, |index| async move {
            if index == 3 {
                anyhow::bail!("boom")
            }
            Ok(1)
        })
        .await
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("operation 3 failed: boom"),
            "{err:#}"
        );
    }
}
