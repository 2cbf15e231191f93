#!/usr/bin/env bash
# Static checks, as CI runs them before the tests (run from anywhere in the
# repo; go vet runs with the tests, in scripts/test.sh):
#   gofmt          Go formatting
#   staticcheck    at the version in go.mod's tool section
set -euo pipefail
cd "$(dirname "$0")/.."

unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go tool staticcheck ./...
