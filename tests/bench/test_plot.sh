#!/usr/bin/env bash
# test_plot.sh — checks bench/plot/plot.sh on a small results file in the
# format scripts/bench.sh writes (tests/bench/fixture-results.txt): both SVGs
# are written, are SVG, and name every server that has figures (a name with an
# underscore included, which gnuplot's enhanced text would turn into a
# subscript); a failed row is left out; the ceiling is the last nginx line.
# The SCALE lines of the scaling runs (scripts/bench_scale.sh) give one chart
# per curve, naming every store with points (an underscore again), leaving a
# failed point out and taking a point's last line. A file of SCALE lines
# alone draws those charts only. A results file with neither SUMMARY nor
# SCALE lines must make it fail.
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
for svg in scale-sessions scale-size scale-procs; do
  f="$WORK/out/$svg.svg"
  check "$svg.svg written" test -s "$f"
  check "$svg.svg is SVG" grep -q '<svg' "$f"
done
check "scale-sessions.svg names memory" grep -q '>memory: cart req/s<' "$WORK/out/scale-sessions.svg"
check "scale-sessions.svg names sqlite" grep -q '>sqlite: cart p99 ms<' "$WORK/out/scale-sessions.svg"
# the 10^6 memory point was measured twice: the last line (88,000 req/s)
# counts, so the axis reaches 90000 (with the first, it would end at 30000)
check "scale-sessions.svg takes a point's last line" grep -q '>90000<' "$WORK/out/scale-sessions.svg"
check "scale-size.svg draws the core's curve" grep -q 'core (sessio_micro, memory)' "$WORK/out/scale-size.svg"
check "scale-size.svg names sqlite" grep -q '>sqlite: cart req/s<' "$WORK/out/scale-size.svg"
check "scale-procs.svg names redis_cluster" grep -q '>redis_cluster: total cart req/s<' "$WORK/out/scale-procs.svg"
check "scale-procs.svg names sqlite" grep -q '>sqlite: total cart req/s<' "$WORK/out/scale-procs.svg"
grep '^SCALE' "$HERE/fixture-results.txt" > "$WORK/scale-only.txt"
check "SCALE lines alone: plot.sh runs" "$ROOT/bench/plot/plot.sh" "$WORK/scale-only.txt" "$WORK/scale"
check "SCALE lines alone: the scaling charts" test -s "$WORK/scale/scale-procs.svg"
check "SCALE lines alone: no rps.svg" test ! -e "$WORK/scale/rps.svg"
printf 'sessio benchmark, nothing measured\nSCALE curve=procs store=sqlite x=1 failed=start\n' > "$WORK/empty.txt"
check "no SUMMARY or SCALE point: fails" bash -c '! "$1" "$2" "$3" 2>/dev/null' _ \
  "$ROOT/bench/plot/plot.sh" "$WORK/empty.txt" "$WORK/empty"
echo "test_plot: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
