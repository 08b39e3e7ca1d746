#!/usr/bin/env bash
# keel bench against Keel and the SDK peers of ../shared/bench, every server in one run, each in
# the eras it serves: closed-loop echo (req/s, percentiles, server CPU per request, ratio to
# Keel in the same era), then legacy session churn with the server's RSS per abandoned session.
# Usage: bench/peers.sh [seconds=8] [connections=32]   (run ../shared/bench/setup-peers.sh first)
#   KEEL=path/to/keel (default: the release build); PEERS=path/to/shared/bench
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
secs=${1:-8}; conns=${2:-32}
keel=${KEEL:-${CARGO_TARGET_DIR:-$HOME/.cache/keel/target}/release/keel}
peers=${PEERS:-$here/../../shared/bench}
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT
work=$(mktemp -d)

stop() { kill -- -"$1" 2>/dev/null; wait "$1" 2>/dev/null; }
start() { # name, command, port -> pid in $pid
  setsid bash -c "$2" >"$out/$1.log" 2>&1 & pid=$!
  for _ in $(seq 150); do (exec 3<>"/dev/tcp/127.0.0.1/$3") 2>/dev/null && break; sleep 0.2; done; sleep 0.5
}
servers=(
  "keel|cd $work && KEEL_LOG=warn KEEL_MODEL_AUTO_FETCH=0 exec $keel serve --listen 127.0.0.1:3199|3199|modern legacy"
  "ts-sdk-v1 stateful|cd $peers/peers/ts && MODE=stateful PORT=3101 exec node server.mjs|3101|legacy"
  "ts-sdk-v1 stateless|cd $peers/peers/ts && MODE=stateless PORT=3101 exec node server.mjs|3101|legacy"
  "ts-sdk-v2|cd $peers/peers/ts2 && PORT=3104 exec node server.mjs|3104|modern"
  "py-sdk stateful|cd $peers/peers/py && MODE=stateful PORT=3102 exec .venv/bin/python server.py|3102|legacy"
  "py-sdk stateless|cd $peers/peers/py && MODE=stateless PORT=3102 exec .venv/bin/python server.py|3102|modern legacy"
  "rmcp stateful|cd $peers/peers/rs && MODE=stateful PORT=3103 exec ./target/release/peer-rs|3103|legacy"
  "rmcp stateless|cd $peers/peers/rs && MODE=stateless PORT=3103 exec ./target/release/peer-rs|3103|modern legacy"
)
printf '%-22s %-7s %10s %9s %9s %9s %9s %7s %8s %s\n' server era req/s p50_us p99_us p999_us max_us errors cpu_us/req verdict
for entry in "${servers[@]}"; do
  IFS='|' read -r name cmd port eras <<<"$entry"
  start "$name" "$cmd" "$port"
  for era in $eras; do
    c0=$("$peers/cpu.sh" "$pid")
    "$keel" bench "http://127.0.0.1:$port/mcp" -q --era "$era" -c "$conns" -d "${secs}s" \
      --tool echo --args '{"text":"hello"}' --json "$out/r.json" >"$out/r.txt" 2>&1
    rc=$?
    c1=$("$peers/cpu.sh" "$pid")
    if [ -s "$out/r.json" ] && [ $rc -ne 2 ]; then
      python3 - "$out/r.json" "$name" "$era" "$((c1 - c0))" "$rc" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); l = r["latency_us"]; e = r["errors"]
cpu = int(sys.argv[4]) / r["requests"] if r["requests"] else 0
fails = ",".join([f"{k}:{v}" for k, v in e["transport"].items()] +
                 [f"HTTP{k}:{v}" for k, v in e["http_status"].items()] +
                 [f"rpc{k}:{v}" for k, v in e["jsonrpc"].items()] +
                 ([f"isError:{e['is_error']}"] if e["is_error"] else []))
print(f"{sys.argv[2]:22} {sys.argv[3]:7} {r['throughput_rps']:10.1f} {l['p50']:9} {l['p99']:9} "
      f"{l['p999']:9} {l['max']:9} {e['total']:7} {cpu:8.1f} {'PASS' if r['passed'] else 'FAIL'} {fails}")
with open(sys.argv[1] + ".rows", "a") as f:
    f.write(f"{sys.argv[2]}|{sys.argv[3]}|{r['throughput_rps']}|{l['p99']}\n")
PY
      cat "$out/r.json.rows" >>"$out/rows"; rm -f "$out/r.json.rows" "$out/r.json"
    else
      printf '%-22s %-7s FAILED: %s\n' "$name" "$era" "$(tr '\n' ' ' <"$out/r.txt" | cut -c1-160)"
    fi
  done
  stop "$pid"
done
python3 - "$out/rows" <<'PY'
import sys
rows = [l.strip().split("|") for l in open(sys.argv[1]) if l.strip()]
keel = {r[1]: float(r[2]) for r in rows if r[0] == "keel"}
print("\nratio to Keel's req/s in the same era:")
for name, era, rps, _ in rows:
    if name != "keel" and era in keel:
        print(f"  {name:22} {era:7} {float(rps) / keel[era]:.3f}  (Keel/peer {keel[era] / float(rps):.1f}x)")
PY
echo
echo "legacy session churn: sessions opened and abandoned at 200/s for ${secs}s beside 4 connections of echo"
printf '%-22s %9s %7s %12s %12s %14s\n' server sessions failed rss_before_k rss_after_k bytes/session
for entry in "${servers[@]}"; do
  IFS='|' read -r name cmd port eras <<<"$entry"
  case $name in *stateless*|ts-sdk-v2) continue ;; esac
  start "$name" "$cmd" "$port"
  # The process holding the sessions: the group's leader is the server itself (exec).
  "$keel" bench "http://127.0.0.1:$port/mcp" -q --era legacy -c 4 --sessions 1 -d "${secs}s" \
    --tool echo --args '{"text":"hello"}' --churn 200 --server-pid "$pid" --slo none \
    --max-error-rate 1 --json "$out/c.json" >/dev/null 2>&1
  python3 - "$out/c.json" "$name" <<'PY'
import json, sys
try:
    c = json.load(open(sys.argv[1]))["churn"]
except Exception as e:
    print(f"{sys.argv[2]:22} FAILED ({e})"); sys.exit()
print(f"{sys.argv[2]:22} {c['sessions']:9} {c['failed']:7} {c.get('rss_before_kib','?'):>12} "
      f"{c.get('rss_after_kib','?'):>12} {c.get('rss_per_session_bytes','?'):>14}")
PY
  stop "$pid"
done
rm -rf "$work"
