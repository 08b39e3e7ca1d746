#!/usr/bin/env bash
# Two keel binaries side by side, alternating for several rounds: what a change to the
# serving path costs. Each round drives BASE then NEW with wrk (32 connections, one thread)
# on modern echo calls (modern.lua) and on legacy calls over one session (call.lua), and
# prints req/s, p50/p99 and server CPU (user + system) per call, with NEW/BASE ratios.
# Usage: bench/compare-builds.sh BASE_BIN NEW_BIN [rounds] [seconds]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${KEEL_SHARED_BENCH:-$root/../shared/bench}
base=$1; new=$2; rounds=${3:-3}; secs=${4:-8}
ticks=$(getconf CLK_TCK)
port=3198
url=http://127.0.0.1:$port/mcp

# measure BIN LUA: prints "rps p50_us p99_us cpu_us_per_call errors"
measure() {
  local bin=$1 lua=$2 sid=""
  KEEL_MODEL_AUTO_FETCH=0 "$bin" serve --listen 127.0.0.1:$port >/dev/null 2>&1 & local pid=$!
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  sleep 0.5
  if [ "$lua" = legacy ]; then
    lua=$shared/call.lua
    sid=$(curl -s -D - -o /dev/null -X POST "$url" -H 'content-type: application/json' \
      -H 'accept: application/json, text/event-stream' \
      -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}' \
      | grep -i '^mcp-session-id:' | awk '{print $2}' | tr -d '\r')
  else
    lua=$shared/modern.lua
  fi
  local c0 c1 out
  c0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  out=$(SID=$sid wrk -t1 -c32 -d"${secs}s" -s "$lua" "$url" | grep RESULT)
  c1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
  local field; field() { echo "$out" | grep -o "$1=[0-9]*" | cut -d= -f2; }
  echo "$(field rps) $(field p50_us) $(field p99_us) $(( (c1 - c0) * 1000000 / ticks / $(field reqs) )) $(( $(field errors) + $(field non2xx_or_noresult) ))"
}

echo "# $(date -u +%FT%TZ) $(nproc) cores; rounds=$rounds seconds=$secs connections=32"
echo "# base=$base new=$new"
for r in $(seq "$rounds"); do
  for era in modern legacy; do
    read -r b_rps b_p50 b_p99 b_cpu b_err < <(measure "$base" $era)
    read -r n_rps n_p50 n_p99 n_cpu n_err < <(measure "$new" $era)
    awk -v r="$r" -v e="$era" -v br="$b_rps" -v b5="$b_p50" -v b9="$b_p99" -v bc="$b_cpu" -v be="$b_err" \
        -v nr="$n_rps" -v n5="$n_p50" -v n9="$n_p99" -v nc="$n_cpu" -v ne="$n_err" 'BEGIN {
      printf "round %d %-6s base %6d req/s p50 %4d us p99 %5d us %3d us/call err %d | new %6d req/s p50 %4d us p99 %5d us %3d us/call err %d | new/base %.2fx\n",
        r, e, br, b5, b9, bc, be, nr, n5, n9, nc, ne, nr / br }'
  done
done
