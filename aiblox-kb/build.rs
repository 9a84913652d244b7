//! Embeds the migrations of `migrations/` (the copy of `schema/` that `cargo xtask codegen`
//! writes) and the contract fingerprint into the crate, and rebuilds it when a migration is
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

    let out = Path::new(&std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"))
        .join("embedded_migrations.rs");
    std::fs::write(&out, code)
        .unwrap_or_else(|err| panic!("cannot write {}: {err}", out.display()));
}
