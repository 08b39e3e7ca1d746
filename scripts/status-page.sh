#!/usr/bin/env bash
# The live status page in headless Chromium while a fault is injected: PostgreSQL frozen
# (SIGSTOP) under `query` calls, so db:main's breaker is open and readiness degraded. Checks
# what the browser built from /status.json (the page updates itself; no reload) and keeps a
# screenshot. Usage: scripts/status-page.sh [OUT_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
profile=${KEEL_PROFILE:-dev}; [ "$profile" = dev ] && sub=debug || sub=$profile
keel=${KEEL_BIN:-${CARGO_TARGET_DIR:-$root/target}/$sub/keel}
out=${1:-$(mktemp -d)}; mkdir -p "$out"
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "chromium is needed (apt-get install chromium)" >&2; exit 1; }
. "$root/bench/processes.sh"

start_postgres
port=$(free_port)
cat >"$work/keel.toml" <<TOML
[status]
page = true
[health]
interval_ms = 200
timeout_ms = 300
[cache.tools.query]
enabled = false
[builtins.embed]
enabled = false
[builtins.query]
[[builtins.query.databases]]
name = "main"
url = "$pg_url"
statement_timeout_ms = 300
[resilience.default.breaker]
min_calls = 3
reset_timeout_ms = 60000
TOML
start keel "$port" "cd $work && KEEL_CONFIG=$work/keel.toml KEEL_LOG=error exec $keel serve --listen 127.0.0.1:$port"
url=http://127.0.0.1:$port/mcp
mcp_call "$url" query '{"sql":"SELECT 1 AS one"}' | grep -q '"isError":false'
pg_signal STOP
for _ in 1 2 3 4 5 6; do mcp_call "$url" query '{"sql":"SELECT 1 AS one"}' >/dev/null || true; done
sleep 1

"$browser" --headless --no-sandbox --disable-gpu --virtual-time-budget=4000 --dump-dom \
  "http://127.0.0.1:$port/status" 2>/dev/null >"$out/dom.html"
"$browser" --headless --no-sandbox --disable-gpu --virtual-time-budget=4000 --window-size=1200,1100 \
  --screenshot="$out/status.png" "http://127.0.0.1:$port/status" >/dev/null 2>&1
"$keel" status "$url" >"$out/status.txt" || true
python3 - "$out" <<'PY'
import os, re, sys
out = sys.argv[1]
dom = open(os.path.join(out, "dom.html"), encoding="utf-8").read()
def need(cond, what):
    if not cond:
        sys.exit(f"status page: {what} missing from the rendered page\n{dom[:3000]}")
need(re.search(r'id="readiness" class="pill degraded"', dom), "the degraded readiness badge")
deps = re.search(r'<table id="dependencies">(.*?)</table>', dom, re.S)
need(deps and "db:main" in deps.group(1) and 'class="pill open"' in deps.group(1), "db:main's open breaker")
checks = re.search(r'<table id="checks">(.*?)</table>', dom, re.S)
need(checks and "db:main" in checks.group(1) and 'class="pill bad"' in checks.group(1), "the failing db:main check")
need(checks and "mcp" in checks.group(1), "the MCP self-check")
need(re.search(r'<table id="admission">.*?<td>io</td>', dom, re.S), "the admission classes")
text = open(os.path.join(out, "status.txt")).read()
need("readiness: degraded" in text and "open" in text, "keel status's report")
png = os.path.join(out, "status.png")
need(os.path.exists(png) and os.path.getsize(png) > 20_000, "the screenshot")
print(f"status page: rendered by Chromium with db:main's breaker open; screenshot {png}")
PY
