#!/usr/bin/env bash
# Fuzzes each target of the gRPC edge (gateway/rpc/fuzz_test.go) for a
# bounded time: random and mutated requests through the real server's codec,
# interceptors and handlers against a real PostgreSQL (each run starts its
# own, as the tests do). A failing input is written under
# gateway/rpc/testdata/fuzz/<target>/; `go test ./gateway/rpc/` then replays
# it, and it belongs in the commit that fixes it.
#
# Usage:
#   scripts/fuzz.sh                 every target, 10 s each
#   FUZZTIME=1m scripts/fuzz.sh     longer
#   scripts/fuzz.sh FuzzAccrue      some targets
#
# The first run builds the package with coverage instrumentation, which
# takes minutes; later runs reuse Go's build cache. One fuzzing worker
# (-parallel=1): each worker runs its own PostgreSQL. New inputs are
# minimised by a number of runs, not a time: a minimisation cut off by its
# time can leave Go's fuzzing coordinator waiting for ever on its worker.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
fuzztime="${FUZZTIME:-10s}"
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  mapfile -t targets < <(go test -list '^Fuzz' ./gateway/rpc/ | grep '^Fuzz')
fi
# A target whose run does not end within HANG_AFTER has hung in Go's
# fuzzing engine (its coordinator waiting on a worker), which is not a
# finding: it is reported and the next target runs. A finding (a failing
# input) fails the script.
hang_after="${HANG_AFTER:-600}"
for target in "${targets[@]}"; do
  echo "fuzz: $target for $fuzztime"
  rc=0
  timeout --foreground "$hang_after" \
    go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" -fuzzminimizetime=100x -parallel=1 ./gateway/rpc/ || rc=$?
  case "$rc" in
    0) ;;
    124) echo "fuzz: $target did not finish within ${hang_after}s: the fuzzing engine hung (not a finding); going on" >&2 ;;
    *) exit "$rc" ;;
  esac
done
