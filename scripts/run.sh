#!/usr/bin/env bash
# run.sh — starts the demo shop for `make run` (the build is already done).
# Prints the demo users, then serves http://127.0.0.1:8080 (and its metrics
# on http://127.0.0.1:9464/metrics) until Ctrl-C.
# Usage: scripts/run.sh BUILD_DIR [extra sessio-shop flags]
set -euo pipefail
build=${1:-build}
shift || true
root=$(cd "$(dirname "$0")/.." && pwd)
case "$build" in /*) bin="$build/apps/shop/sessio-shop" ;;
                 *) bin="$root/$build/apps/shop/sessio-shop" ;; esac
if [ ! -x "$bin" ]; then
  echo "run.sh: $bin not found; build first (make build)" >&2
  exit 1
fi
listen=${SESSIO_LISTEN:-127.0.0.1:8080}
metrics=${SESSIO_METRICS_LISTEN:-127.0.0.1:9464}
cat <<TXT

  sessio-shop — demo users
    user: alice   password: wonderland
    user: bob     password: builder

  Open http://$listen in a browser. Ctrl-C stops the shop.
  Prometheus metrics: http://$metrics/metrics (docs/OPERATIONS.md).
  Sessions are kept in var/sessions.db (SQLite): they survive a restart.

TXT
# The default store (sqlite:var/sessions.db) is relative to the repository root.
cd "$root"
exec "$bin" --listen "$listen" --metrics-listen "$metrics" --log-level "${SESSIO_LOG_LEVEL:-info}" "$@"
