#!/usr/bin/env bash
# Redis killed (kill -9) and restarted under load: does any call fail, and how fast does the
# hit rate come back? Two keel nodes share one Redis: "l1+l2" (the default L1 over Redis)
# and "l2 only" (l1_max_bytes = 0, every hit is a Redis GET, the worst case for an outage).
# keel bench drives cached `analyze` calls over a fixed set of keys on both at once; Redis is
# killed at KILL_AT seconds and restarted (empty: no persistence) at RESTART_AT. /metrics is
# sampled every half second; each row is the fresh-hit rate of that half second.
# Usage: bench/redis-outage.sh [seconds=16] [keys=200] [connections=8]
#   KEEL=path/to/keel (default: the release build); KILL_AT=5 RESTART_AT=9
set -euo pipefail
secs=${1:-16}; keys=${2:-200}; conns=${3:-8}
kill_at=${KILL_AT:-5}; restart_at=${RESTART_AT:-9}
keel=${KEEL:-${CARGO_TARGET_DIR:-$HOME/.cache/keel/target}/release/keel}
. "$(dirname "$0")/processes.sh"
redis_port=$(free_port)
redis() {
  setsid redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$work" >"$work/redis.log" 2>&1 & redis_pid=$!; pids+=($redis_pid)
  wait_port "$redis_port"
}
redis

declare -A port
nodes=("l1+l2" "l2 only")
for n in "${nodes[@]}"; do port[$n]=$(free_port); done
common="[cache.redis]
url = \"redis://127.0.0.1:$redis_port\"
op_timeout_ms = 50
breaker_open_ms = 500"
printf '[cache]\n%s\n' "$common" >"$work/l1l2.toml"
printf '[cache]\nl1_max_bytes = 0\n%s\n' "$common" >"$work/l2.toml"
serve="KEEL_LOG=warn KEEL_MODEL_AUTO_FETCH=0 exec $keel serve --listen"
start l1l2 "${port[l1+l2]}" "KEEL_CONFIG=$work/l1l2.toml $serve 127.0.0.1:${port[l1+l2]}"
start l2 "${port[l2 only]}" "KEEL_CONFIG=$work/l2.toml $serve 127.0.0.1:${port[l2 only]}"
sleep 1

cat >"$work/w.toml" <<EOF
[[request]]
tool = "analyze"
args = { csv = "x\n{key}\n2\n3", operations = [{ op = "mean" }] }
keys = $keys
EOF
benches=()
for n in "${nodes[@]}"; do
  "$keel" bench "http://127.0.0.1:${port[$n]}/mcp" -q -c"$conns" -d"${secs}s" --slo none \
    --workload "$work/w.toml" --json "$work/$n.json" >/dev/null & benches+=($!)
done

# fresh hits and lookups of analyze on a node: "hits lookups"
sample() {
  curl -s -m 2 "http://127.0.0.1:$1/metrics" | awk '
    /^keel_cache_lookups_total\{tool="analyze",result="hit"\}/ {h=$2}
    /^keel_cache_lookups_total\{tool="analyze",/ {l+=$2}
    END {print h+0, l+0}'
}
declare -A prev
for n in "${nodes[@]}"; do prev[$n]=$(sample "${port[$n]}"); done
printf '%6s %-10s' t_s redis; for n in "${nodes[@]}"; do printf ' %16s' "hit% $n"; done; echo
state=up
start_ms=$(date +%s%3N)
while :; do
  sleep 0.5
  t_ms=$(( $(date +%s%3N) - start_ms ))
  [ "$t_ms" -ge $((secs * 1000)) ] && break
  if [ "$state" = up ] && [ "$t_ms" -ge $((kill_at * 1000)) ]; then
    kill -9 "$redis_pid"; wait "$redis_pid" 2>/dev/null || true; state=killed
  elif [ "$state" = killed ] && [ "$t_ms" -ge $((restart_at * 1000)) ]; then
    redis; state=restarted
  fi
  printf '%6s %-10s' "$((t_ms / 1000)).$(( (t_ms % 1000) / 100 ))" "$state"
  for n in "${nodes[@]}"; do
    now=$(sample "${port[$n]}")
    awk -v a="${prev[$n]}" -v b="$now" 'BEGIN {
      split(a, x, " "); split(b, y, " "); l = y[2] - x[2]
      if (l > 0) printf " %15.1f%%", 100 * (y[1] - x[1]) / l; else printf " %16s", "-" }'
    prev[$n]=$now
  done
  echo
done
wait "${benches[@]}" || true
for n in "${nodes[@]}"; do
  python3 -c '
import json, sys
r = json.load(open(sys.argv[2])); l = r["latency_us"]
e = r["errors"]
kinds = {**{"jsonrpc " + k: v for k, v in e["jsonrpc"].items()}, **{"http " + k: v for k, v in e["http_status"].items()}, **e["transport"]}
if e["is_error"]: kinds["isError"] = e["is_error"]
print("%8s: %d ok, %d failed %s, %.0f req/s, p50 %s us, p99 %s us" % (sys.argv[1], r["ok"], e["total"], kinds or "", r["throughput_rps"], l["p50"], l["p99"]))
' "$n" "$work/$n.json"
done
