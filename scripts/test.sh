#!/usr/bin/env bash
# Runs the whole test suite against real components: installs PostgreSQL if
# absent; the tests start (and stop) their own throwaway clusters on
# loopback. Concurrency is checked with the race detector. Extra arguments go
# to `go test` (e.g. -run Concurrent).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --browser
# Tests talk to a real Vault: build it once (minutes the first time; cached).
COALITION_VAULT_BINARY="$(scripts/vault.sh path)"
export COALITION_VAULT_BINARY
go vet ./...
go test -race -count=1 -timeout 20m "$@" ./...
