//! The benchmark program end to end on a reduced workload: its own durable cluster, pgbench,
//! every phase through the repositories, the checks of the results, the JSON report.

use std::process::Command;

#[test]
fn a_quick_run_measures_every_phase_and_checks_its_results() {
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("report.json");
    let output = Command::new(env!("CARGO_BIN_EXE_aiblox-bench"))
        .args(["--quick", "--pgbench-seconds", "1", "--json-out"])
        .arg(&json_path)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(table.contains("get_vs_pgbench"), "{table}");

    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let phases = &report["phases"];
    for phase in [
        "upsert",
        "get",
        "get_c1",
        "get_plain_pool",
        "get_c1_plain_pool",
        "get_bare_deadpool",
        "get_many",
        "get_many_bare_deadpool",
        "search",
        "chunk_put",
        "chunk_get",
    ] {
        let ops_per_s = phases[phase]["ops_per_s"].as_f64().unwrap_or(0.0);
        assert!(ops_per_s > 0.0, "{phase}: {}", phases[phase]);
        assert!(
            phases[phase]["p99_ms"].as_f64().unwrap() >= phases[phase]["p50_ms"].as_f64().unwrap()
        );
        assert!(
            phases[phase]["server_cpu_s"].is_number(),
            "own cluster: server CPU is measured"
        );
    }
    // A tenth of every size of the specification.
    assert_eq!(phases["upsert"]["inserted"], 2000);
    assert_eq!(phases["get"]["found"], 2000);
    assert_eq!(phases["get_bare_deadpool"]["found"], 2000);
    assert_eq!(phases["chunk_get"]["hits"], 2000);
    assert_eq!(phases["search"]["ops"], 200);
    assert!(phases["get_many"]["rows"].as_u64().unwrap() > 19_000);
    assert!(
        report["dataset"]["sizes"]
            .as_str()
            .unwrap()
            .starts_with("quick: a tenth of every size, which has no reference fingerprint"),
        "{}",
        report["dataset"]
    );
    assert!(
        !table.contains('{'),
        "the table is the output; JSON only in --json-out: {table}"
    );
    for phase in phases.as_object().unwrap().values() {
        if let Some(other) = phase["other_cpu_s"].as_f64() {
            assert!(other >= 0.0, "no negative CPU time: {phase}");
        }
    }
    assert!(report["pgbench_select_only_tps"].as_f64().unwrap() > 0.0);
    assert!(report["ratios"]["get_vs_pgbench"].as_f64().unwrap() > 0.0);
    assert!(
        report["ratios"]["get_plain_pool_vs_bare_deadpool"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    // Each ceiling ran (pgbench on the contract's own statements; chunk_put's checks that it
    // wrote the phase's chunks) and every phase with one reads as a ratio of it.
    for phase in ["get_many", "chunk_put"] {
        assert!(
            report["ceilings"][phase].as_f64().unwrap_or(0.0) > 0.0,
            "{}",
            report["ceilings"]
        );
        assert!(
            report["ratios"][format!("{phase}_vs_ceiling")]
                .as_f64()
                .unwrap()
                > 0.0
        );
    }
    // The ceilings' server CPU is measured (the server is the run's own), so the bound the
    // cores put on get_many and its bare reference is reported.
    for phase in ["get_many", "chunk_put"] {
        assert!(
            report["ceiling_server_cpu_ms_per_call"][phase]
                .as_f64()
                .unwrap_or(0.0)
                > 0.0,
            "{}",
            report["ceiling_server_cpu_ms_per_call"]
        );
    }
    for ratio in [
        "get_c1_vs_plain_pool",
        "get_c1_p50_vs_plain_pool",
        "get_many_vs_bare_deadpool",
        "get_many_cpu_bound_vs_ceiling",
        "get_many_bare_deadpool_cpu_bound_vs_ceiling",
    ] {
        assert!(report["ratios"][ratio].as_f64().unwrap() > 0.0, "{ratio}");
    }
}

#[test]
fn a_bad_database_url_is_refused_without_showing_its_password() {
    let output = Command::new(env!("CARGO_BIN_EXE_aiblox-bench"))
        .args([
            "--quick",
            "--database-url",
            "postgresql://bench:s3cret-pw@127.0.0.1:1/none",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("error:"), "{stderr}");
    assert!(!stderr.contains("s3cret-pw"), "{stderr}");
}
