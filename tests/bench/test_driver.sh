#!/usr/bin/env bash
# test_driver.sh — checks that the HTTP load driver (bench/http/run.sh) works against
# a real sessio-shop: a ~1 s cart run with 2 connections and 10 sessions, a read run,
# the lost-update probe, and a run with made-up sessions that the driver must flag.
# Not a timed test: no figure is asserted, only that the output parses, nothing
# failed, and the probe lost no update.
#
# Usage: tests/bench/test_driver.sh PATH/TO/sessio-shop     (CTest: bench_driver)
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SHOP="${1:?usage: $0 PATH/TO/sessio-shop}"
RUN="$ROOT/bench/http/run.sh"
PY=/usr/bin/python3
passed=0; failed=0
WORK="$(mktemp -d "${TMPDIR:-/tmp}/sessio-test-driver.XXXXXX")"
PID=""
cleanup() {
  if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID"   # the shop finishes requests in flight, then exits
    for ((i = 0; i < 50; i++)); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PID" 2>/dev/null
  fi
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

check() {  # check NAME CONDITION-EXIT-STATUS DETAIL
  if [ "$2" = 0 ]; then passed=$((passed + 1)); echo "ok   $1"
  else failed=$((failed + 1)); echo "FAIL $1: $3"; fi
}
field() { sed -nE "s/.* $1=([^ ]*).*/\1/p" <<<" $2"; }
is_num() { [[ "$1" =~ ^[0-9]+(\.[0-9]+)?$ ]]; }

[ -x "$SHOP" ] || { echo "FAIL: no shop at $SHOP"; exit 1; }
command -v wrk >/dev/null || { echo "FAIL: wrk is not installed"; exit 1; }
PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
"$SHOP" --listen "127.0.0.1:$PORT" --store memory: --log-level warn >"$WORK/shop.log" 2>&1 </dev/null &
PID=$!
up=1
for ((i = 0; i < 100; i++)); do
  "$PY" - "$PORT" <<'PYEOF' 2>/dev/null && { up=0; break; }
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=1)
c.request("GET", "/healthz")
sys.exit(0 if c.getresponse().status == 200 else 1)
PYEOF
  kill -0 "$PID" 2>/dev/null || break
  sleep 0.1
done
check "shop_starts_and_answers_healthz" "$up" "$(tail -5 "$WORK/shop.log")"
[ "$up" = 0 ] || { echo "$passed passed, $failed failed"; exit 1; }

# 1. cart, read and the probe, tiny and short.
out="$(N=10 DURATION=1s WARMUP=0 REPS=1 THREADS=2 CONNS=2 WORKLOADS="cart read probe" \
       PROBE_REPS=1 PROBE_CONNS=10 PROBE_TOTAL=100 PROBE_SECONDS=2 \
       "$RUN" "$BASE" shop 2>&1)"
rc=$?
echo "$out" | sed 's/^/    /'
check "driver_exits_0_on_a_clean_run" "$rc" "exit status $rc"
setup="$(grep -m1 '^SETUP ' <<<"$out")"
[ "$(field status "$setup")" = ok ] && [ "$(field sessions "$setup")" = 10 ]
check "setup_makes_10_sessions" $? "$setup"
for w in cart read; do
  r="$(grep -m1 "^RESULT .* workload=$w " <<<"$out")"
  req="$(field requests "$r")"; rps="$(field rps "$r")"
  is_num "$req" && [ "$req" -gt 0 ] && is_num "$rps" && is_num "$(field p50_ms "$r")" &&
    is_num "$(field p99_ms "$r")" && [ "$(field non2xx "$r")" = 0 ] &&
    [ "$(field socket_errors "$r")" = 0 ] && [ "$(field foreign "$r")" = 0 ]
  check "${w}_result_parses_with_no_error" $? "${r:-no RESULT line}"
  m="$(grep -m1 "^MEDIAN .* workload=$w " <<<"$out")"
  is_num "$(field rps "$m")" && [ "$(field errors "$m")" = 0 ]
  check "${w}_median_parses" $? "${m:-no MEDIAN line}"
done
p="$(grep -m1 '^PROBE ' <<<"$out")"
[ "$(field sent "$p")" = 100 ] && [ "$(field ok "$p")" = 100 ] && [ "$(field cart_P "$p")" = 100 ] &&
  [ "$(field lost "$p")" = 0 ]
check "probe_loses_no_update" $? "${p:-no PROBE line}"
s="$(grep -m1 '^SUMMARY ' <<<"$out")"
is_num "$(field cart_rps "$s")" && [ "$(field errors "$s")" = 0 ] && [ "$(field lost_max "$s")" = 0 ]
check "summary_parses" $? "${s:-no SUMMARY line}"

# 2. The driver must see failures: made-up cookies are unknown to the shop, which then
#    answers with a new session and another token ("foreign"), or refuses the write.
for ((i = 0; i < 4; i++)); do
  printf 'sid=%s\t%s\n' "$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=' | head -c 43)" \
    "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
done > "$WORK/fake.tsv"
out="$(SESSIONS_FILE="$WORK/fake.tsv" DURATION=1s WARMUP=0 REPS=1 THREADS=1 CONNS=2 \
       WORKLOADS=cart "$RUN" "$BASE" fake 2>&1)"
rc=$?
s="$(grep -m1 '^SUMMARY ' <<<"$out")"
r="$(grep -m1 '^RESULT .* workload=cart ' <<<"$out")"
[ "$rc" = 1 ] && [ "$(field errors "$s")" -gt 0 ] 2>/dev/null &&
  [ $(( $(field non2xx "$r") + $(field foreign "$r") )) -gt 0 ] 2>/dev/null
check "driver_fails_the_run_on_unknown_sessions" $? "exit $rc; $s; $r"

kill -0 "$PID" 2>/dev/null
check "shop_still_running" $? "the shop exited during the run"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
