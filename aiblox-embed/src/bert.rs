//! The BERT encoder (embeddings, then self-attention layers), inference only, on candle.

use candle_core::{D, Module as _, Tensor};
use candle_nn::{Embedding, LayerNorm, Linear, VarBuilder, embedding, layer_norm, linear};
use serde::Deserialize;

/// The fields of a Hugging Face `config.json` that a BERT encoder needs.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct BertConfig {
    pub(crate) vocab_size: usize,
    pub(crate) hidden_size: usize,
    pub(crate) num_hidden_layers: usize,
    pub(crate) num_attention_heads: usize,
    pub(crate) intermediate_size: usize,
    pub(crate) hidden_act: String,
    pub(crate) max_position_embeddings: usize,
    pub(crate) type_vocab_size: usize,
    pub(crate) layer_norm_eps: f64,
}

/// Token, position and token-type embeddings, summed and normalised.
struct Embeddings {
    words: Embedding,
    positions: Embedding,
    token_types: Embedding,
    norm: LayerNorm,
}

/// One encoder layer: self-attention, then the feed-forward block, each with a residual
/// connection and layer normalisation (post-norm, as BERT).
struct Layer {
    /// Query, key and value projections in one: `(3 * hidden, hidden)`.
    query_key_value: Linear,
    attention_output: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

/// A BERT encoder: token ids in, one hidden state per token out.
pub(crate) struct Encoder {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    heads: usize,
    head_size: usize,
}

impl Encoder {
    /// Loads the weights under `vb` (names as in Hugging Face's `BertModel`).
    pub(crate) fn load(vb: VarBuilder, config: &BertConfig) -> candle_core::Result<Encoder> {
        let hidden = config.hidden_size;
        let eps = config.layer_norm_eps;
        let e = vb.pp("embeddings");
        let embeddings = Embeddings {
            words: embedding(config.vocab_size, hidden, e.pp("word_embeddings"))?,
            positions: embedding(
                config.max_position_embeddings,
                hidden,
                e.pp("position_embeddings"),
            )?,
            token_types: embedding(
                config.type_vocab_size,
                hidden,
                e.pp("token_type_embeddings"),
            )?,
            norm: layer_norm(hidden, eps, e.pp("LayerNorm"))?,
        };
        let layers = (0..config.num_hidden_layers)
            .map(|index| {
                let l = vb.pp(format!("encoder.layer.{index}"));
                let attention = l.pp("attention");
                let projections = ["self.query", "self.key", "self.value"]
                    .map(|name| linear(hidden, hidden, attention.pp(name)));
                let [query, key, value] = projections;
                let (query, key, value) = (query?, key?, value?);
                let weight = Tensor::cat(&[query.weight(), key.weight(), value.weight()], 0)?;
                let bias = [query.bias(), key.bias(), value.bias()]
                    .into_iter()
                    .map(|bias| bias.cloned())
                    .collect::<Option<Vec<Tensor>>>()
                    .map(|biases| Tensor::cat(&biases, 0))
                    .transpose()?;
                Ok(Layer {
                    query_key_value: Linear::new(weight, bias),
                    attention_output: linear(hidden, hidden, attention.pp("output.dense"))?,
                    attention_norm: layer_norm(hidden, eps, attention.pp("output.LayerNorm"))?,
                    intermediate: linear(
                        hidden,
                        config.intermediate_size,
                        l.pp("intermediate.dense"),
                    )?,
                    output: linear(config.intermediate_size, hidden, l.pp("output.dense"))?,
                    output_norm: layer_norm(hidden, eps, l.pp("output.LayerNorm"))?,
                })
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(Encoder {
            embeddings,
            layers,
            heads: config.num_attention_heads,
            head_size: hidden / config.num_attention_heads,
        })
    }

    /// Hidden states `(tokens, hidden)` of several texts packed one after the other, without
    /// padding: `ids` and `positions` (each token's position in its text) are `(tokens,)`,
    /// `lengths` the texts' token counts in order. The projections and the feed-forward block
    /// run on every token of every text at once; attention runs within each text.
    pub(crate) fn forward(
        &self,
        ids: &Tensor,
        positions: &Tensor,
        lengths: &[usize],
    ) -> candle_core::Result<Tensor> {
        let token_types = ids.zeros_like()?;
        let width = self.heads * self.head_size;
        let mut hidden = self
            .embeddings
            .words
            .forward(ids)?
            .add(&self.embeddings.token_types.forward(&token_types)?)?
            .add(&self.embeddings.positions.forward(positions)?)?;
        hidden = self.embeddings.norm.forward(&hidden)?;
        let scale = 1.0 / (self.head_size as f64).sqrt();
        for layer in &self.layers {
            let projected = layer.query_key_value.forward(&hidden)?;
            let mut contexts = Vec::with_capacity(lengths.len());
            let mut start = 0;
            for &length in lengths {
                // (length, 3, heads, head_size) -> three of (heads, length, head_size)
                let text = projected.narrow(0, start, length)?.reshape((
                    length,
                    3,
                    self.heads,
                    self.head_size,
                ))?;
                let part = |index: usize| {
                    text.narrow(1, index, 1)?
                        .squeeze(1)?
                        .transpose(0, 1)?
                        .contiguous()
                };
                let (query, key, value) = (part(0)?, part(1)?, part(2)?);
                let scores = (query.matmul(&key.t()?.contiguous()?)? * scale)?;
                let probabilities = candle_nn::ops::softmax_last_dim(&scores)?;
                contexts.push(
                    probabilities
                        .matmul(&value)?
                        .transpose(0, 1)?
                        .contiguous()?
                        .reshape((length, width))?,
                );
                start += length;
            }
            let context = Tensor::cat(&contexts, 0)?;
            let attended = layer
                .attention_norm
                .forward(&layer.attention_output.forward(&context)?.add(&hidden)?)?;
            let inner = layer.intermediate.forward(&attended)?.gelu_erf()?;
            hidden = layer
                .output_norm
                .forward(&layer.output.forward(&inner)?.add(&attended)?)?;
        }
        Ok(hidden)
    }
}

/// The mean of each text's hidden states (`lengths` as given to [`Encoder::forward`]), scaled
/// to unit length: `(texts, hidden)`.
pub(crate) fn mean_pool_normalised(
    hidden: &Tensor,
    lengths: &[usize],
) -> candle_core::Result<Tensor> {
    let mut means = Vec::with_capacity(lengths.len());
    let mut start = 0;
    for &length in lengths {
        means.push(hidden.narrow(0, start, length)?.mean_keepdim(0)?);
        start += length;
    }
    let mean = Tensor::cat(&means, 0)?;
    let norm = mean.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.maximum(1e-12)?;
    mean.broadcast_div(&norm)
}
