#!/usr/bin/env bash
# Installs what the coalition needs on a fresh Debian machine and is a no-op
# when everything is there: the PostgreSQL server binaries (dev mode and the
# tests start throwaway clusters from them), xmllint (libxml2-utils: the
# payment files' tests validate them against the ISO 20022 schemas) and,
# with --browser, Chromium (the web pages' tests drive it). Go modules come from the module proxy on
# the first build.
set -euo pipefail

need=()
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null && ! command -v initdb >/dev/null; then
  need+=(postgresql)
fi
if ! command -v xmllint >/dev/null; then
  need+=(libxml2-utils)
fi
if [ "${1:-}" = "--browser" ] && ! command -v "${CHROMIUM:-/usr/bin/chromium}" >/dev/null; then
  need+=(chromium)
fi
if ((${#need[@]})); then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "setup: installing ${need[*]} with apt-get" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
