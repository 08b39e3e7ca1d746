#!/usr/bin/env bash
# Compares Database::query with a bare sqlx loop: first on a SQLite demo file, then on a
# PostgreSQL server started here on a random loopback port in a temporary directory.
# Extra arguments (--tasks N, --seconds S) go to the benchmark program.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/../.."
cargo build --release -p keel-query --example bench_vs_sqlx
bench="${CARGO_TARGET_DIR:-target}/release/examples/bench_vs_sqlx"

"$bench" sqlite "$@"

pg_bin=""
for dir in $(dirname "$(command -v initdb 2>/dev/null || echo /nonexistent/x)") /usr/lib/postgresql/*/bin; do
    if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then pg_bin="$dir"; fi
done
if [[ -z "$pg_bin" ]]; then
    echo "PostgreSQL binaries not found: install them with 'apt-get install postgresql'" >&2
    exit 1
fi

as_pg=()
workdir="$(mktemp -d -t keel-query-bench-XXXXXX)"
if [[ "$(id -u)" == 0 ]]; then
    # PostgreSQL refuses to run as root.
    chown -R postgres:postgres "$workdir"
    as_pg=(runuser -u postgres --)
fi
stop() {
    (cd / && "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$workdir/data" -m immediate -w stop >/dev/null 2>&1) || true
    rm -rf "$workdir"
}
trap stop EXIT

(cd / && "${as_pg[@]}" "$pg_bin/initdb" -D "$workdir/data" -A trust -U postgres -E UTF8 --no-sync >/dev/null)
started=""
for _ in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 40000))
    if (cd / && "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$workdir/data" -l "$workdir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $workdir -c fsync=off -c synchronous_commit=off" \
        start >/dev/null); then
        started=1
        break
    fi
done
if [[ -z "$started" ]]; then
    cat "$workdir/server.log" >&2
    exit 1
fi

"$bench" "postgres://postgres@127.0.0.1:$port/postgres" "$@"
