#!/usr/bin/env bash
# test.sh — runs every test against a sanitizer build: the C unit and
# conformance tests (CTest), then the HTTP tests (pytest) and the browser
# test when they exist. Ends with one "N passed, N failed" line.
# Usage: scripts/test.sh BUILD_DIR
set -uo pipefail
build=${1:-build-test}
root=$(cd "$(dirname "$0")/.." && pwd)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export SESSIO_BUILD_DIR=$(cd "$root/$build" 2>/dev/null && pwd || echo "$build")

failed=0
ctest --test-dir "$build" --output-on-failure -j 2 || failed=1

if [ -d "$root/tests/http" ]; then
  /usr/bin/python3 -m pytest -q "$root/tests/http" || failed=1
fi
if [ -f "$root/tests/browser/package.json" ]; then
  (cd "$root/tests/browser" && npm ci --no-audit --no-fund --silent && node run.mjs) || failed=1
fi
exit $failed
