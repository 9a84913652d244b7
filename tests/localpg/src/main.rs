//! `aiblox-localpg`: starts a throwaway PostgreSQL, prints how to reach it, and keeps it until
//! stdin closes (Ctrl-D) or the process is stopped in any way.
//!
//! `cargo run -p aiblox-localpg` gives a scratch server for poking at the schema with psql.
//! The lifecycle tests also run it to prove the server dies with its owner.

use std::io::{BufRead as _, Write as _};
use std::process::ExitCode;

use aiblox_localpg::LocalCluster;

fn main() -> ExitCode {
    let then = std::env::args().nth(1).unwrap_or_else(|| "hold".to_owned());
    if !matches!(then.as_str(), "hold" | "panic") {
        eprintln!(
            "usage: aiblox-localpg [hold|panic]\n  hold   keep the server until stdin closes (default)\n  panic  panic once the server is up (a lifecycle test)"
        );
        return ExitCode::from(2);
    }
    let cluster = match LocalCluster::start_temporary() {
        Ok(cluster) => cluster,
        Err(err) => {
            eprintln!("error: {err}");
            return ExitCode::FAILURE;
        }
    };
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "url={}", cluster.url("postgres"));
    let _ = writeln!(stdout, "pid={}", cluster.pid());
    let _ = writeln!(stdout, "dir={}", cluster.socket_dir().display());
    let _ = writeln!(
        stdout,
        "psql: psql -h {} -U postgres",
        cluster.socket_dir().display()
    );
    let _ = stdout.flush();
    drop(stdout);
    if then == "panic" {
        // The cluster lives in a variable that is never dropped: only the parent-death
        // signal can stop the server.
        std::mem::forget(cluster);
        panic!("panicking with a running cluster, as asked");
    }
    for line in std::io::stdin().lock().lines() {
        if line.is_err() {
            break;
        }
    }
    cluster.stop();
    ExitCode::SUCCESS
}
