#!/usr/bin/env bash
# Static checks, as CI runs them before the tests (run from anywhere in the
# repo; go vet runs with the tests, in scripts/test.sh):
#   gofmt          Go formatting
#   staticcheck    at the version in go.mod's tool section
#   buf lint       the protos' style rules (buf.yaml)
#   buf format     the protos' layout
#   buf breaking   nothing in proto/ breaks v1 as released, i.e. as in the
#                  image proto/release/v1.binpb (scripts/gen-proto.sh
#                  --baseline rebuilds it)
set -euo pipefail
cd "$(dirname "$0")/.."

unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi
go tool staticcheck ./...
scripts/buf.sh lint
scripts/buf.sh format --diff --exit-code proto
scripts/buf.sh breaking proto --against proto/release/v1.binpb --exclude-imports
