#!/usr/bin/env bash
# Keel beside the raw-axum ceiling only, alternating for several rounds, to show how much
# one-run ratios move: each round runs the ceiling (driven by call.lua, as peers.sh does),
# Keel legacy (32 connections on one session, call.lua), Keel modern (modern.lua), and the
# ceiling driven by modern.lua, whose larger requests cost wrk and the server more: the
# like-for-like mark for modern. 8 s each, wrk with 32 connections; prints req/s, ratios
# to that round's ceilings, and server CPU (user + system) per call.
# Usage: bench/rounds.sh [rounds] [seconds]      (needs ../shared/bench set up: setup-peers.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${KEEL_SHARED_BENCH:-$root/../shared/bench}
rounds=${1:-3}; secs=${2:-8}
target=${CARGO_TARGET_DIR:-$root/target}
(cd "$root" && cargo build --release -q -p keel-server)
keel="$target/release/keel"
ticks=$(getconf CLK_TCK)

# measure NAME URL LUA CMD...: prints "rps cpu_us_per_call"
measure() {
  local url=$2 lua=$3; shift 3
  setsid "$@" >/dev/null 2>&1 & local pid=$!
  local hp=${url#http://}; hp=${hp%%/*}
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/${hp%:*}/${hp#*:}") 2>/dev/null && break; sleep 0.1; done
  sleep 0.5
  local sid=""
  if [ "$lua" = call-session ]; then
    lua=$shared/call.lua
    sid=$(curl -s -D - -o /dev/null -X POST "$url" -H 'content-type: application/json' \
      -H 'accept: application/json, text/event-stream' \
      -d '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"bench","version":"1"}}}' \
      | grep -i '^mcp-session-id:' | awk '{print $2}' | tr -d '\r')
  fi
  local c0 c1 out
  c0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  out=$(SID=$sid wrk -t1 -c32 -d"${secs}s" -s "$lua" "$url" | grep RESULT)
  c1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  kill -- -"$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
  local rps reqs
  rps=$(echo "$out" | grep -o 'rps=[0-9]*' | cut -d= -f2)
  reqs=$(echo "$out" | grep -o 'reqs=[0-9]*' | cut -d= -f2)
  echo "$rps $(( (c1 - c0) * 1000000 / ticks / reqs ))"
}

echo "# $(date -u +%FT%TZ) $(nproc) cores; rounds=$rounds seconds=$secs connections=32"
for r in $(seq "$rounds"); do
  read -r c_rps c_cpu < <(PORT=3103 measure ceiling http://127.0.0.1:3103/raw "$shared/call.lua" "$shared/peers/rs/target/release/peer-rs")
  read -r l_rps l_cpu < <(measure legacy http://127.0.0.1:3199/mcp call-session "$keel" serve --listen 127.0.0.1:3199)
  read -r m_rps m_cpu < <(measure modern http://127.0.0.1:3199/mcp "$shared/modern.lua" "$keel" serve --listen 127.0.0.1:3199)
  read -r d_rps d_cpu < <(PORT=3103 measure ceiling-modern http://127.0.0.1:3103/raw "$shared/modern.lua" "$shared/peers/rs/target/release/peer-rs")
  awk -v r="$r" -v c="$c_rps" -v cc="$c_cpu" -v l="$l_rps" -v lc="$l_cpu" -v m="$m_rps" -v mc="$m_cpu" -v d="$d_rps" -v dc="$d_cpu" 'BEGIN {
    printf "round %d  ceiling %d req/s %d us | keel legacy %d req/s (%.2fx) %d us | keel modern %d req/s (%.2fx) %d us | ceiling on modern.lua %d req/s %d us, keel modern %.2fx of it\n",
      r, c, cc, l, l / c, lc, m, m / c, mc, d, dc, m / d }'
done
