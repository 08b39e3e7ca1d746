#!/usr/bin/env bash
# keel bench beside wrk in one run: the same connections, the same request bytes, alternating
# rounds, against the raw-axum ceiling of ../shared/bench (peer-rs /raw) and Keel's echo.
# Prints every round (with each generator's own CPU time per request) and the median ratios
# keel-bench / wrk of req/s, p50, p99 and generator CPU per request.
# Usage: bench/generator-vs-wrk.sh [rounds=3] [seconds=8] [connections=32]
#   KEEL=path/to/keel (default: the release build); PEERS=path/to/shared/bench
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rounds=${1:-3}; secs=${2:-8}; conns=${3:-32}
keel=${KEEL:-${CARGO_TARGET_DIR:-$HOME/.cache/keel/target}/release/keel}
peers=${PEERS:-$here/../../shared/bench}
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 2; }
out=$(mktemp -d); trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$out"' EXIT

wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done; }

ceiling=$peers/peers/rs/target/release/peer-rs
# The ceiling is built in its own directory whatever CARGO_TARGET_DIR says.
[ -x "$ceiling" ] || (cd "$peers/peers/rs" && env -u CARGO_TARGET_DIR cargo build --release -q)
PORT=3103 "$ceiling" >/dev/null 2>&1 &
KEEL_LOG=warn KEEL_MODEL_AUTO_FETCH=0 "$keel" serve --listen 127.0.0.1:3199 >/dev/null 2>&1 &
wait_port 3103; wait_port 3199; sleep 0.5

version=$("$keel" --version | awk '{print $2}')
# cycle_us = connections / req/s (Little's law: the mean time a connection spends per request);
# a generator whose mean_us is under it leaves its own delays out of the latency it reports.
printf '%-8s %-10s %10s %9s %9s %9s %9s %12s\n' target generator req/s p50_us p99_us mean_us cycle_us gen_cpu_us/req
row() { # target generator rps p50 p99 mean cpu
  local cycle; cycle=$(python3 -c "print(round($conns / $3 * 1e6))")
  printf '%-8s %-10s %10s %9s %9s %9s %9s %12s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$cycle" "$7"
  echo "$1 $2 $3 $4 $5 $7 $6 $cycle" >>"$out/rows"
}
cpu_per_req() { python3 -c 'import sys; u,s=open(sys.argv[1]).read().split()[-2:]; print(f"{(float(u)+float(s))*1e6/float(sys.argv[2]):.2f}")' "$1" "$2"; }
for target in ceiling keel; do
  case $target in
    ceiling) url=http://127.0.0.1:3103/raw ;;
    keel) url=http://127.0.0.1:3199/mcp ;;
  esac
  for r in $(seq "$rounds"); do
    line=$(KEEL_VERSION=$version /usr/bin/time -f '%U %S' -o "$out/t" \
      wrk -t1 -c"$conns" -d"${secs}s" -s "$here/same-body.lua" "$url" | grep RESULT)
    rps=$(grep -o 'rps=[0-9.]*' <<<"$line" | cut -d= -f2)
    reqs=$(grep -o 'reqs=[0-9]*' <<<"$line" | cut -d= -f2)
    p50=$(grep -o 'p50_us=[0-9]*' <<<"$line" | cut -d= -f2)
    p99=$(grep -o 'p99_us=[0-9]*' <<<"$line" | cut -d= -f2)
    mean=$(grep -o 'mean_us=[0-9.]*' <<<"$line" | cut -d= -f2)
    row "$target" wrk "$rps" "$p50" "$p99" "$mean" "$(cpu_per_req "$out/t" "$reqs")"
    /usr/bin/time -f '%U %S' -o "$out/t" "$keel" bench "$url" -q -t1 -c"$conns" -d"${secs}s" \
      --era modern --tool echo --args '{"text":"hello"}' --slo none --json "$out/k.json" >/dev/null
    read -r rps reqs p50 p99 mean < <(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); l=r["latency_us"]; print(r["throughput_rps"], r["requests"], l["p50"], l["p99"], l["mean"])' "$out/k.json")
    row "$target" keel-bench "$rps" "$p50" "$p99" "$mean" "$(cpu_per_req "$out/t" "$reqs")"
  done
done
python3 - "$out/rows" <<'PY'
import sys, statistics as st
rows = [l.split() for l in open(sys.argv[1])]
for target in ("ceiling", "keel"):
    def med(gen, col):
        gen = {"keel": "keel-bench"}.get(gen, gen)
        return st.median(float(r[col]) for r in rows if r[0] == target and r[1] == gen)
    print(f"{target:8} keel-bench/wrk (medians): req/s {med('keel',2)/med('wrk',2):.3f}  "
          f"p50 {med('keel',3)/med('wrk',3):.3f}  p99 {med('keel',4)/med('wrk',4):.3f}  "
          f"generator CPU/req {med('keel',5)/med('wrk',5):.3f}")
    for gen in ("wrk", "keel"):
        print(f"{'':8} {gen:10} mean latency / Little's-law cycle: {med(gen,6)/med(gen,7):.3f}")
PY
