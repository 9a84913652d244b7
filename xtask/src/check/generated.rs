//! Rule: the generated query crate, the embedded migrations, `schema/migrations.sum`, the
//! manifest and the Python package are what `cargo xtask codegen` makes of `schema/` and
//! `queries/` now.

use super::{Options, Verdict};
use crate::codegen;
use crate::workspace::Workspace;

pub(super) fn check(workspace: &Workspace, _options: &Options) -> Verdict {
    match codegen::run(workspace, codegen::Mode::Check) {
        Ok(_) => Verdict::Pass("aiblox-kb/gen, aiblox-kb/migrations, schema/migrations.sum, aiblox-kb/contract.json and python/ match schema/ and queries/".to_owned()),
        Err(err) => Verdict::fail(format!("{err:#}"), "run `cargo xtask codegen` and commit the result"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{append, scratch_workspace};

    #[test]
    fn fails_when_a_query_changed_without_regenerating() {
        let (_dir, workspace) = scratch_workspace();
        assert!(matches!(
            check(&workspace, &Options::default()),
            Verdict::Pass(_)
        ));
        append(
            &workspace.queries_dir().join("item.sql"),
            "\n--! count_items\nSELECT count(*) AS n FROM item;\n",
        );
        let Verdict::Fail { reason, fix } = check(&workspace, &Options::default()) else {
            panic!("stale code passed")
        };
        assert!(
            reason.contains("aiblox-kb/gen/src/queries/item.rs (stale)"),
            "{reason}"
        );
        assert!(fix.contains("cargo xtask codegen"), "{fix}");
    }
}
