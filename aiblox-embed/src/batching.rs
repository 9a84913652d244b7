//! Concurrent requests embedded together: callers on any task queue their texts, a worker
//! thread takes everything queued while it was busy and embeds it as one batch (bigger matrix
//! products use the CPU better than many small ones, and no caller waits for a timer). With
//! several workers, each runs its batches on one core (its matrix products are not split
//! across threads): two single-threaded workers embed more questions per second on two cores
//! than one worker whose products are split in two (docs/benchmarks.md).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError, mpsc};

use tokio::sync::oneshot;

use crate::{EmbedError, Embedder};

/// One caller's text and where its vector goes.
struct Job {
    text: String,
    reply: oneshot::Sender<Result<Vec<f32>, EmbedError>>,
}

/// How much batching happened: `texts / batches` is the mean batch size.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchStats {
    /// Batches the worker ran.
    pub batches: u64,
    /// Texts it embedded.
    pub texts: u64,
}

#[derive(Default)]
struct Counters {
    batches: AtomicU64,
    texts: AtomicU64,
}

/// An [`Embedder`] behind a queue and a worker thread of its own. Cheap to clone; the worker
/// stops when the last clone is dropped.
#[derive(Clone)]
pub struct BatchingEmbedder {
    jobs: mpsc::Sender<Job>,
    embedder: Arc<Embedder>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for BatchingEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchingEmbedder")
            .field("model", &self.embedder.key())
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl BatchingEmbedder {
    /// Starts `workers` worker threads (at least 1); batches hold at most `max_batch` texts
    /// (at least 1). One worker splits its matrix products over every core; several keep to
    /// one core each.
    pub fn start(
        embedder: Arc<Embedder>,
        max_batch: usize,
        workers: usize,
    ) -> std::io::Result<BatchingEmbedder> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        let counters = Arc::new(Counters::default());
        let workers = workers.max(1);
        for index in 0..workers {
            let worker = (
                Arc::clone(&embedder),
                Arc::clone(&counters),
                Arc::clone(&queue),
            );
            let one_core = if workers > 1 {
                Some(
                    rayon::ThreadPoolBuilder::new()
                        .num_threads(1)
                        .thread_name(move |_| format!("aiblox-embed-{index}-math"))
                        .build()
                        .map_err(std::io::Error::other)?,
                )
            } else {
                None
            };
            std::thread::Builder::new()
                .name(format!("aiblox-embed-{index}"))
                .spawn(move || {
                    run_worker(
                        &worker.0,
                        &worker.1,
                        &worker.2,
                        max_batch.max(1),
                        one_core.as_ref(),
                    )
                })?;
        }
        Ok(BatchingEmbedder {
            jobs,
            embedder,
            counters,
        })
    }

    /// The unit vector of `text`, embedded with whatever else is queued at the time.
    pub async fn embed(&self, text: impl Into<String>) -> Result<Vec<f32>, EmbedError> {
        let (reply, vector) = oneshot::channel();
        let job = Job {
            text: text.into(),
            reply,
        };
        self.jobs
            .send(job)
            .map_err(|_| EmbedError::Compute("the embedding worker has stopped".to_owned()))?;
        vector
            .await
            .map_err(|_| EmbedError::Compute("the embedding worker has stopped".to_owned()))?
    }

    /// The model behind the queue.
    pub fn embedder(&self) -> &Embedder {
        &self.embedder
    }

    /// Batches and texts so far.
    pub fn stats(&self) -> BatchStats {
        BatchStats {
            batches: self.counters.batches.load(Ordering::Relaxed),
            texts: self.counters.texts.load(Ordering::Relaxed),
        }
    }
}

fn run_worker(
    embedder: &Embedder,
    counters: &Counters,
    queue: &Mutex<mpsc::Receiver<Job>>,
    max_batch: usize,
    one_core: Option<&rayon::ThreadPool>,
) {
    loop {
        // Blocks for the first job; everything queued meanwhile joins it. Another worker
        // waits for the queue meanwhile, and takes what arrives while this one computes.
        let mut batch = {
            let queue = queue.lock().unwrap_or_else(PoisonError::into_inner);
            let Ok(first) = queue.recv() else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < max_batch {
                match queue.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            batch
        };
        // A caller that gave up (its future dropped) is not worth computing for.
        batch.retain(|job| !job.reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        let texts: Vec<&str> = batch.iter().map(|job| job.text.as_str()).collect();
        let result = match one_core {
            Some(pool) => pool.install(|| embedder.embed(&texts)),
            None => embedder.embed(&texts),
        };
        counters.batches.fetch_add(1, Ordering::Relaxed);
        counters
            .texts
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        match result {
            Ok(vectors) => {
                for (job, vector) in batch.into_iter().zip(vectors) {
                    let _ = job.reply.send(Ok(vector));
                }
            }
            Err(err) => {
                let message = err.to_string();
                for job in batch {
                    let _ = job.reply.send(Err(EmbedError::Compute(message.clone())));
                }
            }
        }
    }
}
