#!/usr/bin/env bash
# Finds or builds a real HashiCorp Vault server for dev mode and tests: the
# binary named by $COALITION_VAULT_BINARY, or a `vault` on PATH, if it is the
# pinned version; else one built from the Go module proxy, once, into a cache
# folder keyed by the versions, and reused.
#
#   scripts/vault.sh build   find or build; print the binary's path
#   scripts/vault.sh path    same (prints only the path on stdout)
#
# The build uses the separate module in deploy/vault/build (its own go.mod and
# go.sum), so none of Vault's ~hundreds of dependencies enter the project's
# main go.mod. The binary lands in
#   ${COALITION_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/coalition}/vault/<versions>/vault
# Progress goes to stderr; stdout carries only the path.
#
# Licence: Vault v1.21.0 is under the Business Source License 1.1 (every
# release from 1.14.9 on is). Use for development and testing is allowed; the
# project only builds it locally for dev mode and tests and never ships,
# packages or redistributes a Vault binary. The last MPL-2.0 release, v1.14.1,
# was not chosen because no tagged github.com/hashicorp/vault/sdk matches its
# in-repository sdk: it builds only with a locally patched sdk fork (a
# sanity-check panic removed, or `server -dev` panics at start), which we
# would have to maintain. v1.21.0 is the first release of its line, whose
# in-repository sdk/api equal the tagged sdk v0.20.0 / api v1.22.0, so it
# builds unpatched. See deploy/vault/build/README.md.
set -euo pipefail

VAULT_VERSION=v1.21.0
VAULT_SDK_VERSION=v0.20.0
VAULT_API_VERSION=v1.22.0

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
moddir="$repo/deploy/vault/build"
key="${VAULT_VERSION}-sdk${VAULT_SDK_VERSION#v}-api${VAULT_API_VERSION#v}"
cache="${COALITION_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/coalition}"
dir="$cache/vault/$key"
bin="$dir/vault"
tmp=""

log() { echo "vault.sh: $*" >&2; }

usage() {
  sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
}

# The versions above name the cache folder; make sure the module really pins
# them, so an edit of go.mod without an edit here cannot reuse a stale binary.
check_module() {
  local want
  for want in "github.com/hashicorp/vault $VAULT_VERSION" \
              "github.com/hashicorp/vault/sdk => github.com/hashicorp/vault/sdk $VAULT_SDK_VERSION" \
              "github.com/hashicorp/vault/api => github.com/hashicorp/vault/api $VAULT_API_VERSION"; do
    if ! grep -qF "$want" "$moddir/go.mod"; then
      log "deploy/vault/build/go.mod does not contain '$want'; update the versions in $0 too"
      exit 1
    fi
  done
}

# pinned says whether $1 runs and reports the pinned version.
pinned() {
  local got
  got="$("$1" version 2>/dev/null || true)"
  case "$got" in
    "Vault $VAULT_VERSION"*) return 0 ;;
    *) return 1 ;;
  esac
}

# installed sets bin to a binary of the pinned version already on this
# machine: the one $COALITION_VAULT_BINARY names, or `vault` on PATH.
installed() {
  local named="${COALITION_VAULT_BINARY:-}" onpath
  if [ -n "$named" ]; then
    if [ -x "$named" ] && pinned "$named"; then
      bin="$named"
      return 0
    fi
    log "\$COALITION_VAULT_BINARY=$named is not Vault $VAULT_VERSION; looking further"
  fi
  onpath="$(command -v vault 2>/dev/null || true)"
  if [ -n "$onpath" ] && pinned "$onpath"; then
    bin="$onpath"
    return 0
  fi
  return 1
}

build() {
  if installed || [ -x "$bin" ]; then
    return 0
  fi
  check_module
  command -v go >/dev/null || { log "go is not on PATH"; exit 1; }
  mkdir -p "$dir"

  # A fixed, known environment for the sub-build: the caller's GOFLAGS
  # (-mod=vendor, -tags, -race, ...) must not leak in; -mod=readonly because
  # go.sum is complete and checked in; no go.work from above; no toolchain
  # download (the proxy serves modules, not toolchains here); static binary.
  export GOFLAGS="-mod=readonly -buildvcs=false"
  export GOWORK=off
  export GOTOOLCHAIN=local
  export CGO_ENABLED=0
  unset GOOS GOARCH GOEXPERIMENT

  # Build under a temporary name and rename at the end: an interrupted or
  # failed build never leaves a partial binary at $bin.
  tmp="$dir/.vault.tmp.$$"
  trap 'rm -f "$tmp"' EXIT
  trap 'rm -f "$tmp"; exit 130' INT TERM

  log "building HashiCorp Vault $VAULT_VERSION (sdk $VAULT_SDK_VERSION, api $VAULT_API_VERSION) into $bin"
  log "the first build downloads ~4 GB of Go modules into $(go env GOMODCACHE) and adds"
  log "~4 GB to the build cache; with cold caches it takes 15-30 min on 2 cores (about"
  log "30 s once the Go caches are warm); later calls reuse the binary at once"
  local start=$SECONDS
  (
    cd "$moddir"
    go build -trimpath -ldflags "-s -w" -o "$tmp" github.com/hashicorp/vault
  )
  local got
  got="$("$tmp" version 2>/dev/null || true)"
  case "$got" in
    "Vault $VAULT_VERSION"*) ;;
    *) log "built binary reports '$got', expected Vault $VAULT_VERSION"; exit 1 ;;
  esac
  mv -f "$tmp" "$bin"
  trap - EXIT INT TERM
  local elapsed=$((SECONDS - start))
  log "built $got ($(du -h "$bin" | cut -f1)) in $((elapsed / 60))m$((elapsed % 60))s"
}

case "${1:-}" in
  build | path)
    build
    echo "$bin"
    ;;
  -h | --help | help)
    usage
    ;;
  *)
    usage
    exit 2
    ;;
esac
