//! Embeds the migrations of `migrations/` (the copy of `schema/` that `cargo xtask codegen`
//! writes), the contract fingerprint and the schema version (Cargo.toml's
//! `[package.metadata.contract]`) into the crate, and rebuilds it when a migration is
//! added, changed or removed.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&manifest_dir).join("migrations");
    println!("cargo:rerun-if-changed={}", dir.display());

    let migrations = aiblox_sqlfile::migration_files(&dir)
        .unwrap_or_else(|err| panic!("{}: {err}; run `cargo xtask codegen`", dir.display()));

    let mut code = String::from("/// The migrations embedded in this build, in version order.\n");
    code.push_str("static EMBEDDED: &[EmbeddedMigration] = &[\n");
    for migration in &migrations {
        writeln!(
            code,
            "    EmbeddedMigration {{ version: {}, file_name: {:?}, sql: include_str!({:?}) }},",
            migration.name.version,
            migration.file_name,
            migration.path.display().to_string()
        )
        .expect("writing to a String");
    }
    code.push_str("];\n");
    let fingerprint_path = dir.join("CONTRACT_FINGERPRINT");
    let fingerprint = std::fs::read_to_string(&fingerprint_path).unwrap_or_else(|err| {
        panic!(
            "cannot read {}: {err}; run `cargo xtask codegen`",
            fingerprint_path.display()
        )
    });
    println!(
        "cargo:rustc-env=AIBLOX_KB_CONTRACT_FINGERPRINT={}",
        fingerprint.trim()
    );

    let manifest_path = Path::new(&manifest_dir).join("Cargo.toml");
    println!("cargo:rerun-if-changed={}", manifest_path.display());
    let manifest = std::fs::read_to_string(&manifest_path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", manifest_path.display()));
    let schema_version = schema_version(&manifest).unwrap_or_else(|| {
        panic!(
            "{}: no schema-version in [package.metadata.contract]",
            manifest_path.display()
        )
    });
    println!("cargo:rustc-env=AIBLOX_KB_SCHEMA_VERSION={schema_version}");

    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("embedded_migrations.rs");
    std::fs::write(&out, code)
        .unwrap_or_else(|err| panic!("cannot write {}: {err}", out.display()));
}

/// `schema-version = "X"` of the manifest's `[package.metadata.contract]` table.
fn schema_version(manifest: &str) -> Option<String> {
    let mut in_table = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_table = line == "[package.metadata.contract]";
        } else if in_table && let Some(value) = line.strip_prefix("schema-version") {
            let value = value.trim_start().strip_prefix('=')?.trim();
            return Some(value.trim_matches('"').to_owned());
        }
    }
    None
}
