#!/usr/bin/env bash
# Echo latency while `analyze` crunches 10,000,000 values: wrk drives modern echo calls (8
# connections, 8 s) once alone and once while analyze calls on a 95 MB CSV run back to back.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${KEEL_SHARED_BENCH:-$root/../shared/bench}
target=${CARGO_TARGET_DIR:-$root/target}
(cd "$root" && cargo build --release -q -p keel-server)
work=$(mktemp -d); trap 'rm -rf "$work"; kill "$pid" 2>/dev/null || true' EXIT
printf '[http]\nmax_body_bytes = 200000000\n' > "$work/keel.toml"
python3 - "$work/analyze.json" <<'PY'
import json, random, sys
random.seed(1)
vals = "\n".join(f"{random.gauss(100, 15):.4f}" for _ in range(10_000_000))
ops = [{"op": "summary"}, {"op": "percentiles", "p": [50, 90, 99]}, {"op": "histogram", "bins": 20}, {"op": "outliers"}]
meta = {"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}}
body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "analyze", "arguments": {"csv": "x\n" + vals, "operations": ops}, "_meta": meta}}
open(sys.argv[1], "w").write(json.dumps(body))
PY
"$target/release/keel" serve --listen 127.0.0.1:3195 --config "$work/keel.toml" 2>/dev/null & pid=$!
for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/3195) 2>/dev/null && break; sleep 0.1; done
h=(-H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream'
   -H 'MCP-Protocol-Version: 2026-07-28' -H 'Mcp-Method: tools/call' -H 'Mcp-Name: analyze')
echo "echo alone:";          "$shared/mcp-load.sh" http://127.0.0.1:3195/mcp 8 8 modern
( end=$(( $(date +%s) + 10 )); n=0
  while [ "$(date +%s)" -lt "$end" ]; do curl -s "${h[@]}" --data-binary @"$work/analyze.json" http://127.0.0.1:3195/mcp >/dev/null; n=$((n + 1)); done
  echo "analyze calls completed meanwhile: $n" ) & bg=$!
sleep 1
echo "echo while analyze runs:"; "$shared/mcp-load.sh" http://127.0.0.1:3195/mcp 8 8 modern
wait "$bg"
