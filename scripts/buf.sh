#!/usr/bin/env bash
# Runs the buf CLI on the workspace of buf.yaml (run from anywhere in the
# repo; the arguments go to buf):
#   scripts/buf.sh lint
#   scripts/buf.sh breaking proto --against proto/release/v1.binpb
#
# Offline apart from the Go module proxy and Debian's apt:
#   - buf itself is `go install`ed at BUF_VERSION into .cache/bin, with its
#     own go.mod (its dependencies stay out of ours);
#   - the protos ours import but do not own are staged into
#     .cache/buf/include, buf.yaml's second module: google/api's from Debian
#     golang-github-gogo-googleapis-dev (installed with apt-get if missing),
#     buf/validate's from the Go module github.com/bufbuild/protovalidate.
#     The well-known types are built into buf.
set -euo pipefail

BUF_VERSION=v1.75.0
PROTOVALIDATE_VERSION=v1.2.2
GOOGLEAPIS_DIR="${GOOGLEAPIS_DIR:-/usr/share/gocode/src/github.com/gogo/googleapis}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BIN="$ROOT/.cache/bin"
INCLUDE="$ROOT/.cache/buf/include"

die() { echo "buf.sh: error: $*" >&2; exit 1; }

install_buf() {
  if [[ -x "$BIN/buf" && "$("$BIN/buf" --version)" == "${BUF_VERSION#v}" ]]; then
    return
  fi
  echo "buf.sh: installing buf $BUF_VERSION into $BIN" >&2
  GOBIN="$BIN" go install "github.com/bufbuild/buf/cmd/buf@$BUF_VERSION"
}

# Copies $1 to $2 unless it is there already; the rename keeps a concurrent
# run from reading a half-written file.
stage() {
  mkdir -p "$(dirname "$2")"
  if ! cmp -s "$1" "$2"; then
    cp "$1" "$2.$$" && chmod u+w "$2.$$" && mv -f "$2.$$" "$2"
  fi
}

stage_imports() {
  if [[ ! -f "$GOOGLEAPIS_DIR/google/api/annotations.proto" ]]; then
    local sudo=()
    [[ "$(id -u)" -eq 0 ]] || sudo=(sudo)
    echo "buf.sh: installing golang-github-gogo-googleapis-dev with apt-get" >&2
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends \
      golang-github-gogo-googleapis-dev >/dev/null
  fi
  local f pv
  for f in annotations.proto http.proto; do
    stage "$GOOGLEAPIS_DIR/google/api/$f" "$INCLUDE/google/api/$f"
  done
  # Downloaded outside any module, so go.mod and go.sum are not touched.
  pv="$(cd / && GOFLAGS= GOWORK=off go mod download -json \
    "github.com/bufbuild/protovalidate@$PROTOVALIDATE_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  [[ -n "$pv" ]] || die "cannot download github.com/bufbuild/protovalidate@$PROTOVALIDATE_VERSION"
  stage "$pv/proto/protovalidate/buf/validate/validate.proto" "$INCLUDE/buf/validate/validate.proto"
}

command -v go >/dev/null || die "go is not on PATH"
install_buf
stage_imports
cd "$ROOT"
exec "$BIN/buf" "$@"
