#!/usr/bin/env bash
# run.sh — the soak: sessio-shop on SQLite under the cart workload with a stream of new
# sessions (soak.lua) for DURATION, sessions expiring and being collected all along;
# RSS, open descriptors and store size sampled every INTERVAL s (sample.py); then a
# tail without traffic; then a report with the curves and a verdict (report.py).
#
# Usage: bench/soak/run.sh [BUILD_DIR]          (default build-soak, a Release build)
#   DURATION=60s IDLE=10s bench/soak/run.sh     a quick check
#
# Env: DURATION (10m) TAIL (IDLE + 30s) INTERVAL (10) IDLE (30s) ABSOLUTE (60s)
#      THREADS (2) CONNS (32) NEW_EVERY (10) POOL (300) SHOP_THREADS (number of CPUs)
#      TOL (10, percent) TABLE_EVERY (60) RESULTS_DIR (bench/soak/results) KEEP (0: 1
#      keeps the scratch folder with the database and logs) SKIP_BUILD (0: 1 runs the
#      sessio-shop already in BUILD_DIR) SNAPSHOT (0: 1 builds the committed HEAD from
#      `git archive` in the scratch folder instead of the work tree, so that files
#      others are editing in a shared tree do not matter and the commit is exact)
# Writes RESULTS_DIR/<UTC time>.csv (every sample) and .md (the report); exit status 0
# when the verdict is PASS, 1 when FAIL, 2 when the run could not be made.
# See bench/soak/README.md for what is measured and the criterion.
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PY=/usr/bin/python3
BUILD="${1:-${BUILD:-$ROOT/build-soak}}"
DURATION="${DURATION:-10m}"; INTERVAL="${INTERVAL:-10}"
IDLE="${IDLE:-30s}"; ABSOLUTE="${ABSOLUTE:-60s}"
THREADS="${THREADS:-2}"; CONNS="${CONNS:-32}"
NEW_EVERY="${NEW_EVERY:-10}"; POOL="${POOL:-300}"
TOL="${TOL:-10}"; TABLE_EVERY="${TABLE_EVERY:-60}"
RESULTS_DIR="${RESULTS_DIR:-$HERE/results}"

die() { echo "soak: $*" >&2; exit 2; }
secs() {  # secs DUR: "10m", "90s", "1h", "45" -> seconds
  case "$1" in
    *ms) echo $(( ${1%ms} / 1000 )) ;;
    *s) echo "${1%s}" ;; *m) echo $(( ${1%m} * 60 )) ;; *h) echo $(( ${1%h} * 3600 )) ;;
    *) echo "$1" ;;
  esac
}
LOAD_S="$(secs "$DURATION")"; IDLE_S="$(secs "$IDLE")"
[[ "$LOAD_S" =~ ^[0-9]+$ && "$LOAD_S" -ge 30 ]] || die "DURATION must be >= 30s, not '$DURATION'"
[[ "$IDLE_S" =~ ^[0-9]+$ && "$IDLE_S" -ge 1 ]] || die "bad IDLE '$IDLE'"
TAIL_S="$(secs "${TAIL:-$((IDLE_S + 30))s}")"
command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
"$PY" -c 'import sqlite3' 2>/dev/null || die "$PY has no sqlite3 module"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/sessio-soak.XXXXXX")"
SHOP_PID=""; SAMPLER_PID=""
cleanup() {
  [ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null
  if [ -n "$SHOP_PID" ] && kill -0 "$SHOP_PID" 2>/dev/null; then
    kill -TERM "$SHOP_PID" 2>/dev/null; sleep 1; kill -KILL "$SHOP_PID" 2>/dev/null
  fi
  if [ "${KEEP:-0}" = 1 ]; then echo "soak: scratch kept in $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'echo "soak: interrupted" >&2; exit 130' INT TERM

SRC="$ROOT"; COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ "${SNAPSHOT:-0}" = 1 ]; then
  SRC="$WORK/src"; BUILD="$WORK/build"; mkdir -p "$SRC"
  git -C "$ROOT" archive HEAD | tar -x -C "$SRC" || die "git archive HEAD failed"
else
  git -C "$ROOT" diff --quiet HEAD -- src apps include CMakeLists.txt 2>/dev/null ||
    COMMIT="$COMMIT (with local changes in the work tree)"
fi
SHOP="$BUILD/apps/shop/sessio-shop"
if [ "${SKIP_BUILD:-0}" = 1 ] && [ "${SNAPSHOT:-0}" != 1 ]; then
  [ -x "$SHOP" ] || die "no $SHOP (SKIP_BUILD=1)"
else
  echo "soak: building $SRC in $BUILD (Release)"
  cmake -S "$SRC" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DSESSIO_BUILD_TESTS=OFF >/dev/null &&
    cmake --build "$BUILD" -j 2 --target sessio-shop >/dev/null || die "build failed in $BUILD"
fi

mkdir -p "$RESULTS_DIR" "$WORK/progress" || die "cannot make $RESULTS_DIR"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
CSV="$RESULTS_DIR/$STAMP.csv"; REPORT="$RESULTS_DIR/$STAMP.md"
DB="$WORK/soak.db"

SHOP_ARGS=(--listen 127.0.0.1:0 --store "sqlite:$DB" --idle "$IDLE" --absolute "$ABSOLUTE"
           --log-level warn --new-sessions-limit 0)  # one client stands for many users
[ -n "${SHOP_THREADS:-}" ] && SHOP_ARGS+=(--threads "$SHOP_THREADS")
"$SHOP" "${SHOP_ARGS[@]}" >"$WORK/shop.out" 2>"$WORK/shop.err" </dev/null &
SHOP_PID=$!
PORT=""
for ((i = 0; i < 100; i++)); do
  PORT="$(sed -nE 's#^sessio-shop: listening on http://127\.0\.0\.1:([0-9]+) .*#\1#p' "$WORK/shop.out")"
  [ -n "$PORT" ] && break
  kill -0 "$SHOP_PID" 2>/dev/null || break
  sleep 0.1
done
[ -n "$PORT" ] || die "the shop did not start: $(cat "$WORK/shop.out" "$WORK/shop.err")"
BASE="http://127.0.0.1:$PORT"
echo "soak: sessio-shop pid $SHOP_PID on $BASE, store $DB; load ${LOAD_S}s, tail ${TAIL_S}s"

END_S=$((LOAD_S + TAIL_S))
"$PY" "$HERE/sample.py" "$SHOP_PID" "$DB" "$WORK/progress" "$INTERVAL" "$LOAD_S" "$END_S" \
  "$CSV" 2>"$WORK/sampler.err" &
SAMPLER_PID=$!
for ((i = 0; i < 100; i++)); do  # the t=0 sample is taken before any load
  [ -f "$CSV" ] && [ "$(wc -l <"$CSV")" -ge 2 ] && break
  sleep 0.05
done
WRK_CMD="wrk -t$THREADS -c$CONNS -d${LOAD_S}s --timeout 10s -s bench/soak/soak.lua $BASE -- $NEW_EVERY $POOL PROGRESS_DIR"
timeout $((LOAD_S + 120)) wrk -t"$THREADS" -c"$CONNS" -d"${LOAD_S}s" --timeout 10s \
  -s "$HERE/soak.lua" "$BASE" -- "$NEW_EVERY" "$POOL" "$WORK/progress" >"$WORK/wrk.out" 2>&1
WRK_RC=$?
WRK_RESULT="$(sed -n 's/^RESULT //p' "$WORK/wrk.out" | head -1)"
echo "soak: wrk exit $WRK_RC: ${WRK_RESULT:-no RESULT line}; tail ${TAIL_S}s without traffic"
wait "$SAMPLER_PID"; SAMPLER_RC=$?; SAMPLER_PID=""

kill -TERM "$SHOP_PID"
SHOP_RC=""
for ((i = 0; i < 150; i++)); do
  kill -0 "$SHOP_PID" 2>/dev/null || { wait "$SHOP_PID"; SHOP_RC=$?; break; }
  sleep 0.1
done
if [ -z "$SHOP_RC" ]; then kill -KILL "$SHOP_PID" 2>/dev/null; wait "$SHOP_PID"; SHOP_RC="hung"; fi
SHOP_PID=""
STOPPED=0; grep -q '^sessio-shop: stopped$' "$WORK/shop.out" && STOPPED=1
# At --log-level warn, the only expected line is the shutdown notice.
grep -v 'msg="shutting down"' "$WORK/shop.err" >"$WORK/shop.unexpected"
LOG_LINES="$(grep -c . "$WORK/shop.unexpected")"

{
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC') (started $STAMP)"
  echo "command=$([ "${SNAPSHOT:-0}" = 1 ] && echo "SNAPSHOT=1 ")DURATION=$DURATION TAIL=${TAIL_S}s INTERVAL=$INTERVAL IDLE=$IDLE ABSOLUTE=$ABSOLUTE NEW_EVERY=$NEW_EVERY POOL=$POOL THREADS=$THREADS CONNS=$CONNS bench/soak/run.sh${*:+ $*}"
  echo "commit=$COMMIT$([ "${SNAPSHOT:-0}" = 1 ] && echo ' (built from git archive)')"
  echo "machine=$(nproc) CPUs ($(sed -nE 's/^model name\s*:\s*//p' /proc/cpuinfo | head -1)), $(uname -sr); wrk, the shop and other users share them"
  echo "shop_cmd=sessio-shop ${SHOP_ARGS[*]}"
  echo "wrk_cmd=$WRK_CMD"
  echo "wrk_result=$WRK_RESULT"
  echo "duration_s=$LOAD_S"; echo "idle_s=$IDLE_S"; echo "interval_s=$INTERVAL"
  echo "tol_pct=$TOL"; echo "table_every_s=$TABLE_EVERY"
  echo "shop_exit=$SHOP_RC"; echo "shop_stopped=$STOPPED"; echo "shop_log_lines=$LOG_LINES"
  echo "sampler_exit=$SAMPLER_RC"
} >"$WORK/facts.txt"

"$PY" "$HERE/report.py" "$CSV" "$WORK/facts.txt" "$REPORT"
RC=$?
if [ "$LOG_LINES" != 0 ] || [ -s "$WORK/sampler.err" ] || [ "$WRK_RC" != 0 ]; then
  {
    echo "## Unexpected output"
    echo
    echo '```'
    [ "$WRK_RC" != 0 ] && { echo "wrk exit $WRK_RC:"; tail -5 "$WORK/wrk.out"; }
    [ -s "$WORK/sampler.err" ] && { echo "sampler:"; head -10 "$WORK/sampler.err"; }
    [ "$LOG_LINES" != 0 ] && { echo "shop log (first 20 of $LOG_LINES):"; head -20 "$WORK/shop.unexpected"; }
    echo '```'
  } | tee -a "$REPORT"
  [ "$WRK_RC" != 0 ] && RC=1
fi
[ -z "$WRK_RESULT" ] && RC=1
echo "soak: samples $CSV, report $REPORT"
exit "$RC"
