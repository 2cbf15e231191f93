#!/usr/bin/env bash
# Runs a local coalition with demo data: installs PostgreSQL if absent, builds
# Vault if not cached, then `coalitiond dev` starts PostgreSQL and Vault with
# their data under .dev/, migrates, seeds, issues the demo partners'
# certificates and serves gRPC (TLS) on 127.0.0.1:7443, REST and the web
# pages on 127.0.0.1:8080 (plain HTTP on loopback), and metrics and
# readiness on 127.0.0.1:9464. Ctrl-C or SIGTERM stops everything, and so
# does a failed start; a closed output pipe (scripts/dev.sh | tee log) does
# not. Extra arguments go to `coalitiond dev` (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
# A real Vault holds the coalition's CA and keys: the pinned version if it is
# on PATH or named by $COALITION_VAULT_BINARY, else built once from the Go
# module proxy (the first time takes a while: it says so), then cached.
COALITION_VAULT_BINARY="$(scripts/vault.sh path)"
export COALITION_VAULT_BINARY
# Built, then run in this process's place rather than under `go run`: a
# SIGTERM sent to this script then reaches coalitiond itself, which stops
# PostgreSQL and Vault; `go run` would die and leave them running.
mkdir -p .dev/bin
go build -o .dev/bin/coalitiond ./cmd/coalitiond
exec .dev/bin/coalitiond dev "$@"
