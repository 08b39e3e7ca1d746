#!/usr/bin/env python3
"""Independent reference embeddings for all-MiniLM-L6-v2.

Runs the BERT forward pass in plain numpy (float64) straight from
model.safetensors, one text at a time (no padding, no batching), then mean
pooling and L2 normalisation, as the sentence-transformers pipeline
(Transformer -> Pooling(mean) -> Normalize) does. The Rust crate's tests
compare its candle output against the vectors written here.

Needs the `numpy`, `safetensors` and `tokenizers` packages from PyPI:

    python3 -m venv /tmp/refvenv
    /tmp/refvenv/bin/pip install numpy safetensors tokenizers
    /tmp/refvenv/bin/python reference/make_reference.py [MODEL_DIR] [OUT_JSON]

MODEL_DIR defaults to $KEEL_MODEL_DIR, else the keel cache directory that
fetch-model.sh fills; OUT_JSON defaults to tests/fixtures/reference.json.
"""

import json
import math
import os
import sys
from pathlib import Path

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

LONG_TEXT = (
    "A harbour pilot boards each large ship a few miles out and guides it through the "
    "channel, because the charts alone cannot tell a captain how the tide runs past the "
    "breakwater on a given afternoon. The pilot watches the water, the wind and the traffic, "
    "and calls small corrections to the helm long before trouble is visible from the bridge. "
    "Software services need the same kind of local knowledge. A request router that knows "
    "which backends are slow today, which caches are cold after a deploy, and which clients "
    "retry aggressively can keep latency steady while load doubles. It sheds excess work early, "
    "with a clear answer, instead of letting queues grow until every caller times out at once. "
    "It batches small tasks together when the hardware rewards it and runs a lone request "
    "immediately when nothing else is waiting. None of this is glamorous: it is bookkeeping, "
    "measurement and patience. Yet the difference between a system that degrades gracefully and "
    "one that collapses under a burst usually comes down to these unglamorous decisions, made "
    "deliberately and tested under realistic conditions. Engineers who keep notes about every "
    "incident, every slow query and every surprising graph build up the equivalent of the "
    "pilot's memory of the river, and that memory, written down and shared, is what lets a new "
    "member of the team steer the ship on a stormy night without running aground on the same "
    "sandbank twice. Good tools make that knowledge visible: dashboards that show queue depth "
    "next to latency, traces that connect a slow answer to the exact dependency that caused it, "
    "and alerts that fire on symptoms users feel rather than on every internal hiccup."
)

TEXTS = [
    "The quick brown fox jumps over the lazy dog.",
    "How do I reset my password?",
    "Ünïcödé façade — naïve café, 東京タワー 🚀 and Ελληνικά text.",
    "buffalo " * 24 + "buffalo",
    LONG_TEXT,
    "",
    "cat",
]


def default_model_dir() -> Path:
    if os.environ.get("KEEL_MODEL_DIR"):
        return Path(os.environ["KEEL_MODEL_DIR"])
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.environ["HOME"], ".cache")
    return Path(cache) / "keel" / "models" / "all-minilm-l6-v2"


_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu(x):
    # The exact (erf) GELU that BERT's "gelu" activation names.
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def layer_norm(x, weight, bias, eps):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def linear(x, w, prefix):
    return x @ w[prefix + ".weight"].T + w[prefix + ".bias"]


def softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(axis=-1, keepdims=True)


def encode(ids, w, cfg):
    eps = cfg["layer_norm_eps"]
    heads = cfg["num_attention_heads"]
    hidden = cfg["hidden_size"]
    head_dim = hidden // heads
    n = len(ids)
    x = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.position_embeddings.weight"][:n]
        + w["embeddings.token_type_embeddings.weight"][0]
    )
    x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
    for i in range(cfg["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q = linear(x, w, p + "attention.self.query").reshape(n, heads, head_dim).transpose(1, 0, 2)
        k = linear(x, w, p + "attention.self.key").reshape(n, heads, head_dim).transpose(1, 0, 2)
        v = linear(x, w, p + "attention.self.value").reshape(n, heads, head_dim).transpose(1, 0, 2)
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(head_dim)
        ctx = (softmax(scores) @ v).transpose(1, 0, 2).reshape(n, hidden)
        attn = linear(ctx, w, p + "attention.output.dense")
        x = layer_norm(
            x + attn,
            w[p + "attention.output.LayerNorm.weight"],
            w[p + "attention.output.LayerNorm.bias"],
            eps,
        )
        inter = gelu(linear(x, w, p + "intermediate.dense"))
        out = linear(inter, w, p + "output.dense")
        x = layer_norm(x + out, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
    pooled = x.mean(axis=0)
    return pooled / max(np.linalg.norm(pooled), 1e-12)


def main():
    model_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else default_model_dir()
    here = Path(__file__).resolve().parent.parent
    out = Path(sys.argv[2]) if len(sys.argv) > 2 else here / "tests" / "fixtures" / "reference.json"

    cfg = json.loads((model_dir / "config.json").read_text())
    st_cfg_path = model_dir / "sentence_bert_config.json"
    max_len = json.loads(st_cfg_path.read_text())["max_seq_length"] if st_cfg_path.exists() else 256
    pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"], "reference implements mean pooling only"

    w = {k: v.astype(np.float64) for k, v in load_file(str(model_dir / "model.safetensors")).items()}
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=max_len)

    entries = []
    for text in TEXTS:
        ids = tok.encode(text).ids
        vec = encode(np.array(ids), w, cfg)
        entries.append({"text": text, "tokens": len(ids), "vector": [round(float(v), 9) for v in vec]})
        print(f"{len(ids):4d} tokens  {text[:60]!r}", file=sys.stderr)

    out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "model": "sentence-transformers/all-MiniLM-L6-v2",
        "max_seq_length": max_len,
        "pooling": "mean",
        "normalize": True,
        "entries": entries,
    }
    out.write_text(json.dumps(doc, ensure_ascii=False, indent=1) + "\n")
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
