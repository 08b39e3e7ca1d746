#!/usr/bin/env bash
# The Grafana dashboard (dashboards/keel.json) against a real Prometheus: Keel serves with
# bearer keys and a rate limit, Prometheus scrapes it every second, `keel bench` drives a
# mix of tools (with a few refused tokens besides), then every query of every panel is run
# through Prometheus's API and must return data. Usage: scripts/dashboard-check.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
profile=${KEEL_PROFILE:-dev}; [ "$profile" = dev ] && sub=debug || sub=$profile
keel=${KEEL_BIN:-${CARGO_TARGET_DIR:-$root/target}/$sub/keel}
prometheus=$(command -v prometheus || true)
[ -n "$prometheus" ] || { echo "prometheus is needed (apt-get install prometheus)" >&2; exit 1; }
. "$root/bench/processes.sh"

key=k-dashboard-5e2c8a1f9b7d3e6a
digest=$(printf %s "$key" | sha256sum | cut -d' ' -f1)
port=$(free_port)
cat >"$work/keel.toml" <<TOML
[auth]
resource = "http://127.0.0.1:$port/mcp"
[[auth.api_keys]]
name = "dashboard"
sha256 = "$digest"
scopes = []
[rate_limits.principal_tools.echo]
per_second = 300
burst = 50
[builtins.embed]
enabled = false
[admission.cpu]          # one analysis at a time: the rest queue, so queue waits are measured
capacity = 1
queue = 16
[cache.tools.analyze]    # computed every time, so analyses do reach the queue
enabled = false
TOML
start keel "$port" "cd $work && KEEL_CONFIG=$work/keel.toml KEEL_LOG=error exec $keel serve --listen 127.0.0.1:$port"

pport=$(free_port)
cat >"$work/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: keel
    static_configs:
      - targets: ["127.0.0.1:$port"]
YML
start prometheus "$pport" "exec $prometheus --config.file=$work/prometheus.yml --storage.tsdb.path=$work/tsdb --web.listen-address=127.0.0.1:$pport"

cat >"$work/mix.toml" <<'TOML'
[[request]]
tool = "echo"
args = { text = "dashboard {key}" }
weight = 6
keys = 100
[[request]]
tool = "analyze"
args = { csv = "x\n{key}\n2\n3", operations = [{ op = "mean" }] }
weight = 2
keys = 50
[[request]]
tool = "query"
args = { sql = "SELECT 1 AS one" }
weight = 1
[[request]]
method = "tools/list"
weight = 1
TOML
url=http://127.0.0.1:$port/mcp
for _ in 1 2 3; do curl -s -o /dev/null "$url" -H 'authorization: Bearer not-a-key' -d '{}'; done
"$keel" bench "$url" --token "$key" --workload "$work/mix.toml" -c 4 -d 15s --slo none --max-error-rate 1 >"$work/bench.txt"
for _ in 1 2 3; do curl -s -o /dev/null "$url" -d '{}'; done
sleep 3

python3 - "$root/dashboards/keel.json" "http://127.0.0.1:$pport" <<'PY'
import json, math, sys, urllib.parse, urllib.request
dashboard, prom = json.load(open(sys.argv[1])), sys.argv[2]
failed = 0
for panel in dashboard["panels"]:
    for target in panel.get("targets", []):
        expr = target["expr"].replace("$instance", ".+").replace("$__rate_interval", "1m")
        url = prom + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        answer = json.load(urllib.request.urlopen(url, timeout=10))
        result = answer.get("data", {}).get("result", [])
        values = [float(r["value"][1]) for r in result]
        finite = [v for v in values if not math.isnan(v)]
        ok = answer.get("status") == "success" and finite
        failed += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {len(result):3d} series  {panel['title']} [{target['refId']}]")
print(f"{'every panel returns data' if not failed else f'{failed} queries returned no data'}")
sys.exit(1 if failed else 0)
PY
