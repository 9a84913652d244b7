//! The embedder: a model directory loaded once, texts in, unit vectors out.

use std::io::Read as _;
use std::path::Path;

use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use tokenizers::{Tokenizer, TruncationParams};

use crate::{EmbedError, bert};

/// A sentence embedding model, loaded and ready. Share it behind an `Arc`: `embed` takes
/// `&self` and may run on several threads at once.
pub struct Embedder {
    encoder: bert::Encoder,
    tokenizer: Tokenizer,
    dimensions: usize,
    max_tokens: usize,
    key: String,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("key", &self.key)
            .field("dimensions", &self.dimensions)
            .field("max_tokens", &self.max_tokens)
            .finish_non_exhaustive()
    }
}

/// `sentence_bert_config.json`: the longest input the sentence model was trained with.
#[derive(Debug, Deserialize)]
struct SentenceConfig {
    max_seq_length: usize,
}

/// `1_Pooling/config.json`: how token states become one vector.
#[derive(Debug, Deserialize)]
struct PoolingConfig {
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
}

/// A problem with one of the model's files.
fn problem(path: &Path, problem: String) -> EmbedError {
    EmbedError::Model {
        path: path.to_owned(),
        problem,
    }
}

/// `config.json`: a BERT encoder with GELU whose hidden size splits into its heads.
fn read_config(dir: &Path) -> Result<bert::BertConfig, EmbedError> {
    let config_path = dir.join("config.json");
    let config: bert::BertConfig = read_json(&config_path)?;
    if config.hidden_act != "gelu" {
        return Err(problem(
            &config_path,
            format!(
                "hidden_act {:?} is not supported (only \"gelu\")",
                config.hidden_act
            ),
        ));
    }
    if config.num_attention_heads == 0
        || !config
            .hidden_size
            .is_multiple_of(config.num_attention_heads)
    {
        return Err(problem(
            &config_path,
            "hidden_size is not a multiple of num_attention_heads".to_owned(),
        ));
    }
    Ok(config)
}

/// `1_Pooling/config.json`, when present, must ask for mean pooling alone.
fn check_pooling(dir: &Path) -> Result<(), EmbedError> {
    let pooling_path = dir.join("1_Pooling").join("config.json");
    if pooling_path.exists() {
        let pooling: PoolingConfig = read_json(&pooling_path)?;
        if !pooling.pooling_mode_mean_tokens
            || pooling.pooling_mode_cls_token
            || pooling.pooling_mode_max_tokens
        {
            return Err(problem(
                &pooling_path,
                "only mean pooling is supported".to_owned(),
            ));
        }
    }
    Ok(())
}

/// The encoder of `model.safetensors`, and the model's key (the directory's name and the
/// weights' digest).
fn load_encoder(
    dir: &Path,
    config: &bert::BertConfig,
) -> Result<(bert::Encoder, String), EmbedError> {
    let weights_path = dir.join("model.safetensors");
    let weights = read_file(&weights_path)?;
    let digest = Sha256::digest(&weights);
    let name = dir
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "model".to_owned());
    let key = format!("{name}:{}", hex::encode(&digest[..6]));
    let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &Device::Cpu)
        .map_err(|err| problem(&weights_path, err.to_string()))?;
    // Checkpoints saved from BertForX carry a "bert." prefix.
    let vb = if vb.contains_tensor("embeddings.word_embeddings.weight") {
        vb
    } else {
        vb.pp("bert")
    };
    let encoder = bert::Encoder::load(vb, config)
        .map_err(|err| problem(&weights_path, format!("not a BERT encoder: {err}")))?;
    Ok((encoder, key))
}

/// `tokenizer.json`, unpadded, truncating at `max_tokens`.
fn load_tokenizer(dir: &Path, max_tokens: usize) -> Result<Tokenizer, EmbedError> {
    let tokenizer_path = dir.join("tokenizer.json");
    let mut tokenizer = Tokenizer::from_file(&tokenizer_path)
        .map_err(|err| problem(&tokenizer_path, err.to_string()))?;
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: max_tokens,
            ..TruncationParams::default()
        }))
        .map_err(|err| problem(&tokenizer_path, err.to_string()))?;
    Ok(tokenizer)
}

impl Embedder {
    /// Loads the model in `dir`: `config.json` (a BERT encoder with GELU), `model.safetensors`,
    /// `tokenizer.json`, and if present sentence-transformers' `sentence_bert_config.json`
    /// (input length, default 256 tokens) and `1_Pooling/config.json` (only mean pooling is
    /// supported).
    pub fn load(dir: &Path) -> Result<Embedder, EmbedError> {
        if !dir.is_dir() {
            return Err(problem(dir, "no such directory".to_owned()));
        }
        let config = read_config(dir)?;
        check_pooling(dir)?;
        let sentence_path = dir.join("sentence_bert_config.json");
        let max_tokens = if sentence_path.exists() {
            read_json::<SentenceConfig>(&sentence_path)?.max_seq_length
        } else {
            256
        }
        .min(config.max_position_embeddings);
        let (encoder, key) = load_encoder(dir, &config)?;
        let tokenizer = load_tokenizer(dir, max_tokens)?;
        tracing::info!(model = %key, dimensions = config.hidden_size, max_tokens, "embedding model loaded");
        Ok(Embedder {
            encoder,
            tokenizer,
            dimensions: config.hidden_size,
            max_tokens,
            key,
        })
    }

    /// Names the model and its exact weights (`<directory name>:<first 12 hex digits of the
    /// weights' sha256>`): vectors of two models never mix under one key.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Length of every vector.
    pub fn dimensions(&self) -> usize {
        self.dimensions
    }

    /// Tokens read from each text; the rest of a longer text is ignored.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// One unit-length vector per text, in order, computed as one batch.
    pub fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|err| EmbedError::Tokenize(err.to_string()))?;
        // Packed one after the other, no padding (questions differ in length: padding to the
        // longest cost about a third of a batch's work).
        let lengths: Vec<usize> = encodings.iter().map(|e| e.len().max(1)).collect();
        let total = lengths.iter().sum();
        let mut ids = Vec::with_capacity(total);
        let mut positions = Vec::with_capacity(total);
        for (encoding, &length) in encodings.iter().zip(&lengths) {
            let encoding_ids = encoding.get_ids();
            ids.extend((0..length).map(|index| encoding_ids.get(index).copied().unwrap_or(0)));
            positions.extend(0..length as u32);
        }
        let ids = Tensor::from_vec(ids, total, &Device::Cpu)?;
        let positions = Tensor::from_vec(positions, total, &Device::Cpu)?;
        let hidden = self.encoder.forward(&ids, &positions, &lengths)?;
        Ok(bert::mean_pool_normalised(&hidden, &lengths)?.to_vec2::<f32>()?)
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, EmbedError> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .and_then(|mut file| file.read_to_end(&mut bytes))
        .map_err(|err| EmbedError::Model {
            path: path.to_owned(),
            problem: err.to_string(),
        })?;
    Ok(bytes)
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, EmbedError> {
    serde_json::from_slice(&read_file(path)?).map_err(|err| EmbedError::Model {
        path: path.to_owned(),
        problem: format!("invalid: {err}"),
    })
}
