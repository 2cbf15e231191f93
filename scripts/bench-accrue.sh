#!/usr/bin/env bash
# Full-stack accrual throughput against pgbench's tpcb-like workload, on the
# same PostgreSQL at the same concurrency, in alternating rounds so that the
# ratios compare neighbouring minutes of a shared machine.
#
# Needs the local coalition running (scripts/dev.sh, in another terminal):
# it reads .dev/env for the database and drives the server on 127.0.0.1.
#
#   scripts/bench-accrue.sh                  # 8 clients, 30 s per run, 2 rounds
#   CONCURRENCY=16 SECONDS_PER_RUN=60 ROUNDS=3 scripts/bench-accrue.sh
#   PGBENCH=0 scripts/bench-accrue.sh        # the server alone, to compare builds
#
# Each round runs, for SECONDS_PER_RUN each:
#   1. coalition-load, accruals only, over gRPC with TLS (the whole stack:
#      auth, validation, rules, the serializable ledger transaction);
#   2. pgbench tpcb-like at the server's isolation (SERIALIZABLE, as the
#      ledger runs), retrying serialization failures (--max-tries);
#   3. pgbench tpcb-like at READ COMMITTED, pgbench's usual setting.
# pgbench runs in a database of its own ("pgbench"), initialised once at
# scale CONCURRENCY so that its clients do not all update one branch row.
set -euo pipefail
cd "$(dirname "$0")/.."

CONCURRENCY="${CONCURRENCY:-8}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-30}"
ROUNDS="${ROUNDS:-2}"
MEMBERS="${MEMBERS:-2000}"
GRPC="${GRPC:-127.0.0.1:7443}"
METRICS="${METRICS:-http://127.0.0.1:9464/metrics}"  # coalitiond --admin-listen
PGBENCH="${PGBENCH:-1}" # 0: the server alone (to compare two builds of it)

if [ ! -f .dev/env ]; then
  echo "bench-accrue: .dev/env not found: start the local coalition first (scripts/dev.sh)" >&2
  exit 1
fi
# shellcheck disable=SC1091
source .dev/env
PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
db_url="$COALITION_DATABASE_URL"
bench_url="${db_url/\/coalition\?//pgbench?}"
case "$db_url" in
  *@127.0.0.1:*|*@localhost:*|*@\[::1\]:*) ;;
  *) echo "bench-accrue: the database is not on loopback: $db_url" >&2; exit 1 ;;
esac

if ! "$PGBIN/psql" -qtA "$db_url" -c "SELECT 1 FROM pg_database WHERE datname = 'pgbench'" | grep -q 1; then
  "$PGBIN/psql" -q "$db_url" -c "CREATE DATABASE pgbench"
  echo "initialising pgbench at scale $CONCURRENCY ..."
  "$PGBIN/pgbench" -i -q -s "$CONCURRENCY" "$bench_url" >/dev/null 2>&1
fi

go build -o .dev/coalition-load ./cmd/coalition-load

# The server's CPU time (user + system, in clock ticks), to report what an
# accrual costs it.
server_pid="$(pgrep -f '^([^ ]*/)?coalitiond dev' | head -1 || true)"
server_ticks() { if [ -n "$server_pid" ]; then awk '{ print $14 + $15 }' "/proc/$server_pid/stat"; else echo 0; fi; }

pgbench_tps() { # isolation
  PGOPTIONS="-c default_transaction_isolation=$1" "$PGBIN/pgbench" -n -M prepared -c "$CONCURRENCY" -j 2 \
    -T "$SECONDS_PER_RUN" --max-tries=100 "$bench_url" 2>&1 |
    sed -n 's/^tps = \([0-9.]*\) .*/\1/p'
}

printf '%-6s %10s %8s %16s %16s %7s %16s %7s\n' round "accrue/s" retries "server CPU/acc" "pgbench SER tps" ratio "pgbench RC tps" ratio
for round in $(seq 1 "$ROUNDS"); do
  t0="$(server_ticks)"
  out="$(.dev/coalition-load -targets "$GRPC" -cacert .dev/partners/cafe/ca.pem -mix accrue=1 \
    -concurrency "$CONCURRENCY" -members "$MEMBERS" -requests 0 -duration "${SECONDS_PER_RUN}s" -metrics "$METRICS")"
  t1="$(server_ticks)"
  ours="$(sed -n 's/.*: \([0-9]*\) requests\/s$/\1/p' <<<"$out")"
  sent="$(sed -n 's/^\([0-9]*\) requests in .*/\1/p' <<<"$out")"
  cpu="$(awk -v d="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" -v n="$sent" 'BEGIN { if (d == 0) print "-"; else printf "%.2f ms", d / hz * 1000 / n }')"
  retried="$(sed -n 's/.*retried: \([0-9]*\)$/\1/p' <<<"$out")"
  if grep -qvE '^(.*requests/s|  accrue .*|  OK .*|  ledger .*)$' <<<"$out"; then
    echo "coalition-load saw answers other than OK:" >&2
    echo "$out" >&2
  fi
  ser=- rc=-
  if [ "$PGBENCH" = 1 ]; then
    ser="$(pgbench_tps serializable)"
    rc="$(pgbench_tps 'read\ committed')"
  fi
  printf '%-6s %10s %8s %16s %16s %7s %16s %7s\n' "$round" "$ours" "$retried" "$cpu" "$ser" \
    "$(awk -v a="$ours" -v b="$ser" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else print "-" }')" "$rc" \
    "$(awk -v a="$ours" -v b="$rc" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else print "-" }')"
done
