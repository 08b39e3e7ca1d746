# Sourced by the bench scripts: a work directory, servers started in their own process
# groups and all stopped on exit, free loopback ports.
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -- -"$p" 2>/dev/null || true; done
  if [ -n "${pg_bin:-}" ]; then pg_signal CONT 2>/dev/null || true; pg_ctl_as stop -m immediate -w >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 150); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.2; done; echo "port $1 never opened" >&2; exit 1; }
start() { # name, port, command
  setsid bash -c "$3" >"$work/$1.log" 2>&1 & pids+=($!)
  wait_port "$2"
}

# PostgreSQL on a free loopback port in $work/pg (as the postgres user when run as root); sets
# pg_url. Stopped on exit.
pg_ctl_as() { "${pg_as[@]}" "$pg_bin/pg_ctl" -D "$work/pg/data" "$@"; }
start_postgres() {
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  pg_as=(); mkdir -p "$work/pg"
  if [ "$(id -u)" = 0 ]; then pg_as=(runuser -u postgres --); chmod 755 "$work"; chown -R postgres:postgres "$work/pg"; fi
  "${pg_as[@]}" "$pg_bin/initdb" -D "$work/pg/data" -A trust -U postgres -E UTF8 --no-sync >/dev/null
  local port; port=$(free_port)
  pg_ctl_as -l "$work/pg/log" -o "-c listen_addresses=127.0.0.1 -p $port -k $work/pg -c fsync=off" -w start >/dev/null
  pg_url="postgres://postgres@127.0.0.1:$port/postgres"
}
# Sends STOP or CONT to the postmaster and every backend: a hang, not a refusal.
pg_signal() {
  local pm; pm=$(head -1 "$work/pg/data/postmaster.pid")
  kill -"$1" "$pm" $(pgrep -P "$pm")
}
# One modern tools/call over HTTP: url, tool, arguments JSON; prints the response body.
mcp_call() {
  curl -s --max-time 10 "$1" -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
    -H 'mcp-protocol-version: 2026-07-28' -H 'mcp-method: tools/call' -H "mcp-name: $2" \
    -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"$2\",\"arguments\":$3,\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\",\"io.modelcontextprotocol/clientCapabilities\":{}}}}"
}
