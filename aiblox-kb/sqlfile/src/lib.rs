//! SQL migration files of the aiblox KB contract: how they are named, how a file splits into
//! statements, and where in the file an error is.
//!
//! Shared by the contract crate's migration runner and by `cargo xtask`, so both apply the
//! same rules to the same files.
//!
//! # Layout
//! - [`name`]: `V<version>__<description>.sql` file names.
//! - [`directory`]: the migrations of a directory, validated and in order.
//! - [`statements`]: splitting a file into statements (quotes, comments, dollar quotes).
//! - [`position`]: byte offsets to line and column, and a caret excerpt for messages.
//! - [`identity`]: checksums of migrations, the no-transaction marker, and the contract
//!   fingerprint of `schema/` and `queries/`.

mod directory;
mod identity;
mod name;
mod position;
mod runner;
mod statements;

pub use directory::{ListError, MigrationFile, migration_files};
pub use identity::{
    NO_TRANSACTION_MARKER, checksum, contract_fingerprint, runs_outside_transaction,
};
pub use name::{MigrationName, NameError};
pub use position::{LineColumn, excerpt, line_column, offset_of_char};
pub use runner::{HISTORY_TABLE, HISTORY_TABLE_COLUMNS, MIGRATION_LOCK_PREFIX, migration_lock_key};
pub use statements::{Statement, split_statements};
