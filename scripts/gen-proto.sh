#!/usr/bin/env bash
# Regenerates the code generated from proto/ (buf.gen.yaml lists it) with
# `buf generate` and local plugins, run from anywhere in the repo:
#
#   scripts/gen-proto.sh             regenerate in place
#   scripts/gen-proto.sh --check     regenerate into a temporary copy and fail
#                                    if the checked-in files differ (for CI)
#   scripts/gen-proto.sh --baseline  rebuild proto/release/v1.binpb, the image
#                                    `buf breaking` compares against (after a
#                                    release, or a change agreed to break v1)
#
# Offline apart from the Go module proxy and Debian's apt: buf and the
# imports come through scripts/buf.sh; the plugins are `go install`ed into
# .cache/bin (override: GEN_PROTO_BIN) at the versions required in go.mod.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN="${GEN_PROTO_BIN:-$ROOT/.cache/bin}"
BASELINE=proto/release/v1.binpb

log() { printf 'gen-proto: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
MODE=generate
case "$#:${1:-}" in
  0:) ;;
  1:--check) MODE=check ;;
  1:--baseline) MODE=baseline ;;
  1:-h | 1:--help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
esac

if [[ "$MODE" == baseline ]]; then
  mkdir -p "$(dirname "$BASELINE")"
  # Without source info: breaking changes are judged on the descriptors.
  scripts/buf.sh build proto --exclude-source-info -o "$BASELINE"
  log "rebuilt $BASELINE"
  exit 0
fi

# Version of a module as required in go.mod (read with `go mod edit`, which
# needs neither go.sum nor the network).
require_version() {
  local v
  v="$(go mod edit -json | awk -v want="\"$1\"," '
    $1 == "\"Version\":" && p == want { v = $2; gsub(/[",]/, "", v); print v; exit }
    { p = ($1 == "\"Path\":") ? $2 : "" }')"
  [[ -n "$v" ]] || die "$1 is not required in go.mod (add it with: go get -tool ...)"
  printf '%s\n' "$v"
}

install_plugins() {
  local gw="github.com/grpc-ecosystem/grpc-gateway/v2" grpc="google.golang.org/grpc/cmd/protoc-gen-go-grpc"
  local v_pb v_grpc v_gw want p
  v_pb="$(require_version google.golang.org/protobuf)"
  v_grpc="$(require_version "$grpc")"
  v_gw="$(require_version "$gw")"
  want="protoc-gen-go@$v_pb protoc-gen-go-grpc@$v_grpc grpc-gateway@$v_gw $(go env GOVERSION)"
  local ok=1
  for p in protoc-gen-go protoc-gen-go-grpc protoc-gen-grpc-gateway protoc-gen-openapiv2; do
    [[ -x "$BIN/$p" ]] || ok=0
  done
  [[ $ok -eq 1 && "$(cat "$BIN/.gen-proto-versions" 2>/dev/null)" == "$want" ]] && return
  log "installing plugins into $BIN: $want"
  rm -f "$BIN/.gen-proto-versions"
  # pkg@version builds with each plugin's own go.mod, whatever state this
  # module's go.mod and go.sum are in.
  GOBIN="$BIN" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$v_pb"
  GOBIN="$BIN" go install "$grpc@$v_grpc"
  GOBIN="$BIN" go install "$gw/protoc-gen-grpc-gateway@$v_gw" "$gw/protoc-gen-openapiv2@$v_gw"
  printf '%s\n' "$want" >"$BIN/.gen-proto-versions"
}

# Regenerates into the copy of proto/ under $1 (the repo root for in place),
# after removing what a previous run generated, so that deleted protos leave
# nothing behind.
generate() {
  find "$1/proto" -type f \( -name '*.pb.go' -o -name '*.pb.gw.go' -o -name '*.swagger.json' \) -delete
  PATH="$BIN:$PATH" scripts/buf.sh generate -o "$1"
}

command -v go >/dev/null || die "go is not on PATH"
install_plugins
if [[ "$MODE" == check ]]; then
  TMP="$(mktemp -d "${TMPDIR:-/tmp}/gen-proto.XXXXXX")"
  trap 'rm -rf "$TMP"' EXIT
  cp -a proto "$TMP/proto"
  generate "$TMP"
  diff -ru proto "$TMP/proto" || die "generated code in proto/ is out of date: run scripts/gen-proto.sh"
  log "generated code is up to date (${SECONDS}s)"
else
  generate "$ROOT"
  log "regenerated proto/ (${SECONDS}s)"
fi
