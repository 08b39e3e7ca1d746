#!/usr/bin/env bash
# What traces cost the echo path: one keel binary, run alternately without `[traces]` and
# with it (every request sampled, OTLP/HTTP protobuf to a sink started here that reads and
# discards each export, as a collector's receiver does), wrk with 32 connections on modern
# echo calls, several rounds. The sink shares the machine's cores with keel and wrk.
# Prints req/s, p99 and keel's own CPU time per call (user + system, the sink's excluded).
# Usage: bench/traces.sh [rounds=3] [seconds=5]   KEEL=path/to/keel (default: the release build)
#   HEADER=1: each request carries a `traceparent` header, so every trace continues the caller's
#   RATIO=r: `sample_ratio` (default 1: every trace recorded and exported)
set -euo pipefail
rounds=${1:-3}; secs=${2:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${KEEL_SHARED_BENCH:-$root/../shared/bench}
keel=${KEEL:-${CARGO_TARGET_DIR:-$HOME/.cache/keel/target}/release/keel}
. "$root/bench/processes.sh"

sink_port=$(free_port)
cat >"$work/sink.py" <<'PY'
import http.server, sys
class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    exports = 0; received = 0
    def do_POST(self):
        n = int(self.headers.get("content-length", 0)); self.rfile.read(n)
        Sink.exports += 1; Sink.received += n
        self.send_response(200); self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0"); self.end_headers()
        print(f"exports={Sink.exports} bytes={Sink.received}", file=sys.stderr, flush=True)
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
PY
start sink "$sink_port" "exec python3 $work/sink.py $sink_port"
: >"$work/open.toml"
printf '[traces]\nendpoint = "http://127.0.0.1:%s/v1/traces"\nsample_ratio = %s\n' "$sink_port" "${RATIO:-1}" >"$work/traced.toml"
headers=()
if [ "${HEADER:-0}" = 1 ]; then
  headers=(-H "traceparent: 00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01")
fi

ticks=$(getconf CLK_TCK)
measure() { # config: prints "rps p99_us errors cpu_us_per_call"
  local port; port=$(free_port)
  (cd "$work" && KEEL_CONFIG=$work/$1.toml KEEL_LOG=error KEEL_MODEL_AUTO_FETCH=0 exec "$keel" serve --listen 127.0.0.1:$port) >/dev/null 2>&1 &
  local pid=$!
  wait_port "$port"; sleep 0.5
  local out c0 c1
  c0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  out=$(wrk -t1 -c32 -d"${secs}s" "${headers[@]}" -s "$shared/modern.lua" "http://127.0.0.1:$port/mcp" | grep RESULT)
  c1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local f; f() { echo "$out" | grep -o "$1=[0-9]*" | cut -d= -f2; }
  echo "$(f rps) $(f p99_us) $(( $(f errors) + $(f non2xx_or_noresult) )) $(( (c1 - c0) * 1000000 / ticks / $(f reqs) ))"
}
echo "# $(date -u +%FT%TZ) $(nproc) cores; rounds=$rounds seconds=$secs; sample_ratio=${RATIO:-1} header=${HEADER:-0}; $keel"
for r in $(seq "$rounds"); do
  read -r o_rps o_p99 o_err o_cpu < <(measure open)
  read -r t_rps t_p99 t_err t_cpu < <(measure traced)
  awk -v r="$r" -v or="$o_rps" -v o9="$o_p99" -v oe="$o_err" -v oc="$o_cpu" -v tr="$t_rps" -v t9="$t_p99" -v te="$t_err" -v tc="$t_cpu" 'BEGIN {
    printf "round %d  open %6d req/s p99 %5d us %3d us/call err %d | traced %6d req/s p99 %5d us %3d us/call err %d | traced/open %.2fx\n", r, or, o9, oc, oe, tr, t9, tc, te, tr / or }'
done
echo "# sink: $(tail -1 "$work/sink.log")"
