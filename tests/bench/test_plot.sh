#!/usr/bin/env bash
# test_plot.sh — checks bench/plot/plot.sh on a small results file in the
# format scripts/bench.sh writes (tests/bench/fixture-results.txt): both SVGs
# are written, are SVG, and name every server that has figures (a name with an
# underscore included, which gnuplot's enhanced text would turn into a
# subscript); a failed row is left out; the ceiling is the last nginx line.
# Then a results file without any SUMMARY line must make it fail.
#
# Usage: tests/bench/test_plot.sh       (CTest: bench_plot; needs gnuplot-nox)
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/sessio-test-plot.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
passed=0; failed=0
check() { # check NAME COMMAND...
  if "${@:2}"; then passed=$((passed + 1)); else echo "FAIL: $1"; failed=$((failed + 1)); fi
}

check "plot.sh runs" "$ROOT/bench/plot/plot.sh" "$HERE/fixture-results.txt" "$WORK/out"
for svg in rps latency; do
  f="$WORK/out/$svg.svg"
  check "$svg.svg written" test -s "$f"
  check "$svg.svg is SVG" grep -q '<svg' "$f"
  for name in sessio-memory sessio-sqlite php_files; do
    check "$svg.svg names $name" grep -q ">$name<" "$f"
  done
  check "$svg.svg leaves the failed row out" bash -c '! grep -q node-redis "$1"' _ "$f"
done
check "rps.svg draws the last ceiling" grep -q 'ceiling): 39000' "$WORK/out/rps.svg"
printf 'sessio benchmark, nothing measured\n' > "$WORK/empty.txt"
check "no SUMMARY line: fails" bash -c '! "$1" "$2" "$3" 2>/dev/null' _ \
  "$ROOT/bench/plot/plot.sh" "$WORK/empty.txt" "$WORK/empty"
echo "test_plot: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
