//! An ingestion block on the aiblox knowledge-base contract: loads a directory of `.html`,
//! `.md`, `.txt`, `.pdf`, `.docx`, `.odt` and `.epub` files, or JSONL files of items, and upserts them
//! through `aiblox-kb`'s `ItemRepo` (it knows no SQL). Re-running changes nothing; changed files are updated; a bad
//! file is reported and the others are still loaded; files of other types and empty documents
//! are skipped.
//!
//! # Layout
//! - [`html`]: HTML to title and clean text.
//! - [`source`]: files and JSONL lines to documents, with their `external_id`.
//! - [`metadata`]: what documents say about themselves (a run's `--metadata`, Markdown front
//!   matter, HTML meta tags), and the key the block keeps its own facts under.
//! - `pdf`: PDF files to the text of each page (pdf-extract), headers and footers dropped.
//! - `office`: Word (`.docx`) and OpenDocument (`.odt`) files to text, with recorded pages;
//!   EPUB books (`.epub`) chapter by chapter.
//! - `decode`: file bytes to text (byte order marks, HTML's declared charset, UTF-8).
//! - this module: batching, upserting, the summary.

mod decode;
pub mod html;
pub mod metadata;
mod office;
mod pdf;
pub mod source;

use std::collections::HashSet;

use aiblox_kb::{ItemRepo, KbPool, NewItem, UpsertStatus};
use serde::Serialize;
use sha2::Digest as _;

pub use source::{
    Document, Exclude, Failure, FileType, Loaded, MAX_DOCUMENT_BYTES, Reading, Skip, count_units,
    documents, documents_of_types, documents_read,
};

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
    /// Files of types the block does not read, and empty documents.
    pub skipped: usize,
    /// Files or lines that could not be ingested.
    pub failed: usize,
    /// Pages of the paged documents read (PDF, office files with recorded pages, JSONL lines
    /// with page starts), those a rule of the contract then refused included.
    pub pages: usize,
    /// Why, for each failure.
    pub failures: Vec<Failure>,
    /// Why, for each skip.
    pub skips: Vec<Skip>,
}

/// Progress after each batch: work done so far, in [`Loaded::units`] (documents, a PDF's
/// pages).
pub type Progress<'a> = &'a mut dyn FnMut(usize);

/// Upserts `documents` as items of `source`, in batches, and reports what happened. A document
/// with no text but whitespace is skipped, not stored. A run that writes items merges the
/// lexical index's postings ([`ItemRepo::merge_postings`]) every 50,000 items and at its end.
///
/// # Errors
/// Only when the database fails; a bad document is counted in [`Summary::failed`].
pub async fn ingest(
    pool: &KbPool,
    source: &str,
    documents: impl IntoIterator<Item = Loaded>,
    batch_size: usize,
    progress: Progress<'_>,
) -> Result<Summary, aiblox_kb::Error> {
    Ok(ingest_seeing(pool, source, documents, batch_size, progress)
        .await?
        .0)
}

/// What a prune found, and did when asked to ([`ingest_mirroring`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Pruned {
    /// Whether the items were deleted (else only found).
    pub applied: bool,
    /// The external ids of the source's items that this run did not read, in order.
    pub external_ids: Vec<String>,
}

/// As [`ingest`], then makes the source mirror what was read: its items that this run did not
/// read are found and, with `apply`, deleted (through [`ItemRepo::delete_many`]: their chunks,
/// vectors and index entries go with them). The prune is refused (`Err` inside, nothing
/// deleted) when a file or line failed (its item would go) or when nothing was read at all
/// (a mistyped path would empty the source).
///
/// # Errors
/// Only when the database fails.
pub async fn ingest_mirroring(
    pool: &KbPool,
    source: &str,
    documents: impl IntoIterator<Item = Loaded>,
    batch_size: usize,
    progress: Progress<'_>,
    apply: bool,
) -> Result<(Summary, Result<Pruned, String>), aiblox_kb::Error> {
    let (summary, seen) = ingest_seeing(pool, source, documents, batch_size, progress).await?;
    if summary.failed > 0 {
        let refused = format!(
            "{} failed in this run: nothing pruned (their items would have gone); fix or remove \
             them and run again",
            if summary.failed == 1 {
                "1 file or line".to_owned()
            } else {
                format!("{} files or lines", summary.failed)
            }
        );
        return Ok((summary, Err(refused)));
    }
    let items = ItemRepo::new(pool);
    let mut stale: Vec<(i64, String)> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = items
            .keys_of_source(source, after.as_deref(), PRUNE_PAGE)
            .await?;
        let Some((_, last)) = page.last() else {
            break;
        };
        after = Some(last.clone());
        stale.extend(page.into_iter().filter(|(_, key)| !seen.contains(key)));
    }
    if seen.is_empty() && !stale.is_empty() {
        let refused = format!(
            "nothing was read from the paths given: nothing pruned (the source's {} items \
             would all have gone); check the paths",
            stale.len()
        );
        return Ok((summary, Err(refused)));
    }
    if apply {
        let ids: Vec<i64> = stale.iter().map(|(id, _)| *id).collect();
        for chunk in ids.chunks(PRUNE_PAGE) {
            items.delete_many(chunk).await?;
        }
    }
    let pruned = Pruned {
        applied: apply,
        external_ids: stale.into_iter().map(|(_, key)| key).collect(),
    };
    Ok((summary, Ok(pruned)))
}

/// Keys listed, and items deleted, per call of a prune.
const PRUNE_PAGE: usize = 10_000;

/// [`ingest`], with the external ids the run read.
async fn ingest_seeing(
    pool: &KbPool,
    source: &str,
    documents: impl IntoIterator<Item = Loaded>,
    batch_size: usize,
    progress: Progress<'_>,
) -> Result<(Summary, SeenIds), aiblox_kb::Error> {
    let mut summary = Summary::default();
    let mut seen = SeenIds::default();
    let mut batch = Batch::default();
    let mut done = 0;
    let mut written_at_merge = 0;
    for loaded in documents {
        let loaded_units = loaded.units();
        done += loaded_units;
        match loaded {
            Loaded::Document(document) if document.content.trim().is_empty() => {
                summary.skip(Skip {
                    location: document.origin,
                    reason: "no text in it".to_owned(),
                });
            }
            Loaded::Document(document) => {
                if document.page_starts.is_some() {
                    summary.pages += loaded_units;
                }
                let origin = document.origin.clone();
                match to_item(source, document, &mut seen) {
                    Ok(item) => batch.push(item, origin),
                    Err(reason) => summary.record_failure(Failure {
                        location: origin,
                        reason,
                    }),
                }
            }
            Loaded::Failed(failure) => summary.record_failure(failure),
            Loaded::Skipped(skip) => summary.skip(skip),
        }
        if batch.items.len() >= batch_size.max(1) {
            write(pool, &mut batch, &mut summary).await?;
            progress(done);
        } else if loaded_units > 1 {
            // A PDF's pages took a while to read: say so before the batch is full.
            progress(done);
        }
        if batch.items.is_empty()
            && summary.inserted + summary.changed - written_at_merge >= MERGE_EVERY_ITEMS
        {
            ItemRepo::new(pool).merge_postings().await?;
            written_at_merge = summary.inserted + summary.changed;
        }
    }
    write(pool, &mut batch, &mut summary).await?;
    progress(done);
    if summary.inserted + summary.changed > written_at_merge {
        ItemRepo::new(pool).merge_postings().await?;
    }
    Ok((summary, seen))
}

/// Items written between two merges of the lexical index's postings: a search's cost grows
/// with the items written since the last merge.
const MERGE_EVERY_ITEMS: usize = 50_000;

/// The external ids of a run so far, each kept as 16 bytes of its SHA-256 (not the id itself):
/// a run of millions of items holds a few dozen bytes per item, whatever the ids' length.
#[derive(Default)]
struct SeenIds(HashSet<[u8; 16]>);

impl SeenIds {
    fn key(external_id: &str) -> [u8; 16] {
        let digest = sha2::Sha256::digest(external_id.as_bytes());
        let mut key = [0; 16];
        key.copy_from_slice(&digest[..16]);
        key
    }

    /// Whether `external_id` is new to the run (and now seen).
    fn insert(&mut self, external_id: &str) -> bool {
        self.0.insert(Self::key(external_id))
    }

    fn contains(&self, external_id: &str) -> bool {
        self.0.contains(&Self::key(external_id))
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Items waiting for their upsert, with the origin of each (for failures).
#[derive(Default)]
struct Batch {
    items: Vec<NewItem>,
    origins: Vec<String>,
}

impl Batch {
    fn push(&mut self, item: NewItem, origin: String) {
        self.items.push(item);
        self.origins.push(origin);
    }

    fn clear(&mut self) {
        self.items.clear();
        self.origins.clear();
    }
}

impl Summary {
    fn record_failure(&mut self, failure: Failure) {
        self.failed += 1;
        self.failures.push(failure);
    }

    fn skip(&mut self, skip: Skip) {
        self.skipped += 1;
        self.skips.push(skip);
    }

    fn count(&mut self, status: UpsertStatus) {
        match status {
            UpsertStatus::Inserted => self.inserted += 1,
            UpsertStatus::Updated => self.changed += 1,
            UpsertStatus::Unchanged => self.unchanged += 1,
        }
    }
}

/// Checks a document against the contract's rules, so that one bad file cannot sink a batch;
/// the error says why.
fn to_item(source: &str, document: Document, seen: &mut SeenIds) -> Result<NewItem, String> {
    if document.external_id.is_empty() || document.external_id.len() > 1024 {
        return Err("its external_id must be 1 to 1024 bytes".to_owned());
    }
    let texts = [
        Some(&document.content),
        document.title.as_ref(),
        Some(&document.external_id),
    ];
    if texts.iter().flatten().any(|text| text.contains('\0')) {
        return Err("it contains a NUL character".to_owned());
    }
    if !document.metadata.is_object() {
        return Err("its metadata is not a JSON object".to_owned());
    }
    if !seen.insert(&document.external_id) {
        return Err(format!(
            "its external_id {:?} appears twice in this run; the first one was kept",
            document.external_id
        ));
    }
    let mut item = NewItem::new(source, document.external_id, document.content)
        .with_metadata(document.metadata);
    item.title = document.title;
    item.page_starts = document.page_starts;
    Ok(item)
}

async fn write(
    pool: &KbPool,
    batch: &mut Batch,
    summary: &mut Summary,
) -> Result<(), aiblox_kb::Error> {
    if batch.items.is_empty() {
        return Ok(());
    }
    let items = ItemRepo::new(pool);
    match items.upsert(&batch.items).await {
        Ok(outcomes) => outcomes
            .iter()
            .for_each(|outcome| summary.count(outcome.status)),
        // A rule only the database knows: isolate the culprit item by item.
        Err(aiblox_kb::Error::InvalidInput { .. }) => {
            for (item, origin) in batch.items.iter().zip(&batch.origins) {
                match items.upsert(std::slice::from_ref(item)).await {
                    Ok(outcomes) => summary.count(outcomes[0].status),
                    Err(aiblox_kb::Error::InvalidInput { message, .. }) => {
                        summary.record_failure(Failure {
                            location: origin.clone(),
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
