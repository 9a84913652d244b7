//! `cargo xtask check`: every contract rule in one command, one line per rule, non-zero exit
//! when any fails. Each rule is a module with its own tests that break the rule on purpose in
//! a scratch copy of the workspace.

mod compatibility;
mod dependencies;
mod generated;
mod integrity;
mod migration_lint;
mod packaging;
mod public_api;
mod python_package;
mod version_policy;

use crate::workspace::Workspace;

/// Options of `cargo xtask check`.
#[derive(Debug, Clone, Default)]
pub(crate) struct Options {
    /// Check the queries of this git ref (instead of the latest recorded contract) against
    /// the current migrations.
    pub(crate) compat_with: Option<String>,
    /// Rewrite `aiblox-kb/public-api.txt` from the code (after reviewing the change).
    pub(crate) bless_public_api: bool,
    /// Build the packaged crates as `cargo package` does (slow); off only in tests.
    pub(crate) verify_packages: bool,
}

/// What a rule found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The rule holds; a short note of what was checked.
    Pass(String),
    /// The rule is broken: why, and what fixes it.
    Fail { reason: String, fix: String },
}

impl Verdict {
    pub(crate) fn fail(reason: impl Into<String>, fix: impl Into<String>) -> Self {
        Verdict::Fail {
            reason: reason.into(),
            fix: fix.into(),
        }
    }
}

type Rule = fn(&Workspace, &Options) -> Verdict;

/// Every rule, in the order they are reported.
const RULES: [(&str, Rule); 9] = [
    ("generated code is current", generated::check),
    ("migration integrity", integrity::check),
    ("version policy", version_policy::check),
    ("dependency rules", dependencies::check),
    ("public API", public_api::check),
    ("migration lint", migration_lint::check),
    ("old queries against the new schema", compatibility::check),
    ("contract crates package", packaging::check),
    ("Python package", python_package::check),
];

pub(crate) fn run(workspace: &Workspace, options: &Options) -> anyhow::Result<()> {
    let mut failed = 0;
    for (name, rule) in RULES {
        match rule(workspace, options) {
            Verdict::Pass(note) => println!("ok    {name}: {note}"),
            Verdict::Fail { reason, fix } => {
                failed += 1;
                println!(
                    "FAIL  {name}: {}\n      fix: {fix}",
                    reason.replace('\n', "\n      ")
                );
            }
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} contract rules failed", RULES.len());
    }
    println!("all {} contract rules hold", RULES.len());
    Ok(())
}

/// Turns an infrastructure error (no database, unreadable file) into a failing verdict.
pub(crate) fn or_fail(result: anyhow::Result<Verdict>, fix: &str) -> Verdict {
    result.unwrap_or_else(|err| Verdict::fail(format!("{err:#}"), fix))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::scratch_workspace;

    /// The rules whose failing cases are tested in their modules pass on the workspace as
    /// committed (the others run on it in CI, as `cargo xtask check`).
    #[test]
    fn each_rule_passes_on_the_workspace_as_committed() {
        let (_dir, workspace) = scratch_workspace();
        let rules = [
            ("migration integrity", integrity::check as Rule),
            ("dependency rules", dependencies::check),
            ("public API", public_api::check),
            ("contract crates package", packaging::check),
        ];
        for (name, rule) in rules {
            assert!(RULES.iter().any(|(listed, _)| *listed == name), "{name}");
            let verdict = rule(&workspace, &Options::default());
            assert!(matches!(verdict, Verdict::Pass(_)), "{name}: {verdict:?}");
        }
    }
}
