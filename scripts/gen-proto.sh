#!/usr/bin/env bash
# Regenerates the code generated from proto/ (run from anywhere in the repo):
#   proto/coalition/v1/*.pb.go        protoc-gen-go
#   proto/coalition/v1/*_grpc.pb.go   protoc-gen-go-grpc
#   proto/coalition/v1/*.pb.gw.go     protoc-gen-grpc-gateway (v2)
#   proto/openapi/coalition.swagger.json   protoc-gen-openapiv2 (merged)
#
# Usage:
#   scripts/gen-proto.sh           regenerate in place
#   scripts/gen-proto.sh --check   regenerate into a temporary copy and fail
#                                  if the checked-in files differ (for CI)
#
# Works offline apart from the Go module proxy and Debian's apt:
#   - protoc and the well-known types: Debian protobuf-compiler + libprotobuf-dev
#   - google/api/{annotations,http}.proto: Debian golang-github-gogo-googleapis-dev
#     (their go_package is wrong for us; every plugin gets an M mapping to
#     google.golang.org/genproto/googleapis/api/annotations)
#   - buf/validate/validate.proto: Go module github.com/bufbuild/protovalidate
#     (mapped to the BSR-generated Go package used at run time)
# Missing Debian packages are installed with apt-get (root, or via sudo).
# Plugins are `go install`ed into .cache/bin (override: GEN_PROTO_BIN) at the
# versions required in go.mod. Third-party protos are staged into a temporary
# include folder at each run; nothing third-party is checked in.
set -euo pipefail

# ---------------------------------------------------------------- settings ---
# Protovalidate release whose validate.proto we compile against.
PROTOVALIDATE_VERSION="${PROTOVALIDATE_VERSION:-v1.2.2}"
# protoc writes its version into the headers of *.pb.go and *_grpc.pb.go, so
# --check only passes with the same protoc (Debian 12's).
PROTOC_VERSION_EXPECTED="3.21.12"
GOOGLEAPIS_DIR="${GOOGLEAPIS_DIR:-/usr/share/gocode/src/github.com/gogo/googleapis}"

GO_PKG_ANNOTATIONS="google.golang.org/genproto/googleapis/api/annotations"
GO_PKG_VALIDATE="buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"

MOD_PROTOBUF="google.golang.org/protobuf"
MOD_GO_GRPC="google.golang.org/grpc/cmd/protoc-gen-go-grpc"
MOD_GATEWAY="github.com/grpc-ecosystem/grpc-gateway/v2"

# ------------------------------------------------------------------ helpers ---
log() { printf 'gen-proto: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() {
  sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

MODE=generate
case "${1:-}" in
  "") ;;
  --check) MODE=check ;;
  -h | --help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
esac
[[ $# -le 1 ]] || { usage >&2; exit 2; }

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
[[ -f go.mod && -d proto ]] || die "$ROOT does not look like the repo root"
BIN="${GEN_PROTO_BIN:-$ROOT/.cache/bin}"

command -v go >/dev/null || die "go is not on PATH"

TMP="$(mktemp -d "${TMPDIR:-/tmp}/gen-proto.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT

apt_install() {
  local sudo=()
  if [[ "$(id -u)" -ne 0 ]]; then
    command -v sudo >/dev/null || die "need root or sudo to apt-get install $*"
    sudo=(sudo)
  fi
  command -v apt-get >/dev/null || die "apt-get not found; install by hand: $*"
  log "installing Debian packages: $*"
  local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get)
  if ! "${apt[@]}" install -y --no-install-recommends "$@"; then
    "${apt[@]}" update
    "${apt[@]}" install -y --no-install-recommends "$@"
  fi
}

# Prints the folder holding google/protobuf/*.proto for the protoc on PATH.
find_wkt_dir() {
  local protoc_bin d
  protoc_bin="$(command -v protoc)" || return 1
  protoc_bin="$(readlink -f "$protoc_bin")"
  for d in "$(dirname "$protoc_bin")/../include" /usr/include /usr/local/include; do
    if [[ -f "$d/google/protobuf/timestamp.proto" ]]; then
      (cd "$d" && pwd)
      return 0
    fi
  done
  return 1
}

ensure_system_deps() {
  local pkgs=()
  command -v protoc >/dev/null || pkgs+=(protobuf-compiler libprotobuf-dev)
  if command -v protoc >/dev/null && ! find_wkt_dir >/dev/null; then
    pkgs+=(libprotobuf-dev)
  fi
  [[ -f "$GOOGLEAPIS_DIR/google/api/annotations.proto" ]] ||
    pkgs+=(golang-github-gogo-googleapis-dev)
  if [[ ${#pkgs[@]} -gt 0 ]]; then
    apt_install "${pkgs[@]}"
  fi
  command -v protoc >/dev/null || die "protoc not found"
  WKT_DIR="$(find_wkt_dir)" || die "well-known types (google/protobuf/*.proto) not found"
  local f
  for f in annotations.proto http.proto; do
    [[ -f "$GOOGLEAPIS_DIR/google/api/$f" ]] || die "$GOOGLEAPIS_DIR/google/api/$f not found"
  done

  local have
  have="$(protoc --version | awk '{print $2}')"
  if [[ "$have" != "$PROTOC_VERSION_EXPECTED" ]]; then
    if [[ "$MODE" == check ]]; then
      die "protoc $have found, $PROTOC_VERSION_EXPECTED expected (it is written into the generated headers)"
    fi
    log "warning: protoc $have, not $PROTOC_VERSION_EXPECTED: generated headers will differ"
  fi
}

# Version of a module as required in go.mod (read with `go mod edit`, which
# needs neither go.sum nor the network).
gomod_version() {
  go mod edit -json | awk -v want="\"$1\"," '
    $1 == "\"Version\":" && p == want { v = $2; gsub(/[",]/, "", v); print v; exit }
    { p = ($1 == "\"Path\":") ? $2 : "" }'
}

require_version() {
  local v
  v="$(gomod_version "$1")"
  [[ -n "$v" ]] || die "$1 is not required in go.mod (add it with: go get -tool ...)"
  printf '%s\n' "$v"
}

install_plugins() {
  local v_pb v_grpc v_gw stamp want
  v_pb="$(require_version "$MOD_PROTOBUF")"
  v_grpc="$(require_version "$MOD_GO_GRPC")"
  v_gw="$(require_version "$MOD_GATEWAY")"
  want="protoc-gen-go@$v_pb protoc-gen-go-grpc@$v_grpc grpc-gateway@$v_gw $(go env GOVERSION)"
  stamp="$BIN/.gen-proto-versions"
  local p ok=1
  for p in protoc-gen-go protoc-gen-go-grpc protoc-gen-grpc-gateway protoc-gen-openapiv2; do
    [[ -x "$BIN/$p" ]] || ok=0
  done
  if [[ $ok -eq 1 && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    log "plugins up to date in $BIN ($want)"
    return
  fi
  log "installing plugins into $BIN: $want"
  mkdir -p "$BIN"
  rm -f "$stamp"
  # pkg@version builds with each plugin's own go.mod, independently of the
  # state of this module's go.mod/go.sum.
  GOBIN="$BIN" go install "google.golang.org/protobuf/cmd/protoc-gen-go@$v_pb"
  GOBIN="$BIN" go install "$MOD_GO_GRPC@$v_grpc"
  GOBIN="$BIN" go install \
    "$MOD_GATEWAY/protoc-gen-grpc-gateway@$v_gw" \
    "$MOD_GATEWAY/protoc-gen-openapiv2@$v_gw"
  printf '%s\n' "$want" >"$stamp"
}

# Copies the third-party imports into $1 (an include folder).
stage_third_party() {
  local inc="$1" pv_dir
  mkdir -p "$inc/google/api" "$inc/buf/validate"
  cp "$GOOGLEAPIS_DIR/google/api/annotations.proto" \
    "$GOOGLEAPIS_DIR/google/api/http.proto" "$inc/google/api/"
  # Outside any module, so go.mod/go.sum are not touched.
  pv_dir="$(cd "$TMP" && GOFLAGS= GOWORK=off go mod download -json \
    "github.com/bufbuild/protovalidate@$PROTOVALIDATE_VERSION" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')"
  [[ -n "$pv_dir" ]] || die "cannot download github.com/bufbuild/protovalidate@$PROTOVALIDATE_VERSION"
  cp "$pv_dir/proto/protovalidate/buf/validate/validate.proto" "$inc/buf/validate/"
  chmod -R u+w "$inc"
}

# Regenerates everything under the proto tree $1 (absolute path), using the
# third-party include folder $2.
generate() {
  local root="$1" inc="$2"
  local files=()
  mapfile -t files < <(cd "$root" && find . -name '*.proto' -not -path './third_party/*' |
    sed 's|^\./||' | LC_ALL=C sort)
  [[ ${#files[@]} -gt 0 ]] || die "no .proto files under $root"

  # Remove what a previous run generated, so deleted protos leave nothing behind.
  find "$root" -path "$root/third_party" -prune -o -type f \
    \( -name '*.pb.go' -o -name '*.pb.gw.go' \) -print0 | xargs -0r rm -f
  rm -f "$root"/openapi/*.swagger.json
  mkdir -p "$root/openapi"

  local m="Mgoogle/api/annotations.proto=$GO_PKG_ANNOTATIONS"
  m+=",Mgoogle/api/http.proto=$GO_PKG_ANNOTATIONS"
  m+=",Mbuf/validate/validate.proto=$GO_PKG_VALIDATE"

  (
    cd "$root"
    protoc -I . -I "$inc" -I "$WKT_DIR" \
      --plugin=protoc-gen-go="$BIN/protoc-gen-go" \
      --plugin=protoc-gen-go-grpc="$BIN/protoc-gen-go-grpc" \
      --plugin=protoc-gen-grpc-gateway="$BIN/protoc-gen-grpc-gateway" \
      --plugin=protoc-gen-openapiv2="$BIN/protoc-gen-openapiv2" \
      --go_out=. --go_opt="paths=source_relative,$m" \
      --go-grpc_out=. --go-grpc_opt="paths=source_relative,$m" \
      --grpc-gateway_out=. --grpc-gateway_opt="paths=source_relative,$m" \
      --openapiv2_out=openapi \
      --openapiv2_opt="allow_merge=true,merge_file_name=coalition,$m" \
      "${files[@]}"
  )
}

# --------------------------------------------------------------------- main ---
ensure_system_deps
install_plugins
stage_third_party "$TMP/include"

if [[ "$MODE" == check ]]; then
  cp -a proto "$TMP/proto"
  generate "$TMP/proto" "$TMP/include"
  if ! diff -ru proto "$TMP/proto"; then
    die "generated code in proto/ is out of date: run scripts/gen-proto.sh"
  fi
  log "generated code is up to date (${SECONDS}s)"
else
  generate "$ROOT/proto" "$TMP/include"
  log "regenerated proto/ (${SECONDS}s)"
fi
