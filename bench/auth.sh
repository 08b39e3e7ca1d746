#!/usr/bin/env bash
# What bearer authentication costs the echo path: one keel binary, run alternately without
# `[auth]` and with it (a static JWKS, one ES256 token minted here and sent with every
# request, as a client does), wrk with 32 connections on modern echo calls, several rounds.
# With auth on, the first request verifies the token and the rest find it remembered.
# Usage: bench/auth.sh [rounds=3] [seconds=5]   KEEL=path/to/keel (default: the release build)
#   LIMITS=1: rate limits on too (per principal and per principal x echo, set far above the
#   offered load so nothing is refused: what the buckets cost, not what they refuse)
#   REDIS=1 (with LIMITS=1): the buckets shared through a Redis started here
set -euo pipefail
rounds=${1:-3}; secs=${2:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${KEEL_SHARED_BENCH:-$root/../shared/bench}
keel=${KEEL:-${CARGO_TARGET_DIR:-$HOME/.cache/keel/target}/release/keel}
. "$root/bench/processes.sh"

# A P-256 key, its JWKS, and a token for https://mcp.bench/mcp, valid for an hour.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/key.pem" 2>/dev/null
openssl ec -in "$work/key.pem" -pubout -outform DER -out "$work/pub.der" 2>/dev/null
python3 - "$work" <<'PY'
import base64, json, subprocess, sys, time
w = sys.argv[1]
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
point = open(f"{w}/pub.der", "rb").read()[-64:]
json.dump({"keys": [{"kty": "EC", "crv": "P-256", "kid": "bench", "alg": "ES256", "use": "sig",
                     "x": b64(point[:32]), "y": b64(point[32:])}]}, open(f"{w}/jwks.json", "w"))
now = int(time.time())
signing = b64(json.dumps({"alg": "ES256", "kid": "bench", "typ": "JWT"}).encode()) + "." + b64(json.dumps(
    {"iss": "https://idp.bench", "aud": "https://mcp.bench/mcp", "sub": "bench", "exp": now + 3600,
     "scope": "tools:echo"}).encode())
der = subprocess.run(["openssl", "dgst", "-sha256", "-sign", f"{w}/key.pem"], input=signing.encode(),
                     capture_output=True, check=True).stdout
# DER ECDSA-Sig-Value -> r || s, 32 bytes each.
i = 2 if der[1] < 0x80 else 3
def integer(at):
    n = der[at + 1]; return der[at + 2: at + 2 + n], at + 2 + n
r, at = integer(i); s, _ = integer(at)
raw = r.lstrip(b"\0").rjust(32, b"\0") + s.lstrip(b"\0").rjust(32, b"\0")
open(f"{w}/token", "w").write(signing + "." + b64(raw))
PY
cat >"$work/auth.toml" <<TOML
[auth]
resource = "https://mcp.bench/mcp"
issuer = "https://idp.bench"
jwks_file = "$work/jwks.json"
algorithms = ["ES256"]
TOML
if [ "${LIMITS:-0}" = 1 ]; then
  cat >>"$work/auth.toml" <<TOML
[rate_limits]
per_principal = { per_second = 10000000, burst = 10000000 }
[rate_limits.principal_tools.echo]
per_second = 10000000
burst = 10000000
TOML
  if [ "${REDIS:-0}" = 1 ]; then
    redis_port=$(free_port)
    start redis "$redis_port" "exec redis-server --port $redis_port --bind 127.0.0.1 --save '' --appendonly no --dir $work"
    printf '[rate_limits.redis]\nurl = "redis://127.0.0.1:%s"\non_failure = "refuse"\n' "$redis_port" >>"$work/auth.toml"
  fi
fi
: >"$work/open.toml"
token=$(cat "$work/token")

measure() { # config: prints "rps p99_us errors"
  local port; port=$(free_port)
  (cd "$work" && KEEL_CONFIG=$work/$1.toml KEEL_LOG=error KEEL_MODEL_AUTO_FETCH=0 exec "$keel" serve --listen 127.0.0.1:$port) >/dev/null 2>&1 &
  local pid=$!
  wait_port "$port"; sleep 0.5
  local out
  out=$(wrk -t1 -c32 -d"${secs}s" -H "Authorization: Bearer $token" -s "$shared/modern.lua" "http://127.0.0.1:$port/mcp" | grep RESULT)
  kill "$pid"; wait "$pid" 2>/dev/null || true
  local f; f() { echo "$out" | grep -o "$1=[0-9]*" | cut -d= -f2; }
  echo "$(f rps) $(f p99_us) $(( $(f errors) + $(f non2xx_or_noresult) ))"
}
echo "# $(date -u +%FT%TZ) $(nproc) cores; rounds=$rounds seconds=$secs; $keel"
for r in $(seq "$rounds"); do
  read -r o_rps o_p99 o_err < <(measure open)
  read -r a_rps a_p99 a_err < <(measure auth)
  awk -v r="$r" -v or="$o_rps" -v o9="$o_p99" -v oe="$o_err" -v ar="$a_rps" -v a9="$a_p99" -v ae="$a_err" 'BEGIN {
    printf "round %d  open %6d req/s p99 %5d us err %d | auth %6d req/s p99 %5d us err %d | auth/open %.2fx\n", r, or, o9, oe, ar, a9, ae, ar / or }'
done
