#!/usr/bin/env bash
# bench_scale.sh — the scaling runs of `make bench`: how the cost of a cart add
# grows with the live sessions a store holds, with the session's size, and with
# the shop processes that share one store; whether GC keeps up with expiry; the
# shop's RSS with 10^6 sessions. Each curve is measured in one run and written
# as SCALE lines to the results file, from which bench/plot/plot.sh draws
# scale-sessions.svg, scale-size.svg and scale-procs.svg (no re-run needed).
#
# Usage: scripts/bench_scale.sh BUILD_DIR RESULTS_FILE
#        (scripts/bench.sh runs it after the HTTP rows; SKIP_SCALE=1 there skips it)
# Env:   DURATION (5s) SCALE_WARMUP (2s) SCALE_REPS (1) CONNS (32) THREADS (2) CHECK (1)
#        SCALE_CURVES ("sessions size procs gc micro", or a subset)
#        SCALE_ACTIVE (1000: the sessions the cart load goes to, round-robin)
#        SCALE_SESSIONS ("1000 10000 100000 1000000")  SCALE_SESSION_STORES ("memory sqlite")
#        SCALE_SIZES ("100 1000 10000 64000": bytes of data)  SCALE_SIZE_STORES ("sqlite")
#        SCALE_PROCS ("1 2 4")  SCALE_PROC_STORES ("sqlite redis")  SCALE_PROC_THREADS (1)
#        REDIS_TRANSPORT (unix: the shops reach redis-server over its Unix-domain socket;
#        tcp: over 127.0.0.1; see bench.sh)
#        SCALE_GC_SESSIONS (200000)  SCALE_GC_IDLE_S (10)  SCALE_GC_SPREAD_S (10)
#        SCALE_GC_STORES ("memory sqlite")  SCALE_MICRO_ARGS ("": or --quick)
#
# How the live sessions are made (untimed): the memory store lives in the shop, so
# the shop makes them: wrk sends cookieless POST /api/cart (bench/http/create.lua),
# ~30,000 sessions/s on a quiet 2-core machine. A shared store is filled before and
# between the points by bench/populate.c (sessio_populate): SCALE_ACTIVE real guest
# sessions through the public API, then filler rows (copies of those rows under new
# random keys, in large transactions: same size, same table and index, live) — one
# API commit per session would take many minutes for 10^6 on SQLite.
#
# Lines (key=value; "-" where a figure is missing):
#   SCALE curve=sessions store=S x=LIVE rps= p50_ms= p99_ms= cpu_us= rss_kib= errors=
#   SCALE curve=size store=S x=BYTES rps= p50_ms= p99_ms= cpu_us= errors=
#   SCALE curve=procs store=S x=PROCS rps= p50_ms= p99_ms= cpu_us= errors=
#   SCALE curve=micro-size store=memory x=BYTES ns= cpu_ns=
#   SCALE curve=gc store=S sessions= expire_rate= max_backlog= left= seconds= gc_peak_rate=
#         gc_rate= keeps_up=yes|no   (rates per second: see "GC against the expiry rate")
#   SCALE_RSS store=memory sessions= rss_kib= per_session_b=
#   SCALE_RATIO name= value= target= met=yes|no
# rps is the median of SCALE_REPS runs (wrk -tTHREADS -cCONNS, for procs the sum of
# one wrk per process), cpu_us the server's CPU time (shops and redis-server) per
# request. Exit status 1 when a point failed (errors > 0 or no figure).
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${1:?usage: $0 BUILD_DIR RESULTS_FILE}"
RESULTS="${2:?usage: $0 BUILD_DIR RESULTS_FILE}"
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD";; esac
PY=/usr/bin/python3
RUN="$ROOT/bench/http/run.sh"
SHOP="$BUILD/apps/shop/sessio-shop"
POP="$BUILD/bench/sessio_populate"
MICRO="$BUILD/bench/sessio_micro"
DURATION="${DURATION:-5s}"; WARMUP="${SCALE_WARMUP:-2s}"; REPS="${SCALE_REPS:-1}"
CONNS="${CONNS:-32}"; THREADS="${THREADS:-2}"; CHECK="${CHECK:-1}"
CURVES="${SCALE_CURVES:-sessions size procs gc micro}"
ACTIVE="${SCALE_ACTIVE:-1000}"
RAW="${RESULTS%.txt}.raw"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/sessio-scale.XXXXXX")"
chmod 700 "$WORK"
HZ="$(getconf CLK_TCK 2>/dev/null || echo 100)"
FAILED=0

say() { echo "$*" | tee -a "$RESULTS"; }
field() { sed -nE "s/.* $1=([^ ]*).*/\1/p" <<<" $2"; }
has() { [[ " $CURVES " == *" $1 "* ]]; }

# ---- servers: started on free 127.0.0.1 ports, stopped on exit ----------------------
PIDS=()
stop_all() { local p; for p in "${PIDS[@]}"; do stop_pid "$p"; done; PIDS=(); }
trap 'stop_all; rm -rf "$WORK"' EXIT
trap 'echo "bench_scale.sh: interrupted" >&2; exit 130' INT TERM
# shellcheck source=scripts/bench_lib.sh
. "$ROOT/scripts/bench_lib.sh"
track() { PIDS+=("$1"); }
SHOP_PID=""; SHOP_PORT=""; METRICS=""
start_shop() {  # start_shop STORE_URL LOG [FLAGS...]: sets SHOP_PID SHOP_PORT METRICS
  local url=$1 log=$2 mp; shift 2
  SHOP_PORT="$(free_port)"; mp="$(free_port)"
  METRICS="http://127.0.0.1:$mp/metrics"
  # all clients are 127.0.0.1: the per-client new-session limit (S29) is off
  "$SHOP" --listen "127.0.0.1:$SHOP_PORT" --metrics-listen "127.0.0.1:$mp" \
    --store "$url" --log-level warn --new-sessions-limit 0 "$@" >"$log" 2>&1 </dev/null &
  SHOP_PID=$!
  track "$SHOP_PID"
  wait_up "http://127.0.0.1:$SHOP_PORT/healthz" "$SHOP_PID"
}
metric() {  # metric NAME: the shop's value of a metric without labels
  curl -s -m 5 "$METRICS" | awk -v n="$1" '$1 == n {print $2; exit}'
}
ticks() {  # ticks PID...: utime + stime of those processes (clock ticks)
  local p t=0 s
  for p in "$@"; do
    s="$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null)" || continue
    t=$((t + $(awk '{print $12 + $13}' <<<"$s")))
  done
  echo "$t"
}
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
now_s() { date +%s.%N; }

# ---- filling a store ------------------------------------------------------------------
# fill_memory TARGET: the running shop makes sessions until it holds TARGET.
fill_memory() {
  local target=$1 held need w i
  held="$(metric sessio_store_sessions)"; need=$((target - ${held:-0}))
  [ "$need" -gt 0 ] || return 0
  wrk -t"$THREADS" -c"$CONNS" -d3600s -s "$ROOT/bench/http/create.lua" \
    "http://127.0.0.1:$SHOP_PORT" -- "$need" "$THREADS" >"$WORK/create.out" 2>&1 &
  w=$!
  for ((i = 0; i < 12000; i++)); do  # 20 min at most
    held="$(metric sessio_store_sessions)"
    [ "${held:-0}" -ge "$target" ] && break
    kill -0 "$w" 2>/dev/null || break
    sleep 0.1
  done
  kill -INT "$w" 2>/dev/null; wait "$w" 2>/dev/null
  cat "$WORK/create.out" >>"$RAW"
  [ "$(metric sessio_store_sessions)" -ge "$target" ]
}
# populate URL ARGS...: sessio_populate, its POPULATE line to the raw file.
populate() {
  "$POP" "$@" >>"$RAW" 2>&1 || { echo "bench_scale: sessio_populate $* failed (see $RAW)" >&2; return 1; }
}

# ---- one point: the cart load of run.sh on the active sessions --------------------
# point CURVE STORE X SERVER_PIDS [EXTRA FIELDS]
point() {
  local curve=$1 store=$2 x=$3 pids=$4 extra="${5:-}" out m
  out="$(SESSIONS_FILE="$WORK/active.tsv" WORKLOADS=cart REPS="$REPS" WARMUP="$WARMUP" \
         DURATION="$DURATION" CONNS="$CONNS" THREADS="$THREADS" CHECK="$CHECK" \
         SERVER_PIDS="$pids" OUT="$RAW" "$RUN" "http://127.0.0.1:$SHOP_PORT" \
         "scale-$curve-$store-$x" 2>&1)"
  m="$(grep -m1 '^MEDIAN ' <<<"$out")"
  if [ -z "$m" ] || [ "$(field errors "$m")" != 0 ]; then FAILED=1; fi
  say "SCALE curve=$curve store=$store x=$x rps=$(field rps "$m") p50_ms=$(field p50_ms "$m") p99_ms=$(field p99_ms "$m") cpu_us=$(field server_cpu_us "$m")${extra:+ $extra} errors=$(field errors "$m")"
}
failed_point() { FAILED=1; say "SCALE curve=$1 store=$2 x=$3 failed=${4// /_}"; }
store_url() {  # store_url STORE DIR
  case "$1" in
    memory) echo "memory:" ;;
    sqlite) echo "sqlite:$2/s.db" ;;
    *) return 1 ;;
  esac
}

if [ ! -s "$RESULTS" ]; then  # run alone: the header bench.sh would have written
  mkdir -p "$(dirname "$RESULTS")"
  {
    echo "sessio benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown), $(hostname)"
    echo "machine: $(nproc) CPUs ($(sed -nE 's/^model name\s*:\s*//p' /proc/cpuinfo | head -1)), $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) RAM, $(uname -sr); wrk and the servers share the CPUs"
    echo "command: scripts/bench_scale.sh $BUILD $RESULTS"
  } >"$RESULTS"
fi
{
  echo
  echo "## scaling runs (scripts/bench_scale.sh: $CURVES; DURATION=$DURATION SCALE_WARMUP=$WARMUP SCALE_REPS=$REPS, wrk -t$THREADS -c$CONNS, cart on $ACTIVE active sessions)"
} | tee -a "$RESULTS"
[ -x "$SHOP" ] || { say "SCALE failed=no_sessio-shop_in_$BUILD"; exit 1; }
if ! cmake --build "$BUILD" --target sessio_populate sessio_micro -j "$(nproc)" >"$WORK/build.log" 2>&1; then
  say "SCALE failed=cannot_build_sessio_populate_and_sessio_micro"; tail -5 "$WORK/build.log"; exit 1
fi
T0="$(now_s)"

# ---- 1. live sessions ---------------------------------------------------------------
if has sessions; then
  for store in ${SCALE_SESSION_STORES:-memory sqlite}; do
    d="$WORK/sessions-$store"; mkdir -p "$d"
    url="$(store_url "$store" "$d")" || { failed_point sessions "$store" - unknown_store; continue; }
    if [ "$store" != memory ] &&
       ! populate "$url" "$ACTIVE" --cookies "$WORK/active.tsv" "$ACTIVE"; then
      failed_point sessions "$store" - populate; continue
    fi
    if ! start_shop "$url" "$d/shop.log"; then failed_point sessions "$store" - shop_start; stop_all; continue; fi
    if [ "$store" = memory ] &&
       ! "$PY" "$ROOT/bench/http/api.py" sessions "http://127.0.0.1:$SHOP_PORT" "$ACTIVE" \
           "$WORK/active.tsv" >>"$RAW" 2>&1; then
      failed_point sessions "$store" - active_sessions; stop_all; continue
    fi
    for x in ${SCALE_SESSIONS:-1000 10000 100000 1000000}; do
      t="$(now_s)"
      if [ "$store" = memory ]; then
        fill_memory "$x" || { failed_point sessions "$store" "$x" fill; break; }
      else
        held="$(metric sessio_store_sessions)"; need=$((x - ${held:-0}))
        if [ "$need" -gt 0 ] && ! populate "$url" 0 --fill "$need"; then
          failed_point sessions "$store" "$x" fill; break
        fi
      fi
      fill_s="$(awk -v a="$t" -v b="$(now_s)" 'BEGIN {printf "%.1f", b - a}')"
      held="$(metric sessio_store_sessions)"
      point sessions "$store" "$x" "$SHOP_PID" "held=${held:--} rss_kib=$(rss_kib "$SHOP_PID") fill_s=$fill_s"
    done
    stop_all
  done
fi

# ---- 2. session size ----------------------------------------------------------------
if has size; then
  for store in ${SCALE_SIZE_STORES:-sqlite}; do
    [ "$store" = memory ] && { say "## size curve: the memory store is the micro-size curve (its sessions cannot get a pad over HTTP)"; continue; }
    for x in ${SCALE_SIZES:-100 1000 10000 64000}; do
      d="$WORK/size-$store-$x"; mkdir -p "$d"
      url="$(store_url "$store" "$d")" || { failed_point size "$store" "$x" unknown_store; break; }
      populate "$url" "$ACTIVE" --bytes "$x" --cookies "$WORK/active.tsv" "$ACTIVE" ||
        { failed_point size "$store" "$x" populate; continue; }
      if ! start_shop "$url" "$d/shop.log"; then failed_point size "$store" "$x" shop_start; stop_all; continue; fi
      point size "$store" "$x" "$SHOP_PID" "db_kib=$(( $(du -sk "$d" | cut -f1) ))"
      stop_all
    done
  done
fi

# ---- 3. shop processes on one store -------------------------------------------------
# P shops with SCALE_PROC_THREADS threads each, one wrk per shop (-t1, CONNS / P
# connections, its share of the active sessions), run at the same time.
procs_point() {  # procs_point STORE P ALLPIDS...: the shops in SHOPS_PORTS
  local store=$1 np=$2; shift 2
  local i c w pids=() outs=() c0 c1 req=0 rps=0 p99=0 p50=0 errs=0 o r secs=0
  c=$((CONNS / np)); [ "$c" -ge 1 ] || c=1
  for ((i = 0; i < np; i++)); do
    awk -v n="$np" -v k="$i" '(NR - 1) % n == k' "$WORK/active.tsv" >"$WORK/active-$i.tsv"
  done
  run_all() {  # run_all DURATION TAG
    local j
    pids=()
    for ((j = 0; j < np; j++)); do
      timeout 600 wrk -t1 -c"$c" -d"$1" --latency -s "$ROOT/bench/http/sessions.lua" \
        "http://127.0.0.1:${SHOPS_PORTS[j]}" -- cart "$WORK/active-$j.tsv" 1 "$CHECK" \
        >"$WORK/procs-$2-$j.out" 2>&1 &
      pids+=($!)
    done
    for w in "${pids[@]}"; do wait "$w"; done
  }
  [ "$WARMUP" != 0 ] && run_all "$WARMUP" warm
  c0="$(ticks "$@")"
  run_all "$DURATION" timed
  c1="$(ticks "$@")"
  for ((i = 0; i < np; i++)); do
    cat "$WORK/procs-timed-$i.out" >>"$RAW"
    r="$(grep -m1 '^RESULT ' "$WORK/procs-timed-$i.out")"
    [ -n "$r" ] || { errs=$((errs + 1)); continue; }
    req=$((req + $(field requests "$r")))
    rps="$(awk -v a="$rps" -v b="$(field rps "$r")" 'BEGIN {print a + b}')"
    p99="$(awk -v a="$p99" -v b="$(field p99_ms "$r")" 'BEGIN {print (b > a) ? b : a}')"
    p50="$(awk -v a="$p50" -v b="$(field p50_ms "$r")" 'BEGIN {print (b > a) ? b : a}')"
    errs=$((errs + $(field non2xx "$r") + $(field socket_errors "$r") + $(field foreign "$r")))
  done
  cpu="$(awk -v t=$((c1 - c0)) -v hz="$HZ" -v n="$req" 'BEGIN {if (n > 0) printf "%.1f", t * 1e6 / hz / n; else print "-"}')"
  [ "$errs" = 0 ] && [ "$req" -gt 0 ] || FAILED=1
  say "SCALE curve=procs store=$store x=$np rps=$rps p50_ms=$p50 p99_ms=$p99 cpu_us=$cpu threads=${SCALE_PROC_THREADS:-1} errors=$errs"
}
if has procs; then
  for store in ${SCALE_PROC_STORES:-sqlite redis}; do
    d="$WORK/procs-$store"; mkdir -p "$d"; extra_pids=()
    case "$store" in
      sqlite) url="sqlite:$d/s.db"
              populate "$url" "$ACTIVE" --cookies "$WORK/active.tsv" "$ACTIVE" ||
                { failed_point procs "$store" - populate; continue; } ;;
      redis) command -v redis-server >/dev/null || { say "## procs curve on redis skipped: no redis-server"; continue; }
             rp="$(free_port)"
             start_redis "$rp" "$d" || { failed_point procs redis - redis_start; stop_all; continue; }
             url="$REDIS_URL"; extra_pids=("$REDIS_PID")
             rm -f "$WORK/active.tsv" ;;
      *) failed_point procs "$store" - unknown_store; continue ;;
    esac
    for np in ${SCALE_PROCS:-1 2 4}; do
      SHOPS_PORTS=(); shop_pids=(); ok=1
      for ((i = 0; i < np; i++)); do
        if ! start_shop "$url" "$d/shop-$np-$i.log" --threads "${SCALE_PROC_THREADS:-1}"; then ok=0; break; fi
        SHOPS_PORTS+=("$SHOP_PORT"); shop_pids+=("$SHOP_PID")
      done
      if [ "$ok" = 1 ] && [ ! -s "$WORK/active.tsv" ] &&
         ! "$PY" "$ROOT/bench/http/api.py" sessions "http://127.0.0.1:${SHOPS_PORTS[0]}" \
             "$ACTIVE" "$WORK/active.tsv" >>"$RAW" 2>&1; then ok=0; fi
      if [ "$ok" = 1 ]; then
        procs_point "$store" "$np" "${shop_pids[@]}" "${extra_pids[@]}"
      else
        failed_point procs "$store" "$np" start
      fi
      for p in "${shop_pids[@]}"; do stop_pid "$p"; done
      PIDS=("${extra_pids[@]}")
    done
    stop_all
  done
fi

# ---- 4. GC against the expiry rate --------------------------------------------------
# The shop runs with --idle SCALE_GC_IDLE_S. SCALE_GC_SESSIONS sessions are made
# (memory: by the shop, as fast as it can, so they expire at the rate they were made;
# sqlite: by sessio_populate, their expiry spread evenly over SCALE_GC_SPREAD_S).
# The shop's record count (sessio_store_sessions; on SQLite a count(*), so not more
# often) is sampled every 0.5 s until the last has been dead for 5 s; the backlog at a sample is what it holds beyond the
# live ones (expired, not yet removed). GC keeps up when the largest backlog is at
# most two seconds of expiry (its runner runs once a second) and the end leaves
# less than 1% of them. gc_peak_rate is the most the shop's GC runner removed in
# about a second (sessio_gc_removed_total), gc_rate what it removed per second
# from the first expiry to the end: against expire_rate, what it can and did do.
gc_run() {  # gc_run STORE
  local store=$1 d="$WORK/gc-$1" url g="${SCALE_GC_SESSIONS:-200000}"
  local idle="${SCALE_GC_IDLE_S:-10}" spread="${SCALE_GC_SPREAD_S:-10}" t0 t1 w i
  mkdir -p "$d"; : >"$d/samples"
  url="$(store_url "$store" "$d")" || { failed_point gc "$store" - unknown_store; return; }
  if [ "$store" != memory ]; then
    t0="$(now_s)"
    populate "$url" 1 --idle $((idle * 1000)) --fill "$g" --spread $((spread * 1000)) ||
      { failed_point gc "$store" - populate; return; }
    # the rows die from t0 + idle to t0 + idle + spread (the fill time is short of it)
    start_shop "$url" "$d/shop.log" --idle "${idle}s" || { failed_point gc "$store" - shop_start; stop_all; return; }
    end="$(awk -v a="$t0" -v i="$idle" -v s="$spread" 'BEGIN {printf "%.3f", a + i + s + 5}')"
  else
    start_shop "$url" "$d/shop.log" --idle "${idle}s" || { failed_point gc "$store" - shop_start; stop_all; return; }
    t0="$(now_s)"
    wrk -t"$THREADS" -c"$CONNS" -d3600s -s "$ROOT/bench/http/create.lua" \
      "http://127.0.0.1:$SHOP_PORT" -- "$g" "$THREADS" >"$WORK/create.out" 2>&1 &
    w=$!
    end=""
  fi
  # samples: time, records held, sessions created so far (memory), records the
  # shop's GC runner removed so far
  for ((i = 0; i < 2400; i++)); do
    m="$(curl -s -m 5 "$METRICS")"
    echo "$(now_s) $(awk '$1 == "sessio_store_sessions" {print $2}' <<<"$m") $(awk '$1 == "sessio_sessions_created_total" {print $2}' <<<"$m") $(awk '$1 == "sessio_gc_removed_total" {print $2}' <<<"$m")" >>"$d/samples"
    if [ "$store" = memory ] && [ -z "$end" ]; then
      created="$(awk '$1 == "sessio_sessions_created_total" {print $2}' <<<"$m")"
      if [ "${created:-0}" -ge "$g" ] || ! kill -0 "$w" 2>/dev/null; then
        kill -INT "$w" 2>/dev/null; wait "$w" 2>/dev/null; cat "$WORK/create.out" >>"$RAW"
        t1="$(now_s)"; end="$(awk -v a="$t1" -v i="$idle" 'BEGIN {printf "%.3f", a + i + 5}')"
      fi
    fi
    [ -n "$end" ] && awk -v a="$(now_s)" -v e="$end" 'BEGIN {exit !(a >= e)}' && break
    sleep 0.5
  done
  cp "$d/samples" "$RAW.gc-$store" 2>/dev/null
  # expected live at t: memory: created(t) - created(t - idle) (from the samples);
  # sqlite: the share of the fill whose expiry (t0 + idle .. t0 + idle + spread) is after t
  "$PY" - "$store" "$d/samples" "$g" "$idle" "$spread" "$t0" <<'PY' | tee -a "$RESULTS"
import sys, bisect
store, path, g, idle, spread, t0 = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
rows = []
for line in open(path):
    p = line.split()
    if len(p) >= 2 and p[1].isdigit():
        rows.append((float(p[0]), int(p[1]), int(p[2]) if len(p) > 2 and p[2].isdigit() else 0,
                     int(p[3]) if len(p) > 3 and p[3].isdigit() else 0))
if not rows:
    print("SCALE curve=gc store=%s failed=no_samples" % store); sys.exit()
ts = [r[0] for r in rows]
def created_at(t):  # created count at time t, from the samples (memory)
    i = bisect.bisect_right(ts, t) - 1
    return rows[i][2] if i >= 0 else 0
backlog, first_dead, last_dead = [], None, None
if store == "memory":
    made = [r for r in rows if r[2] > 0]
    first = next((r[0] for r in rows if r[2] > 0), rows[0][0])
    last = next((r[0] for r in rows if r[2] >= max(x[2] for x in rows)), rows[-1][0])
    rate = max(x[2] for x in rows) / max(last - first, 0.2)
    for t, held, c, _ in rows:
        live = c - created_at(t - idle)
        backlog.append((t, held - live))
    first_dead, last_dead = first + idle, last + idle
else:
    rate = g / spread
    first_dead, last_dead = t0 + idle, t0 + idle + spread
    for t, held, c, _ in rows:
        frac = min(max((t - first_dead) / spread, 0.0), 1.0)
        live = 1 + g * (1 - frac) if t < last_dead else 0
        backlog.append((t, held - live))
# the two samples around each expiry moment are uncertain: ignore the first second
window = [b for t, b in backlog if t >= first_dead + 1.0]
mx = max(window) if window else max(b for _, b in backlog)
left = rows[-1][1]
ok = mx <= 2 * rate and left <= max(0.01 * g, 10)
# the GC's best removal rate over any ~1 s between two samples (its capacity when
# there is garbage to find; the runner spends at most 100 ms of each second)
peak = 0.0
for i in range(len(rows)):
    j = bisect.bisect_left(ts, rows[i][0] + 1.0)
    if j < len(rows):
        peak = max(peak, (rows[j][3] - rows[i][3]) / (rows[j][0] - rows[i][0]))
print("SCALE curve=gc store=%s sessions=%d expire_rate=%.0f max_backlog=%d left=%d seconds=%.1f gc_peak_rate=%.0f gc_rate=%.0f keeps_up=%s"
      % (store, g, rate, mx, left, rows[-1][0] - first_dead, peak,
         (rows[-1][3] - next((r[3] for r in rows if r[0] >= first_dead), rows[-1][3])) / max(rows[-1][0] - first_dead, 0.5),
         "yes" if ok else "no"))
PY
  stop_all
}
if has gc; then
  for store in ${SCALE_GC_STORES:-memory sqlite}; do gc_run "$store"; done
fi

# ---- 5. the core: one key changed against the session's size ------------------------
if has micro; then
  # shellcheck disable=SC2086  # SCALE_MICRO_ARGS is a list of flags
  "$MICRO" --sizes "$(tr ' ' ',' <<<"${SCALE_SIZES:-100 1000 10000 64000}")" ${SCALE_MICRO_ARGS:-} \
    >"$WORK/micro.out" 2>&1 || FAILED=1
  cat "$WORK/micro.out" >>"$RAW"
  awk '/^size-curve / {ns = $5; for (i = 1; i <= NF; i++) if ($i == "cpu") cpu = $(i + 1);
       printf "SCALE curve=micro-size store=memory x=%s ns=%s cpu_ns=%s\n", $2, ns, cpu}' \
    "$WORK/micro.out" | tee -a "$RESULTS"
fi

# ---- ratios against the targets -----------------------------------------------------
ratio_line() {  # ratio_line NAME NUM DEN TARGET(<=X or >=X)
  local v
  v="$(awk -v a="$2" -v b="$3" 'BEGIN {if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a / b; else print "-"}')"
  local met=no
  case "$4" in
    ">="*) awk -v v="$v" -v t="${4#>=}" 'BEGIN {exit !(v != "-" && v >= t)}' && met=yes ;;
    "<="*) awk -v v="$v" -v t="${4#<=}" 'BEGIN {exit !(v != "-" && v <= t)}' && met=yes ;;
    *) met=- ;;
  esac
  say "SCALE_RATIO name=$1 value=$v target=$4 met=$met"
}
scale_field() {  # scale_field CURVE STORE X FIELD: from this run's lines
  grep "^SCALE curve=$1 store=$2 x=$3 " "$RESULTS" | tail -1 | { read -r l; field "$4" "$l"; }
}
lo() { set -- $1; echo "$1"; }
hi() { set -- $1; echo "${@: -1}"; }
if has sessions; then
  s="${SCALE_SESSIONS:-1000 10000 100000 1000000}"
  for store in ${SCALE_SESSION_STORES:-memory sqlite}; do
    ratio_line "sessions-$store-rps-$(hi "$s")/$(lo "$s")" "$(scale_field sessions "$store" "$(hi "$s")" rps)" \
      "$(scale_field sessions "$store" "$(lo "$s")" rps)" ">=0.8"
    ratio_line "sessions-$store-cpu-$(hi "$s")/$(lo "$s")" "$(scale_field sessions "$store" "$(hi "$s")" cpu_us)" \
      "$(scale_field sessions "$store" "$(lo "$s")" cpu_us)" "<=1.25"
  done
  r="$(scale_field sessions memory "$(hi "$s")" rss_kib)"
  r0="$(scale_field sessions memory "$(lo "$s")" rss_kib)"
  [ -n "$r" ] && [ -n "$r0" ] && say "SCALE_RSS store=memory sessions=$(hi "$s") rss_kib=$r per_session_b=$(awk -v r="$r" -v r0="$r0" -v n="$(hi "$s")" -v n0="$(lo "$s")" 'BEGIN {if (n > n0) printf "%.0f", (r - r0) * 1024 / (n - n0); else print "-"}')"
fi
if has micro; then
  z="${SCALE_SIZES:-100 1000 10000 64000}"
  ratio_line "micro-size-cpu-10000/$(lo "$z")" "$(scale_field micro-size memory 10000 cpu_ns)" \
    "$(scale_field micro-size memory "$(lo "$z")" cpu_ns)" "<=2"
fi
if has size; then
  z="${SCALE_SIZES:-100 1000 10000 64000}"
  for store in ${SCALE_SIZE_STORES:-sqlite}; do
    [ "$store" = memory ] && continue
    ratio_line "size-$store-cpu-10000/$(lo "$z")" "$(scale_field size "$store" 10000 cpu_us)" \
      "$(scale_field size "$store" "$(lo "$z")" cpu_us)" "<=2"
  done
fi
if has procs; then
  p="${SCALE_PROCS:-1 2 4}"
  for store in ${SCALE_PROC_STORES:-sqlite redis}; do
    ratio_line "procs-$store-rps-$(hi "$p")/$(lo "$p")" "$(scale_field procs "$store" "$(hi "$p")" rps)" \
      "$(scale_field procs "$store" "$(lo "$p")" rps)" ">=1"
    ratio_line "procs-$store-cpu-$(hi "$p")/$(lo "$p")" "$(scale_field procs "$store" "$(hi "$p")" cpu_us)" \
      "$(scale_field procs "$store" "$(lo "$p")" cpu_us)" "<=1.25"
  done
fi
say "## scaling runs took $(awk -v a="$T0" -v b="$(now_s)" 'BEGIN {printf "%.0f", b - a}') s"
exit "$FAILED"
