#!/usr/bin/env bash
# The result cache side by side, every server up at once and rounds alternating, keel bench
# on `echo` with one fixed argument (every call after the first is a hit where cached):
#   keel uncached   echo through the default stack (not cached: it does not opt in)
#   keel L1 hit     [cache.tools.echo] enabled: answered from the in-process level
#   keel L2 hit     L1 off (l1_max_bytes = 0), Redis on loopback: one Redis GET per call
#   fastmcp cached  FastMCP with ResponseCachingMiddleware (in-memory), same tool
# Prints per-round figures, then medians and the ratios.
# Usage: bench/cache.sh [rounds=3] [seconds=5] [connections=32]
#   KEEL=path/to/keel (default: the release build); FASTMCP_PY=python with fastmcp installed
#   (default: a venv in $HOME/.cache/keel/fastmcp, created with pip on first use).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rounds=${1:-3}; secs=${2:-5}; conns=${3:-32}
keel=${KEEL:-${CARGO_TARGET_DIR:-$HOME/.cache/keel/target}/release/keel}
. "$(dirname "$0")/processes.sh"

py=${FASTMCP_PY:-}
if [ -z "$py" ]; then
  venv=$HOME/.cache/keel/fastmcp
  [ -x "$venv/bin/python" ] || { python3 -m venv "$venv" && "$venv/bin/pip" install -q fastmcp; }
  py=$venv/bin/python
fi

redis_port=$(free_port)
start redis "$redis_port" "exec redis-server --port $redis_port --bind 127.0.0.1 --save '' --appendonly no --dir $work"

declare -A port
names=("keel uncached" "keel L1 hit" "keel L2 hit" "fastmcp cached")
cat >"$work/l1.toml" <<EOF
[cache.tools.echo]
enabled = true
EOF
cat >"$work/l2.toml" <<EOF
[cache]
l1_max_bytes = 0
[cache.redis]
url = "redis://127.0.0.1:$redis_port"
[cache.tools.echo]
enabled = true
EOF
for name in "${names[@]}"; do port[$name]=$(free_port); done
serve="KEEL_LOG=warn KEEL_MODEL_AUTO_FETCH=0 exec $keel serve --listen"
start uncached "${port[keel uncached]}" "$serve 127.0.0.1:${port[keel uncached]}"
start l1 "${port[keel L1 hit]}" "KEEL_CONFIG=$work/l1.toml $serve 127.0.0.1:${port[keel L1 hit]}"
start l2 "${port[keel L2 hit]}" "KEEL_CONFIG=$work/l2.toml $serve 127.0.0.1:${port[keel L2 hit]}"
start fastmcp "${port[fastmcp cached]}" "PORT=${port[fastmcp cached]} exec $py $here/peers/fastmcp_cached.py"
sleep 1

printf '%-16s %5s %10s %8s %8s %7s\n' server round req/s p50_us p99_us errors
for r in $(seq "$rounds"); do
  # The order rotates each round, so no server always runs first (or right after another).
  for i in $(seq 0 $(( ${#names[@]} - 1 ))); do
    name=${names[$(( (i + r) % ${#names[@]} ))]}
    era=modern; [ "$name" = "fastmcp cached" ] && era=legacy
    "$keel" bench "http://127.0.0.1:${port[$name]}/mcp" -q --era "$era" -c "$conns" -d "${secs}s" \
      --tool echo --args '{"text":"hello"}' --slo none --json "$work/r.json" >/dev/null 2>&1 || true
    python3 - "$work/r.json" "$name" "$r" >>"$work/rows" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); l = r["latency_us"]
print(f"{sys.argv[2]}|{sys.argv[3]}|{r['throughput_rps']:.1f}|{l['p50']}|{l['p99']}|{r['errors']['total']}")
PY
    tail -1 "$work/rows" | awk -F'|' '{printf "%-16s %5s %10s %8s %8s %7s\n", $1, $2, $3, $4, $5, $6}'
  done
done
echo "redis-cli DBSIZE after the L2 runs: $(redis-cli -p "$redis_port" DBSIZE)"
python3 - "$work/rows" <<'PY'
import sys, statistics as st
rows = [l.strip().split("|") for l in open(sys.argv[1]) if l.strip()]
med = {}
for name in dict.fromkeys(r[0] for r in rows):
    mine = [r for r in rows if r[0] == name]
    med[name] = tuple(st.median(float(r[i]) for r in mine) for i in (2, 3, 4))
print("\nmedians: server, req/s, p50_us, p99_us")
for name, (rps, p50, p99) in med.items():
    print(f"  {name:16} {rps:10.1f} {p50:8.0f} {p99:8.0f}")
u, l1, l2, fm = (med[n] for n in ("keel uncached", "keel L1 hit", "keel L2 hit", "fastmcp cached"))
print(f"L1 hit / uncached req/s: {l1[0] / u[0]:.3f}")
print(f"L2 hit / L1 hit req/s: {l2[0] / l1[0]:.3f}; added p50 {l2[1] - l1[1]:+.0f} us, p99 {l2[2] - l1[2]:+.0f} us")
print(f"keel L1 hit / fastmcp cached req/s: {l1[0] / fm[0]:.1f}x")
PY
