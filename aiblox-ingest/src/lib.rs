//! An ingestion block on the aiblox knowledge-base contract: loads a directory of `.html`,
//! `.md` and `.txt` files, or JSONL files of items, and upserts them through `aiblox-kb`'s
//! `ItemRepo` (it knows no SQL). Re-running changes nothing; changed files are updated; a bad
//! file is reported and skipped, never the end of the run.
//!
//! # Layout
//! - [`html`]: HTML to title and clean text.
//! - [`source`]: files and JSONL lines to documents, with their `external_id`.
//! - this module: batching, upserting, the summary.

pub mod html;
pub mod source;

use std::collections::HashSet;

use aiblox_kb::{ItemRepo, KbPool, NewItem, UpsertStatus};
use serde::Serialize;

pub use source::{Document, Failure, documents};

/// Items per upsert statement.
pub const DEFAULT_BATCH_SIZE: usize = 200;

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// New items.
    pub inserted: usize,
    /// Items whose title, content or metadata changed.
    pub changed: usize,
    /// Items already as they are.
    pub unchanged: usize,
    /// Files or lines that could not be ingested.
    pub failed: usize,
    /// Why, for each failure.
    pub failures: Vec<Failure>,
}

/// Progress after each batch: documents done so far.
pub type Progress<'a> = &'a mut dyn FnMut(usize);

/// Upserts `documents` as items of `source`, in batches, and reports what happened.
///
/// # Errors
/// Only when the database fails; a bad document is counted in [`Summary::failed`].
pub async fn ingest(
    pool: &KbPool,
    source: &str,
    documents: impl IntoIterator<Item = Result<Document, Failure>>,
    batch_size: usize,
    progress: Progress<'_>,
) -> Result<Summary, aiblox_kb::Error> {
    let mut summary = Summary::default();
    let mut seen = HashSet::new();
    let mut batch: Vec<NewItem> = Vec::with_capacity(batch_size);
    let mut done = 0;
    for document in documents {
        done += 1;
        match document.and_then(|document| to_item(source, document, &mut seen)) {
            Ok(item) => batch.push(item),
            Err(failure) => summary.record_failure(failure),
        }
        if batch.len() >= batch_size.max(1) {
            write(pool, &mut batch, &mut summary).await?;
            progress(done);
        }
    }
    write(pool, &mut batch, &mut summary).await?;
    progress(done);
    Ok(summary)
}

impl Summary {
    fn record_failure(&mut self, failure: Failure) {
        self.failed += 1;
        self.failures.push(failure);
    }

    fn count(&mut self, status: UpsertStatus) {
        match status {
            UpsertStatus::Inserted => self.inserted += 1,
            UpsertStatus::Updated => self.changed += 1,
            UpsertStatus::Unchanged => self.unchanged += 1,
        }
    }
}

/// Checks a document against the contract's rules, so that one bad file cannot sink a batch.
fn to_item(
    source: &str,
    document: Document,
    seen: &mut HashSet<String>,
) -> Result<NewItem, Failure> {
    let failure = |reason: String| Failure {
        location: document.external_id.clone(),
        reason,
    };
    if document.external_id.is_empty() || document.external_id.len() > 1024 {
        return Err(failure(
            "its external_id must be 1 to 1024 bytes".to_owned(),
        ));
    }
    let texts = [
        Some(&document.content),
        document.title.as_ref(),
        Some(&document.external_id),
    ];
    if texts.iter().flatten().any(|text| text.contains('\0')) {
        return Err(failure("it contains a NUL character".to_owned()));
    }
    if !document.metadata.is_object() {
        return Err(failure("its metadata is not a JSON object".to_owned()));
    }
    if !seen.insert(document.external_id.clone()) {
        return Err(failure(
            "its external_id appears twice in this run; the first one was kept".to_owned(),
        ));
    }
    let mut item = NewItem::new(source, document.external_id, document.content)
        .with_metadata(document.metadata);
    item.title = document.title;
    Ok(item)
}

async fn write(
    pool: &KbPool,
    batch: &mut Vec<NewItem>,
    summary: &mut Summary,
) -> Result<(), aiblox_kb::Error> {
    if batch.is_empty() {
        return Ok(());
    }
    let items = ItemRepo::new(pool);
    match items.upsert(batch).await {
        Ok(outcomes) => outcomes
            .iter()
            .for_each(|outcome| summary.count(outcome.status)),
        // A rule only the database knows: isolate the culprit item by item.
        Err(aiblox_kb::Error::InvalidInput { .. }) => {
            for item in batch.iter() {
                match items.upsert(std::slice::from_ref(item)).await {
                    Ok(outcomes) => summary.count(outcomes[0].status),
                    Err(aiblox_kb::Error::InvalidInput { message }) => {
                        summary.record_failure(Failure {
                            location: item.external_id.clone(),
                            reason: message,
                        });
                    }
                    Err(other) => return Err(other),
                }
            }
        }
        Err(other) => return Err(other),
    }
    batch.clear();
    Ok(())
}
