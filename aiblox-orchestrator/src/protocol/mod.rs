//! The versioned JSON protocol of the HTTP API (`/v1/...`): requests, responses, errors. Each
//! type derives its JSON Schema: the OpenAPI document's components, and the bounds a request is
//! checked against ([`schema`]), come from the declarations below.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::service::config::{Limits, RetrievalSettings};

mod filter;
pub(crate) mod schema;

pub use filter::{Filter, Scalar};

/// Most evidence passages one query may ask for.
pub const MAX_TOP_K: u32 = 50;
/// Passages returned when a query does not say.
pub const DEFAULT_TOP_K: u32 = 5;
/// Most sources one query may filter on.
pub const MAX_SOURCES: usize = 100;
/// Most fields one query may count values of (`facets`).
pub const MAX_FACETS: usize = 10;
/// Most values of one field a response counts (the most frequent).
pub const MAX_FACET_VALUES: usize = 100;
/// Longest source name a query may filter on, in characters (the contract stores at most 256
/// bytes).
pub const MAX_SOURCE_CHARS: usize = 256;

/// `POST /v1/query`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryRequest {
    /// A question, or `source:external_id` to name one item; at most `limits.max_query_chars`
    /// characters (a setting: 2,000 by default).
    #[schemars(length(min = 1))]
    pub query: String,
    /// Passages wanted.
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_TOP_K), extend("default" = DEFAULT_TOP_K))]
    pub top_k: Option<u32>,
    /// Only items of these sources (left out: every source the caller may read).
    #[serde(default)]
    #[schemars(length(min = 1, max = MAX_SOURCES), inner(length(min = 1, max = MAX_SOURCE_CHARS)))]
    pub sources: Option<Vec<String>>,
    /// At most this many passages from one item (left out: `retrieval.max_chunks_per_item`, a
    /// setting).
    #[serde(default)]
    #[schemars(range(min = 1, max = MAX_TOP_K))]
    pub max_chunks_per_item: Option<u32>,
    /// Leave out passages scoring below this.
    #[serde(default)]
    #[schemars(range(min = 0, max = 1), extend("default" = 0))]
    pub min_score: Option<f64>,
    /// Add how each score was made (`explain` objects) to the response.
    #[serde(default)]
    pub explain: bool,
    /// Which retrieval to use (left out: hybrid when the service has an embedding model, else
    /// lexical).
    #[serde(default)]
    pub mode: Option<Mode>,
    /// Only items this filter keeps, in every mode and for lookups (an item it leaves out is
    /// answered as a missing one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Filter>,
    /// Fields to count the values of (`source`, or `metadata.` and a key) over the candidate
    /// items the question found (within the filter, before the `top_k` cut).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = MAX_FACETS), inner(length(min = 1, max = 256)))]
    pub facets: Option<Vec<String>>,
    /// Answer as of this knowledge base position or later: the `position` of a write
    /// (`PUT /v1/items/...`), so that the answer sees it even where a read replica lags (read
    /// from the primary until the replica has replayed that far). Left out: as of the moment the
    /// question arrives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 3, max = 17))]
    pub after: Option<String>,
}

/// How candidates and passages are ranked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// BM25 over the knowledge base's lexical index.
    Lexical,
    /// Cosine similarity of the question's and the chunks' embeddings.
    Dense,
    /// Both, fused by reciprocal rank.
    Hybrid,
}

impl Mode {
    /// The name used in the protocol.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Lexical => "lexical",
            Mode::Dense => "dense",
            Mode::Hybrid => "hybrid",
        }
    }
}

/// A request that passed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidQuery {
    /// The question, trimmed.
    pub query: String,
    /// Passages wanted.
    pub top_k: usize,
    /// Source filter (the request's, narrowed to the caller's scope; or the scope alone).
    pub sources: Option<Vec<String>>,
    /// Whether the request named its sources (a caller is warned about the sources it named
    /// that hold no item, not about those of its key's scope).
    pub sources_named: bool,
    /// Cap per item.
    pub max_chunks_per_item: usize,
    /// Lowest score kept.
    pub min_score: f64,
    /// Whether to explain scores.
    pub explain: bool,
    /// The retrieval asked for (`None`: the service's default).
    pub mode: Option<Mode>,
    /// The items kept by the request's filter (`None`: every item).
    pub filter: Option<aiblox_kb::ItemFilter>,
    /// The fields to count values of (`source` or metadata paths), in the order asked.
    pub facets: Vec<aiblox_kb::ItemField>,
    /// The position the answer must see (a write's), if the caller gave one.
    pub after: Option<aiblox_kb::KbPosition>,
}

/// The field `name` of `facets` names, when one a query may count: `source`, or a metadata
/// path (checked by the contract's rules for filters).
fn facet_field(name: &str) -> Result<aiblox_kb::ItemField, InvalidRequest> {
    use aiblox_kb::{FieldTest, ItemField, ItemFilter};
    let refused = || {
        InvalidRequest::new(format!(
            "`facets` names `{name}`: count `source`, or `metadata.` and a key"
        ))
    };
    let field = filter::field(name).ok_or_else(refused)?;
    if !matches!(field, ItemField::Source | ItemField::Metadata(_)) {
        return Err(refused());
    }
    ItemFilter::Where(field.clone(), FieldTest::Exists)
        .validate()
        .map_err(|_| refused())?;
    Ok(field)
}
/// A request that breaks one of the protocol's rules: answered 422 with code
/// `invalid_request` and a message saying which rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct InvalidRequest {
    message: String,
}

impl InvalidRequest {
    pub(crate) fn new(message: impl Into<String>) -> InvalidRequest {
        InvalidRequest {
            message: message.into(),
        }
    }

    /// The error code of the answer.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::InvalidRequest
    }

    /// The HTTP status of the answer.
    pub fn status(&self) -> u16 {
        422
    }
}

impl QueryRequest {
    /// Checks the request against the protocol's rules: the bounds its JSON Schema declares
    /// (the attributes above), then the rules no schema states (a question of spaces, NUL
    /// characters) with the service's `limits` and `retrieval` settings for what the request
    /// leaves to the server (the limit of a query's length, the default cap of passages per
    /// item); the error says which rule failed.
    pub fn validate(
        self,
        limits: &Limits,
        retrieval: &RetrievalSettings,
    ) -> Result<ValidQuery, InvalidRequest> {
        schema::check_request(&self)?;
        let max_query_chars = limits.max_query_chars;
        let query = self.query.trim();
        if query.is_empty() {
            return Err(InvalidRequest::new("`query` is empty"));
        }
        let chars = query.chars().count();
        if chars > max_query_chars {
            return Err(InvalidRequest::new(format!(
                "`query` has {chars} characters; the limit is {max_query_chars} ({})",
                crate::service::config::setting_names("limits.max_query_chars")
            )));
        }
        if query.contains('\0') {
            return Err(InvalidRequest::new("`query` contains a NUL character"));
        }
        if let Some(sources) = &self.sources
            && sources.iter().any(|source| source.contains('\0'))
        {
            return Err(InvalidRequest::new(
                "an entry of `sources` contains a NUL character",
            ));
        }
        let top_k = self.top_k.unwrap_or(DEFAULT_TOP_K);
        let max_chunks_per_item = self
            .max_chunks_per_item
            .unwrap_or(retrieval.max_chunks_per_item);
        let min_score = self.min_score.unwrap_or(0.0);
        let filter = self
            .filter
            .as_ref()
            .map(Filter::to_item_filter)
            .transpose()?;
        let facets = self
            .facets
            .iter()
            .flatten()
            .map(|name| facet_field(name))
            .collect::<Result<Vec<_>, _>>()?;
        let after = self
            .after
            .as_deref()
            .map(str::parse::<aiblox_kb::KbPosition>)
            .transpose()
            .map_err(|err| InvalidRequest::new(format!("`after`: {err}")))?;
        Ok(ValidQuery {
            query: query.to_owned(),
            top_k: top_k as usize,
            sources_named: self.sources.is_some(),
            sources: self.sources,
            max_chunks_per_item: max_chunks_per_item as usize,
            min_score,
            explain: self.explain,
            mode: self.mode,
            filter,
            facets,
            after,
        })
    }
}

/// The answer to a query.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct QueryResponse {
    /// The route taken.
    pub route: RouteName,
    /// Passages, best first.
    pub evidence: Vec<Evidence>,
    /// What it took.
    pub stats: Stats,
    /// How the candidates were found (only when the request asks to `explain`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explain: Option<QueryExplain>,
    /// Why the answer is empty or not what was asked for (absent when nothing is to be said).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
    /// The counts of the values of the fields the request named (only when it names some).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub facets: Option<Facets>,
}

/// Counts of field values over a query's candidate items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Facets {
    /// The candidate items counted: every item the question's legs found within the filter,
    /// before the `top_k` cut.
    pub candidates: usize,
    /// Each field asked for, in the order asked.
    pub fields: Vec<FacetCounts>,
}

/// The values of one field and how many candidates hold each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FacetCounts {
    /// The field, as the request named it.
    pub field: String,
    /// Its values, most frequent first (equal counts by value), at most 100; a candidate
    /// whose field holds an array counts once for each of its values.
    pub values: Vec<FacetValue>,
}

/// A value and how many candidates hold it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct FacetValue {
    /// The value (a text, number or boolean).
    pub value: Scalar,
    /// Candidates holding it.
    pub count: usize,
}

/// How a question was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum RouteName {
    /// The question named one item (`source:external_id`) and is answered from it alone.
    Lookup,
    /// A ranked search.
    Search,
}

impl RouteName {
    /// The name in the protocol.
    pub fn as_str(self) -> &'static str {
        match self {
            RouteName::Lookup => "lookup",
            RouteName::Search => "search",
        }
    }
}

/// Something a caller should know about an answer: why it is empty, or how it differs from
/// what was asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Warning {
    /// Stable and machine-readable.
    pub code: WarningCode,
    /// For people.
    pub message: String,
}

/// The `code` of a warning. The one home of every code: answers and the OpenAPI document take
/// them from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum WarningCode {
    /// No word of the question is in the lexical index (only stop words, or words no item
    /// holds): the lexical search had nothing to rank.
    NoSearchableTerms,
    /// Some of the `sources` asked for hold no item.
    SourcesWithoutItems,
    /// The question named an item (`source:external_id`) that does not exist, or that the
    /// caller may not read: it was answered as a search instead.
    LookupNotFound,
    /// The filter (the request's, with its key's) keeps no item.
    FilterWithoutItems,
}

impl WarningCode {
    /// Every code, in the order the OpenAPI document lists them.
    pub const ALL: [WarningCode; 4] = [
        WarningCode::NoSearchableTerms,
        WarningCode::SourcesWithoutItems,
        WarningCode::LookupNotFound,
        WarningCode::FilterWithoutItems,
    ];

    /// The code as it appears in answers.
    pub fn as_str(self) -> &'static str {
        match self {
            WarningCode::NoSearchableTerms => "no_searchable_terms",
            WarningCode::SourcesWithoutItems => "sources_without_items",
            WarningCode::LookupNotFound => "lookup_not_found",
            WarningCode::FilterWithoutItems => "filter_without_items",
        }
    }
}

/// How a query's candidates were found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct QueryExplain {
    /// The question's terms as the index knows them (stemmed), with their IDF.
    pub terms: Vec<TermWeight>,
    /// Every candidate item, best first, with its score and each leg's rank and score.
    pub candidates: Vec<CandidateExplain>,
}

/// A term with its inverse document frequency over the whole corpus.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TermWeight {
    /// The term (a PostgreSQL `english` lexeme).
    pub term: String,
    /// Its IDF.
    pub idf: f64,
}

/// One candidate item and its page-level score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CandidateExplain {
    /// The item.
    pub item_id: i64,
    /// Its source.
    pub source: String,
    /// Its id within the source.
    pub external_id: String,
    /// Its page score: BM25 (lexical), the cosine of its best chunk (dense), or the sum of
    /// `1 / (60 + rank)` over the legs that found it (hybrid).
    pub score: f64,
    /// Its rank (from 1) and BM25 score in the lexical leg, if that leg found it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lexical: Option<LegRank>,
    /// Its rank (from 1) and best chunk's cosine in the dense leg, if that leg found it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dense: Option<LegRank>,
}

/// Where one leg of retrieval put a candidate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LegRank {
    /// Rank in the leg, from 1.
    pub rank: usize,
    /// The leg's score.
    pub score: f64,
}

/// How one passage's score was made: `score = page_weight * page_score / best page_score +
/// (1 - page_weight) * passage_score / best passage_score` over the query's passages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct EvidenceExplain {
    /// The item's page score (as in the candidate's explain).
    pub page_score: f64,
    /// The passage's own score: its BM25 (corpus IDF, chunk length normalisation) in
    /// lexical mode, its cosine in dense mode, `1 / (60 + rank)` summed over both rankings
    /// of the query's passages in hybrid mode.
    pub passage_score: f64,
    /// The passage's own BM25 score (modes with a lexical leg).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passage_bm25: Option<f64>,
    /// The cosine of the passage's embedding to the question's (modes with a dense leg).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passage_cosine: Option<f64>,
    /// Weight of the page score.
    pub page_weight: f64,
    /// The question's terms the passage holds.
    pub matched_terms: Vec<MatchedTerm>,
}

/// A question term found in a passage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MatchedTerm {
    /// The term (a PostgreSQL `english` lexeme).
    pub term: String,
    /// Its IDF over the whole corpus.
    pub idf: f64,
    /// How often the passage holds it.
    pub frequency: u32,
}

/// One cited passage: `content[start..end] == text` for the item's content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Evidence {
    /// The item.
    pub item_id: i64,
    /// Its source.
    pub source: String,
    /// Its id within the source.
    pub external_id: String,
    /// Its title, if any.
    pub title: Option<String>,
    /// Index of the chunk within the item.
    pub chunk_index: u32,
    /// The passage.
    pub text: String,
    /// Byte offset of the passage's start in the item's content.
    pub start: u32,
    /// Byte offset of its end (exclusive).
    pub end: u32,
    /// For a paged document (PDF, Word): the page the passage starts on, from 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    /// For a passage running over several pages: its first and last page, from 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<[u32; 2]>,
    /// Relevance, 0 to 1, comparable within one response.
    pub score: f64,
    /// Byte ranges `[start, end)` of `text` where the question's terms occur.
    #[serde(default)]
    pub highlights: Vec<[u32; 2]>,
    /// How the score was made (only when the request asks to `explain`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explain: Option<EvidenceExplain>,
}

/// Counters of one query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Stats {
    /// The retrieval used.
    pub mode: Mode,
    /// Candidate items considered.
    pub candidates: usize,
    /// Items whose chunks came from the cache.
    pub chunk_cache_hits: usize,
    /// Items chunked now (and cached).
    pub chunk_cache_misses: usize,
    /// Time spent, in milliseconds.
    pub elapsed_ms: u64,
}

/// The body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "Error")]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ErrorDetail {
    /// Stable and machine-readable.
    pub code: ErrorCode,
    /// For people.
    pub message: String,
}

/// `GET /v1/items/{id}`: one item, as the HTTP API shows it. The service's own type, so that a
/// field added to the contract's `KbItem` changes the API only when this type says so.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "Item")]
pub struct ItemResponse {
    /// The item's id in the knowledge base.
    pub id: i64,
    /// Its source.
    pub source: String,
    /// Its id within the source.
    pub external_id: String,
    /// Its title, if any.
    pub title: Option<String>,
    /// Its text.
    pub content: String,
    /// SHA-256 of `content`, hex.
    pub content_hash: String,
    /// Its metadata (a JSON object).
    #[schemars(with = "serde_json::Map<String, serde_json::Value>")]
    pub metadata: serde_json::Value,
    /// For a paged document (PDF, Word), where each page starts in `content`: byte offsets,
    /// the first 0 (page `n` is `content[page_starts[n-1]..page_starts[n]]`). Absent for
    /// items without pages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_starts: Option<Vec<u32>>,
    /// When it was first written.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// When its title, content or metadata last changed.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<aiblox_kb::KbItem> for ItemResponse {
    fn from(item: aiblox_kb::KbItem) -> Self {
        ItemResponse {
            id: item.id,
            source: item.source,
            external_id: item.external_id,
            title: item.title,
            content: item.content,
            content_hash: hex::encode(item.content_hash),
            metadata: item.metadata,
            page_starts: item.page_starts,
            created_at: item.created_at,
            updated_at: item.updated_at,
        }
    }
}

/// Most items one batch write (`POST /v1/items`) takes.
pub const MAX_BATCH_ITEMS: usize = 1000;
/// Most items one page of `GET /v1/sources/{source}/items` lists.
pub const MAX_LISTED_ITEMS: usize = 10_000;

/// `PUT /v1/items/{source}/{external_id}`: the item's new state (it is created, or replaced).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ItemWrite {
    /// Its title, if any.
    #[serde(default)]
    pub title: Option<String>,
    /// Its text.
    pub content: String,
    /// A JSON object about it (left out: `{}`); filters and facets read it.
    #[serde(default)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// For a paged document: where each page starts in `content` (byte offsets on character
    /// boundaries, the first 0, non-decreasing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_starts: Option<Vec<u32>>,
}

/// One item of a batch write: its source and external id, then its state as
/// [`ItemWrite`]'s fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchItem {
    /// Its source.
    pub source: String,
    /// Its id within the source.
    pub external_id: String,
    /// Its title, if any.
    #[serde(default)]
    pub title: Option<String>,
    /// Its text.
    pub content: String,
    /// A JSON object about it (left out: `{}`).
    #[serde(default)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
    /// For a paged document: where each page starts in `content`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_starts: Option<Vec<u32>>,
}

impl BatchItem {
    /// Its source, external id and state.
    pub fn split(self) -> (String, String, ItemWrite) {
        let write = ItemWrite {
            title: self.title,
            content: self.content,
            metadata: self.metadata,
            page_starts: self.page_starts,
        };
        (self.source, self.external_id, write)
    }
}

/// `POST /v1/items`: items written in one transaction (all, or none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchWrite {
    /// 1 to 1,000 items, each key at most once.
    pub items: Vec<BatchItem>,
}

/// What a write did to one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WriteStatus {
    /// It was new.
    Inserted,
    /// It existed and changed.
    Updated,
    /// It existed as written: nothing was written.
    Unchanged,
}

/// One item written: where it is now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ItemWritten {
    /// Its place in the batch (0 for a `PUT`).
    pub index: usize,
    /// Its id in the knowledge base.
    pub id: i64,
    /// Its source.
    pub source: String,
    /// Its id within the source.
    pub external_id: String,
    /// Whether it was inserted, updated or unchanged.
    pub status: WriteStatus,
    /// The knowledge base's position after the write (`PUT`; a batch gives one for all): send
    /// it as a query's `after` to see the write even where a read replica lags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub position: Option<String>,
}

/// What `POST /v1/items` wrote, item by item in the batch's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct BatchWritten {
    /// Each item of the batch.
    pub items: Vec<ItemWritten>,
    /// The knowledge base's position after the batch: a query's `after` sees all of it.
    pub position: String,
}

/// The parameters of `GET /v1/sources/{source}/items`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceItemsQuery {
    /// The `next` of the previous page (left out: the first page).
    pub after: Option<String>,
    /// Items per page, 1 to 10,000 (default 1,000).
    pub limit: Option<usize>,
}

/// `GET /v1/sources/{source}/items`: a page of a source's items, in external id order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "SourceItems")]
pub struct SourceItems {
    /// The items (for a key bound to a filter, those it keeps).
    pub items: Vec<SourceItem>,
    /// Where the next page starts (`?after=`), or null after the last page.
    pub next: Option<String>,
}

/// One item of a source, as a sync client compares it with its own copy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct SourceItem {
    /// Its id in the knowledge base.
    pub id: i64,
    /// Its id within the source.
    pub external_id: String,
    /// SHA-256 of its content, hex.
    pub content_hash: String,
    /// When its title, content, metadata or pages last changed.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// `GET /v1/sources`: the sources of the knowledge base a caller may read, by name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[schemars(rename = "Sources")]
pub struct SourcesResponse {
    /// The sources, by name.
    pub sources: Vec<SourceSummary>,
    /// How far the dense leg's vectors cover the whole knowledge base; absent without an
    /// embedding model (lexical retrieval only), and for a key bound to a filter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<IndexCoverage>,
}

/// One source of the knowledge base.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SourceSummary {
    /// Its name (what `sources` of a query takes).
    pub source: String,
    /// How many items it holds (for a key bound to a filter, of those its filter keeps).
    pub items: i64,
}

/// How far the dense leg's vectors cover the knowledge base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct IndexCoverage {
    /// Items of the knowledge base.
    pub items: u64,
    /// Items whose passages are embedded (searchable by meaning).
    pub indexed: u64,
}

/// The `code` of an error answer: stable and machine-readable. The one home of every code:
/// responses and the OpenAPI document take them from here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The body is not valid JSON (400).
    InvalidJson,
    /// A field or parameter breaks the protocol's rules (400, 422).
    InvalidRequest,
    /// The body is over the size limit (413).
    PayloadTooLarge,
    /// The body is not `application/json` (415).
    UnsupportedMediaType,
    /// No API key, or an unknown one (401).
    Unauthorized,
    /// The key may not read any of the sources asked for (403).
    Forbidden,
    /// No such item or endpoint (404).
    NotFound,
    /// The endpoint does not take this method (405).
    MethodNotAllowed,
    /// The request did not arrive in time (408).
    RequestTimeout,
    /// The key is over its requests per second (429).
    RateLimited,
    /// The knowledge base cannot be reached or is not compatible (503).
    Unavailable,
    /// The query ran past its time budget (503).
    Timeout,
    /// A fault of the service; the request id in the logs has details (500).
    Internal,
}

impl ErrorCode {
    /// Every code, in the order the OpenAPI document lists them.
    pub const ALL: [ErrorCode; 13] = [
        ErrorCode::InvalidJson,
        ErrorCode::InvalidRequest,
        ErrorCode::PayloadTooLarge,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::RequestTimeout,
        ErrorCode::RateLimited,
        ErrorCode::Unavailable,
        ErrorCode::Timeout,
        ErrorCode::Internal,
    ];

    /// The code as it appears in answers.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidJson => "invalid_json",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::PayloadTooLarge => "payload_too_large",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::RequestTimeout => "request_timeout",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Timeout => "timeout",
            ErrorCode::Internal => "internal",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_reads_as_the_contract_wrote_it() {
        let item = aiblox_kb::KbItem {
            id: 7,
            source: "docs".to_owned(),
            external_id: "a.md".to_owned(),
            title: Some("A".to_owned()),
            content: "text".to_owned(),
            content_hash: [0xab; 32],
            metadata: serde_json::json!({"k": 1}),
            page_starts: None,
            created_at: chrono::DateTime::from_timestamp(1_700_000_000, 123_456_000).unwrap(),
            updated_at: chrono::DateTime::from_timestamp(1_700_000_001, 0).unwrap(),
        };
        assert_eq!(
            serde_json::to_value(ItemResponse::from(item.clone())).unwrap(),
            serde_json::to_value(item).unwrap(),
            "the API's item has the fields and formats it had"
        );
    }

    #[test]
    fn error_codes_serialize_as_their_names() {
        for code in ErrorCode::ALL {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::json!(code.as_str())
            );
        }
    }

    #[test]
    fn warning_codes_serialize_as_their_names() {
        for code in WarningCode::ALL {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::json!(code.as_str())
            );
        }
    }

    fn request(json: serde_json::Value) -> Result<ValidQuery, String> {
        let limits = Limits {
            max_query_chars: 100,
            ..Limits::default()
        };
        let retrieval = RetrievalSettings {
            max_chunks_per_item: 3,
            ..RetrievalSettings::default()
        };
        serde_json::from_value::<QueryRequest>(json)
            .map_err(|err| err.to_string())?
            .validate(&limits, &retrieval)
            .map_err(|err| err.to_string())
    }

    #[test]
    fn defaults_and_limits() {
        let valid = request(serde_json::json!({"query": "  vacuum  "})).unwrap();
        assert_eq!(
            (
                valid.query.as_str(),
                valid.top_k,
                valid.max_chunks_per_item,
                valid.sources
            ),
            ("vacuum", 5, 3, None)
        );
        assert_eq!((valid.min_score, valid.explain), (0.0, false));
        for (json, expected) in [
            (serde_json::json!({"query": " "}), "`query` is empty"),
            (
                serde_json::json!({"query": "x".repeat(101)}),
                "the limit is 100",
            ),
            (
                serde_json::json!({"query": "x", "top_k": 0}),
                "`top_k` is 0",
            ),
            (
                serde_json::json!({"query": "x", "top_k": 51}),
                "`top_k` is 51",
            ),
            (
                serde_json::json!({"query": "x", "sources": []}),
                "`sources` is empty",
            ),
            (
                serde_json::json!({"query": "x", "max_chunks_per_item": 0}),
                "`max_chunks_per_item` is 0",
            ),
            (
                serde_json::json!({"query": "x", "topk": 3}),
                "unknown field `topk`",
            ),
            (serde_json::json!({"top_k": 3}), "missing field `query`"),
            (
                serde_json::json!({"query": "x", "min_score": 1.5}),
                "`min_score` is 1.5",
            ),
            (
                serde_json::json!({"query": "x", "explain": "yes"}),
                "invalid type",
            ),
            (
                serde_json::json!({"query": "x", "sources": ["docs", "é".repeat(257)]}),
                "`sources[1]` has 257 characters; it must have 1 to 256",
            ),
            (
                serde_json::json!({"query": "x", "sources": vec!["docs"; 101]}),
                "`sources` has 101 entries; it must have 1 to 100",
            ),
            (
                serde_json::json!({"query": "x", "sources": ["a\u{0}"]}),
                "contains a NUL character",
            ),
            (
                serde_json::json!({"query": "x", "top_k": -1}),
                "invalid value",
            ),
        ] {
            let err = request(json).unwrap_err();
            assert!(err.contains(expected), "{expected}: {err}");
        }
    }
}
