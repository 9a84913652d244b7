//! Hostile input, by property: validation accepts exactly what the protocol's rules allow, and
//! no request body, however broken, gets a 500 from the real HTTP stack, with or without its
//! database; on a populated one every answer keeps the protocol's promises (a bounded fuzz on
//! the stable toolchain: `cargo fuzz` needs nightly). The chunker's and the highlighter's
//! properties are unit tests of their (private) modules, on the same hostile text.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use aiblox_kb::{ItemRepo, KbItem, NewItem};
use aiblox_kb_testkit::TestKb;
use aiblox_orchestrator::config::{Limits, Overrides, RetrievalSettings, Settings};
use aiblox_orchestrator::protocol::{InvalidRequest, Mode, QueryRequest, ValidQuery};
use aiblox_orchestrator::server::{AppState, app};
use axum::body::Body;
use axum::http::Request;
use proptest::prelude::*;
use proptest::strategy::ValueTree as _;
use proptest::test_runner::TestRunner;
use tower::ServiceExt as _;

#[path = "support/hostile.rs"]
mod hostile;
use hostile::hostile_text;

/// `request` validated with a query limit of [`MAX_QUERY_CHARS`] and 3 passages per item by
/// default.
fn validate(request: QueryRequest) -> Result<ValidQuery, InvalidRequest> {
    let limits = Limits {
        max_query_chars: MAX_QUERY_CHARS,
        ..Limits::default()
    };
    let retrieval = RetrievalSettings {
        max_chunks_per_item: 3,
        ..RetrievalSettings::default()
    };
    request.validate(&limits, &retrieval)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn validation_accepts_exactly_what_the_protocol_allows(request in query_request()) {
        let faults = protocol_verdict(&request);
        let validated = validate(request.clone());
        match (&validated, faults.as_slice()) {
            (Ok(valid), []) => {
                prop_assert_eq!(valid.query.as_str(), request.query.trim());
                prop_assert_eq!(valid.top_k, request.top_k.unwrap_or(5) as usize);
                prop_assert_eq!(valid.max_chunks_per_item, request.max_chunks_per_item.unwrap_or(3) as usize);
                prop_assert_eq!(valid.min_score, request.min_score.unwrap_or(0.0));
                prop_assert_eq!(&valid.sources, &request.sources);
            }
            (Err(message), [_, ..]) => prop_assert!(faults.iter().any(|field| message.to_string().contains(field)), "{message:?} should name one of {faults:?}"),
            (outcome, faults) => prop_assert!(false, "{request:?}: validated as {outcome:?}, the rules find fault with {faults:?}"),
        }
    }

    #[test]
    fn any_body_that_parses_is_judged_by_the_same_rules(bytes in proptest::collection::vec(any::<u8>(), 0..3000)) {
        if let Ok(request) = serde_json::from_slice::<QueryRequest>(&bytes) {
            let faults = protocol_verdict(&request);
            prop_assert_eq!(validate(request).is_ok(), faults.is_empty());
        }
    }

    #[test]
    fn no_body_gets_a_500(body in prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..2000),
        hostile_text().prop_map(|query| serde_json::json!({"query": query}).to_string().into_bytes()),
        (hostile_text(), any::<i64>(), proptest::collection::vec(hostile_text(), 0..5)).prop_map(|(query, top_k, sources)| {
            serde_json::json!({"query": query, "top_k": top_k, "sources": sources}).to_string().into_bytes()
        }),
    ]) {
        let status = runtime().block_on(async {
            let request = Request::post("/v1/query").header("content-type", "application/json").body(Body::from(body)).unwrap();
            router().oneshot(request).await.unwrap().status().as_u16()
        });
        // 503: the test's database does not exist, which only a valid request reaches.
        prop_assert!(status == 200 || (400..500).contains(&status) || status == 503, "status {status}");
    }
}

/// The whole HTTP stack on a migrated database holding [`fuzz_corpus`], so that the 200 path
/// (retrieval, chunking, scoring of arbitrary questions) is fuzzed too. Every body gets a 200
/// or a 4xx with the JSON error; every 200 keeps the protocol's promises: each passage is the
/// slice of its item's content that its offsets name, from a source asked for, scored finite,
/// within 0 to 1 and at least `min_score`, best first, at most `top_k` passages and at most
/// `max_chunks_per_item` of one item. It would catch offsets counted in characters instead of
/// bytes (the corpus has other scripts), a source filter that leaks, a cap not applied, or a
/// NaN score from an empty chunk or a term the corpus lacks.
#[test]
fn fuzzed_queries_on_a_populated_database_keep_the_protocols_promises() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let kb = runtime.block_on(TestKb::new());
    let items: HashMap<i64, KbItem> = runtime.block_on(async {
        let repo = ItemRepo::new(kb.pool());
        let outcomes = repo.upsert(&fuzz_corpus()).await.unwrap();
        let mut items = HashMap::new();
        for outcome in outcomes {
            items.insert(outcome.id, repo.get(outcome.id).await.unwrap().unwrap());
        }
        items
    });
    let overrides = Overrides::default()
        .set("database.url", kb.server_url())
        .set("database.schema", kb.schema());
    let settings = Settings::resolve(&overrides).unwrap();
    let state = {
        let _guard = runtime.enter();
        Arc::new(AppState::new(&settings).unwrap())
    };
    let router = app(state, 64 * 1024);
    let with_evidence = AtomicUsize::new(0);
    let mut runner = TestRunner::new(ProptestConfig {
        cases: 200,
        ..ProptestConfig::default()
    });
    let outcome = runner.run(&fuzz_body(), |body| {
        let (status, answer) = runtime.block_on(async {
            let request = Request::post("/v1/query")
                .header("content-type", "application/json")
                .body(Body::from(body.to_string()))
                .unwrap();
            let response = router.clone().oneshot(request).await.unwrap();
            let status = response.status().as_u16();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            (
                status,
                serde_json::from_slice::<serde_json::Value>(&bytes).unwrap(),
            )
        });
        if (400..500).contains(&status) {
            let error = &answer["error"];
            prop_assert!(
                error["code"].as_str().is_some_and(|code| !code.is_empty()),
                "{status} {answer}"
            );
            prop_assert!(
                error["message"]
                    .as_str()
                    .is_some_and(|message| !message.is_empty()),
                "{status} {answer}"
            );
            return Ok(());
        }
        prop_assert_eq!(status, 200, "{} for {}", answer, body);
        let top_k = body["top_k"].as_u64().unwrap_or(5) as usize;
        let cap = body["max_chunks_per_item"].as_u64().unwrap_or(3) as usize;
        let min_score = body["min_score"].as_f64().unwrap_or(0.0);
        let sources: Option<Vec<&str>> = body["sources"].as_array().map(|sources| {
            sources
                .iter()
                .filter_map(serde_json::Value::as_str)
                .collect()
        });
        let route = answer["route"].as_str().unwrap_or_default();
        prop_assert!(["lookup", "search", "none"].contains(&route), "{answer}");
        let evidence = answer["evidence"].as_array().unwrap();
        prop_assert!(
            evidence.len() <= top_k,
            "{} passages for top_k {top_k}",
            evidence.len()
        );
        let mut per_item: HashMap<i64, usize> = HashMap::new();
        let mut previous = f64::INFINITY;
        for passage in evidence {
            let id = passage["item_id"].as_i64().unwrap();
            let item = &items[&id];
            let (start, end) = (
                passage["start"].as_u64().unwrap() as usize,
                passage["end"].as_u64().unwrap() as usize,
            );
            prop_assert_eq!(
                item.content.get(start..end),
                passage["text"].as_str(),
                "offsets of {}",
                passage
            );
            prop_assert_eq!(passage["source"].as_str(), Some(item.source.as_str()));
            prop_assert!(
                sources
                    .as_ref()
                    .is_none_or(|sources| sources.contains(&item.source.as_str())),
                "{} outside {:?}",
                item.source,
                sources
            );
            let score = passage["score"].as_f64().unwrap();
            prop_assert!(
                score.is_finite() && (0.0..=1.0).contains(&score) && score >= min_score,
                "score {score}, min_score {min_score}"
            );
            if route == "search" {
                prop_assert!(score <= previous, "not best first: {answer}");
                previous = score;
                *per_item.entry(id).or_default() += 1;
            }
        }
        prop_assert!(
            per_item.values().all(|&count| count <= cap),
            "more than {cap} passages of one item: {answer}"
        );
        if let Some(candidates) = answer["explain"]["candidates"].as_array() {
            prop_assert!(
                candidates
                    .iter()
                    .all(|candidate| candidate["score"].as_f64().is_some_and(f64::is_finite)),
                "{answer}"
            );
        }
        if !evidence.is_empty() {
            with_evidence.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    });
    if let Err(failure) = outcome {
        panic!("{failure}");
    }
    // About a fifth or more of the bodies get evidence (in a dozen runs of the 200, one had 39
    // and the others at least 40): far below that, the fuzz no longer reaches the answering
    // path. The bound sits well below what was seen, so a draw of random bodies does not fail
    // it.
    let answered = with_evidence.load(Ordering::Relaxed);
    assert!(
        answered >= 20,
        "only {answered} of 200 bodies got evidence: the fuzz hardly reached the 200 path"
    );
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    })
}

/// The real router on a database that is not there (a unix socket in a missing directory).
fn router() -> axum::Router {
    static STATE: OnceLock<Arc<AppState>> = OnceLock::new();
    let state = STATE.get_or_init(|| {
        let overrides = Overrides::default()
            .set(
                "database.url",
                "postgresql://app:secret@%2Fnonexistent%2Faiblox/kb",
            )
            .set("pool.wait_timeout_ms", "200")
            .set("pool.connect_timeout_ms", "200");
        let settings = Settings::resolve(&overrides).unwrap();
        let _guard = runtime().enter();
        Arc::new(AppState::new(&settings).unwrap())
    });
    app(state.clone(), 64 * 1024)
}

/// The longest question the validation tests allow.
const MAX_QUERY_CHARS: usize = 2_000;

/// Requests near and across every limit of the protocol.
fn query_request() -> impl Strategy<Value = QueryRequest> {
    let query = prop_oneof![
        hostile_text(),
        "[ \t\n\u{a0}]{0,5}",
        "[a-z]{1,10}\0[a-z]{0,3}",
        "x{1995,2005}",
        " x{1998,2001} ",
    ];
    let count = || proptest::option::of(prop_oneof![0u32..60, any::<u32>()]);
    let score = proptest::option::of(prop_oneof![
        (-4i32..8).prop_map(|quarters| f64::from(quarters) / 4.0),
        any::<f64>(),
    ]);
    let source = prop_oneof![
        "[a-z]{1,8}",
        Just(String::new()),
        "y{250,260}",
        Just("a\0b".to_owned()),
    ];
    let sources = proptest::option::of(prop_oneof![
        proptest::collection::vec(source, 0..4),
        proptest::collection::vec("[a-z]{1,3}", 99..102),
    ]);
    let mode = proptest::option::of(prop_oneof![
        Just(Mode::Lexical),
        Just(Mode::Dense),
        Just(Mode::Hybrid)
    ]);
    (query, count(), sources, count(), score, any::<bool>(), mode).prop_map(
        |(query, top_k, sources, max_chunks_per_item, min_score, explain, mode)| QueryRequest {
            query,
            top_k,
            sources,
            max_chunks_per_item,
            min_score,
            explain,
            mode,
            filter: None,
            facets: None,
            after: None,
        },
    )
}

/// The fields the protocol's rules (docs and OpenAPI) find at fault, none for a request they
/// accept: written from the rules, apart from the validation under test.
fn protocol_verdict(request: &QueryRequest) -> Vec<&'static str> {
    let mut faults = Vec::new();
    let query = request.query.trim();
    if query.is_empty() || query.chars().count() > MAX_QUERY_CHARS || query.contains('\0') {
        faults.push("query");
    }
    let in_range = |count: Option<u32>, default: u32| (1..=50).contains(&count.unwrap_or(default));
    if !in_range(request.top_k, 5) {
        faults.push("top_k");
    }
    if !in_range(request.max_chunks_per_item, 3) {
        faults.push("max_chunks_per_item");
    }
    if !(0.0..=1.0).contains(&request.min_score.unwrap_or(0.0)) {
        faults.push("min_score");
    }
    let bad_source = |source: &String| {
        source.is_empty() || source.chars().count() > 256 || source.contains('\0')
    };
    if let Some(sources) = &request.sources
        && (sources.is_empty() || sources.len() > 100 || sources.iter().any(bad_source))
    {
        faults.push("sources");
    }
    faults
}

/// Pages of a knowledge base for the fuzz below: prose in two sources, text in other scripts
/// and with combining characters (offsets must fall on character boundaries), and hostile
/// texts drawn once with a fixed seed.
fn fuzz_corpus() -> Vec<NewItem> {
    let mut items = vec![
        NewItem::new("docs", "vacuum.md", "VACUUM reclaims storage occupied by dead tuples.\n\nAutovacuum automates VACUUM and ANALYZE; tables that are updated often need it most. A table's dead tuples stay until VACUUM removes them.").with_title("VACUUM"),
        NewItem::new("docs", "indexes.md", "Indexes let the database server find rows much faster. B-tree indexes are the default; GIN indexes serve full text search.\n\nEvery index adds overhead to writes.").with_title("Indexes"),
        NewItem::new("wiki", "replication.md", "Streaming replication keeps a standby server up to date: the primary streams WAL records to the standby. A standby can answer read-only queries."),
        NewItem::new("wiki", "unicode.md", "Café naïve re\u{301}sume\u{301}: the server stores UTF-8. 日本語のテキストも検索できます。 Emoji 🦀👩‍👩‍👧 and combining marks e\u{301}\u{308} sit beside the words vacuum and index."),
        NewItem::new("wiki", "blank.md", "   \n\n  "),
    ];
    let mut runner = TestRunner::deterministic();
    for index in 0..12 {
        let text = hostile_text()
            .new_tree(&mut runner)
            .unwrap()
            .current()
            .replace('\0', " ");
        items.push(NewItem::new(
            "fuzz",
            format!("hostile-{index}"),
            format!("{text} vacuum index server {text}"),
        ));
    }
    items
}

/// A body for `POST /v1/query`: questions made of the corpus's words and of hostile text, item
/// names, and every parameter within and beyond its range.
fn fuzz_body() -> impl Strategy<Value = serde_json::Value> {
    let word = prop_oneof![
        Just("vacuum"),
        Just("dead"),
        Just("tuples"),
        Just("index"),
        Just("indexes"),
        Just("standby"),
        Just("server"),
        Just("replication"),
        Just("café"),
        Just("日本語"),
        Just("the"),
        Just("a"),
        Just("-"),
        Just("\"dead tuples\""),
        Just("OR"),
    ]
    .prop_map(str::to_owned);
    let question = prop_oneof![
        4 => proptest::collection::vec(prop_oneof![3 => word, 1 => hostile_text()], 1..8).prop_map(|words| words.join(" ")),
        1 => prop_oneof![Just("docs:vacuum.md"), Just("wiki:unicode.md"), Just("fuzz:hostile-3"), Just("docs:missing")].prop_map(str::to_owned),
        1 => hostile_text(),
    ];
    // Mostly valid parameters, so that most bodies reach retrieval and scoring.
    let count = || {
        prop_oneof![
            3 => Just(None),
            6 => (1i64..=50).prop_map(Some),
            1 => (-5i64..60).prop_map(Some),
            1 => any::<i64>().prop_map(Some),
        ]
    };
    let sources = prop_oneof![
        3 => Just(None),
        2 => proptest::collection::vec(
            prop_oneof![Just("docs"), Just("wiki"), Just("fuzz"), Just("nope")].prop_map(str::to_owned),
            1..3
        )
        .prop_map(Some),
        1 => proptest::collection::vec("\\PC{0,5}", 0..3).prop_map(Some),
    ];
    let min_score = prop_oneof![
        4 => Just(None),
        3 => (0.0f64..0.5).prop_map(Some),
        1 => (-1.0f64..2.0).prop_map(Some),
    ];
    let mode = prop_oneof![
        4 => Just(None),
        2 => Just(Some("lexical")),
        1 => Just(Some("hybrid")),
        1 => Just(Some("bogus")),
    ];
    (
        question,
        count(),
        sources,
        count(),
        min_score,
        any::<bool>(),
        mode,
    )
        .prop_map(
            |(query, top_k, sources, max_chunks_per_item, min_score, explain, mode)| {
                let mut body = serde_json::json!({"query": query, "explain": explain});
                for (key, value) in [
                    ("top_k", top_k.map(serde_json::Value::from)),
                    ("sources", sources.map(serde_json::Value::from)),
                    (
                        "max_chunks_per_item",
                        max_chunks_per_item.map(serde_json::Value::from),
                    ),
                    ("min_score", min_score.map(serde_json::Value::from)),
                    ("mode", mode.map(serde_json::Value::from)),
                ] {
                    if let Some(value) = value {
                        body[key] = value;
                    }
                }
                body
            },
        )
}
