#!/usr/bin/env bash
# install-deps.sh — installs the Debian packages sessio needs, only those
# missing, so `make run` / `make test` work on a fresh Debian 12 machine.
# Usage: scripts/install-deps.sh [build|test|bench|fuzz]   (default: build)
set -euo pipefail
what=${1:-build}

pkgs=(build-essential cmake pkg-config libsodium-dev libsqlite3-dev
      libhiredis-dev libmicrohttpd-dev libcjson-dev libpq-dev)
case "$what" in
  test)  pkgs+=(clang-format redis-server redis-tools postgresql python3 python3-pytest python3-requests curl
                chromium nodejs wrk clang libclang-rt-14-dev
                prometheus
                libfcgi-dev libcivetweb-dev nginx-light openssl
                gnuplot-nox) ;;
  fuzz)  pkgs+=(clang libclang-rt-14-dev) ;;
  bench) pkgs+=(redis-server redis-tools postgresql wrk nginx-light curl python3 gnuplot-nox) ;;
esac
# The man-page tests (tests/man/check.sh) render with man-db and groff.
if [ "$what" = test ]; then pkgs+=(man-db groff-base); fi

missing=()
for p in "${pkgs[@]}"; do
  # nodejs may come from another source with npm bundled: accept any node.
  if [ "$p" = nodejs ] && command -v node >/dev/null 2>&1; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
