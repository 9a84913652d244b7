//! `aiblox-localpg`: starts a throwaway PostgreSQL, prints how to reach it, and keeps it until
//! stdin closes (Ctrl-D), Ctrl-C or SIGTERM, then stops it and removes its directory; killed
//! in any other way, the server dies with it and the next start sweeps the directory.
//!
//! `cargo run -p aiblox-localpg` gives a scratch server for poking at the schema with psql;
//! `-- --standby` a primary and a streaming standby of it, for trying read replicas and
//! failover by hand.
//! The lifecycle tests also run it to prove the server dies with its owner (a test-only
//! argument, `panic`, panics once the server is up).

use std::io::{BufRead as _, Write as _};
use std::process::ExitCode;
use std::sync::mpsc;

use aiblox_localpg::{LocalCluster, ServerOptions};

const USAGE: &str = "usage: aiblox-localpg [--standby]

Starts a throwaway PostgreSQL, prints its URL, and keeps it until Ctrl-D (end of input),
Ctrl-C or SIGTERM; then stops it and removes its directory.

  --standby  also start a streaming standby of it (a hot standby: read-only queries), and
             print its URL as standby_url= (pause its replay with
             SELECT pg_wal_replay_pause(), promote it with SELECT pg_promote())";

fn main() -> ExitCode {
    let then = std::env::args().nth(1).unwrap_or_else(|| "hold".to_owned());
    if matches!(then.as_str(), "-h" | "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    if !matches!(then.as_str(), "hold" | "panic" | "--standby") {
        eprintln!("error: unexpected argument {then:?}\n\n{USAGE}");
        return ExitCode::from(2);
    }
    let (cluster, standby) = match start_servers(then == "--standby") {
        Ok(servers) => servers,
        Err(code) => return code,
    };
    // Ctrl-C and SIGTERM are watched before the URL is printed: whoever reads it may signal
    // at once, and a signal that arrives before its handler is installed kills the process
    // with the server's directory left behind.
    let (stop, stopped) = mpsc::channel::<&'static str>();
    let (watching, watched) = mpsc::channel::<()>();
    let on_signal = stop.clone();
    std::thread::spawn(move || {
        if let Some(signal) = termination_signal(watching) {
            let _ = on_signal.send(signal);
        }
    });
    let _ = watched.recv();
    print_how_to_reach(&cluster, standby.as_ref());
    if then == "panic" {
        // The cluster lives in a variable that is never dropped: only the parent-death
        // signal can stop the server.
        std::mem::forget(cluster);
        panic!("panicking with a running cluster, as asked");
    }
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            if line.is_err() {
                break;
            }
        }
        let _ = stop.send("end of input");
    });
    let why = stopped.recv().unwrap_or("end of input");
    eprintln!(
        "{why}: stopping the server and removing {}",
        cluster.socket_dir().display()
    );
    if let Some(standby) = standby {
        standby.stop();
    }
    cluster.stop();
    ExitCode::SUCCESS
}

/// Starts the throwaway server, and a standby of it when asked; on failure, says why on
/// stderr and gives the exit code.
fn start_servers(with_standby: bool) -> Result<(LocalCluster, Option<LocalCluster>), ExitCode> {
    let cluster = match LocalCluster::start_temporary() {
        Ok(cluster) => cluster,
        Err(err) => {
            eprintln!("error: {err}");
            return Err(ExitCode::FAILURE);
        }
    };
    let standby = if with_standby {
        match cluster.start_standby(&ServerOptions::default()) {
            Ok(standby) => Some(standby),
            Err(err) => {
                eprintln!("error: the standby did not start: {err}");
                return Err(ExitCode::FAILURE);
            }
        }
    } else {
        None
    };
    Ok((cluster, standby))
}

/// Prints on stdout how to reach the server (and the standby) and how to stop them.
fn print_how_to_reach(cluster: &LocalCluster, standby: Option<&LocalCluster>) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "url={}", cluster.url("postgres"));
    let _ = writeln!(stdout, "pid={}", cluster.pid());
    let _ = writeln!(stdout, "dir={}", cluster.socket_dir().display());
    let _ = writeln!(
        stdout,
        "psql: psql -h {} -U postgres",
        cluster.socket_dir().display()
    );
    if let Some(standby) = standby {
        let _ = writeln!(stdout, "standby_url={}", standby.url("postgres"));
        let _ = writeln!(stdout, "standby_dir={}", standby.socket_dir().display());
    }
    let _ = writeln!(
        stdout,
        "stop: Ctrl-D or Ctrl-C (the server stops and its directory is removed)"
    );
    let _ = stdout.flush();
}

/// Waits for Ctrl-C (SIGINT) or SIGTERM and says which; `None` if they cannot be watched.
/// `watching` is told once the handlers are installed (or could not be).
fn termination_signal(watching: mpsc::Sender<()>) -> Option<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
    else {
        let _ = watching.send(());
        return None;
    };
    runtime.block_on(async {
        let handlers = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        );
        let _ = watching.send(());
        let (mut interrupt, mut terminate) = (handlers.0.ok()?, handlers.1.ok()?);
        tokio::select! {
            _ = interrupt.recv() => Some("Ctrl-C"),
            _ = terminate.recv() => Some("SIGTERM"),
        }
    })
}
