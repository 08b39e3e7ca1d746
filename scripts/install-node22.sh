#!/usr/bin/env bash
# Installs Node.js 22 from the npm registry (the `node` package ships the binary for this
# platform) into ${KEEL_CACHE:-$HOME/.cache/keel}/node22 and prints the node binary's path.
# Idempotent: a working node 22 already there is reused. Needs only npm (any Node version).
set -euo pipefail

cache="${KEEL_CACHE:-$HOME/.cache/keel}"
dir="$cache/node22"
node="$dir/node_modules/.bin/node"

works() { [ -x "$node" ] && "$node" --version 2>/dev/null | grep -q '^v22\.'; }

if ! works; then
    command -v npm >/dev/null || { echo "install-node22: npm is required" >&2; exit 1; }
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-audit --no-fund --loglevel=error node@22 >&2
    works || { echo "install-node22: node 22 did not install into $dir" >&2; exit 1; }
fi
echo "$node"
