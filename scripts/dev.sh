#!/usr/bin/env bash
# Runs a local coalition with demo data: installs PostgreSQL if absent, then
# `coalitiond dev` starts a throwaway cluster under .dev/, migrates, seeds and
# serves gRPC on 127.0.0.1:7443. Ctrl-C stops everything. Extra arguments go
# to `coalitiond dev` (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec go run ./cmd/coalitiond dev "$@"
