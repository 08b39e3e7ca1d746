#!/usr/bin/env bash
# Lists and calls Keel's tools with the official MCP Inspector CLI over Streamable HTTP and stdio.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${KEEL_CACHE:-$HOME/.cache/keel}
target=${CARGO_TARGET_DIR:-$root/target}
profile=${KEEL_PROFILE:-release}
dir="$cache/inspector-2.12"
if [ ! -x "$dir/node_modules/.bin/mcp-inspector" ]; then
  mkdir -p "$dir"
  (cd "$dir" && npm install --silent --no-audit --no-fund @modelcontextprotocol/inspector@2.12 >/dev/null)
fi
inspector="$dir/node_modules/.bin/mcp-inspector"
flag=$([ "$profile" = release ] && echo --release || true)
(cd "$root" && cargo build -q $flag -p keel-server --bin keel)
out=$([ "$profile" = release ] && echo release || echo debug)
keel="$target/$out/keel"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$keel" serve --listen "127.0.0.1:$port" 2>/dev/null & pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
pass=0; fail=0
check() { # name, expected substring, command...
  local name=$1 want=$2; shift 2
  if out=$(timeout 60 "$@" 2>&1) && grep -q "$want" <<<"$out"; then
    pass=$((pass + 1)); echo "ok   $name"
  else
    fail=$((fail + 1)); echo "FAIL $name: $out"
  fi
}
check "http tools/list" '"name": "echo"' "$inspector" --cli "http://127.0.0.1:$port/mcp" --method tools/list
check "http tools/call" '"text": "over-http"' "$inspector" --cli "http://127.0.0.1:$port/mcp" --method tools/call --tool-name echo --tool-arg text=over-http
check "stdio tools/list" '"name": "echo"' "$inspector" --cli "$keel" serve --stdio --method tools/list
check "stdio tools/call" '"text": "over-stdio"' "$inspector" --cli "$keel" serve --stdio --method tools/call --tool-name echo --tool-arg text=over-stdio
echo "inspector: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
