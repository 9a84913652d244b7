//! The generated Python package (`python/aiblox_kb`) driven from Rust tests: a Python block
//! (`python/tests/interop.py`) run against a test's schema.
//!
//! The interpreter is `AIBLOX_TEST_PYTHON`, else `target/python-venv/bin/python` when it
//! exists, else `python3`; it must import psycopg and psycopg_pool. Where it cannot, the tests
//! skip saying how to install them, unless `AIBLOX_TEST_REQUIRE_PYTHON` is set (as in CI).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::TestKb;

/// The workspace's Python project (`python/`).
pub const PROJECT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../python");
/// How to make an interpreter the tests accept.
pub const INSTALL: &str = "python3 -m venv target/python-venv && target/python-venv/bin/pip install -r python/requirements-dev.txt";

/// The Python with the package's dependencies, or `None` (the test skips) where there is none.
///
/// # Panics
/// When `AIBLOX_TEST_REQUIRE_PYTHON` is set and no such Python is found.
pub fn python() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/python-venv/bin/python");
    let python = match std::env::var_os("AIBLOX_TEST_PYTHON") {
        Some(python) => PathBuf::from(python),
        None if venv.exists() => venv,
        None => PathBuf::from("python3"),
    };
    let found = Command::new(&python)
        .args(["-c", "import psycopg, psycopg_pool"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if found {
        return Some(python);
    }
    assert!(
        std::env::var_os("AIBLOX_TEST_REQUIRE_PYTHON").is_none(),
        "AIBLOX_TEST_REQUIRE_PYTHON is set but {} cannot import psycopg and psycopg_pool: {INSTALL}",
        python.display()
    );
    eprintln!(
        "skipped: no Python 3 with psycopg and psycopg_pool for the Python contract: {INSTALL}"
    );
    None
}

/// A command running `python/tests/interop.py args` on `kb`'s schema with the package from
/// the working tree (not an installed copy, which could be stale).
pub fn interop_command(python: &Path, kb: &TestKb, args: &[&str]) -> Command {
    let mut command = Command::new(python);
    command
        .arg(Path::new(PROJECT_DIR).join("tests/interop.py"))
        .args(args)
        .env("PYTHONPATH", PROJECT_DIR)
        .env("AIBLOX_KB_DATABASE_URL", kb.server_url())
        .env("AIBLOX_KB_SCHEMA", kb.schema())
        .env_remove("AIBLOX_KB_MIGRATION_URL")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs `interop.py args` with `stdin` and returns the JSON it printed, or its stderr.
pub fn interop(python: &Path, kb: &TestKb, args: &[&str], stdin: &str) -> Result<String, String> {
    let mut child = interop_command(python, kb, args)
        .spawn()
        .map_err(|err| format!("could not start {}: {err}", python.display()))?;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(stdin.as_bytes())
        .map_err(|err| format!("writing to interop.py: {err}"))?;
    let output = child
        .wait_with_output()
        .map_err(|err| format!("waiting for interop.py: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "interop.py {args:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    String::from_utf8(output.stdout).map_err(|err| err.to_string())
}
