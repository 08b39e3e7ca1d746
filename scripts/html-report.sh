#!/usr/bin/env bash
# Renders a `keel bench` HTML report in headless Chromium and checks what the browser built:
# the verdict, the summary and gate tables, and three plots with their lines and bars drawn;
# keeps a screenshot beside it. Usage: scripts/html-report.sh [OUT_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
profile=${KEEL_PROFILE:-dev}; [ "$profile" = dev ] && sub=debug || sub=$profile
keel=${KEEL_BIN:-${CARGO_TARGET_DIR:-$root/target}/$sub/keel}
out=${1:-$(mktemp -d)}; mkdir -p "$out"
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "chromium is needed (apt-get install chromium)" >&2; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
work=$(mktemp -d)
(cd "$work" && KEEL_LOG=error KEEL_MODEL_AUTO_FETCH=0 exec "$keel" serve --listen "127.0.0.1:$port") &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

# An open-loop run with a spike, so every plot has something to show.
"$keel" bench "http://127.0.0.1:$port/mcp" -q -c 8 -d 4s --rate 400 --shape spike \
  --interval 500ms --slo none --html "$out/report.html" >/dev/null

"$browser" --headless --no-sandbox --disable-gpu --dump-dom "file://$out/report.html" \
  2>/dev/null >"$out/dom.html"
"$browser" --headless --no-sandbox --disable-gpu --window-size=1100,1300 \
  --screenshot="$out/report.png" "file://$out/report.html" >/dev/null 2>&1
python3 - "$out" <<'PY'
import re, sys, os
out = sys.argv[1]
dom = open(os.path.join(out, "dom.html"), encoding="utf-8").read()
def need(cond, what):
    if not cond:
        sys.exit(f"html report: {what} missing from the rendered page")
need('id="verdict"' in dom and "PASS" in dom, "the verdict")
need('id="summary"' in dom, "the summary table")
for fig in ("throughput", "latency", "histogram"):
    m = re.search(r'<figure id="%s">(.*?)</figure>' % fig, dom, re.S)
    need(m and "<svg" in m.group(1), f"the {fig} plot")
    body = m.group(1)
    if fig == "histogram":
        need(body.count("<rect") > 10, "the histogram's bars")
    else:
        lines = re.findall(r'<polyline[^>]*points="([^"]*)"', body)
        need(any(len(p.split()) >= 5 for p in lines), f"the {fig} plot's lines")
png = os.path.join(out, "report.png")
need(os.path.exists(png) and os.path.getsize(png) > 20_000, "the screenshot")
print(f"html report: rendered by Chromium with its three plots; screenshot {png}")
PY
