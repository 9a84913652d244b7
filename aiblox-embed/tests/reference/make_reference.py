"""Reference sentence vectors of all-MiniLM-L6-v2, written once and committed.

An implementation independent of the crate under test: the BERT forward pass in plain numpy,
from the model's safetensors weights, as sentence-transformers runs this model (tokenizer.json
tokenisation truncated to `max_seq_length` 256, mean pooling over the attention mask, L2
normalisation). Needs numpy, tokenizers and safetensors (pip install).

    python3 make_reference.py MODEL_DIR > reference.json
"""

import json
import math
import sys

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

# The first three are the sentence-transformers README's example for this model: their cosine
# similarities here are its published 0.6660, 0.1046 and 0.1411.
SENTENCES = [
    "The weather is lovely today.",
    "It's so sunny outside!",
    "He drove to the stadium.",
    "two transactions wait on each other forever",
    "How do I find out why a query is slow?",
    "VACUUM reclaims storage occupied by dead tuples.",
    "The quick brown fox jumps over the lazy dog.",
    "a",
    "Ünïcödé text, numbers 12345 and punctuation!?",
]


def layer_norm(x, weight, bias, eps):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def gelu(x):
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def embed(weights, config, ids):
    w = lambda name: weights[name].astype(np.float64)
    heads = config["num_attention_heads"]
    hidden = config["hidden_size"]
    eps = config["layer_norm_eps"]
    n = len(ids)
    x = (
        w("embeddings.word_embeddings.weight")[ids]
        + w("embeddings.position_embeddings.weight")[:n]
        + w("embeddings.token_type_embeddings.weight")[0]
    )
    x = layer_norm(x, w("embeddings.LayerNorm.weight"), w("embeddings.LayerNorm.bias"), eps)
    size = hidden // heads
    for layer in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{layer}."
        linear = lambda name, v: v @ w(p + name + ".weight").T + w(p + name + ".bias")
        q = linear("attention.self.query", x).reshape(n, heads, size).transpose(1, 0, 2)
        k = linear("attention.self.key", x).reshape(n, heads, size).transpose(1, 0, 2)
        v = linear("attention.self.value", x).reshape(n, heads, size).transpose(1, 0, 2)
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(size)
        scores = np.exp(scores - scores.max(-1, keepdims=True))
        probs = scores / scores.sum(-1, keepdims=True)
        context = (probs @ v).transpose(1, 0, 2).reshape(n, hidden)
        x = layer_norm(
            x + linear("attention.output.dense", context),
            w(p + "attention.output.LayerNorm.weight"),
            w(p + "attention.output.LayerNorm.bias"),
            eps,
        )
        inner = gelu(linear("intermediate.dense", x))
        x = layer_norm(
            x + linear("output.dense", inner),
            w(p + "output.LayerNorm.weight"),
            w(p + "output.LayerNorm.bias"),
            eps,
        )
    pooled = x.mean(0)
    return pooled / np.linalg.norm(pooled)


def main():
    model_dir = sys.argv[1]
    config = json.load(open(f"{model_dir}/config.json"))
    weights = load_file(f"{model_dir}/model.safetensors")
    tokenizer = Tokenizer.from_file(f"{model_dir}/tokenizer.json")
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=256)
    references = []
    for sentence in SENTENCES:
        ids = tokenizer.encode(sentence).ids
        vector = embed(weights, config, ids)
        references.append(
            {"text": sentence, "tokens": len(ids), "vector": [round(float(v), 7) for v in vector]}
        )
    json.dump({"model": "sentence-transformers/all-MiniLM-L6-v2", "references": references},
              sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
