#!/usr/bin/env bash
# Instructions per call of a keel binary under callgrind (deterministic whatever the machine's
# load): counters zeroed after a warm-up, wrk for a fixed time with 8 connections, then the
# instructions of that interval divided by the requests wrk counted.
# Usage: bench/instructions.sh KEEL_BIN [modern|legacy] [seconds]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${KEEL_SHARED_BENCH:-$root/../shared/bench}
bin=$1; era=${2:-modern}; secs=${3:-10}
port=3197; url=http://127.0.0.1:$port/mcp
dir=${KEEP_DIR:-$(mktemp -d)}; [ -n "${KEEP_DIR:-}" ] || trap 'rm -rf "$dir"' EXIT
KEEL_MODEL_AUTO_FETCH=0 KEEL_LOG=warn valgrind --tool=callgrind --callgrind-out-file="$dir/cg.%p" \
  "$bin" serve --listen 127.0.0.1:$port >/dev/null 2>"$dir/valgrind.log" & pid=$!
for _ in $(seq 1200); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
sid=""
if [ "$era" = legacy ]; then
  lua=$shared/call.lua
  sid=$(curl -s -D - -o /dev/null -X POST "$url" -H 'content-type: application/json' \
    -H 'accept: application/json, text/event-stream' \
    -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}' \
    | grep -i '^mcp-session-id:' | awk '{print $2}' | tr -d '\r')
else
  lua=$shared/modern.lua
fi
SID=$sid wrk -t1 -c8 -d3s -s "$lua" "$url" >/dev/null
callgrind_control -z "$pid" >/dev/null 2>&1
out=$(SID=$sid wrk -t1 -c8 -d"${secs}s" -s "$lua" "$url" | grep RESULT)
callgrind_control -d "$pid" >/dev/null 2>&1
kill "$pid"; wait "$pid" 2>/dev/null || true
reqs=$(echo "$out" | grep -o 'reqs=[0-9]*' | cut -d= -f2)
# The dump taken after wrk holds exactly the interval since the counters were zeroed.
dump=$(ls "$dir"/cg.*.1)
total=$(grep -E '^(summary|totals):' "$dump" | head -1 | awk '{print $2}')
echo "$era $(basename "$bin"): $reqs requests, $total instructions, $(( total / reqs )) per call ($out)"
