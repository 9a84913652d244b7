//! Answers replayed against recorded ones: a fixed corpus (PostgreSQL documentation pages as
//! the ingestion block extracts them, `replay/corpus.jsonl`) and a fixed set of requests
//! (`replay/requests.jsonl`: every mode, lookups, source filters, caps, score floors,
//! `explain`) must get exactly the answers recorded in `replay/answers.json`. The pipeline may
//! be rearranged freely; what it answers may not change unless the recording is renewed on
//! purpose, in the same commit as the change that explains it:
//!
//! ```sh
//! AIBLOX_RECORD_ANSWERS=1 cargo test -p aiblox-orchestrator --test e2e replay
//! ```
//!
//! The lexical requests are asked twice: first of a service without a model whose chunk cache
//! is empty (the pipeline chunks what it ranks), then with every other request of a service
//! with the model once every item is embedded. Only `stats.elapsed_ms` is left out (it is a
//! time). Scores of passages ranked by meaning
//! (modes `dense` and `hybrid`) may differ by 1e-4: the model's arithmetic rounds differently
//! with another batch shape; every other value, every order and every byte of text must be
//! the same.

use aiblox_kb::{ItemRepo, NewItem};
use aiblox_kb_testkit::TestKb;
use serde_json::Value;

use crate::hybrid::{every_stored_vector_in_memory, fully_indexed, index_until, model_dir};
use crate::{TestApp, settings_with};

const CORPUS: &str = include_str!("replay/corpus.jsonl");
const REQUESTS: &str = include_str!("replay/requests.jsonl");
const ANSWERS: &str = "tests/e2e/replay/answers.json";
/// Setting this records the answers instead of comparing with them.
const RECORD: &str = "AIBLOX_RECORD_ANSWERS";
/// How far a score of a mode that embeds may move.
const MEANING_TOLERANCE: f64 = 1e-4;

/// The fixture's items, in file order (their ids follow it).
fn corpus() -> Vec<NewItem> {
    CORPUS
        .lines()
        .map(|line| {
            let item: Value = serde_json::from_str(line).unwrap();
            let text = |key: &str| item[key].as_str().unwrap().to_owned();
            NewItem::new(text("source"), text("external_id"), text("content"))
                .with_title(text("title"))
        })
        .collect()
}

/// Whether two answers agree: `tolerance` for non-integer numbers, exact for the rest.
fn same(recorded: &Value, answered: &Value, tolerance: f64, at: &str) -> Result<(), String> {
    match (recorded, answered) {
        (Value::Number(a), Value::Number(b)) if a.is_f64() || b.is_f64() => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            if (a - b).abs() <= tolerance {
                Ok(())
            } else {
                Err(format!("{at}: recorded {a}, answered {b}"))
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .try_for_each(|(i, (a, b))| same(a, b, tolerance, &format!("{at}[{i}]"))),
        (Value::Object(a), Value::Object(b)) if a.keys().eq(b.keys()) => a
            .iter()
            .try_for_each(|(key, value)| same(value, &b[key], tolerance, &format!("{at}.{key}"))),
        _ if recorded == answered => Ok(()),
        _ => Err(format!("{at}: recorded {recorded}, answered {answered}")),
    }
}

/// Asks `app` every request of `requests`, and keeps each answer (without its time) with the
/// request, its status and the `service` it was asked of.
async fn replay(app: &TestApp, requests: &[Value], service: &str, answers: &mut Vec<Value>) {
    for request in requests {
        let (status, mut response) = app.query(request.clone()).await;
        if let Some(stats) = response.get_mut("stats").and_then(Value::as_object_mut) {
            stats.remove("elapsed_ms");
        }
        answers.push(serde_json::json!({
            "service": service, "request": request, "status": status, "response": response,
        }));
    }
}

#[tokio::test]
async fn the_pipeline_answers_as_recorded() {
    let kb = TestKb::new().await;
    ItemRepo::new(kb.pool()).upsert(&corpus()).await.unwrap();
    let requests: Vec<Value> = REQUESTS
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let mut answers = Vec::new();

    // First without a model, the chunk cache empty: the lexical requests chunk what they rank.
    let lexical: Vec<Value> = requests
        .iter()
        .filter(|request| request["mode"] == "lexical")
        .cloned()
        .collect();
    let settings = settings_with(kb.config(), kb.server_url(), Vec::new());
    let app = TestApp::spawn_with(settings, None).await;
    replay(&app, &lexical, "lexical, chunk cache cold", &mut answers).await;
    app.stop().await;

    // Then with the model, once every item is embedded and every vector in memory: all of them.
    let mut settings = settings_with(kb.config(), kb.server_url(), Vec::new());
    settings.embedding.model = Some(model_dir());
    let app = TestApp::spawn_with(settings, None).await;
    index_until(&app, "the replay corpus", fully_indexed).await;
    // Every stored vector in memory too, else the dense leg would rank a part of the corpus.
    every_stored_vector_in_memory(&app, &kb).await;
    replay(&app, &requests, "hybrid, every item embedded", &mut answers).await;
    app.stop().await;

    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(ANSWERS);
    if std::env::var_os(RECORD).is_some() {
        // One answer per line: a change shows as the lines of the answers it changed.
        let lines: Vec<String> = answers.iter().map(|a| a.to_string()).collect();
        let text = format!("[\n{}\n]\n", lines.join(",\n"));
        std::fs::write(&path, text).unwrap();
        return;
    }
    let recorded: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(&path)
            .expect("recorded answers: run with AIBLOX_RECORD_ANSWERS=1"),
    )
    .unwrap();
    assert_eq!(
        recorded.len(),
        answers.len(),
        "one recorded answer per request"
    );
    let mut differences = Vec::new();
    for (recorded, answered) in recorded.iter().zip(&answers) {
        assert_eq!(
            recorded["request"], answered["request"],
            "requests in the recorded order"
        );
        let mode = answered["response"]["stats"]["mode"].as_str().unwrap_or("");
        let tolerance = if mode == "lexical" {
            0.0
        } else {
            MEANING_TOLERANCE
        };
        if let Err(difference) = same(recorded, answered, tolerance, "") {
            differences.push(format!("{}: {difference}", answered["request"]));
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {} answers differ from the recording (if on purpose, record again: {RECORD}=1):\n{}",
        differences.len(),
        answers.len(),
        differences.join("\n")
    );
}
