#!/usr/bin/env bash
# test.sh — runs every test suite against a sanitizer build: the C unit and
# conformance tests (CTest), the install check, the examples built against
# the installed library, sessio built inside an outside project
# (add_subdirectory, FetchContent), a core-only build (every optional part
# off, its own build directory), the HTTP tests (pytest), the integration
# tests (each example app behind its real server, pytest) and the browser
# tests (run.mjs, pages.mjs). Each suite prints its own counts; the last line counts
# the suites: "suites: N passed, N failed".
# Usage: scripts/test.sh BUILD_DIR
set -uo pipefail
build=${1:-build-test}
root=$(cd "$(dirname "$0")/.." && pwd)
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
SESSIO_BUILD_DIR=$(cd "$build" && pwd)
export SESSIO_BUILD_DIR

passed=0 failed=0 names=()
suite() { # suite NAME COMMAND...
  local name=$1; shift
  echo "=== $name"
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); names+=("$name"); fi
}

suite ctest ctest --test-dir "$build" --output-on-failure -j 2
suite install "$root/tests/install/check.sh" "$build"
suite examples "$root/tests/install/examples.sh" "$build"
suite subproject "$root/tests/subproject/check.sh" "$build/subproject"
suite core-only "$root/tests/build/core_only.sh" "$build/core-only"
suite fuzz env FUZZ_TIME=10 "$root/scripts/fuzz.sh"
if [ -d "$root/tests/http" ]; then
  suite http /usr/bin/python3 -m pytest -q "$root/tests/http"
fi
if [ -d "$root/tests/integrations" ]; then
  suite integrations /usr/bin/python3 -m pytest -q "$root/tests/integrations"
fi
if [ -f "$root/tests/browser/package.json" ]; then
  suite browser bash -c 'cd "$1" && npm ci --no-audit --no-fund --silent && node run.mjs && node pages.mjs' _ "$root/tests/browser"
fi
[ $failed -eq 0 ] || echo "failed suites: ${names[*]}"
echo "suites: $passed passed, $failed failed"
[ $failed -eq 0 ]
