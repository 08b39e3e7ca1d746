#!/usr/bin/env bash
# Admission under overload, in one run against one keel process:
#   1. the slow tool's service time: `analyze` (cpu class, uncached) one call at a time;
#      its capacity is 1 / that time (the cpu class runs one call at a time here, leaving
#      the second core to everything else);
#   2. unloaded: analyze at a fifth of capacity, echo (light) and query (io, uncached) at
#      modest rates, side by side, for WARM seconds;
#   3. loaded: analyze offered at 10x capacity (open loop) with echo and query at the same
#      rates as before, for SECS seconds, sampling the server's RSS every 5 s.
# Prints the admitted calls' p99 against the unloaded p99, the refusals' p99, echo's and
# query's p99 loaded against unloaded, and the RSS over the loaded run. With ROUNDS=n the two
# phases alternate n times on the same server, and the ratios are per round (each loaded
# phase against the unloaded one just before it) with their medians: a p99 of a sub-ms call
# moves with the machine from one phase to the next, and paired rounds show by how much.
# Usage: bench/overload.sh [secs=60] [warm=10]
#   KEEL=path/to/keel (default: the release build), BENCH=the keel whose bench drives the load
#   (default: KEEL); ROWS: rows analyzed per call (20000); QUEUE, MAX_QUEUE_WAIT_MS: the cpu
#   class's queue (1) and the queue-wait bound (1000 ms); ECHO_RATE (200), QUERY_RATE (50);
#   NICE: how much nicer the analysis runs than the server (the server's default; 0 to
#   compare); GEN_NICE: the load generators' nice value (0: clients on other machines would
#   not wait behind the server's background work); OVER: the loaded phase's offer as a
#   multiple of capacity (10; 0.2 repeats the unloaded phase, to see how far p99 moves
#   between two equal phases); ROUNDS: unloaded and loaded phases, alternating (1);
#   SERVER_CPUS, GEN_CPUS: CPU lists (taskset -c) for the server and the load generators, to
#   keep the instrument off the server's cores
set -euo pipefail
secs=${1:-60}; warm=${2:-10}
rows=${ROWS:-20000}
echo_rate=${ECHO_RATE:-200}; query_rate=${QUERY_RATE:-50}
keel=${KEEL:-${CARGO_TARGET_DIR:-$HOME/.cache/keel/target}/release/keel}
bench=${BENCH:-$keel}
. "$(dirname "$0")/processes.sh"

port=$(free_port)
cat >"$work/keel.toml" <<EOF
[admission]
max_queue_wait_ms = ${MAX_QUEUE_WAIT_MS:-1000}
[admission.cpu]
capacity = 1
queue = ${QUEUE:-1}
[cache.tools.analyze]
enabled = false
[cache.tools.query]
enabled = false
[builtins.analyze]
threads = 1
max_in_flight = 64
${NICE:+nice = $NICE}
[builtins.query]
[[builtins.query.databases]]
name = "main"
url = "sqlite://$work/demo.db"
max_rows_limit = $rows
EOF
cd "$work"
server_cpus=${SERVER_CPUS:+taskset -c $SERVER_CPUS}
gen_cpus=${GEN_CPUS:+taskset -c $GEN_CPUS}
setsid bash -c "KEEL_CONFIG=$work/keel.toml KEEL_LOG=warn KEEL_MODEL_AUTO_FETCH=0 exec $server_cpus $keel serve --listen 127.0.0.1:$port" \
  >"$work/keel.log" 2>&1 & pids+=($!)
wait_port "$port"
server_pid=$(pgrep -f "serve --listen 127.0.0.1:$port" | head -1)
url=http://127.0.0.1:$port/mcp

# The numbers come from the database (a generated series), so a refused call costs the server
# a small request, and an admitted one real CPU: SQLite produces the rows, the pool analyzes.
cat >"$work/analyze.toml" <<EOF
[[request]]
tool = "analyze"
args = { query = { sql = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $rows) SELECT i % 977 AS a, (i * 7919) % 1009 AS b FROM n" }, operations = [{ op = "summary" }, { op = "median" }, { op = "correlation" }, { op = "outliers" }] }
EOF
query_args='{"database":"main","sql":"SELECT COUNT(*) FROM orders WHERE total_cents > 1000"}'

run() { # name, json out, extra keel bench args...
  local name=$1 out=$2; shift 2
  $gen_cpus nice -n "${GEN_NICE:-0}" "$bench" bench "$url" -q --era modern --slo none --max-error-rate 1 --json "$out" "$@" >/dev/null
}
field() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); v=r
for k in sys.argv[2].split("."): v=(v or {}).get(k) if isinstance(v, dict) else None
print(v if v is not None else "-")' "$1" "$2"; }

# 1. service time
run analyze "$work/service.json" --workload "$work/analyze.toml" -c1 -d5s
service_us=$(field "$work/service.json" latency_us.p50)
capacity=$(python3 -c "print(round(1e6 / $service_us, 1))")
echo "analyze service time p50 ${service_us} us: capacity ${capacity}/s (cpu class: 1 at a time, queue ${QUEUE:-1})"
slow_rate=$(python3 -c "print(max(1, round($capacity / 5, 1)))")
over_rate=$(python3 -c "print(round($capacity * ${OVER:-10}, 1))")

phase() { # label, analyze rate, seconds
  run analyze "$work/$1-analyze.json" --workload "$work/analyze.toml" \
    --rate "$2" -c64 -d"$3s" & local a=$!
  run echo "$work/$1-echo.json" --tool echo --args '{"text":"hello"}' --rate "$echo_rate" -c16 -d"$3s" & local e=$!
  run query "$work/$1-query.json" --tool query --args "$query_args" --rate "$query_rate" -c16 -d"$3s" & local q=$!
  if [[ $1 == loaded* ]]; then
    for _ in $(seq $(($3 / 5))); do
      sleep 5
      awk '/VmRSS/ {print $2}' "/proc/$server_pid/status" >>"$work/rss"
    done
  fi
  wait $a $e $q
}
rounds=${ROUNDS:-1}
: >"$work/rss"
for r in $(seq "$rounds"); do
  phase "unloaded-$r" "$slow_rate" "$warm"
  phase "loaded-$r" "$over_rate" "$secs"
done

echo
printf '%-8s %-11s %9s %9s %9s %9s %12s\n' tool phase rate ok failed p99_ok_us p99_failed_us
for tool in analyze echo query; do
  for r in $(seq "$rounds"); do
    for p in unloaded loaded; do
      f=$work/$p-$r-$tool.json
      printf '%-8s %-11s %9s %9s %9s %9s %12s\n' "$tool" "$p-$r" "$(field "$f" rate)" "$(field "$f" ok)" \
        "$(field "$f" errors.total)" "$(field "$f" ok_latency_us.p99)" "$(field "$f" failed_latency_us.p99)"
    done
  done
done
python3 - "$work" "$rounds" <<'PY'
import json, statistics, sys
w, rounds = sys.argv[1], int(sys.argv[2])
r = lambda p, i, t: json.load(open(f"{w}/{p}-{i}-{t}.json"))
p99 = lambda j: j["ok_latency_us"]["p99"]
def line(label, ratios, target):
    each = " ".join(f"{x:.2f}" for x in ratios)
    median = f", median {statistics.median(ratios):.2f}" if len(ratios) > 1 else ""
    print(f"{label}: {each}{median} ({target})")
print()
line("admitted analyze p99 loaded / unloaded",
     [p99(r("loaded", i, "analyze")) / p99(r("unloaded", i, "analyze")) for i in range(1, rounds + 1)],
     "target <= 2")
refusals = [r("loaded", i, "analyze") for i in range(1, rounds + 1)]
print("refusals: " + "; ".join(
    f"{a['errors']['total']} {a['errors']['jsonrpc']} p99 {(a.get('failed_latency_us') or {}).get('p99', '-')} us"
    for a in refusals) + " (target p99 < 1000 us)")
for t in ("echo", "query"):
    pairs = [(p99(r("loaded", i, t)), p99(r("unloaded", i, t))) for i in range(1, rounds + 1)]
    failed = sum(r("loaded", i, t)["errors"]["total"] for i in range(1, rounds + 1))
    print(f"{t} p99 loaded / unloaded (us): " + ", ".join(f"{l} / {u}" for l, u in pairs) + f"; failed {failed}")
    line(f"{t} p99 ratio", [l / u for l, u in pairs], "target 0.8-1.2")
rss = [int(x) for x in open(f"{w}/rss").read().split()]
if rss:
    print(f"RSS every 5 s of the loaded phases (MiB): {' '.join(f'{x / 1024:.0f}' for x in rss)}; "
          f"last / first {rss[-1] / rss[0]:.2f}")
PY
