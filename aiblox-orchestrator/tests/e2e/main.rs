//! End-to-end tests: the real service on port 0, against a throwaway PostgreSQL holding
//! ingested documents, exercised over HTTP.

mod access;
mod api;
mod cli;
mod failover;
mod failures;
mod filters;
mod fleet;
mod hybrid;
mod mcp;
mod pages;
mod pipeline;
mod pooler;
mod privileges;
mod python;
mod replay;
mod replicas;
mod secrets;
mod writes;

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aiblox_kb::{ItemRepo, KbConfig, NewItem};
use aiblox_kb_testkit::TestKb;
use aiblox_orchestrator::config::{Overrides, Settings};
use aiblox_orchestrator::server::Application;
use serde_json::Value;

/// A running service and what it runs on.
pub struct TestApp {
    pub url: String,
    pub client: reqwest::Client,
    /// The test's schema, when the service runs on one (`None`: a database of the test's own).
    pub kb: Option<TestKb>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

/// Documents every test starts with.
pub fn corpus() -> Vec<NewItem> {
    vec![
        NewItem::new(
            "docs",
            "vacuum.md",
            "VACUUM reclaims storage occupied by dead tuples. In normal operation, tuples that are deleted or \
             obsoleted by an update are not physically removed from their table.\n\nThey remain present until a \
             VACUUM is done. Therefore it is necessary to do VACUUM periodically, especially on frequently-updated \
             tables.\n\nAutovacuum automates the execution of VACUUM and ANALYZE commands.",
        )
        .with_title("VACUUM"),
        NewItem::new(
            "docs",
            "indexes.md",
            "Indexes are a common way to enhance database performance. An index allows the database server to \
             find and retrieve specific rows much faster than it could do without an index.\n\nBut indexes also \
             add overhead to the database system as a whole, so they should be used sensibly. B-tree indexes are \
             the default.",
        )
        .with_title("Indexes"),
        NewItem::new(
            "wiki",
            "replication.md",
            "Streaming replication allows a standby server to stay more up-to-date than is possible with \
             file-based log shipping. The standby connects to the primary, which streams WAL records to the \
             standby as they are generated.",
        ),
        NewItem::new("wiki", "empty.md", "   "),
    ]
}

impl TestApp {
    /// A service on a fresh schema holding [`corpus`].
    pub async fn spawn() -> TestApp {
        let kb = TestKb::new().await;
        ItemRepo::new(kb.pool()).upsert(&corpus()).await.unwrap();
        let settings = settings_with(kb.config(), kb.server_url(), Vec::new());
        Self::spawn_with(settings, Some(kb)).await
    }

    /// A service with these settings.
    pub async fn spawn_with(settings: Settings, kb: Option<TestKb>) -> TestApp {
        let application = Application::build(&settings).await.unwrap();
        let url = format!("http://{}", application.local_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(application.run_until(async move {
            let _ = stopped.await;
        }));
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        TestApp {
            url,
            client,
            kb,
            stop: Some(stop),
            server: Some(server),
        }
    }

    /// A client of a service running elsewhere (another process), at `url`.
    pub fn at(url: &str) -> TestApp {
        TestApp {
            url: url.to_owned(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            kb: None,
            stop: None,
            server: None,
        }
    }

    pub async fn query(&self, body: Value) -> (u16, Value) {
        let response = self
            .client
            .post(format!("{}/v1/query", self.url))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// The service's `/metrics` text.
    pub async fn metrics(&self) -> String {
        self.client
            .get(format!("{}/metrics", self.url))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The test schema the service runs on.
    pub fn kb(&self) -> &TestKb {
        self.kb.as_ref().expect("a service on a test schema")
    }

    /// Stops the server the way SIGTERM does and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(server) = self.server.take() {
            server.await.unwrap().unwrap();
        }
    }
}

/// Settings of a service on port 0 serving `config`'s schema at `url`, with more settings by
/// TOML key, such as `("pool.wait_timeout_ms", "500")`.
pub fn settings_with(
    config: &KbConfig,
    url: &str,
    settings: Vec<(&'static str, String)>,
) -> Settings {
    let overrides = Overrides::default()
        .set("listen", "127.0.0.1:0")
        .set("database.url", url)
        .set("database.schema", config.schema());
    let overrides = settings
        .into_iter()
        .fold(overrides, |overrides, (key, value)| {
            overrides.set(key, value)
        });
    Settings::resolve(&overrides).unwrap()
}

/// Applies to `config`'s schema what a newer build of the same contract line would: this
/// build's migrations and one more (`V9000__add_lang.sql`).
pub async fn apply_a_newer_builds_migration(config: &KbConfig) {
    let newer = tempfile::tempdir().unwrap();
    let embedded = Path::new(env!("CARGO_MANIFEST_DIR")).join("../aiblox-kb/migrations");
    for entry in std::fs::read_dir(&embedded).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|ext| ext == "sql") {
            std::fs::copy(&path, newer.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    std::fs::write(
        newer.path().join("V9000__add_lang.sql"),
        "ALTER TABLE item ADD COLUMN lang text;\n",
    )
    .unwrap();
    aiblox_kb::Migrator::new(config)
        .migrations_from_dir(newer.path())
        .unwrap()
        .run()
        .await
        .unwrap();
}

/// Polls `/readyz` (which answers from a check at most a few seconds old) until `done` holds
/// for its status and body, and returns them; a generous bound only against hangs.
pub async fn readyz_until(
    app: &TestApp,
    what: &str,
    done: impl Fn(u16, &Value) -> bool,
) -> (u16, Value) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, body) = app.get("/readyz").await;
        if done(status, &body) {
            return (status, body);
        }
        assert!(Instant::now() < deadline, "{what}: still {status} {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every evidence passage is the slice of its item's content that its offsets name.
pub async fn assert_offsets_hold(app: &TestApp, response: &Value) {
    for passage in response["evidence"].as_array().unwrap() {
        let item = ItemRepo::new(app.kb().pool())
            .get(passage["item_id"].as_i64().unwrap())
            .await
            .unwrap()
            .unwrap();
        let (start, end) = (
            passage["start"].as_u64().unwrap() as usize,
            passage["end"].as_u64().unwrap() as usize,
        );
        assert_eq!(
            item.content.get(start..end),
            passage["text"].as_str(),
            "offsets of {passage}"
        );
    }
}

/// The real service binary, serving `kb` on a free port with JSON logs collected.
pub struct Served {
    /// The process.
    pub child: std::process::Child,
    /// Its log lines so far.
    pub lines: Arc<Mutex<Vec<String>>>,
    /// Where it listens, `host:port`.
    pub address: String,
}

impl Served {
    pub async fn start(kb: &TestKb, keys: Option<&Path>) -> Served {
        let mut command = Command::new(env!("CARGO_BIN_EXE_aiblox-orchestrator"));
        command
            .arg("serve")
            .env("AIBLOX_KB_DATABASE_URL", kb.server_url())
            .env("AIBLOX_KB_SCHEMA", kb.schema())
            .env("AIBLOX_LISTEN", "127.0.0.1:0")
            .env("AIBLOX_LOG_FORMAT", "json")
            .env_remove("AIBLOX_EMBEDDING_MODEL")
            .env_remove("AIBLOX_API_KEYS_FILE")
            .stderr(Stdio::piped());
        if let Some(keys) = keys {
            command.env("AIBLOX_API_KEYS_FILE", keys);
        }
        let mut child = command.spawn().unwrap();
        let lines = Arc::new(Mutex::new(Vec::<String>::new()));
        let reader = BufReader::new(child.stderr.take().unwrap());
        let collected = lines.clone();
        std::thread::spawn(move || {
            for line in reader.lines().map_while(Result::ok) {
                collected.lock().unwrap().push(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let address = loop {
            let found = lines.lock().unwrap().iter().find_map(|line| {
                let line: Value = serde_json::from_str(line).ok()?;
                (line["fields"]["message"] == "listening")
                    .then(|| line["fields"]["address"].as_str().map(str::to_owned))
                    .flatten()
            });
            if let Some(address) = found {
                break address;
            }
            assert!(
                Instant::now() < deadline,
                "no listening line: {:?}",
                lines.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        Served {
            child,
            lines,
            address,
        }
    }

    /// Asserts the process still runs (no restart happened), then stops it.
    pub fn stop_running(mut self) {
        assert!(
            self.child.try_wait().unwrap().is_none(),
            "the service is still running"
        );
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}
