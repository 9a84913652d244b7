//! `schema/migrations.sum`: the committed integrity file of the migrations (in the spirit of
//! Atlas' `atlas.sum`), written by `cargo xtask codegen` and verified by `cargo xtask check`.
//!
//! ```text
//! # <header comments>
//! total <sha256 of every line below>
//! fingerprint <contract fingerprint of schema/ and queries/>
//! V0001__kb_init.sql <checksum>
//! ```
//!
//! The `total` line changes with every migration change, so two branches that both touch
//! migrations conflict on it when merged and must be reconciled (renumber, regenerate).

use std::collections::BTreeMap;

use anyhow::{Context as _, bail};
use sha2::{Digest as _, Sha256};

/// The file's name inside `schema/`.
pub(crate) const FILE_NAME: &str = "migrations.sum";

const HEADER: &str = "\
# Integrity of the migrations in schema/: written by `cargo xtask codegen`, verified by
# `cargo xtask check`. Do not edit. A merge conflict here means two branches changed
# migrations: renumber yours after the other's, then run `cargo xtask codegen`.
";

/// The parsed contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MigrationsSum {
    pub(crate) fingerprint: String,
    /// Checksum by file name, in version order of the names.
    pub(crate) migrations: BTreeMap<String, String>,
}

impl MigrationsSum {
    pub(crate) fn render(&self) -> String {
        let body = self.body();
        format!(
            "{HEADER}total {}\n{body}",
            hex::encode(Sha256::digest(body.as_bytes()))
        )
    }

    fn body(&self) -> String {
        let mut body = format!("fingerprint {}\n", self.fingerprint);
        for (name, checksum) in &self.migrations {
            body.push_str(&format!("{name} {checksum}\n"));
        }
        body
    }

    /// Parses a file, verifying its `total` line (a hand edit that forgot it is caught).
    pub(crate) fn parse(text: &str) -> anyhow::Result<Self> {
        let mut lines = text
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty());
        let total = lines
            .next()
            .and_then(|line| line.strip_prefix("total "))
            .context("no `total` line")?;
        let fingerprint = lines
            .next()
            .and_then(|line| line.strip_prefix("fingerprint "))
            .context("no `fingerprint` line")?;
        let mut migrations = BTreeMap::new();
        for line in lines {
            let (name, checksum) = line
                .split_once(' ')
                .with_context(|| format!("malformed line {line:?}"))?;
            if migrations
                .insert(name.to_owned(), checksum.to_owned())
                .is_some()
            {
                bail!("{name} is listed twice");
            }
        }
        let sum = MigrationsSum {
            fingerprint: fingerprint.to_owned(),
            migrations,
        };
        let expected = hex::encode(Sha256::digest(sum.body().as_bytes()));
        if total != expected {
            bail!(
                "its `total` line does not match its contents (edited by hand, or a merge left it inconsistent)"
            );
        }
        Ok(sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_catches_hand_edits() {
        let sum = MigrationsSum {
            fingerprint: "f".repeat(64),
            migrations: [
                ("V0001__a.sql".to_owned(), "a".repeat(64)),
                ("V0002__b.sql".to_owned(), "b".repeat(64)),
            ]
            .into(),
        };
        let text = sum.render();
        assert_eq!(MigrationsSum::parse(&text).unwrap(), sum);
        let edited = text.replace(&"b".repeat(64), &"c".repeat(64));
        assert!(
            MigrationsSum::parse(&edited)
                .unwrap_err()
                .to_string()
                .contains("`total` line does not match")
        );
    }
}
