//! Hostile input, by property: the chunker and the protocol never panic on any UTF-8 text,
//! chunk offsets are always exact, and no request body, however broken, gets a 500 from the
//! real HTTP stack (a bounded fuzz on the stable toolchain: `cargo fuzz` needs nightly).

use std::sync::{Arc, OnceLock};

use aiblox_kb::{Bm25, QueryTerm};
use aiblox_orchestrator::chunker::Chunker;
use aiblox_orchestrator::config::{Overrides, Settings};
use aiblox_orchestrator::evidence::{self, Passage};
use aiblox_orchestrator::protocol::QueryRequest;
use aiblox_orchestrator::server::{AppState, app};
use axum::body::Body;
use axum::http::Request;
use proptest::prelude::*;
use tower::ServiceExt as _;

/// Text that stresses splitting: words, blank lines, sentence ends, combining characters,
/// scripts without spaces, emoji, very long runs without whitespace, control characters.
fn hostile_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        "[a-zA-Z]{1,12}",
        Just(" ".to_owned()),
        Just("\n".to_owned()),
        Just("\n\n".to_owned()),
        Just(". ".to_owned()),
        Just("?! ".to_owned()),
        Just("e\u{301}\u{308}".to_owned()),
        Just("日本語のテキスト".to_owned()),
        Just("🦀👩‍👩‍👧".to_owned()),
        Just("\t\r\u{a0}\u{2028}".to_owned()),
        "[x]{100,2000}",
        "\\PC{1,40}",
    ];
    prop_oneof![
        proptest::collection::vec(piece, 0..120).prop_map(|pieces| pieces.concat()),
        "\\PC{0,2000}",
        any::<String>()
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn chunks_are_exact_ordered_and_cover_every_word(content in hostile_text(), max in 16usize..1500, overlap in 0usize..700) {
        let chunker = Chunker::new(max, overlap);
        let chunks = chunker.split(&content);
        prop_assert_eq!(&chunks, &chunker.split(&content), "deterministic");
        let mut covered = vec![false; content.len()];
        let mut previous_start = None;
        for chunk in &chunks {
            let range = chunk.range.clone();
            prop_assert!(range.start < range.end && range.end <= content.len());
            prop_assert!(content.is_char_boundary(range.start) && content.is_char_boundary(range.end));
            let text = &content[range.clone()];
            prop_assert!(range.len() <= max.max(16) || text.chars().count() == 1, "chunk of {} bytes over {max}", range.len());
            prop_assert!(previous_start.is_none_or(|start| start < range.start), "chunks advance");
            previous_start = Some(range.start);
            covered[range].iter_mut().for_each(|byte| *byte = true);
        }
        for (offset, ch) in content.char_indices() {
            prop_assert!(ch.is_whitespace() || covered[offset], "{ch:?} at {offset} is in no chunk");
        }
    }

    #[test]
    fn scoring_keeps_its_promises(
        frequencies in proptest::collection::vec((0usize..4, 0u32..20, 0u32..500), 0..40),
        page_scores in proptest::collection::vec(0.0f64..50.0, 4),
        top_k in 1usize..50,
        max_per_item in 1usize..4,
        min_score in 0.0f64..1.0,
    ) {
        let terms = [QueryTerm { term: "vacuum".to_owned(), idf: 2.0 }, QueryTerm { term: "tabl".to_owned(), idf: 0.1 }];
        let passages: Vec<Passage<'_>> = frequencies.iter().enumerate().map(|(index, (item, tf, length))| Passage { item: *item, chunk: index as u32, length: *length, terms: vec![("vacuum", *tf), ("tabl", tf / 2)] }).collect();
        let selected = evidence::select(&passages, &page_scores, &terms, &Bm25::default(), top_k, max_per_item, min_score);
        prop_assert!(selected.len() <= top_k);
        prop_assert!(selected.windows(2).all(|pair| pair[0].score >= pair[1].score), "best first");
        for scored in &selected {
            prop_assert!((0.0..=1.0).contains(&scored.score) && scored.score >= min_score && scored.passage < passages.len());
            let item = passages[scored.passage].item;
            prop_assert!(selected.iter().filter(|other| passages[other.passage].item == item).count() <= max_per_item);
        }
    }

    #[test]
    fn highlights_are_ordered_words_of_the_text(text in hostile_text(), query in hostile_text()) {
        let terms: Vec<QueryTerm> = query.split_whitespace().map(|word| QueryTerm { term: word.to_lowercase(), idf: 1.0 }).collect();
        let ranges = evidence::highlights(&text, &terms);
        let mut previous_end = 0;
        for [start, end] in ranges {
            let (start, end) = (start as usize, end as usize);
            prop_assert!(previous_end <= start && start < end && end <= text.len());
            prop_assert!(text.is_char_boundary(start) && text.is_char_boundary(end));
            prop_assert!(text[start..end].chars().all(char::is_alphanumeric));
            previous_end = end;
        }
    }

    #[test]
    fn request_parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..3000)) {
        if let Ok(request) = serde_json::from_slice::<QueryRequest>(&bytes) {
            let _ = request.validate(2_000, 3);
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
        let overrides = Overrides {
            database_url: Some("postgresql://app:secret@%2Fnonexistent%2Faiblox/kb".to_owned()),
            numbers: vec![
                ("AIBLOX_POOL_WAIT_TIMEOUT_MS", "200".to_owned()),
                ("AIBLOX_POOL_CONNECT_TIMEOUT_MS", "200".to_owned()),
            ],
            ..Overrides::default()
        };
        let settings = Settings::resolve(&overrides).unwrap();
        let _guard = runtime().enter();
        Arc::new(AppState::new(&settings).unwrap())
    });
    app(state.clone(), 64 * 1024)
}
