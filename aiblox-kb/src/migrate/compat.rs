//! The compatibility rule between a build of the contract and a database's migration history.
//! docs/contract-versioning.md states it for humans; this is the one place that decides it.

use serde::{Deserialize, Serialize};

use super::status::{AppliedMigration, ChecksumMismatch};

/// How a database's history relates to this build's migrations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Compatibility {
    /// Every migration of this build is applied, and nothing else.
    UpToDate,
    /// Migrations of this build are pending: migrate (or refuse to run without migrating).
    Behind,
    /// The database holds migrations this build does not know, applied by a compatible newer
    /// contract (same major version, or same minor while below 1.0): this build may run.
    AheadCompatible,
    /// The database holds migrations of a contract this build cannot work with.
    AheadIncompatible {
        /// Which versions met.
        reason: String,
    },
    /// The history and this build disagree about the past: an applied migration changed, or
    /// migrations were applied out of order. Never run on it.
    Diverged {
        /// What disagrees.
        reason: String,
    },
}

impl Compatibility {
    /// Whether a service of this build may run on the database as it is.
    pub fn allows_running(&self) -> bool {
        matches!(
            self,
            Compatibility::UpToDate | Compatibility::AheadCompatible
        )
    }
}

/// In words, with what to do: `migrate status` and `check` print it.
impl std::fmt::Display for Compatibility {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Compatibility::UpToDate => f.write_str("up to date"),
            Compatibility::Behind => f.write_str("behind this build: run the migrations"),
            Compatibility::AheadCompatible => f.write_str("ahead of this build, compatible"),
            Compatibility::AheadIncompatible { reason } => {
                write!(f, "ahead of this build, INCOMPATIBLE: {reason}")
            }
            Compatibility::Diverged { reason } => write!(f, "DIVERGED from this build: {reason}"),
        }
    }
}

/// Applies the rule.
pub(crate) fn assess(
    build_version: &str,
    pending: &[(u32, String)],
    applied: &[AppliedMigration],
    unknown: &[AppliedMigration],
    mismatched: &[ChecksumMismatch],
) -> Compatibility {
    if let Some(mismatch) = mismatched.first() {
        return Compatibility::Diverged {
            reason: format!(
                "{} changed after it was applied (applied checksum {}, this build's {})",
                mismatch.file_name, mismatch.applied_checksum, mismatch.build_checksum
            ),
        };
    }
    let newest_applied = applied.iter().chain(unknown).map(|m| m.version).max();
    if let (Some((version, file_name)), Some(newest)) = (pending.first(), newest_applied)
        && *version < newest
    {
        return Compatibility::Diverged {
            reason: format!(
                "{file_name} is not applied but the newer migration version {newest} is: the histories \
                 diverged (two branches numbered migrations alike?)"
            ),
        };
    }
    if !unknown.is_empty() {
        for migration in unknown {
            if !newer_and_compatible(&migration.contract_version, build_version) {
                return Compatibility::AheadIncompatible {
                    reason: format!(
                        "{} was applied by contract {}, which this build (contract {build_version}) cannot work with: \
                         a service must share the database's contract major version (minor below 1.0) and not be newer",
                        migration.file_name, migration.contract_version
                    ),
                };
            }
        }
        return Compatibility::AheadCompatible;
    }
    if pending.is_empty() {
        Compatibility::UpToDate
    } else {
        Compatibility::Behind
    }
}

/// `theirs` is at least `ours` and within its semver-compatible range (caret rule).
fn newer_and_compatible(theirs: &str, ours: &str) -> bool {
    let (Some(theirs), Some(ours)) = (parse(theirs), parse(ours)) else {
        return false;
    };
    let same_line = if ours.0 == 0 {
        theirs.0 == 0 && theirs.1 == ours.1
    } else {
        theirs.0 == ours.0
    };
    same_line && theirs >= ours
}

fn parse(version: &str) -> Option<(u64, u64, u64)> {
    let core = version.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|part| part.parse::<u64>().ok());
    let version = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(version: u32, contract_version: &str) -> AppliedMigration {
        AppliedMigration {
            version,
            file_name: format!("V{version:04}__m.sql"),
            checksum: String::new(),
            contract_version: contract_version.to_owned(),
            contract_fingerprint: String::new(),
            applied_at: chrono::DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn the_rule() {
        let one = [applied(1, "0.1.0")];
        assert_eq!(
            assess("0.1.0", &[], &one, &[], &[]),
            Compatibility::UpToDate
        );
        assert_eq!(
            assess("0.1.0", &[(2, "V0002__m.sql".into())], &one, &[], &[]),
            Compatibility::Behind
        );
        assert_eq!(
            assess("0.1.0", &[], &one, &[applied(2, "0.1.3")], &[]),
            Compatibility::AheadCompatible
        );
        assert!(matches!(
            assess("0.1.0", &[], &one, &[applied(2, "0.2.0")], &[]),
            Compatibility::AheadIncompatible { .. }
        ));
        assert!(matches!(
            assess("1.2.0", &[], &one, &[applied(2, "2.0.0")], &[]),
            Compatibility::AheadIncompatible { .. }
        ));
        assert_eq!(
            assess("1.2.0", &[], &one, &[applied(2, "1.9.1")], &[]),
            Compatibility::AheadCompatible
        );
        assert!(matches!(
            assess("0.1.5", &[], &one, &[applied(2, "0.1.2")], &[]),
            Compatibility::AheadIncompatible { .. }
        ));
        assert!(matches!(
            assess(
                "0.1.0",
                &[(2, "V0002__m.sql".into())],
                &one,
                &[applied(3, "0.1.0")],
                &[]
            ),
            Compatibility::Diverged { .. }
        ));
        let mismatch = ChecksumMismatch {
            file_name: "V0001__m.sql".into(),
            applied_checksum: "a".into(),
            build_checksum: "b".into(),
        };
        assert!(matches!(
            assess("0.1.0", &[], &one, &[], &[mismatch]),
            Compatibility::Diverged { .. }
        ));
    }

    /// The upgrade the schema version exists for: the Rust API of 0.2 broke, its schema only
    /// grew, so services of contract 0.1.0 and 0.1.1 keep running on a database this build
    /// migrated (its migrations recorded with the schema version, not the crate's).
    #[test]
    fn services_of_the_0_1_line_run_on_a_database_this_build_migrated() {
        let ours = || (3..=5).map(|version| applied(version, super::super::CONTRACT_VERSION));
        let v1 = applied(1, "0.1.0");
        let v2 = applied(2, "0.1.1");
        let unknown_to_0_1_0: Vec<_> = std::iter::once(v2.clone()).chain(ours()).collect();
        assert_eq!(
            assess(
                "0.1.0",
                &[],
                std::slice::from_ref(&v1),
                &unknown_to_0_1_0,
                &[]
            ),
            Compatibility::AheadCompatible
        );
        let unknown_to_0_1_1: Vec<_> = ours().collect();
        assert_eq!(
            assess("0.1.1", &[], &[v1, v2], &unknown_to_0_1_1, &[]),
            Compatibility::AheadCompatible
        );
    }

    #[test]
    fn versions_parse_strictly() {
        assert_eq!(parse("1.2.3"), Some((1, 2, 3)));
        assert_eq!(parse("1.2.3-rc.1"), Some((1, 2, 3)));
        assert_eq!(parse("1.2"), None);
        assert_eq!(parse("x.y.z"), None);
    }
}
