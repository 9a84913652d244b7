//! What a schema's migration history holds, compared with this build's migrations.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::compat::Compatibility;

/// The migration state of a schema, seen by this build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MigrationStatus {
    /// The schema.
    pub schema: String,
    /// This build's contract version: the version of its schema and queries
    /// (`[package.metadata.contract] schema-version`), which the compatibility rule compares.
    /// The crate's own version also moves with the Rust API.
    pub contract_version: String,
    /// This build's contract fingerprint (a hash of `schema/` and `queries/`).
    pub contract_fingerprint: String,
    /// Applied migrations this build knows, with matching checksums.
    pub applied: Vec<AppliedMigration>,
    /// This build's migrations not applied yet, by file name, in order.
    pub pending: Vec<String>,
    /// Applied migrations this build does not know (the database is ahead).
    pub unknown: Vec<AppliedMigration>,
    /// Applied migrations whose file in this build differs from what was applied.
    pub mismatched: Vec<ChecksumMismatch>,
    /// What this means for a service of this build.
    pub compatibility: Compatibility,
}

/// One row of a schema's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedMigration {
    /// Version number.
    pub version: u32,
    /// File name.
    pub file_name: String,
    /// Checksum of the file as applied.
    pub checksum: String,
    /// Contract version (of the schema and queries) of the build that applied it.
    pub contract_version: String,
    /// Contract fingerprint of the build that applied it.
    pub contract_fingerprint: String,
    /// When.
    pub applied_at: DateTime<Utc>,
}

/// An applied migration whose file changed since.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecksumMismatch {
    /// File name (this build's; the applied one if the name changed).
    pub file_name: String,
    /// Checksum recorded when it was applied.
    pub applied_checksum: String,
    /// Checksum of this build's file.
    pub build_checksum: String,
}
