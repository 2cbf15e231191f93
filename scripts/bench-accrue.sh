#!/usr/bin/env bash
# Partner traffic through the whole stack against pgbench's tpcb-like
# workload on the same PostgreSQL at the same number of clients, in
# alternating runs so that the ratios compare neighbouring minutes of a
# shared machine.
#
# Self-contained: unless a local coalition is already serving (scripts/dev.sh,
# which leaves .dev/env), it builds coalitiond and starts a throwaway one in
# dev mode in a temporary folder (its own PostgreSQL and Vault, on free
# loopback ports), and stops all of it and removes the folder on every exit:
# the end, an error, Ctrl-C or SIGTERM.
#
#   scripts/bench-accrue.sh                          # 16 and 64 clients, 30 s per run
#   SECONDS_PER_RUN=15 scripts/bench-accrue.sh       # docs/BENCHMARKS.md, "Self-contained run"
#   CONCURRENCY="8 16" ROUNDS=2 scripts/bench-accrue.sh
#   START=1 scripts/bench-accrue.sh                  # a throwaway coalition even if scripts/dev.sh is up
#   PGBENCH=0 WORKLOADS=accrue scripts/bench-accrue.sh   # the server alone, to compare two builds
#   SERVER_ARGS="--ledger-lanes=-1" scripts/bench-accrue.sh  # flags for the throwaway server (here: no batching)
#   VERBOSE=1 scripts/bench-accrue.sh                # also each run's coalition-load report (batching, codes)
#
# For each round and each number of clients in CONCURRENCY, for
# SECONDS_PER_RUN each (WORKLOADS picks and orders the coalition's):
#   accrue       accruals only, on MEMBERS members, at the three demo partners;
#   half-load    the same, paced at half the rate accrue reached (p50/p99
#                of a server that is not saturated);
#   pgbench RC   tpcb-like at READ COMMITTED (pgbench's usual setting);
#   mix          the partner mix: 60 % accrue, 20 % redeem, 20 % balance;
#   regulars     the same mix on REGULARS members who each made
#                REGULAR_PURCHASES purchases at REGULAR_PARTNERS before the
#                first run (seeded once, checked to hold >= MIN_OPEN_LOTS
#                open lots each);
#   pgbench SER  tpcb-like at SERIALIZABLE, retrying serialization failures;
#   hot-member   accruals, all clients on one member;
#   hot-partner  accruals, all at HOT_PARTNER, which is given a liability
#                limit for this run only (HOT_PARTNER_LIMIT points, far above
#                what a run issues);
#   ceiling      accruals against coalition-load's in-process stub: the
#                server's gRPC stack over TLS with no database;
#   floor        the database's floor: pgbench doing only the database's
#                part of the accrue run's batches (scripts/floor-batch.sh:
#                "floor rows", the rows an accrual must write, and "floor
#                writes", those it writes today), at the accrue run's batch
#                size on two connections; its ops/s are accruals (needs
#                accrue before it in WORKLOADS).
# Every coalition request is over gRPC with TLS (authentication, validation,
# the rules, the ledger's transactions). pgbench runs in a database of its
# own ("pgbench") at scale PGBENCH_SCALE (default: the largest number of
# clients, so that its clients do not queue on a few branch rows).
#
# It prints one markdown table row per run (with the CPU time per request
# of the server, of the database's processes and of coalition-load itself;
# the ceiling's client column is coalition-load and its stub together),
# then, as its last line, for machines:
#   ratio_vs_pgbench_rc_64=<x.xx> ratio_vs_pgbench_rc_16=<x.xx> hot_member_share=<x.xx> rss_mb=<n>
# (accrue over pgbench RC at 64 and at 16 clients, hot-member over accrue at
# 16 clients, each over all rounds; the server's peak resident memory).
set -euo pipefail
cd "$(dirname "$0")/.."

CONCURRENCY="${CONCURRENCY:-16 64}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-30}"
ROUNDS="${ROUNDS:-1}"
MEMBERS="${MEMBERS:-2000}"
WORKLOADS="${WORKLOADS:-accrue half-load floor mix regulars hot-member hot-partner ceiling}"
# 512 regulars: with 64 clients on as few members (the default before), most
# batches named a member of the batch in flight, which measured contention
# on a few members (hot-member's business) rather than their history.
REGULARS="${REGULARS:-512}"
REGULAR_PURCHASES="${REGULAR_PURCHASES:-200}"
# The regulars' purchases are seeded at the partners whose points are
# spendable at once. Made in the same minute, a third of them at the fuel
# chain (pending 14 days) would leave each regular ~70 fuel lots pending at
# once, which a regular whose purchases spread over months never holds (a
# fortnight's fuel at most); the timed runs still buy at all three.
# REGULAR_PARTNERS=cafe,cinema,fuel seeds as before (docs/BENCHMARKS.md,
# "Pending lots skipped in the index, and regulars seeded as regulars").
REGULAR_PARTNERS="${REGULAR_PARTNERS:-cafe,cinema}"
MIN_OPEN_LOTS="${MIN_OPEN_LOTS:-50}"
HOT_PARTNER="${HOT_PARTNER:-cinema}"
HOT_PARTNER_LIMIT="${HOT_PARTNER_LIMIT:-1000000000000}"
PGBENCH="${PGBENCH:-1}"     # 0: no pgbench (the server alone, to compare two builds of it)
START="${START:-auto}"      # auto: use scripts/dev.sh's coalition if it serves, else start one; 1: always start one
GRPC="${GRPC:-127.0.0.1:7443}"                    # scripts/dev.sh's coalition
METRICS="${METRICS:-http://127.0.0.1:9464/metrics}"  # coalitiond --admin-listen
STARTUP_TIMEOUT="${STARTUP_TIMEOUT:-300}"
MIX="accrue=6,redeem=2,balance=2"

log() { echo "bench-accrue: $(date -u +%T) $*" >&2; }
die() { log "$*"; exit 1; }

tmp="$(mktemp -d "${TMPDIR:-/tmp}/bench-accrue.XXXXXX")"
chmod 755 "$tmp" # run as root, PostgreSQL runs as postgres, which must reach its data under it
started=""        # "1" when this script started the coalition
server_pid=""     # the coalitiond process, to measure (and, if ours, to stop)
vault_pid=""      # our coalition's Vault, in case coalitiond could not stop it
child=""          # the command being waited for
restore_limit=""  # the hot partner's limit before its run, while the run has it capped
ctl=()

# hot_limit sets the hot partner's liability limit (points, or none).
hot_limit() {
  if [ "$1" = none ]; then
    "${ctl[@]}" partners set-liability-limit "$HOT_PARTNER" --none >/dev/null
  else
    "${ctl[@]}" partners set-liability-limit "$HOT_PARTNER" --liability-limit "$1" >/dev/null
  fi
}

# cleanup stops whatever this script started, on every exit path.
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null || true; wait "$child" 2>/dev/null || true; fi
  if [ -n "$restore_limit" ]; then
    hot_limit "$restore_limit" || log "could not set $HOT_PARTNER's liability limit back to $restore_limit"
  fi
  if [ -n "${floor_ready:-}" ] && [ -z "$started" ]; then # the floor's tables, in a coalition not ours
    psql_ -c "SET client_min_messages = warning; DROP SCHEMA IF EXISTS floor CASCADE" >/dev/null || log "could not drop the floor's schema"
  fi
  if [ -n "$started" ]; then
    if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
      log "stopping the coalition (pid $server_pid) ..."
      kill -TERM "$server_pid" 2>/dev/null || true
      for _ in $(seq 600); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$server_pid" 2>/dev/null || true
    fi
    [ -z "$server_pid" ] || wait "$server_pid" 2>/dev/null || true
    # coalitiond stops its PostgreSQL and Vault; if it could not, they go here.
    local pidfile="$tmp/dev/pg/data/postmaster.pid" pg=""
    if [ -f "$pidfile" ]; then
      pg="$(head -1 "$pidfile")"
      if grep -qaF "$tmp/dev/pg" "/proc/$pg/cmdline" 2>/dev/null; then
        kill -QUIT "$pg" 2>/dev/null || true # immediate shutdown
        for _ in $(seq 100); do kill -0 "$pg" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pg" 2>/dev/null || true
      fi
    fi
    if [ -n "$vault_pid" ] && grep -qaF "$tmp/dev/vault" "/proc/$vault_pid/cmdline" 2>/dev/null; then
      kill -TERM -- "-$vault_pid" 2>/dev/null || true # its own process group
    fi
  fi
  rm -rf "$tmp"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run OUT CMD... runs a command with its output to the file OUT (- for the
# script's own), in the background, and waits for it: a signal to the script
# is then acted on at once, and cleanup ends the command too. (The output is
# redirected here, not around the call, or cleanup, run during the wait,
# would write to that file too.)
run() {
  local out=$1
  shift
  if [ "$out" = - ]; then "$@" & else "$@" >"$out" 2>&1 & fi
  child=$!
  local rc=0
  wait "$child" || rc=$?
  child=""
  return "$rc"
}

serving() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }

free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 40000))
    if ! serving "127.0.0.1:$p" && [ "$p" != "${1:-}" ]; then echo "$p"; return; fi
  done
}

loopback_url() {
  case "$1" in
    *@127.0.0.1:*|*@localhost:*|*@\[::1\]:*|http://127.0.0.1:*|http://localhost:*|http://\[::1\]:*) ;;
    *) die "not on loopback: $1" ;;
  esac
}

scripts/setup.sh # PostgreSQL's binaries and pgbench, if the machine lacks them
log "building coalitiond, coalitionctl and coalition-load ..."
run - go build -o "$tmp/bin/" ./cmd/coalitiond ./cmd/coalitionctl ./cmd/coalition-load
load="$tmp/bin/coalition-load"

if [ "$START" = auto ] && [ -f .dev/env ] && serving "$GRPC"; then
  log "using the running coalition on $GRPC (scripts/dev.sh); START=1 starts a throwaway one instead"
  # shellcheck disable=SC1091
  source .dev/env
  cacert=.dev/partners/cafe/ca.pem
  # The process serving gRPC on that port, to measure.
  server_pid="$(ss -Hltnp "sport = :${GRPC##*:}" 2>/dev/null | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1 || true)"
  [ -n "$server_pid" ] || server_pid="$(pgrep -f '^([^ ]*/)?coalitiond dev' | head -1 || true)"
else
  [ "$START" != 0 ] || die "no coalition serves on $GRPC and START=0"
  : "${COALITION_VAULT_BINARY:=$(scripts/vault.sh path)}"
  grpc_port="$(free_port)"
  http_port="$(free_port "$grpc_port")"
  admin_port="$(free_port "$http_port")"
  GRPC="127.0.0.1:$grpc_port"
  METRICS="http://127.0.0.1:$admin_port/metrics"
  log "starting a throwaway coalition in $tmp/dev (gRPC $GRPC) ..."
  started=1
  # Its own Vault, not the user's: VAULT_ADDR and VAULT_TOKEN are dropped.
  env -u VAULT_ADDR -u VAULT_TOKEN COALITION_VAULT_BINARY="$COALITION_VAULT_BINARY" \
    "$tmp/bin/coalitiond" dev --data-dir "$tmp/dev" --listen "$GRPC" --http-listen "127.0.0.1:$http_port" \
      --admin-listen "127.0.0.1:$admin_port" ${SERVER_ARGS:-} \
    >"$tmp/coalitiond.log" 2>&1 &
  server_pid=$!
  for _ in $(seq $((STARTUP_TIMEOUT * 2))); do
    grep -q "Coalition dev mode is up" "$tmp/coalitiond.log" && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
      tail -20 "$tmp/coalitiond.log" >&2
      die "the coalition did not start"
    fi
    sleep 0.5
  done
  grep -q "Coalition dev mode is up" "$tmp/coalitiond.log" || { tail -20 "$tmp/coalitiond.log" >&2; die "the coalition did not start within ${STARTUP_TIMEOUT}s"; }
  vault_pid="$(pgrep -f -- "-config=$tmp/dev/vault/vault.hcl" | head -1 || true)"
  # shellcheck disable=SC1091
  source "$tmp/dev/env"
  cacert="$tmp/dev/partners/cafe/ca.pem"
fi
[ -n "$server_pid" ] || log "the server's process was not found: no CPU or memory figures"
PGBIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
db_url="$COALITION_DATABASE_URL"
loopback_url "$db_url"
loopback_url "$METRICS"
bench_url="${db_url/\/coalition\?//pgbench?}"
ctl=("$tmp/bin/coalitionctl" --database-url "$db_url")
psql_() { "$PGBIN/psql" -qtAX "$db_url" "$@"; }

max_clients="$(tr ' ' '\n' <<<"$CONCURRENCY" | sort -n | tail -1)"
if [ "$PGBENCH" = 1 ]; then
  if ! psql_ -c "SELECT 1 FROM pg_database WHERE datname = 'pgbench'" | grep -q 1; then
    scale="${PGBENCH_SCALE:-$max_clients}"
    log "initialising pgbench at scale $scale ..."
    psql_ -c "CREATE DATABASE pgbench"
    run "$tmp/pgbench-init.log" "$PGBIN/pgbench" -i -q -s "$scale" --init-steps=dtGvp "$bench_url" ||
      { cat "$tmp/pgbench-init.log" >&2; die "pgbench -i failed"; }
  fi
  scale="$("$PGBIN/psql" -qtAX "$bench_url" -c "SELECT count(*) FROM pgbench_branches")"
fi

has() { [[ " $WORKLOADS " == *" $1 "* ]]; }

# The hot partner is capped for its own run only: a cap makes each of its
# accruals read the partner's outstanding points, which the other
# workloads, whose accruals go to every partner, must not pay for.
if has hot-partner; then
  original_limit="$(psql_ -c "SELECT COALESCE(liability_limit_points::text, 'none') FROM partners WHERE code = '$HOT_PARTNER'")"
  [ -n "$original_limit" ] || die "no partner $HOT_PARTNER"
fi

# regular_history prints the regulars' fewest purchases and fewest open lots.
regular_history() {
  psql_ -F ' ' -c "
    SELECT min(purchases), min(open_lots)
    FROM (SELECT (SELECT count(*) FROM transactions AS t WHERE t.member_id = m.id AND t.kind = 'earn') AS purchases,
                 (SELECT count(*) FROM lots AS l WHERE l.member_id = m.id AND l.remaining > 0 AND l.expires_at > now()) AS open_lots
          FROM members AS m
          WHERE m.card_number = ANY (string_to_array('$(tr '\n' ' ' <"$tmp/regulars")', ' '))) AS r"
}

common=(-targets "$GRPC" -cacert "$cacert" -metrics "$METRICS" -requests 0)
[ -z "$server_pid" ] || common+=(-server-pid "$server_pid")
# The database's CPU per request: its postmaster's, which counts its
# backends (coalition-load -db-pid; tree_ticks for the pgbench runs).
db_dir="$(psql_ -c 'SHOW data_directory' 2>/dev/null || true)"
# A database this script started logs what can stall a run (checkpoints,
# autovacuum, lock waits, statements over 100 ms); when a run reports
# requests slower than 100 ms, its lines are printed at the end, with the
# times coalition-load gives.
if [ -n "${started:-}" ]; then
  psql_ -c "ALTER SYSTEM SET log_checkpoints = on" -c "ALTER SYSTEM SET log_autovacuum_min_duration = 0" \
    -c "ALTER SYSTEM SET log_lock_waits = on" -c "ALTER SYSTEM SET log_min_duration_statement = 100" \
    -c "ALTER SYSTEM SET log_line_prefix = '%m [%p] '" -c "ALTER SYSTEM SET log_timezone = 'UTC'" \
    -c "SELECT pg_reload_conf()" >/dev/null
fi
>"$tmp/stalls"
db_pid=""
if [ -n "$db_dir" ] && [ -r "$db_dir/postmaster.pid" ]; then
  db_pid="$(head -1 "$db_dir/postmaster.pid")"
  common+=(-db-pid "$db_pid")
else
  log "the database's postmaster was not found: no database CPU figures"
fi
if has regulars; then
  log "seeding $REGULARS regulars with $REGULAR_PURCHASES purchases each ..."
  run "$tmp/seed.out" "$load" "${common[@]}" -partners "$REGULAR_PARTNERS" -members "$REGULARS" -warmup "$REGULAR_PURCHASES" -cards "$tmp/regulars" \
    -concurrency 16 || { cat "$tmp/seed.out" >&2; die "seeding the regulars failed"; }
  cat "$tmp/seed.out" >&2
  read -r fewest_purchases fewest_lots <<<"$(regular_history)"
  log "regulars: $REGULARS members, each with >= $fewest_purchases purchases and >= $fewest_lots open lots"
  [ "$fewest_purchases" -ge "$REGULAR_PURCHASES" ] && [ "$fewest_lots" -ge "$MIN_OPEN_LOTS" ] ||
    die "the regulars have fewer than $REGULAR_PURCHASES purchases or $MIN_OPEN_LOTS open lots"
fi

# The seeding's writes (pgbench's tables, the regulars' history) are flushed
# now, not by a checkpoint in the middle of a timed run.
psql_ -c CHECKPOINT

# results: one line per run: round clients workload ops/s p50 p99 refused retried cpu_ms rss_mb
results="$tmp/results"
: >"$results"
record() { echo "$*" >>"$results"; }

# Every timed run starts from a checkpoint: the runs share one PostgreSQL,
# and without it a run pays for the dirty pages of the one before (a
# pgbench round's most of all), which is no part of what it measures.
checkpoint() { psql_ -c CHECKPOINT; }

coalition_run() { # round clients workload coalition-load options...
  local round=$1 clients=$2 workload=$3
  shift 3
  log "round $round, $clients clients: $workload ..."
  checkpoint
  if ! run "$tmp/out" "$load" "$@" -concurrency "$clients" -duration "${SECONDS_PER_RUN}s"; then
    cat "$tmp/out" >&2
    die "coalition-load failed ($workload)"
  fi
  [ "${VERBOSE:-0}" = 0 ] || cat "$tmp/out" >&2
  if grep -q '^  slower than ' "$tmp/out"; then
    log "$workload: $(sed -n 's/^  //p' "$tmp/out" | grep '^slower than ')"
    # The stall's window, due from and answered at (HH:MM:SS.mmm, UTC).
    sed -n 's/^  slower than .* due from \([0-9:.]*\) to answered at \([0-9:.]*\) UTC.*/\1 \2/p' "$tmp/out" >>"$tmp/stalls"
  fi
  if grep -E '^  [A-Z][A-Za-z]+ +[0-9]+$' "$tmp/out" | grep -qvE '^  (OK|FailedPrecondition) '; then
    log "$workload: coalition-load saw answers other than OK and not enough points:"
    cat "$tmp/out" >&2
  fi
  if [ "$workload" = hot-partner ] && grep -q '^  FailedPrecondition ' "$tmp/out"; then
    log "hot-partner: some accruals were refused: is HOT_PARTNER_LIMIT high enough?"
  fi
  if [ "$workload" = accrue ]; then
    # The batch size the floor runs take for this round and number of clients.
    sed -n 's/^  postings batched: .* (\([0-9.]*\) per batch.*/\1/p' "$tmp/out" | awk '{ printf "%d\n", $1 + 0.5 }' \
      >"$tmp/batch.$round.$clients"
  fi
  record "$round $clients $workload $(awk '
    / requests\/s$/ { ops = $(NF - 1) }
    $1 == "accrue" { for (i = 1; i < NF; i++) { if ($i == "p50") p50 = $(i + 1); if ($i == "p99") p99 = $(i + 1) } }
    $1 == "OK" { ok = $2 }
    /^  [A-Z][A-Za-z]+ +[0-9]+$/ { all += $2 }
    /ledger transactions retried:/ { retried = $NF }
    /^  server: / { cpu = $2; rss = $8 }
    /^  database: / { db = $2 }
    /^  client: / { client = $2 }
    /^  client and stub server: / { client = $5 }
    function or_dash(v) { return v == "" ? "-" : v }
    END { printf "%s %s %s %d %s %s %s %s %s", ops, p50, p99, all - ok, or_dash(retried), or_dash(cpu), or_dash(rss), or_dash(db), or_dash(client) }
  ' "$tmp/out")"
}

# tree_ticks PID: the CPU time, in ticks of 1/100 s, of a process and its
# children, those that ended included (counted in the parent's cutime and
# cstime once reaped), as coalition-load -db-pid counts the database's.
tree_ticks() {
  # A process that ends between the listing and its read fails cat, which
  # is no error here.
  { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v pm="$1" '
    { pid = $1; sub(/^.*\) /, "") } # from field 3 on: $2 is the parent, $12-$15 utime, stime, cutime, cstime
    pid == pm { t += $12 + $13 + $14 + $15 }
    $2 == pm { t += $12 + $13 }
    END { print t + 0 }'
}

# children_cpu sets children_seconds to the CPU seconds of this shell's
# ended children. bash's times must run in this shell, not in a command
# substitution, whose subshell would count its own children.
children_cpu() {
  times >"$tmp/times"
  children_seconds="$(awk 'NR == 2 { split($0, f, /[ms ]+/); print f[1] * 60 + f[2] + f[3] * 60 + f[4] }' "$tmp/times")"
}

# timed_pgbench OUT PER_TX ARGS...: runs pgbench with ARGS for
# SECONDS_PER_RUN after a checkpoint, and sets ops (transactions a second
# times PER_TX), db and client (the database's and pgbench's CPU in ms
# per transaction over PER_TX: per accrual for the floor's batches).
timed_pgbench() {
  local out=$1 per=$2
  shift 2
  checkpoint
  local db_before=0 client_before tps txs
  [ -z "$db_pid" ] || db_before="$(tree_ticks "$db_pid")"
  children_cpu
  client_before="$children_seconds"
  run "$out" "$PGBIN/pgbench" -n -M prepared -j 2 -T "$SECONDS_PER_RUN" "$@" || true
  tps="$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$out")"
  txs="$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out")"
  [ -n "$tps" ] && [ "${txs:-0}" -gt 0 ] || { cat "$out" >&2; die "pgbench failed: $*"; }
  ops="$(awk -v t="$tps" -v n="$per" 'BEGIN { printf "%.0f", t * n }')"
  db=-
  [ -z "$db_pid" ] || db="$(awk -v a="$db_before" -v b="$(tree_ticks "$db_pid")" -v n="$((txs * per))" 'BEGIN { printf "%.2f", (b - a) * 10 / n }')"
  children_cpu
  client="$(awk -v a="$client_before" -v b="$children_seconds" -v n="$((txs * per))" 'BEGIN { printf "%.3f", (b - a) * 1000 / n }')"
}

pgbench_run() { # round clients isolation label
  log "round $1, $2 clients: pgbench $4 ..."
  PGOPTIONS="-c default_transaction_isolation=$3" timed_pgbench "$tmp/pgbench.out" 1 -c "$2" --max-tries=100 "$bench_url"
  record "$1 $2 pgbench-$4 $ops - - - - - - $db $client"
}

# The database's floor (the floor workload): copies of the tables an
# accrual writes, with their indexes, in a schema of their own.
floor_tables=(transactions entries lots earn_lines idempotency_keys member_day_points member_day_spend member_open_points
  partner_day_outstanding)
floor_schema() {
  {
    echo "SET client_min_messages = warning; DROP SCHEMA IF EXISTS floor CASCADE; CREATE SCHEMA floor; CREATE SEQUENCE floor.seq;"
    for t in "${floor_tables[@]}"; do echo "CREATE TABLE floor.$t (LIKE public.$t INCLUDING ALL);"; done
    # Their storage parameters too (the lots' pages keep room for HOT updates).
    echo "SELECT format('ALTER TABLE floor.%I SET (%s)', relname, array_to_string(reloptions, ', ')) FROM pg_class
          WHERE relnamespace = 'public'::regnamespace AND reloptions IS NOT NULL
            AND relname = ANY (string_to_array('${floor_tables[*]}', ' ')) \gexec"
    echo "CREATE TABLE floor.members AS SELECT (row_number() OVER (ORDER BY id) - 1)::INT AS k, id FROM (SELECT id FROM public.members ORDER BY id LIMIT $MEMBERS) AS m;"
    echo "CREATE UNIQUE INDEX ON floor.members (k);"
    echo "CREATE TABLE floor.partners AS SELECT (row_number() OVER (ORDER BY code) - 1)::INT AS k, id, issued_account_id
          FROM (SELECT code, id, issued_account_id FROM public.partners WHERE kind <> 'operator' ORDER BY code LIMIT 3) AS p;"
  } | "$PGBIN/psql" -qtAX -v ON_ERROR_STOP=1 "$db_url" >/dev/null
}

drop_floor() { psql_ -c "SET client_min_messages = warning; DROP SCHEMA floor CASCADE" >/dev/null; floor_ready=""; }

floor_run() { # round clients level
  local size members
  size="$(cat "$tmp/batch.$1.$2" 2>/dev/null || true)"
  [ -n "$size" ] && [ "$size" -ge 1 ] || die "floor needs the accrue workload before it, which reports its batch size"
  members="$(psql_ -c "SELECT count(*) FROM floor.members")"
  [ "$(psql_ -c "SELECT count(*) FROM floor.partners")" = 3 ] || die "floor needs three partners"
  scripts/floor-batch.sh "$size" "$3" >"$tmp/floor.sql"
  log "round $1, $2 clients: floor $3 (batches of $size on two connections) ..."
  timed_pgbench "$tmp/floor.out" "$size" -c 2 -D members="$members" -f "$tmp/floor.sql" "$db_url"
  record "$1 $2 floor-$3 $ops - - - - - - $db $client"
}

print_rows() { # round clients: the runs of that round and number of clients, with their ratios
  awk -v round="$1" -v clients="$2" '
    $1 == round && $2 == clients { n++; line[n] = $0; if ($3 == "pgbench-RC") rc = $4; if ($3 == "pgbench-SER") ser = $4 }
    function ratio(a, b) { return b > 0 ? sprintf("%.2f", a / b) : "-" }
    function ms(v) { return v == "-" || v == "" ? "-" : v " ms" }
    END {
      for (i = 1; i <= n; i++) {
        split(line[i], f, " ")
        name = f[3]; sub(/^pgbench-/, "pgbench ", name); sub(/^floor-/, "floor ", name)
        printf "| %s | %s | %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", f[1], f[2], name, f[4], ratio(f[4], rc), ratio(f[4], ser),
          f[5], f[6], f[7], f[8], ms(f[9]), (f[10] == "-" ? "-" : f[10] " MB"), ms(f[11]), ms(f[12])
      }
    }' "$results"
}

echo "coalition on $GRPC$([ -n "$started" ] && echo ", started by this script"); pgbench scale ${scale:--}; $SECONDS_PER_RUN s per run; MEMBERS=$MEMBERS"
echo
echo "| round | clients | workload | ops/s | × pgbench RC | × pgbench SER | accrue p50 | accrue p99 | refused | retried | server CPU per op | server RSS | database CPU per op | client CPU per op |"
echo "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
for round in $(seq "$ROUNDS"); do
  for clients in $CONCURRENCY; do
    for w in $WORKLOADS; do
      case "$w" in
        accrue) coalition_run "$round" "$clients" accrue "${common[@]}" -mix accrue=1 -members "$MEMBERS" ;;
        mix) coalition_run "$round" "$clients" mix "${common[@]}" -mix "$MIX" -members "$MEMBERS" ;;
        regulars) coalition_run "$round" "$clients" regulars "${common[@]}" -mix "$MIX" -cards "$tmp/regulars" ;;
        hot-member) coalition_run "$round" "$clients" hot-member "${common[@]}" -mix accrue=1 -members 1 ;;
        hot-partner)
          restore_limit="$original_limit"
          hot_limit "$HOT_PARTNER_LIMIT" || die "could not cap $HOT_PARTNER"
          coalition_run "$round" "$clients" hot-partner "${common[@]}" -mix accrue=1 -members "$MEMBERS" -partners "$HOT_PARTNER"
          hot_limit "$original_limit" || die "could not set $HOT_PARTNER's liability limit back to $original_limit"
          restore_limit="" ;;
        ceiling) coalition_run "$round" "$clients" ceiling -stub -requests 0 -mix accrue=1 -members "$MEMBERS" ;;
        floor)
          # Fresh tables for each pair of runs, dropped after them: left
          # behind, their autovacuum would run into the next runs.
          floor_schema; floor_ready=1
          floor_run "$round" "$clients" rows
          floor_run "$round" "$clients" writes
          drop_floor ;;
        half-load)
          # Accruals paced at half the rate the accrue run of this round and
          # number of clients reached: the latencies of a server that is not
          # saturated.
          full="$(awk -v r="$round" -v c="$clients" '$1 == r && $2 == c && $3 == "accrue" { print $4 }' "$results")"
          [ -n "$full" ] || die "half-load needs the accrue workload before it"
          coalition_run "$round" "$clients" half-load "${common[@]}" -mix accrue=1 -members "$MEMBERS" \
            -rate "$(awk -v f="$full" 'BEGIN { printf "%.0f", f / 2 }')" ;;
        *) die "unknown workload $w (WORKLOADS: accrue half-load floor mix regulars hot-member hot-partner ceiling)" ;;
      esac
      # The peers run after the accrual-only and the mix runs, so that each
      # sits between runs of the coalition.
      if [ "$PGBENCH" = 1 ] && [ "$w" = accrue ]; then pgbench_run "$round" "$clients" 'read\ committed' RC; fi
      if [ "$PGBENCH" = 1 ] && [ "$w" = mix ]; then pgbench_run "$round" "$clients" serializable SER; fi
    done
    if [ "$PGBENCH" = 1 ] && ! has accrue; then pgbench_run "$round" "$clients" 'read\ committed' RC; fi
    if [ "$PGBENCH" = 1 ] && ! has mix; then pgbench_run "$round" "$clients" serializable SER; fi
    print_rows "$round" "$clients"
  done
done

if has regulars; then
  read -r fewest_purchases fewest_lots <<<"$(regular_history)"
  echo
  echo "regulars: $REGULARS members, seeded with $REGULAR_PURCHASES purchases each; after the runs each has >= $fewest_purchases purchases and >= $fewest_lots open lots"
fi
if [ -s "$tmp/stalls" ] && [ -n "${started:-}" ] && [ -r "$db_dir/postgresql.log" ]; then
  log "runs had requests slower than 100 ms; what the database logged from 2 s before each stall to 1 s after (UTC):"
  # Lines begin "YYYY-MM-DD HH:MM:SS.mmm UTC"; a stall across midnight is not matched.
  awk 'function s(t, f) { split(t, f, ":"); return f[1] * 3600 + f[2] * 60 + f[3] }
    NR == FNR { from[NR] = s($1) - 2; to[NR] = s($2) + 1; n = NR; next }
    /checkpoint (starting|complete)|automatic (vacuum|analyze)|still waiting|duration: / {
      t = s($2); for (i = 1; i <= n; i++) if (t >= from[i] && t <= to[i]) { print substr($0, 1, 160); break }
    }' "$tmp/stalls" "$db_dir/postgresql.log" >&2 || true
fi
peak=0
if [ -n "$server_pid" ] && [ -r "/proc/$server_pid/status" ]; then
  peak="$(awk '$1 == "VmHWM:" { printf "%d", $2 / 1024 }' "/proc/$server_pid/status")"
fi
awk -v peak="$peak" '
  function r(a, b) { return a > 0 && b > 0 ? sprintf("%.2f", a / b) : "nan" }
  { ops[$3 "/" $2] += $4 }
  END {
    printf "ratio_vs_pgbench_rc_64=%s ratio_vs_pgbench_rc_16=%s hot_member_share=%s rss_mb=%d\n",
      r(ops["accrue/64"], ops["pgbench-RC/64"]), r(ops["accrue/16"], ops["pgbench-RC/16"]), r(ops["hot-member/16"], ops["accrue/16"]), peak
  }' "$results"
