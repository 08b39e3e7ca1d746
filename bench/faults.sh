#!/usr/bin/env bash
# Faults under load, against one keel process over a real PostgreSQL, load driven by
# `keel bench` (echo at ECHO_RATE, query at QUERY_RATE, side by side, each phase SECS long):
#   1. normal;
#   2. PostgreSQL frozen (SIGSTOP of the postmaster and every backend: a hang, not a refusal);
#   3. PostgreSQL resumed (SIGCONT): how long until db:main's breaker closes;
#   4. PostgreSQL stopped (connections refused) with the breaker kept closed, so every call
#      reaches it: the extra attempts retries add, against the retry budget.
# The breaker's state is polled from /status.json every 100 ms.
# Usage: bench/faults.sh [secs=10]   KEEL=path/to/keel (default: the release build)
set -euo pipefail
secs=${1:-10}
echo_rate=${ECHO_RATE:-200}; query_rate=${QUERY_RATE:-50}
keel=${KEEL:-${CARGO_TARGET_DIR:-$HOME/.cache/keel/target}/release/keel}
. "$(dirname "$0")/processes.sh"
start_postgres

serve() { # name, extra TOML
  local port; port=$(free_port)
  cat >"$work/$1.toml" <<TOML
[status]
page = true
[health]
interval_ms = 500
timeout_ms = 500
[cache.tools.query]
enabled = false
[builtins.embed]
enabled = false
[builtins.query]
[[builtins.query.databases]]
name = "main"
url = "$pg_url"
statement_timeout_ms = 1000
$2
TOML
  start "$1" "$port" "cd $work && KEEL_CONFIG=$work/$1.toml KEEL_LOG=warn exec $keel serve --listen 127.0.0.1:$port"
  url=http://127.0.0.1:$port/mcp; base=http://127.0.0.1:$port
}
load() { # phase: echo and query side by side
  "$keel" bench "$url" -q --era modern --slo none --max-error-rate 1 --tool echo --args '{"text":"hi"}' \
    --rate "$echo_rate" -c 8 -d "${secs}s" --json "$work/$1-echo.json" >/dev/null & local e=$!
  "$keel" bench "$url" -q --era modern --slo none --max-error-rate 1 --tool query \
    --args '{"sql":"SELECT 1 AS one"}' --rate "$query_rate" -c 64 -d "${secs}s" --json "$work/$1-query.json" >/dev/null & local q=$!
  wait $e $q
}
watch_breaker() { # one process polling /status.json every 100 ms over one connection
  exec python3 - "$base" "$work/breaker" <<'PY'
import http.client, json, sys, time, urllib.parse
u = urllib.parse.urlparse(sys.argv[1]); out = open(sys.argv[2], "a", buffering=1)
conn = http.client.HTTPConnection(u.hostname, u.port, timeout=1)
while True:
    try:
        conn.request("GET", "/status.json"); d = json.loads(conn.getresponse().read())
        s = next((x["breaker"] for x in d["dependencies"] if x["name"] == "db:main"), "none")
    except Exception:
        conn.close(); conn = http.client.HTTPConnection(u.hostname, u.port, timeout=1); s = "?"
    out.write(f"{int(time.time() * 1000)} {s}\n"); time.sleep(0.1)
PY
}
now_ms() { date +%s%3N; }

serve guarded "[resilience.default.breaker]
reset_timeout_ms = 5000"
watch_breaker & watcher=$!
load normal
stopped_at=$(now_ms); pg_signal STOP
load hung
resumed_at=$(now_ms); pg_signal CONT
load resumed
kill $watcher 2>/dev/null || true

python3 - "$work" "$stopped_at" "$resumed_at" <<'PY'
import json, sys
w, stopped, resumed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = lambda p, t: json.load(open(f"{w}/{p}-{t}.json"))
print(f"{'phase':9} {'tool':6} {'rate':>7} {'ok':>6} {'failed':>6} {'p50_ok':>8} {'p99_ok':>8} {'p50_failed':>10} {'p99_failed':>10}  (us)")
for p in ("normal", "hung", "resumed"):
    for t in ("echo", "query"):
        x = r(p, t); ok = x.get("ok_latency_us") or {}; f = x.get("failed_latency_us") or {}
        print(f"{p:9} {t:6} {x['rate']:7.1f} {x['ok']:6} {x['errors']['total']:6} {ok.get('p50','-'):>8} {ok.get('p99','-'):>8} {f.get('p50','-'):>10} {f.get('p99','-'):>10}")
n, h = r("normal", "echo")["ok_latency_us"]["p99"], r("hung", "echo")["ok_latency_us"]["p99"]
print(f"\necho p99 with PostgreSQL hung / normal: {h} / {n} us = {h / n:.2f} (target <= 1.2)")
states = [(int(t), s) for t, s in (l.split() for l in open(f"{w}/breaker"))]
from collections import Counter
print("breaker samples while hung:", dict(Counter(s for t, s in states if stopped <= t < resumed)))
opened = next((t for t, s in states if t >= stopped and s == "open"), None)
closed = next((t for t, s in states if t >= resumed and s == "closed"), None)
print(f"breaker opened {opened - stopped if opened else '-'} ms after SIGSTOP; "
      f"closed {closed - resumed if closed else '-'} ms after SIGCONT (reset timeout 5000 ms)")
PY

# 4. A total outage with the breaker out of the way: retries are bounded by the budget.
kill -- -"${pids[-1]}" 2>/dev/null || true
serve retries "[resilience.default.breaker]
min_calls = 1000000
consecutive_failures = 0"
pg_ctl_as stop -m immediate -w >/dev/null
"$keel" bench "$url" -q --era modern --slo none --max-error-rate 1 --tool query \
  --args '{"sql":"SELECT 1 AS one"}' --rate "$query_rate" -c 16 -d "${secs}s" --json "$work/outage.json" >/dev/null
curl -s "$base/metrics" >"$work/metrics"
python3 - "$work" "$secs" <<'PY'
import json, re, sys
w, secs = sys.argv[1], int(sys.argv[2])
m = open(f"{w}/metrics").read()
v = lambda name: float(re.search(name + r'\{dependency="db:main"\} (\S+)', m).group(1))
calls, retries, refused = v("keel_dependency_calls_total"), v("keel_dependency_retries_total"), v("keel_dependency_retries_refused_total")
x = json.load(open(f"{w}/outage.json"))
print(f"\ntotal outage (connections refused), {secs} s: {int(calls)} calls, {int(retries)} retries "
      f"(+{retries / calls:.0%} load; budget 20 % + 5/s), {int(refused)} retries refused by the budget; "
      f"failed p99 {x['failed_latency_us']['p99']} us")
PY
