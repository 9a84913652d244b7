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
            let inner = fast_gelu(&layer.intermediate.forward(&attended)?)?;
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

/// GELU with the exact (erf) form the model was trained with, computed with a rational
/// approximation of erf (Eigen's `generic_fast_erf_float`, the one TensorFlow uses) that the
/// compiler turns into vector instructions: the scalar `erff` of candle's `gelu_erf` was a
/// tenth of a question's embedding time.
struct FastGelu;

impl candle_core::CustomOp1 for FastGelu {
    fn name(&self) -> &'static str {
        "fast-gelu-erf"
    }

    fn cpu_fwd(
        &self,
        storage: &candle_core::CpuStorage,
        layout: &candle_core::Layout,
    ) -> candle_core::Result<(candle_core::CpuStorage, candle_core::Shape)> {
        let candle_core::CpuStorage::F32(values) = storage else {
            candle_core::bail!("fast-gelu-erf takes f32 only");
        };
        let Some((start, end)) = layout.contiguous_offsets() else {
            candle_core::bail!("fast-gelu-erf takes contiguous tensors only");
        };
        let output: Vec<f32> = values[start..end].iter().map(|&x| gelu(x)).collect();
        Ok((candle_core::CpuStorage::F32(output), layout.shape().clone()))
    }
}

/// `x * (1 + erf(x / sqrt 2)) / 2`.
#[inline]
fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// erf, within a few units in the last place of f32 (Eigen's rational approximation on
/// [-4, 4]; beyond that erf is ±1 in f32).
#[inline]
fn erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = x2 * -2.726_142_3e-10 + 2.770_681_4e-8;
    p = x2 * p + -2.101_024e-6;
    p = x2 * p + -5.692_506_4e-5;
    p = x2 * p + -7.349_906_3e-4;
    p = x2 * p + -2.954_6e-3;
    p = x2 * p + -1.609_603_3e-2;
    p *= x;
    let mut q = x2 * -1.456_607_2e-5 + -2.133_740_6e-4;
    q = x2 * q + -1.682_827e-3;
    q = x2 * q + -7.373_329_3e-3;
    q = x2 * q + -1.426_474e-2;
    p / q
}

/// GELU (erf form) of a contiguous f32 tensor.
pub(crate) fn fast_gelu(x: &Tensor) -> candle_core::Result<Tensor> {
    x.contiguous()?.apply_op1_no_bwd(&FastGelu)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_erf_agrees_with_libm() {
        let mut worst = 0.0f64;
        for step in -6_000..=6_000 {
            let x = step as f32 / 1_000.0;
            let exact = libm_erf(f64::from(x));
            worst = worst.max((f64::from(erf(x)) - exact).abs());
        }
        assert!(worst < 2e-6, "worst error {worst}");
    }

    #[test]
    fn fast_gelu_runs_on_tensors_as_gelu_erf_does() {
        let values: Vec<f32> = (-40..40).map(|n| n as f32 / 7.0).collect();
        let tensor = Tensor::from_vec(values, (8, 10), &candle_core::Device::Cpu).unwrap();
        let fast = fast_gelu(&tensor)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        let exact = tensor
            .gelu_erf()
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        for (a, b) in fast.iter().zip(&exact) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    /// erf in f64 by its Taylor series (|x| < 3) or continued fraction: an independent check.
    fn libm_erf(x: f64) -> f64 {
        if x.abs() < 3.0 {
            let mut sum = 0.0;
            let mut term = x;
            let mut n = 0.0;
            while term.abs() > 1e-17 {
                sum += term / (2.0 * n + 1.0);
                n += 1.0;
                term *= -x * x / n;
            }
            sum * 2.0 / std::f64::consts::PI.sqrt()
        } else {
            // erfc by Lentz's continued fraction, for large |x|.
            let z = x.abs();
            let mut f = z;
            for k in (1..60).rev() {
                f = z + (k as f64 / 2.0) / f;
            }
            let erfc = (-z * z).exp() / (f * std::f64::consts::PI.sqrt());
            (1.0 - erfc).copysign(x)
        }
    }
}
