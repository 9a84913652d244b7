//! The database password never appears in logs, error messages, `Debug` output or HTTP
//! responses, on every failure path we can reach; hostile identifiers never reach SQL.

use std::io::Write as _;
use std::sync::{Arc, Mutex, OnceLock};

use aiblox_kb_testkit::TestKb;
use aiblox_localpg::{TestServer, test_server};
use aiblox_orchestrator::config::{Overrides, Settings};
use aiblox_orchestrator::server::{AppState, Application, app};
use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt as _;

const PASSWORD: &str = "Zx9-s3cret-Pa55";

/// Every log line of this test binary, captured (installed once, for the whole binary).
pub(crate) fn logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter("debug")
            .with_ansi(false)
            .with_writer(move || LogWriter(sink.clone()))
            .finish();
        let _ = tracing::subscriber::set_global_default(subscriber);
        buffer
    })
    .clone()
}

struct LogWriter(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn settings(url: &str, schema: Option<&str>) -> Result<Settings, String> {
    let mut overrides = Overrides::default()
        .set("listen", "127.0.0.1:0")
        .set("database.url", url)
        .set("pool.wait_timeout_ms", "300")
        .set("pool.connect_timeout_ms", "300");
    if let Some(schema) = schema {
        overrides = overrides.set("database.schema", schema);
    }
    Settings::resolve(&overrides).map_err(|err| err.to_string())
}

#[tokio::test]
async fn the_password_never_shows() {
    let logs = logs();
    let mut shown: Vec<String> = Vec::new();

    // A malformed URL.
    shown.push(settings(&format!("postgresql://app:{PASSWORD}@db:notaport/kb"), None).unwrap_err());

    // A refused connection: at start, and through HTTP.
    let refused = settings(
        &format!("postgresql://app:{PASSWORD}@%2Fnonexistent%2Faiblox/kb"),
        None,
    )
    .unwrap();
    shown.push(format!("{refused:?}"));
    shown.push(refused.to_redacted_toml());
    shown.push(format!(
        "{:#}",
        Application::build(&refused)
            .await
            .err()
            .expect("no database, no start")
    ));
    let state = Arc::new(AppState::new(&refused).unwrap());
    for request in [
        Request::post("/v1/query")
            .header("content-type", "application/json")
            .body(Body::from(r#"{"query": "vacuum"}"#))
            .unwrap(),
        Request::get("/readyz").body(Body::empty()).unwrap(),
        Request::get("/v1/items/1").body(Body::empty()).unwrap(),
    ] {
        let response = app(state.clone(), 65_536).oneshot(request).await.unwrap();
        assert_eq!(response.status(), 503);
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        shown.push(String::from_utf8_lossy(&body).into_owned());
    }

    // An authentication failure, on the local throwaway cluster (its pg_hba is ours to change).
    if let TestServer::Local(_) = test_server() {
        let kb = TestKb::new().await;
        let role = format!("{}_pw", kb.schema());
        let admin = kb.raw_client().await;
        let hba: String = admin.query_one("SHOW hba_file", &[]).await.unwrap().get(0);
        admin
            .batch_execute(&format!(
                "CREATE ROLE {role} LOGIN PASSWORD 'the-right-one';
                 COPY (SELECT 'local all {role} scram-sha-256' UNION ALL SELECT 'local all all trust') TO '{hba}';
                 SELECT pg_reload_conf();"
            ))
            .await
            .unwrap();
        let server = kb.server_url();
        let host = server.split_once('@').map(|(_, host)| host).unwrap();
        let wrong = settings(
            &format!("postgresql://{role}:{PASSWORD}@{host}"),
            Some(kb.schema()),
        )
        .unwrap();
        let err = format!(
            "{:#}",
            Application::build(&wrong)
                .await
                .err()
                .expect("a wrong password, no start")
        );
        assert!(err.contains("password authentication failed"), "{err}");
        shown.push(err);
        admin.batch_execute(&format!("COPY (SELECT 'local all all trust') TO '{hba}'; SELECT pg_reload_conf(); DROP ROLE {role};")).await.unwrap();
    } else {
        // An external server's authentication is not ours to change.
        eprintln!("the wrong-password case is skipped: AIBLOX_TEST_DATABASE_URL names a server");
    }

    let _ = std::io::stdout().flush();
    let captured = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    // The failure paths above log the driver's errors: an empty capture would prove nothing.
    assert!(
        captured.contains("knowledge base unavailable"),
        "the 503s above were logged and captured: {captured}"
    );
    shown.push(captured);
    for text in &shown {
        assert!(!text.contains(PASSWORD), "the password shows in: {text}");
    }
    assert!(
        shown.iter().any(|text| text.contains("app:***@")),
        "the redacted URL is shown instead"
    );
}

#[tokio::test]
async fn hostile_identifiers_are_refused_before_any_sql() {
    for schema in [
        "kb\"; DROP SCHEMA kb CASCADE; --",
        "kb;drop",
        "Kb",
        "kb-x",
        "pg_catalog",
        &"k".repeat(64),
        "kb'",
        "",
    ] {
        let err = settings("postgresql://app@localhost/kb", Some(schema)).unwrap_err();
        assert!(err.contains("invalid schema name"), "{schema:?}: {err}");
        assert_eq!(
            err.matches("invalid configuration").count(),
            1,
            "said once: {err}"
        );
    }
}

/// A fatal error at start is said once (not as a log line and again as `error:`), names the
/// host and port it tried, never the password, and exits non-zero.
#[test]
fn a_fatal_error_at_start_is_said_once_with_where_but_not_the_password() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_aiblox-orchestrator"))
        .arg("serve")
        .env(
            "AIBLOX_KB_DATABASE_URL",
            format!("postgresql://app:{PASSWORD}@127.0.0.1:{port}/kb"),
        )
        .env("AIBLOX_LISTEN", "127.0.0.1:0")
        .env_remove("AIBLOX_EMBEDDING_MODEL")
        .env_remove("AIBLOX_LOG_FORMAT")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.matches("Connection refused").count(),
        1,
        "said once: {stderr}"
    );
    assert!(
        stderr.contains("error: database unavailable")
            && stderr.contains(&format!("(database at 127.0.0.1:{port})")),
        "{stderr}"
    );
    assert!(!stderr.contains(PASSWORD), "{stderr}");
}
