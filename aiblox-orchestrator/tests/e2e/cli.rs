//! The binary's command line: shell completions name its subcommands and flags.

use std::process::Command;

#[test]
fn completions_are_printed_for_each_shell() {
    for shell in ["bash", "zsh", "fish"] {
        let output = Command::new(env!("CARGO_BIN_EXE_aiblox-orchestrator"))
            .args(["completions", shell])
            .output()
            .unwrap();
        let script = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success(), "{shell}");
        assert!(
            script.contains("check-config") && script.contains("database-url"),
            "{shell}: {script}"
        );
    }
    let output = Command::new(env!("CARGO_BIN_EXE_aiblox-orchestrator"))
        .args(["completions", "tcsh"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "an unknown shell is refused");
}
