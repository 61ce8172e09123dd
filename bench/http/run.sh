#!/usr/bin/env bash
# run.sh — the bench/http load driver: runs the workloads against ONE running server
# that speaks the sessio-shop JSON API (sessio-shop itself, or a peer), with wrk.
#
# Usage: bench/http/run.sh BASE_URL [NAME]       e.g. run.sh http://127.0.0.1:8080 shop
#
# Workloads (env WORKLOADS, default "baseline cart read probe"):
#   baseline  GET /healthz, no session                              (baseline.lua)
#   cart      POST /api/cart {"sku","qty":1} with a session's cookie and X-CSRF-Token,
#             sessions round-robin, 8 skus                           (sessions.lua cart)
#   read      GET /api/session with the same sessions                (sessions.lua read)
#   probe     lost updates: one new session, PROBE_CONNS connections send exactly
#             PROBE_TOTAL adds of sku "P", then lost = PROBE_TOTAL - cart.P (probe.lua)
# Before cart/read (not timed), api.py makes N guest sessions with a cookieless
# POST /api/cart each and keeps every cookie and CSRF token.
# baseline/cart/read: one warm-up run of WARMUP, then REPS timed runs of DURATION with
# wrk -tTHREADS -cCONNS; the median of each figure over the timed runs is reported.
#
# Env: N (1000) DURATION (10s) WARMUP (=DURATION, "0" for none) REPS (3) THREADS (2)
#      CONNS (32) CHECK (1: check each answer's status and csrf, see sessions.lua)
#      PROBE_REPS (3) PROBE_CONNS (20) PROBE_TOTAL (200) PROBE_SECONDS (3)
#      OUT (file that gets wrk's full output; default none) FAIL_ON_LOST (0)
#      SESSIONS_FILE (use these "cookie<TAB>csrf" lines instead of making N sessions)
#      SERVER_PIDS (PIDs of the server's processes; with it, each run also reports
#      server_cpu_us: the CPU time of those processes and their children per request)
#
# Prints, one per line (key=value fields, easy to grep and parse):
#   SETUP   name= sessions= status=ok|failed
#   RESULT  name= run=warmup|1..REPS workload= requests= seconds= rps= p50_ms= p90_ms=
#           p99_ms= max_ms= non2xx= socket_errors= foreign= sessions= check= codes=
#           server_cpu_us=
#   MEDIAN  name= workload= rps= p50_ms= p99_ms= server_cpu_us= errors=
#   PROBE   name= run= sent= ok= cart_P= lost= socket_errors=
#   SUMMARY name= baseline_rps= baseline_p50_ms= baseline_p99_ms= cart_rps= cart_p50_ms=
#           cart_p99_ms= read_rps= read_p50_ms= read_p99_ms= baseline_cpu_us= cart_cpu_us=
#           read_cpu_us= lost= lost_max= errors=
# "errors" = non-2xx + socket errors + foreign tokens + failed steps of the timed runs
# and probes. Exit status 1 when errors > 0 (or, with FAIL_ON_LOST=1, when an update
# was lost), 2 on bad usage. Sends only to BASE_URL (use a 127.0.0.1 URL).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PY=/usr/bin/python3
BASE="${1:-}"; NAME="${2:-server}"
case "$BASE" in http://*) BASE="${BASE%/}";; *) sed -n '2,12p' "$0" >&2; exit 2;; esac
command -v wrk >/dev/null || { echo "run.sh: wrk is not installed (apt-get install wrk)" >&2; exit 2; }
N="${N:-1000}"; DUR="${DURATION:-10s}"; WARM="${WARMUP:-$DUR}"; REPS="${REPS:-3}"
T="${THREADS:-2}"; C="${CONNS:-32}"; CHECK="${CHECK:-1}"
WORKLOADS="${WORKLOADS:-baseline cart read probe}"
PROBE_REPS="${PROBE_REPS:-3}"; PROBE_CONNS="${PROBE_CONNS:-20}"
PROBE_TOTAL="${PROBE_TOTAL:-200}"; PROBE_SECONDS="${PROBE_SECONDS:-3}"
OUT="${OUT:-/dev/null}"
[ "$C" -ge "$T" ] || { echo "run.sh: CONNS must be >= THREADS" >&2; exit 2; }

SCRATCH="$(mktemp -d "${TMPDIR:-/tmp}/sessio-bench.XXXXXX")"
trap 'rm -rf "$SCRATCH"' EXIT
SESSIONS="$SCRATCH/sessions.tsv"
ERRORS=0

say() { echo "$*"; [ "$OUT" = /dev/null ] || echo "$*" >> "$OUT"; }
has() { [[ " $WORKLOADS " == *" $1 "* ]]; }
field() { sed -nE "s/.* $1=([^ ]*).*/\1/p" <<<" $2"; }
median() {  # median of the numeric arguments, "-" when none
  printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -g |
    awk '{v[NR] = $1} END {if (NR == 0) {print "-"; exit}
         print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}

# CPU time of the server: the sum of utime + stime (clock ticks) of the processes in
# the trees rooted at SERVER_PIDS, so that "server CPU per request" can be reported;
# it does not depend on how busy the rest of the machine is, as requests/s does.
tree_ticks() {
  [ -n "${SERVER_PIDS:-}" ] || return 0
  ps -e -o pid=,ppid= | awk -v roots="$SERVER_PIDS" '
    BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) keep[r[i]] = 1 }
    { parent[$1] = $2; pids[NR] = $1 }
    END { changed = 1
          while (changed) { changed = 0
            for (i in pids) { p = pids[i]; if (!(p in keep) && (parent[p] in keep)) { keep[p] = 1; changed = 1 } } }
          for (p in keep) print p }' |
    while read -r p; do cat "/proc/$p/stat" 2>/dev/null; echo; done |
    awk '/\)/ { sub(/.*\) /, ""); t += $12 + $13 } END { print t + 0 }'
}
HZ="$(getconf CLK_TCK 2>/dev/null || echo 100)"

wrk_once() {  # wrk_once WORKLOAD DURATION -> the RESULT fields, or nothing
  local w="$1" d="$2" o c0 c1 req
  c0="$(tree_ticks)"
  if [ "$w" = baseline ]; then
    o="$(timeout 600 wrk -t"$T" -c"$C" -d"$d" --latency -s "$HERE/baseline.lua" \
         "$BASE/healthz" 2>&1)"
  else
    o="$(timeout 600 wrk -t"$T" -c"$C" -d"$d" --latency -s "$HERE/sessions.lua" "$BASE" \
         -- "$w" "$SESSIONS" "$T" "$CHECK" 2>&1)"
  fi
  c1="$(tree_ticks)"
  echo "$o" >> "$OUT"
  o="$(grep -m1 '^RESULT ' <<<"$o" | sed 's/^RESULT //')"
  [ -n "$o" ] || return 0
  req="$(field requests "$o")"
  if [ -n "$c0" ] && [ -n "$c1" ] && [ "${req:-0}" -gt 0 ]; then
    o="$o server_cpu_us=$(awk -v t=$((c1 - c0)) -v hz="$HZ" -v n="$req" 'BEGIN {printf "%.1f", t * 1e6 / hz / n}')"
  else
    o="$o server_cpu_us=-"
  fi
  echo "$o"
}

say "# $NAME $BASE $(date -u '+%F %T UTC') wrk -t$T -c$C warm-up=$WARM reps=$REPS x $DUR N=$N check=$CHECK workloads=\"$WORKLOADS\""

if [ -n "${SESSIONS_FILE:-}" ] && { has cart || has read; }; then
  # sessions made earlier (or made up, to check that the driver sees foreign answers)
  cp "$SESSIONS_FILE" "$SESSIONS" || exit 2
  say "SETUP name=$NAME sessions=$(grep -c . "$SESSIONS") status=ok from=$SESSIONS_FILE"
elif has cart || has read; then
  if "$PY" "$HERE/api.py" sessions "$BASE" "$N" "$SESSIONS" >>"$OUT" 2>"$SCRATCH/err"; then
    say "SETUP name=$NAME sessions=$N status=ok"
  else
    say "SETUP name=$NAME sessions=$N status=failed: $(head -c 300 "$SCRATCH/err" | tr '\n' ' ')"
    ERRORS=$((ERRORS + 1))
    WORKLOADS="$(sed -E 's/\b(cart|read)\b//g' <<<"$WORKLOADS")"
  fi
fi

declare -A M
for w in baseline cart read; do
  has "$w" || continue
  if [ "$WARM" != 0 ]; then
    r="$(wrk_once "$w" "$WARM")"
    say "RESULT name=$NAME run=warmup ${r:-workload=$w wrk_failed=1}"
  fi
  rps=(); p50=(); p99=(); cpu=(); werr=0
  for ((k = 1; k <= REPS; k++)); do
    r="$(wrk_once "$w" "$DUR")"
    say "RESULT name=$NAME run=$k ${r:-workload=$w wrk_failed=1}"
    if [ -z "$r" ]; then werr=$((werr + 1)); continue; fi
    rps+=("$(field rps "$r")"); p50+=("$(field p50_ms "$r")"); p99+=("$(field p99_ms "$r")")
    cpu+=("$(field server_cpu_us "$r")")
    werr=$((werr + $(field non2xx "$r") + $(field socket_errors "$r") + $(field foreign "$r")))
  done
  M[$w.rps]="$(median "${rps[@]}")"; M[$w.p50]="$(median "${p50[@]}")"
  M[$w.p99]="$(median "${p99[@]}")"; M[$w.cpu]="$(median "${cpu[@]}")"
  ERRORS=$((ERRORS + werr))
  say "MEDIAN name=$NAME workload=$w rps=${M[$w.rps]} p50_ms=${M[$w.p50]} p99_ms=${M[$w.p99]} server_cpu_us=${M[$w.cpu]} errors=$werr"
done

lost=()
if has probe; then
  for ((k = 1; k <= PROBE_REPS; k++)); do
    if ! s="$("$PY" "$HERE/api.py" new "$BASE" 2>&1)"; then
      say "PROBE name=$NAME run=$k failed=setup: $(tr '\n' ' ' <<<"$s" | head -c 300)"
      ERRORS=$((ERRORS + 1)); continue
    fi
    cookie="${s%%$'\t'*}"; csrf="${s#*$'\t'}"
    o="$(timeout 120 wrk -t1 -c"$PROBE_CONNS" -d"$PROBE_SECONDS"s -s "$HERE/probe.lua" "$BASE" \
         -- "$cookie" "$csrf" "$PROBE_TOTAL" 2>&1)"
    echo "$o" >> "$OUT"
    p="$(grep -m1 '^PROBEWRK ' <<<"$o")"
    if [ -z "$p" ] || ! q="$("$PY" "$HERE/api.py" qty "$BASE" "$cookie" P 2>&1)"; then
      say "PROBE name=$NAME run=$k failed=wrk_or_read: $(tr '\n' ' ' <<<"$o$q" | head -c 300)"
      ERRORS=$((ERRORS + 1)); continue
    fi
    sent="$(field sent "$p")"; ok="$(field ok "$p")"; se="$(field socket_errors "$p")"
    l=$((PROBE_TOTAL - q)); lost+=("$l")
    say "PROBE name=$NAME run=$k sent=$sent ok=$ok cart_P=$q lost=$l socket_errors=$se"
    # every add must have been sent and answered 2xx; otherwise "lost" means nothing
    [ "$sent" = "$PROBE_TOTAL" ] && [ "$ok" = "$PROBE_TOTAL" ] && [ "$se" = 0 ] ||
      ERRORS=$((ERRORS + 1))
  done
fi
lj="$(IFS=,; echo "${lost[*]:--}")"
lmax="$(printf '%s\n' "${lost[@]}" | grep -E '^-?[0-9]+$' | sort -n | tail -1)"
say "SUMMARY name=$NAME baseline_rps=${M[baseline.rps]:--} baseline_p50_ms=${M[baseline.p50]:--} baseline_p99_ms=${M[baseline.p99]:--} cart_rps=${M[cart.rps]:--} cart_p50_ms=${M[cart.p50]:--} cart_p99_ms=${M[cart.p99]:--} read_rps=${M[read.rps]:--} read_p50_ms=${M[read.p50]:--} read_p99_ms=${M[read.p99]:--} baseline_cpu_us=${M[baseline.cpu]:--} cart_cpu_us=${M[cart.cpu]:--} read_cpu_us=${M[read.cpu]:--} lost=$lj lost_max=${lmax:--} errors=$ERRORS"
[ "$ERRORS" -eq 0 ] || exit 1
if [ "${FAIL_ON_LOST:-0}" = 1 ] && [ -n "$lmax" ] && [ "$lmax" -ne 0 ]; then exit 1; fi
exit 0
