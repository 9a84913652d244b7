//! Embeds the migrations of `migrations/` (the copy of `schema/` that `cargo xtask codegen`
//! writes) and the contract fingerprint into the crate, and rebuilds it when a migration is
//! added, changed or removed.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let dir = Path::new(&manifest_dir).join("migrations");
    println!("cargo:rerun-if-changed={}", dir.display());

    let mut migrations = Vec::new();
    for entry in
        std::fs::read_dir(&dir).unwrap_or_else(|err| panic!("cannot list {}: {err}", dir.display()))
    {
        let path = entry.expect("readable directory entry").path();
        let file_name = path
            .file_name()
            .and_then(|name| name.to_str())
            .unwrap_or_default()
            .to_owned();
        if !file_name.ends_with(".sql") {
            continue;
        }
        let name = aiblox_sqlfile::MigrationName::parse(&file_name)
            .unwrap_or_else(|err| panic!("{}: {err}; run `cargo xtask codegen`", dir.display()));
        migrations.push((name.version, file_name, path));
    }
    migrations.sort();
    for pair in migrations.windows(2) {
        assert!(
            pair[0].0 != pair[1].0,
            "{} and {} share version {}",
            pair[0].1,
            pair[1].1,
            pair[0].0
        );
    }

    let mut code = String::from("/// The migrations embedded in this build, in version order.\n");
    code.push_str("static EMBEDDED: &[EmbeddedMigration] = &[\n");
    for (version, file_name, path) in &migrations {
        writeln!(
            code,
            "    EmbeddedMigration {{ version: {version}, file_name: {file_name:?}, sql: include_str!({:?}) }},",
            path.display().to_string()
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
