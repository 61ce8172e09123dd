#!/usr/bin/env bash
# profile.sh — profiles sessio-shop under the "cart" workload of bench/http: perf
# when the machine has hardware counters (`perf stat -e instructions true` works),
# else valgrind's callgrind (instructions executed, exact but ~50x slower, so the
# load is light). Prints the top functions, inclusive and self, and keeps the raw
# profile.
#
# Usage: bench/http/profile.sh PATH/TO/sessio-shop [STORE_URL] [OUTDIR]
#   STORE_URL default "memory:"; OUTDIR default a new /tmp/sessio-profile.XXXXXX
# Env: PROFILER (auto | perf | callgrind), DURATION (10s), CONNS (8), N (200),
#      WORKLOAD (cart | read | baseline), SHOP_ARGS (extra shop flags),
#      PERF_COMMS (threads the perf reports keep, default MHD-worker; "" = all)
# Under callgrind, memset/memcpy done with "rep stos/movs" count one instruction per
# byte: read their share with perf's time samples, not callgrind's counts.
# The shop listens on a free 127.0.0.1 port and is stopped at the end (SIGTERM, so
# callgrind writes its profile; SIGKILL after 60 s).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
SHOP="${1:?usage: $0 PATH/TO/sessio-shop [STORE_URL] [OUTDIR]}"
STORE="${2:-memory:}"
OUTDIR="${3:-$(mktemp -d /tmp/sessio-profile.XXXXXX)}"
mkdir -p "$OUTDIR" || exit 1
PY=/usr/bin/python3
PROFILER="${PROFILER:-auto}"
DUR="${DURATION:-10s}"; C="${CONNS:-8}"; NS="${N:-200}"; W="${WORKLOAD:-cart}"
if [ "$PROFILER" = auto ]; then
  # hardware counters? (in many VMs perf only has software events such as cpu-clock)
  probe="$(perf stat -e instructions true 2>&1)"
  if [ $? -eq 0 ] && ! grep -q 'not supported\|not counted' <<<"$probe"; then
    PROFILER=perf
  else
    PROFILER=callgrind
  fi
fi
PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
BASE="http://127.0.0.1:$PORT"
# shellcheck disable=SC2206
CMD=("$SHOP" --listen "127.0.0.1:$PORT" --store "$STORE" --log-level warn ${SHOP_ARGS:-})
case "$PROFILER" in
  callgrind) CMD=(valgrind --tool=callgrind --callgrind-out-file="$OUTDIR/callgrind.out"
                  --separate-threads=no --instr-atstart=no "${CMD[@]}") ;;
  perf)      CMD=(perf record -g -o "$OUTDIR/perf.data" -- "${CMD[@]}") ;;
  *) echo "PROFILER must be auto, perf or callgrind" >&2; exit 2 ;;
esac
"${CMD[@]}" >"$OUTDIR/shop.log" 2>&1 </dev/null &
PID=$!
stop() {
  kill -0 "$PID" 2>/dev/null || return 0
  kill -TERM "$PID"
  for ((i = 0; i < 600; i++)); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$PID" 2>/dev/null
  wait "$PID" 2>/dev/null
}
trap stop EXIT
for ((i = 0; i < 300; i++)); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' -m 2 "$BASE/healthz")" = 200 ] && break
  kill -0 "$PID" 2>/dev/null || { echo "the shop exited:"; tail "$OUTDIR/shop.log"; exit 1; }
  sleep 0.1
done
if [ "$PROFILER" = callgrind ]; then
  # start-up (the demo users' argon2id hashes) is not what we profile
  callgrind_control -i on "$PID" >/dev/null
fi
echo "profiling with $PROFILER: $W workload, wrk -t1 -c$C -d$DUR, N=$NS, store $STORE"
N="$NS" DURATION="$DUR" WARMUP=0 REPS=1 THREADS=1 CONNS="$C" WORKLOADS="$W" \
  OUT="$OUTDIR/wrk.txt" "$HERE/run.sh" "$BASE" profiled | grep -E '^(SETUP|RESULT|SUMMARY)'
stop
trap - EXIT
if [ "$PROFILER" = callgrind ]; then
  f="$OUTDIR/callgrind.out"
  [ -s "$f" ] || { echo "no profile written (see $OUTDIR/shop.log)"; exit 1; }
  callgrind_annotate --inclusive=yes "$f" 2>/dev/null | sed -n '/^Ir/,$p' | head -60 \
    > "$OUTDIR/inclusive.txt"
  callgrind_annotate "$f" 2>/dev/null | sed -n '/^Ir/,$p' | head -50 > "$OUTDIR/self.txt"
else
  # perf record falls back to the cpu-clock software event without counters: a
  # sample of wall time on CPU, kernel (syscalls, TCP) included
  # only the request threads (PERF_COMMS; "" = every thread, start-up included)
  cm=(); [ -n "${PERF_COMMS-MHD-worker}" ] && cm=(--comms "${PERF_COMMS-MHD-worker}")
  perf report -i "$OUTDIR/perf.data" "${cm[@]}" --no-children --stdio -g none --percent-limit 0.3 \
    2>/dev/null | grep -v '^#' | grep . | head -60 > "$OUTDIR/self.txt"
  perf report -i "$OUTDIR/perf.data" "${cm[@]}" --children --stdio -g none --percent-limit 2 \
    2>/dev/null | grep -v '^#' | grep . | head -60 > "$OUTDIR/inclusive.txt"
  # (perf 6.1 drops most rows of "--sort dso" under --comms: sort by comm,dso instead)
  perf report -i "$OUTDIR/perf.data" --no-children --stdio -g none --sort comm,dso \
    2>/dev/null | grep -v '^#' | grep . | head -15 > "$OUTDIR/dso.txt"
  echo "== by shared object"; cat "$OUTDIR/dso.txt"
fi
echo "== inclusive (top)"; head -45 "$OUTDIR/inclusive.txt"
echo "== self (top)"; head -40 "$OUTDIR/self.txt"
echo "profile in $OUTDIR"
