#!/usr/bin/env bash
# Embeddings end to end through MCP: wrk drives modern `embed` calls with one short text each,
# 32 concurrent callers and a lone caller, with dynamic batching on and off, on the engine
# ENGINE (auto, onnx or candle; default auto). bench/embed-vs-torch.sh adds PyTorch beside it.
# Needs the model (`keel model fetch`; KEEL_MODEL_DIR if not in the default cache).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${KEEL_SHARED_BENCH:-$root/../shared/bench}
target=${CARGO_TARGET_DIR:-$root/target}
(cd "$root" && cargo build --release -q -p keel-server)
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
engine=${ENGINE:-auto}
export TOOL=embed ARGS='{"texts":["The quick brown fox jumps over the lazy dog"]}'
for mode in on off; do
  printf '[builtins.embed]\nengine = "%s"\nbatching = %s\n' "$engine" \
    "$([ "$mode" = on ] && echo true || echo false)" > "$work/$mode.toml"
  "$target/release/keel" serve --listen 127.0.0.1:3194 --config "$work/$mode.toml" 2>/dev/null & pid=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/3194) 2>/dev/null && break; sleep 0.1; done
  sleep 1
  echo "batching $mode, 32 callers: $(wrk -t1 -c32 -d8s -s "$shared/modern.lua" http://127.0.0.1:3194/mcp | grep RESULT)"
  echo "batching $mode, 1 caller:   $(wrk -t1 -c1 -d5s -s "$shared/modern.lua" http://127.0.0.1:3194/mcp | grep RESULT)"
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
