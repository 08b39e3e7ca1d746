#!/usr/bin/env bash
# Runs the official MCP conformance suites against Keel's conformance example server.
#
#   scripts/conformance.sh
#
# Builds `cargo build --release -p keel-server --example conformance` (CARGO_TARGET_DIR is
# respected), installs Node 22 and @modelcontextprotocol/conformance 0.1.16 and
# 0.2.0-alpha.12 into ${KEEL_CACHE:-$HOME/.cache/keel} (once), starts the server on a free
# loopback port, runs `--suite all` of both, and stops the server. Prints each suite's
# `Total:` line, one line per failed check (`suite scenario check-id: errorMessage`) and a
# final `conformance: N passed, M failed`. Exits non-zero if a suite did not finish or a check
# failed that is not listed in conformance-exceptions.txt at the repository root
# (`suite scenario check-id # reason` per line). Results stay in the printed temp directory.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache="${KEEL_CACHE:-$HOME/.cache/keel}"
suites=(0.1.16 0.2.0-alpha.12)
exceptions="$root/conformance-exceptions.txt"

log() { echo "conformance.sh: $*" >&2; }

# --- Toolchain ---------------------------------------------------------------------------
node="$("$root/scripts/install-node22.sh")"

entry_of() { echo "$cache/conformance-$1/node_modules/@modelcontextprotocol/conformance/dist/index.js"; }

for v in "${suites[@]}"; do
    dir="$cache/conformance-$v"
    pkg="$dir/node_modules/@modelcontextprotocol/conformance/package.json"
    have="$("$node" -e 'try{console.log(require(process.argv[1]).version)}catch{}' "$pkg" 2>/dev/null || true)"
    if [ "$have" != "$v" ] || [ ! -f "$(entry_of "$v")" ]; then
        log "installing @modelcontextprotocol/conformance@$v"
        mkdir -p "$dir"
        npm install --prefix "$dir" --save-exact --no-audit --no-fund --loglevel=error \
            "@modelcontextprotocol/conformance@$v" >&2
    fi
done

# --- Server ------------------------------------------------------------------------------
log "building the conformance server"
# KEEL_PROFILE=dev reuses the test build (scripts/test.sh); release otherwise.
if [ "${KEEL_PROFILE:-release}" = dev ]; then
  (cd "$root" && cargo build -p keel-server --example conformance)
  profile_dir=debug
else
  (cd "$root" && cargo build --release -p keel-server --example conformance)
  profile_dir=release
fi
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
server_bin="$target/$profile_dir/examples/conformance"

work="$(mktemp -d "${TMPDIR:-/tmp}/keel-conformance.XXXXXX")"
port="$("$node" -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')"
url="http://127.0.0.1:$port/mcp"

"$server_bin" --listen "127.0.0.1:$port" 2>"$work/server.log" &
server_pid=$!

stop_server() {
    if kill -0 "$server_pid" 2>/dev/null; then
        kill "$server_pid" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$server_pid" 2>/dev/null || true
    fi
    wait "$server_pid" 2>/dev/null || true
}
trap stop_server EXIT

for _ in $(seq 300); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
        log "the server exited early; its log:"
        cat "$work/server.log" >&2
        exit 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        break
    fi
    sleep 0.1
done
(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { log "server did not accept on $port"; exit 1; }
log "server listening at $url; results in $work"

# --- Suites ------------------------------------------------------------------------------
for v in "${suites[@]}"; do
    log "running suite $v (--suite all)"
    "$node" "$(entry_of "$v")" server --url "$url" --suite all -o "$work/$v" \
        >"$work/$v.log" 2>&1 || true
done
stop_server
trap - EXIT

for v in "${suites[@]}"; do
    total="$(grep -E '^Total:' "$work/$v.log" | tail -1 || true)"
    echo "suite $v: ${total:-no Total line (the suite did not finish; see $work/$v.log)}"
done

# --- Report ------------------------------------------------------------------------------
"$node" - "$work" "$exceptions" "${suites[@]}" <<'JS'
const fs = require("fs");
const path = require("path");
const [work, exceptionsFile, ...suites] = process.argv.slice(2);

const expected = new Set();
if (fs.existsSync(exceptionsFile)) {
  for (const raw of fs.readFileSync(exceptionsFile, "utf8").split("\n")) {
    const line = raw.replace(/#.*/, "").trim();
    if (line) expected.add(line.split(/\s+/).slice(0, 3).join(" "));
  }
}

let passed = 0, failed = 0, unfinished = 0;
const failures = [];
for (const suite of suites) {
  const log = path.join(work, `${suite}.log`);
  if (!fs.existsSync(log) || !/^Total:/m.test(fs.readFileSync(log, "utf8"))) unfinished++;
  const dir = path.join(work, suite);
  if (!fs.existsSync(dir)) continue;
  for (const entry of fs.readdirSync(dir).sort()) {
    const file = path.join(dir, entry, "checks.json");
    if (!fs.existsSync(file)) continue;
    // server-<scenario>-<ISO time with ':' and '.' turned into '-'>
    const m = entry.match(/^server-(.+)-\d{4}-\d{2}-\d{2}T[\d-]+Z?$/);
    const scenario = m ? m[1] : entry;
    let checks;
    try {
      checks = JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (e) {
      failures.push({ key: `${suite} ${scenario} checks.json`, message: `unreadable: ${e.message}` });
      failed++;
      continue;
    }
    for (const c of checks) {
      if (c.status === "SUCCESS") passed++;
      if (c.status !== "FAILURE") continue;
      failed++;
      const message = String(c.errorMessage ?? c.description ?? "").replace(/\s+/g, " ").trim();
      failures.push({ key: `${suite} ${scenario} ${c.id}`, message });
    }
  }
}

const isExpected = (f) => expected.has(f.key);
for (const [title, list] of [
  ["failed checks", failures.filter((f) => !isExpected(f))],
  [`expected failures (${path.basename(exceptionsFile)})`, failures.filter(isExpected)],
]) {
  if (list.length === 0) continue;
  console.log(`${title}:`);
  for (const f of list) {
    console.log(`${f.key}: ${f.message}`);
  }
}
const unexpected = failures.filter((f) => !isExpected(f)).length;
for (const e of expected) {
  if (!failures.some((f) => f.key === e)) console.log(`stale exception (now passing or gone): ${e}`);
}
if (unfinished > 0) console.log(`${unfinished} suite(s) did not finish`);
console.log(`conformance: ${passed} passed, ${failed} failed`);
process.exit(unexpected > 0 || unfinished > 0 ? 1 : 0);
JS
