#!/usr/bin/env bash
# run.sh — the under-attack figures of docs/RELIABILITY.md §6: GET /healthz
# and GET /api/session latency from another address (127.0.0.2) while one
# address floods sessio-shop with slow connections (S26), wrong passwords
# (S27, S28) or new guest sessions (S29). Each flood gets a fresh shop.
#
# Usage: bench/attack/run.sh [BUILD_DIR] [SECONDS]   (build, 10)
# Env:   THREADS (2) STORE (memory:) EXTRA (more shop flags)
# Prints one FLOOD line per run (see flood.py) prefixed with the shop's
# flags. Needs python3; sends only to 127.0.0.1.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build}
secs=${2:-10}
shop="$build/apps/shop/sessio-shop"
[ -x "$shop" ] || { echo "no $shop (make build first)" >&2; exit 2; }
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
run() { # run KIND FLAGS...
  local kind=$1; shift
  local tmp; tmp=$(mktemp -d)
  "$shop" --listen "127.0.0.1:$port" --store "${STORE:-memory:}" --threads "${THREADS:-2}" \
    --log-level error ${EXTRA:-} "$@" >"$tmp/out" 2>"$tmp/err" &
  local pid=$!
  for _ in $(seq 100); do
    python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/healthz', timeout=1)" \
      2>/dev/null && break
    sleep 0.1
  done
  printf 'flags="%s" ' "$*"
  python3 "$root/bench/attack/flood.py" "$port" "$kind" "$secs" "$pid"
  kill "$pid"; wait "$pid" 2>/dev/null
  rm -rf "$tmp"
}
run none
run slow
run login --login-limit 0          # the pool alone: every password is checked
run login                          # with the default sign-in limits
run sessions --new-sessions-limit 0
run sessions                       # with the default new-session limit
