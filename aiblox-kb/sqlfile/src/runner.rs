//! What every migration runner of the contract shares, in any language: the history table it
//! keeps in the migrated schema and the advisory lock that serializes runners. The Rust runner
//! (`aiblox-kb`) uses these; `cargo xtask codegen` writes them into the contract's manifest, from
//! which the generated Python runner takes them, so that runners of both languages started
//! together apply each migration once.

use sha2::{Digest as _, Sha256};

/// The history table's name, in the migrated schema.
pub const HISTORY_TABLE: &str = "aiblox_kb_migrations";

/// The history table's columns, as `CREATE TABLE <schema>.<HISTORY_TABLE> (<these>)` takes them.
pub const HISTORY_TABLE_COLUMNS: &str = "version integer PRIMARY KEY, file_name text NOT NULL, \
     checksum text NOT NULL, contract_version text NOT NULL, contract_fingerprint text NOT NULL, \
     applied_at timestamptz NOT NULL DEFAULT now(), duration_ms integer NOT NULL";

/// What the advisory lock's key hashes, before the schema name.
pub const MIGRATION_LOCK_PREFIX: &str = "aiblox-kb migrate ";

/// The advisory lock of a schema's migrations: the first 8 bytes, big-endian and signed, of the
/// SHA-256 of [`MIGRATION_LOCK_PREFIX`] followed by the schema's name.
pub fn migration_lock_key(schema: &str) -> i64 {
    let digest = Sha256::digest(format!("{MIGRATION_LOCK_PREFIX}{schema}").as_bytes());
    i64::from_be_bytes(
        digest[..8]
            .try_into()
            .expect("a SHA-256 digest has 32 bytes"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_keys_differ_per_schema() {
        assert_eq!(migration_lock_key("kb"), migration_lock_key("kb"));
        assert_ne!(migration_lock_key("kb"), migration_lock_key("kb_test"));
    }
}
