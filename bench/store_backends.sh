#!/usr/bin/env bash
# The store on SQLite beside PostgreSQL (bench_store_backends: rows written and read per second,
# work-queue claim rate with 1, 4 and 16 workers), then `nnjoule train` from the same 100k kernel
# rows on each. Starts its own PostgreSQL server (initdb + pg_ctl, fsync on as a farm's server
# would run) in a temporary directory on a unix socket, as `nobody` when run as root, and stops
# it on exit. Usage: bench/store_backends.sh [BUILD_DIR] [ROWS]; OUT (default out/bench) gets
# store_backends.txt.
set -euo pipefail
build=${1:-build}
rows=${2:-100000}
out=${OUT:-out/bench}
bin=${NNJOULE_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
for f in "$bin/initdb" "$bin/pg_ctl" "$build/bench/bench_store_backends" "$build/nnjoule"; do
  [[ -x "$f" ]] || { echo "bench/store_backends.sh: $f is missing" >&2; exit 1; }
done
mkdir -p "$out"
out=$(cd "$out" && pwd)
tmp=$(mktemp -d)
as=()
if [[ $(id -u) == 0 ]]; then
  chown "${NNJOULE_PG_USER:-nobody}" "$tmp"
  as=(setpriv --reuid="${NNJOULE_PG_USER:-nobody}" --regid="$(id -g "${NNJOULE_PG_USER:-nobody}")" --clear-groups --)
fi
cleanup() {
  (cd / && "${as[@]}" "$bin/pg_ctl" -D "$tmp/data" -m fast -w stop >/dev/null 2>&1) || true
  rm -rf "$tmp"
}
trap cleanup EXIT
(cd / && "${as[@]}" "$bin/initdb" -D "$tmp/data" -U bench -A trust -E UTF8 --locale=C >/dev/null)
(cd / && "${as[@]}" "$bin/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w \
  -o "-k $tmp -c listen_addresses= -c max_connections=60" start >/dev/null)
mkdir "$tmp/sqlite"
psql() { "$bin/psql" -q -h "$tmp" -U bench -d postgres -c "$1"; }
for db in single rows queue1 queue4 queue16; do psql "CREATE DATABASE $db"; done
{
  echo "== bench_store_backends ($rows rows; server: $("$bin/postgres" --version), fsync on)"
  "$build/bench/bench_store_backends" "$tmp/sqlite" "host=$tmp user=bench dbname=" "$rows"
  echo
  echo "== nnjoule train from the same $rows kernel rows (seconds)"
  for db in "$tmp/sqlite/rows.db" "host=$tmp user=bench dbname=rows"; do
    start=$(date +%s.%N)
    "$build/nnjoule" train --db "$db" -o "$tmp/bundle" --targets latency_ms >/dev/null
    end=$(date +%s.%N)
    rm -rf "$tmp/bundle"
    printf '%-52s %10.1f\n' "$([[ $db == host=* ]] && echo PostgreSQL || echo SQLite)" \
      "$(echo "$end - $start" | bc)"
  done
} 2>&1 | tee "$out/store_backends.txt"
