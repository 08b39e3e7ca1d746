#!/usr/bin/env bash
# Side-by-side benchmark: the shared peer scripts (official TypeScript, Python and Rust SDK
# servers and the raw-axum ceiling) plus Keel in both eras, in one run, and the ceiling driven
# by modern.lua (the same request bytes Keel modern gets: the like-for-like mark); then Keel's legacy
# session creation rate, memory per idle session, and idle expiry of 100,000 sessions.
# Usage: bench/run.sh [seconds] [connections]      (needs ../shared/bench set up: setup-peers.sh)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${KEEL_SHARED_BENCH:-$root/../shared/bench}
secs=${1:-8}; conns=${2:-32}
target=${CARGO_TARGET_DIR:-$root/target}
(cd "$root" && cargo build --release -q -p keel-server)
keel="$target/release/keel"
echo "# $(date -u +%FT%TZ) $(nproc) cores; seconds=$secs connections=$conns"
# Each row reports its own failure; peers.sh's exit status is that of the last server's stop.
"$shared/peers.sh" "$secs" "$conns" \
  "keel legacy 1 session|exec $keel serve --listen 127.0.0.1:3199|http://127.0.0.1:3199/mcp|legacy" \
  "keel modern|exec $keel serve --listen 127.0.0.1:3199|http://127.0.0.1:3199/mcp|modern" \
  "ceiling on modern.lua|cd $shared/peers/rs && PORT=3103 exec ./target/release/peer-rs|http://127.0.0.1:3103/raw|modern" \
  || true

echo "# legacy session creation (wrk, 8 connections, 5 s)"
cfg=$(mktemp); printf '[sessions]\nidle_timeout_secs = 8\n' > "$cfg"
setsid "$keel" serve --listen 127.0.0.1:3198 --config "$cfg" 2>/dev/null & pid=$!
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/3198) 2>/dev/null && break; sleep 0.1; done
"$shared/sessions.sh" http://127.0.0.1:3198/mcp "$pid" 5 8
rss() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }
echo "# idle expiry: sessions expire after 8 s idle; the sweeper runs every 2 s"
sleep 12
echo "rss_after_expiry_kb=$(rss "$pid")"
kill -- -"$pid" 2>/dev/null || kill "$pid"; wait "$pid" 2>/dev/null || true
rm -f "$cfg"
