//! The settings' types, as the service reads them; their values come from [`super::SETTINGS`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use aiblox_kb::KbConfig;

/// Every setting of the service.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Run the contract's migrations at start.
    pub migrate_on_start: bool,
    /// The knowledge base (URL redacted in `Debug`).
    pub database: KbConfig,
    /// Pool and database timeouts.
    pub pool: PoolSettings,
    /// Request limits.
    pub limits: Limits,
    /// Retrieval and evidence tuning.
    pub retrieval: RetrievalSettings,
    /// The embedding model of the dense leg (none: lexical retrieval only).
    pub embedding: EmbeddingSettings,
    /// Log output.
    pub log: LogSettings,
    /// Who may call the API.
    pub access: AccessSettings,
}

/// Who may call `/v1/*`: API keys from a file, or anyone (on loopback, or when allowed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessSettings {
    /// A TOML file of `[[key]]` entries (name, sha256 of the token, optional sources and
    /// requests_per_second); re-read on SIGHUP. None: no keys.
    pub keys_file: Option<PathBuf>,
    /// Serve without keys on an address other than loopback (off: such a start is refused).
    pub allow_anonymous: bool,
}

/// Connection pool settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// Most connections.
    pub max_size: usize,
    /// Connections opened at start (at most `max_size`).
    pub open_at_start: usize,
    /// How long a request waits for a connection before 503, in milliseconds.
    pub wait_timeout_ms: u64,
    /// How long opening a connection may take, in milliseconds.
    pub connect_timeout_ms: u64,
}

/// Limits on requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Total time budget of one query, in milliseconds.
    pub request_timeout_ms: u64,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Largest body of an item write (one item, or a batch), in bytes.
    pub max_write_body_bytes: usize,
    /// Longest query text, in characters.
    pub max_query_chars: usize,
}

/// Retrieval, chunking and evidence settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrievalSettings {
    /// Candidate items fetched per query.
    pub candidates: u32,
    /// Largest chunk, in bytes of text.
    pub chunk_max_bytes: usize,
    /// Bytes of the previous chunk repeated at the start of the next (0: none).
    pub chunk_overlap_bytes: usize,
    /// Default cap of passages per item in one answer.
    pub max_chunks_per_item: u32,
}

/// The dense leg's model and how its vectors are held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddingSettings {
    /// Directory of a sentence-embedding model in Hugging Face format (`cargo xtask
    /// fetch-model` prints one); none: lexical retrieval only.
    pub model: Option<PathBuf>,
    /// `int8` or `f32`.
    pub precision: Precision,
}

/// How the dense leg holds vectors in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precision {
    /// One byte per value and a scale per vector (a quarter of f32's memory).
    Int8,
    /// Four bytes per value, as stored.
    F32,
}

/// Log settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// `human` or `json`.
    pub format: LogFormat,
    /// A `tracing` filter, e.g. `info` or `aiblox_orchestrator=debug,info`.
    pub level: String,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// The sections' defaults are their rows' in [`super::SETTINGS`].
macro_rules! default_from_the_table {
    ($($section:ident: $field:ident),* $(,)?) => {$(
        impl Default for $section {
            fn default() -> Self {
                Settings::defaults().$field
            }
        }
    )*};
}
default_from_the_table!(
    PoolSettings: pool,
    Limits: limits,
    RetrievalSettings: retrieval,
    EmbeddingSettings: embedding,
    LogSettings: log,
    AccessSettings: access,
);

impl PoolSettings {
    pub(crate) fn wait_timeout(&self) -> Duration {
        Duration::from_millis(self.wait_timeout_ms)
    }

    pub(crate) fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
}

impl RetrievalSettings {
    /// The key of the chunker these settings make: chunk sets and their vectors are stored
    /// under it (`purge-chunks` keeps only its own).
    pub fn chunker_key(&self) -> String {
        crate::pipeline::chunker::Chunker::new(self.chunk_max_bytes, self.chunk_overlap_bytes).key()
    }
}

impl Limits {
    pub(crate) fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }
}
