# Sourced by the bench scripts: a work directory, servers started in their own process
# groups and all stopped on exit, free loopback ports.
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill -- -"$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 150); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.2; done; echo "port $1 never opened" >&2; exit 1; }
start() { # name, port, command
  setsid bash -c "$3" >"$work/$1.log" 2>&1 & pids+=($!)
  wait_port "$2"
}
