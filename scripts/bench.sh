#!/usr/bin/env bash
# bench.sh — `make bench`: the micro-benchmark, then the HTTP benchmark of
# sessio-shop (memory, SQLite, Redis and PostgreSQL when built) side by side
# with nginx `return 200` (the HTTP ceiling) and the peers in ../shared/peers, all
# driven by bench/http/run.sh. Prints one table and writes it to a results file.
#
# Usage: scripts/bench.sh [BUILD_DIR]        (BUILD_DIR: a Release build, default build)
# Env:   DURATION (10s) WARMUP (3s) REPS (3) CONNS (32) THREADS (2) N (1000 sessions)
#        PROBE_REPS (3)  CHECK (1)          — passed to bench/http/run.sh
#        PEERS ("node-memory node-redis php-files php-redis python-sync python-gthread"
#               or a subset)  SKIP_PEERS=1  PEERS_DIR (../shared/peers)
#        STORES ("memory sqlite sqlite-full sqlite-excl redis redis-cluster postgres" or a
#               subset; sqlite-full is sqlite:?sync=full, a disk flush per commit;
#               sqlite-excl is sqlite:?locking=exclusive, one process only)  SHOP_ARGS
#        (extra shop flags; the shop's default --threads is 4 per CPU on the network
#        stores, see docs/SHOP.md)
#        PG_BIN (PostgreSQL server binaries; default the newest /usr/lib/postgresql/N/bin)
#        PG_SYNC_COMMIT (off: the postgres row's synchronous_commit, see below)
#        PG_TRANSPORT (unix: the shop reaches its PostgreSQL over the Unix-domain
#        socket, as a database on the same machine would be; tcp: over 127.0.0.1)
#        REDIS_TRANSPORT (unix: the redis row's shop reaches its redis-server over the
#        Unix-domain socket; tcp: over 127.0.0.1; the cluster row is always TCP)
#        REDIS_PARAMS (the redis row's URL options, e.g. pool=4; none by default)
#        PG_SHOP_THREADS (8: worker threads of the postgres row's shop, which wait
#        on the database for most of a request; the other rows use the default)
#        SKIP_MICRO=1  MICRO_ARGS (e.g. --quick)  RSS_SESSIONS (100000; 0 = skip)
#        RESULTS (file; default BUILD_DIR/bench-results/YYYY-MM-DDTHHMMZ.txt)
#        PLOTS (folder of the charts; default RESULTS without .txt, i.e. DATE/)
#        SKIP_SCALE=1 (no scaling runs: scripts/bench_scale.sh, its SCALE_* knobs;
#        ~6 min with DURATION=5s, ~9 min with the default 10s)
# The charts (rps.svg, latency.svg, and scale-*.svg of the scaling runs) are drawn
# from the results file by bench/plot/plot.sh, which re-draws them from any results
# file without a re-run.
#        SKIP_FAILOVER=1 (no failover run: scripts/bench_failover.sh, RUNS)
# Every server it starts listens on a free 127.0.0.1 port, and is stopped on exit
# (also on Ctrl-C or an error).
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${1:-build}"
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD";; esac
PY=/usr/bin/python3
RUN="$ROOT/bench/http/run.sh"
export DURATION="${DURATION:-10s}" WARMUP="${WARMUP:-3s}" REPS="${REPS:-3}"
export CONNS="${CONNS:-32}" THREADS="${THREADS:-2}" N="${N:-1000}"
export PROBE_REPS="${PROBE_REPS:-3}" CHECK="${CHECK:-1}"
ALL_PEERS="node-memory node-redis php-files php-redis python-sync python-gthread"
PEERS="${PEERS:-$ALL_PEERS}"
PEERS_DIR="${PEERS_DIR:-$ROOT/../shared/peers}"
STORES="${STORES:-memory sqlite sqlite-full sqlite-excl redis redis-cluster postgres}"
RSS_SESSIONS="${RSS_SESSIONS:-100000}"
STAMP="$(date -u +%Y-%m-%dT%H%MZ)"
RESULTS="${RESULTS:-$BUILD/bench-results/$STAMP.txt}"
mkdir -p "$(dirname "$RESULTS")" || exit 1
RAW="${RESULTS%.txt}.raw"
: > "$RAW"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/sessio-bench.XXXXXX")"

for tool in wrk curl nginx "$PY"; do
  command -v "$tool" >/dev/null || { echo "bench.sh: $tool missing (scripts/install-deps.sh bench)" >&2; exit 1; }
done

# ---- starting and stopping servers -------------------------------------------------
STOPS=()      # commands that stop what we started, run in reverse order on exit
cleanup() {
  local i
  for i in $(printf '%s\n' "${!STOPS[@]}" | sort -rn); do eval "${STOPS[i]}" >/dev/null 2>&1; done
  STOPS=()
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'echo "bench.sh: interrupted" >&2; exit 130' INT TERM

# shellcheck source=scripts/bench_lib.sh
. "$ROOT/scripts/bench_lib.sh"
track() { STOPS+=("stop_pid $1"); }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }

SHOP="$BUILD/apps/shop/sessio-shop"
SHOP_PID=""
start_shop() {  # start_shop PORT STORE_URL LOG [FLAGS...]
  local port=$1 url=$2 log=$3; shift 3
  # Every benchmark client comes from 127.0.0.1 and stands for many users:
  # the per-client new-session limit (an attack defence, S29) would answer
  # 429 after the first 1,000 sessions, so it is off here, as on a site
  # behind a proxy whose clients are told apart by --trust-proxy.
  # shellcheck disable=SC2086  # SHOP_ARGS is a list of flags
  "$SHOP" --listen "127.0.0.1:$port" --store "$url" --log-level warn \
    --new-sessions-limit 0 "$@" ${SHOP_ARGS:-} \
    >"$log" 2>&1 </dev/null &
  SHOP_PID=$!
  track "$SHOP_PID"
  wait_up "http://127.0.0.1:$port/healthz" "$SHOP_PID"
}


# A 3 masters + 3 replicas Redis Cluster for the redis-cluster row, started by the
# tests' launcher (tests/redis/with_redis.c: from the build when it has the tests,
# else compiled here, since `make build` leaves the tests out): it runs a shell
# that writes the cluster's URL and waits for a stop file; the six servers are its
# children (so the row's server CPU counts them) and it removes them when it ends.
CLUSTER_PID=""; CLUSTER_URL=""
start_cluster() {  # start_cluster DIR
  local wr="$BUILD/tests/conformance/with_redis" i
  if [ ! -x "$wr" ]; then
    wr="$WORK/with_redis"
    # shellcheck disable=SC2046  # pkg-config prints a list of flags
    "${CC:-cc}" -std=c11 -O2 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I"$ROOT/tests" \
      "$ROOT/tests/redis/with_redis.c" $(pkg-config --cflags --libs hiredis) -o "$wr" \
      >"$1/build.log" 2>&1 || return 1
  fi
  "$wr" --cluster /bin/sh -c 'echo "$1" >"$2.tmp" && mv "$2.tmp" "$2"; while [ ! -e "$3" ]; do sleep 0.2; done'     sh "{redis}" "$1/url" "$1/stop" >"$1/cluster.log" 2>&1 </dev/null &
  CLUSTER_PID=$!
  STOPS+=("touch '$1/stop'; wait $CLUSTER_PID")
  for ((i = 0; i < 600; i++)); do
    [ -s "$1/url" ] && { CLUSTER_URL="$(cat "$1/url")"; return 0; }
    kill -0 "$CLUSTER_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# A private PostgreSQL for the postgres row: initdb in DIR, then the server on
# 127.0.0.1:PORT and on a Unix-domain socket in DIR, as nobody when we are root
# (PostgreSQL refuses root; setpriv execs, so PG_PID is the postmaster itself).
# PG_URL is the shop's store URL: over the socket (PG_TRANSPORT=unix, the default:
# a database on the same machine; no TCP stack in the two round trips of a cart add)
# or over TCP (PG_TRANSPORT=tcp). As the redis row runs Redis without persistence,
# this one runs with synchronous_commit=off (PG_SYNC_COMMIT): a commit returns before
# its WAL is flushed (at most ~0.6 s of acknowledged commits lost in a crash of the
# server or the machine; fsync stays on and the database stays consistent);
# PG_SYNC_COMMIT=on measures the durable setting.
PG_BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}"
PG_PID=""; PG_URL=""; PG_VIA=""
start_postgres() {  # start_postgres PORT DIR
  local as=() sockdir="$2"
  if [ "$(id -u)" -eq 0 ]; then
    chmod o+x "$WORK"; chown nobody "$2"
    as=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
  fi
  [ -x "$PG_BIN/initdb" ] || return 1
  # a socket path longer than sun_path (108 bytes) cannot be bound: TCP then
  if [ "${PG_TRANSPORT:-unix}" != unix ] || [ $(( ${#sockdir} + 20 )) -gt 107 ]; then sockdir=""; fi
  "${as[@]}" "$PG_BIN/initdb" -D "$2/pg" -U sessio -A trust -E UTF8 --locale=C --no-sync \
    >"$2/initdb.log" 2>&1 || return 1
  "${as[@]}" "$PG_BIN/postgres" -D "$2/pg" -p "$1" -c listen_addresses=127.0.0.1 \
    -c unix_socket_directories="$sockdir" -c synchronous_commit="${PG_SYNC_COMMIT:-off}" \
    >"$2/postgres.log" 2>&1 </dev/null &
  PG_PID=$!
  STOPS+=("stop_pid $PG_PID")
  # the host part of a postgres:// URL may be a socket directory, percent-encoded
  if [ -n "$sockdir" ]; then
    PG_URL="postgres://sessio@${sockdir//\//%2F}:$1/postgres"; PG_VIA=unix
  else
    PG_URL="postgres://sessio@127.0.0.1:$1/postgres"; PG_VIA=tcp
  fi
  local i
  for ((i = 0; i < 100; i++)); do
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$1" && return 0
    kill -0 "$PG_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

NGINX_PID=""
start_own_nginx() {  # start_own_nginx PORT: nginx alone, `return 200` on /healthz
  local d="$WORK/nginx"
  mkdir -p "$d"
  cat >"$d/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes ${NGINX_WORKERS:-2};
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  client_body_temp_path $d/body; proxy_temp_path $d/proxy;
  fastcgi_temp_path $d/fastcgi; uwsgi_temp_path $d/uwsgi; scgi_temp_path $d/scgi;
  server {
    listen 127.0.0.1:$1 backlog=4096;
    default_type text/plain;
    location = /healthz { return 200 'ok'; }
    location / { return 404; }
  }
}
EOF
  nginx -e "$d/error.log" -p "$d" -c "$d/nginx.conf" >"$d/out.log" 2>&1 </dev/null &
  NGINX_PID=$!
  STOPS+=("stop_pid $NGINX_PID")
  wait_up "http://127.0.0.1:$1/healthz" "$NGINX_PID"
}

# ---- header -------------------------------------------------------------------------
cpu="$(sed -nE 's/^model name\s*:\s*//p' /proc/cpuinfo | head -1)"
mem="$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
rev="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
{
  echo "sessio benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $rev, $(hostname)"
  echo "machine: $(nproc) CPUs ($cpu), $mem RAM, $(uname -sr); wrk and the servers share the CPUs"
  echo "command: make bench   (scripts/bench.sh $BUILD)"
  echo "knobs: DURATION=$DURATION WARMUP=$WARMUP REPS=$REPS CONNS=$CONNS THREADS=$THREADS N=$N PROBE_REPS=$PROBE_REPS CHECK=$CHECK"
  echo "tools: $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}'), $(nginx -v 2>&1 | sed 's#.*: ##'), $(redis-server --version 2>/dev/null | sed -E 's/.* v=([^ ]*).*/redis \1/'), $("$PG_BIN/postgres" --version 2>/dev/null | sed "s/.*) /postgres /")"
  echo
} | tee "$RESULTS"

# ---- 1. micro-benchmark -------------------------------------------------------------
MICRO_FAILED=""
if [ "${SKIP_MICRO:-0}" != 1 ]; then
  echo "## micro (bench/micro.c: $BUILD/bench/sessio_micro ${MICRO_ARGS:-})" | tee -a "$RESULTS"
  if cmake --build "$BUILD" --target sessio_bench_all -j "$(nproc)" >"$WORK/build.log" 2>&1; then
    # shellcheck disable=SC2086
    "$BUILD/bench/sessio_micro" ${MICRO_ARGS:-} 2>&1 | tee -a "$RESULTS"
    [ "${PIPESTATUS[0]}" = 0 ] || MICRO_FAILED="micro: a check failed (see 'micro:' lines above)"
    for b in sessio_store_bench sessio_redis_bench; do
      [ -x "$BUILD/bench/$b" ] || continue
      echo "## $b" | tee -a "$RESULTS"
      if [ "$b" = sessio_redis_bench ]; then
        rp="$(free_port)"; mkdir -p "$WORK/redis-micro"
        if start_redis "$rp" "$WORK/redis-micro"; then
          SESSIO_BENCH_REDIS_URL="redis://127.0.0.1:$rp" "$BUILD/bench/$b" \
            "redis://127.0.0.1:$rp" 2>&1 | tee -a "$RESULTS"
          stop_pid "$REDIS_PID"; unset 'STOPS[-1]'
        fi
      else
        "$BUILD/bench/$b" 2>&1 | tee -a "$RESULTS"
      fi
    done
  else
    echo "micro: could not build the benchmarks (see below)" | tee -a "$RESULTS"
    tail -15 "$WORK/build.log" | tee -a "$RESULTS"
  fi
  echo | tee -a "$RESULTS"
fi

# ---- 2. HTTP ------------------------------------------------------------------------
ORDER=()        # row names, in run order
declare -A KIND # row name -> "ceiling" | "sessio" | "peer"
peer_pids() {  # peer_pids NAME PORT: the PIDs in a peer's pid files (see peers/lib)
  cat "${PEERS_WORK:-/tmp/sessio-peers}/run/$1-$2/"*.pid 2>/dev/null | tr '\n' ' '
}
bench_one() {   # bench_one NAME KIND PORT PIDS [WORKLOADS]: run.sh against a running server
  local name="$1" kind="$2" port="$3"
  ORDER+=("$name"); KIND[$name]="$kind"
  echo "## $name on 127.0.0.1:$port" | tee -a "$RESULTS"
  SERVER_PIDS="$4" WORKLOADS="${5:-baseline cart read probe}" OUT="$RAW" \
    "$RUN" "http://127.0.0.1:$port" "$name" | grep -E '^(SETUP|MEDIAN|PROBE|SUMMARY)' |
    tee -a "$RESULTS"
}
failed_row() {  # failed_row NAME KIND WHY
  ORDER+=("$1"); KIND[$1]="$2"
  local why="${3//[[:space:]]/_}"
  echo "SUMMARY name=$1 failed=${why:0:120}" | tee -a "$RESULTS"
}

# The ceiling: nginx `return 200`, from the peers folder when there, else our own.
# It stays up while sessio-shop is measured and is measured again after each store,
# so the ceiling is sampled across the same minutes as the sessio rows (the machine's
# load moves; a ratio of figures taken at different times would say little).
NGINX_PORT="$(free_port)"; NGINX_STOP=""
if [ -x "$PEERS_DIR/nginx-baseline/start.sh" ]; then
  if "$PEERS_DIR/nginx-baseline/start.sh" "$NGINX_PORT" >>"$RAW" 2>&1; then
    NGINX_STOP="'$PEERS_DIR/nginx-baseline/stop.sh' $NGINX_PORT >>'$RAW' 2>&1"
    NGINX_PIDS="$(peer_pids nginx-baseline "$NGINX_PORT")"
  fi
elif start_own_nginx "$NGINX_PORT"; then
  NGINX_STOP="stop_pid $NGINX_PID"; unset 'STOPS[-1]'; NGINX_PIDS="$NGINX_PID"
fi
if [ -n "$NGINX_STOP" ]; then
  STOPS+=("$NGINX_STOP"); keys=("${!STOPS[@]}"); NGINX_IDX="${keys[-1]}"
  bench_one nginx ceiling "$NGINX_PORT" "$NGINX_PIDS" baseline
else
  failed_row nginx ceiling start
fi
ceiling_again() {  # one more sample of the ceiling, no warm-up
  [ -n "$NGINX_STOP" ] || return 0
  echo "## nginx again on 127.0.0.1:$NGINX_PORT" | tee -a "$RESULTS"
  SERVER_PIDS="$NGINX_PIDS" WORKLOADS=baseline WARMUP=0 OUT="$RAW" \
    "$RUN" "http://127.0.0.1:$NGINX_PORT" nginx |
    grep -E '^MEDIAN' | tee -a "$RESULTS"
}

# sessio-shop on each store.
if [ ! -x "$SHOP" ]; then
  cmake --build "$BUILD" -j "$(nproc)" >"$WORK/build-shop.log" 2>&1
fi
SHOP_RSS_LINE=""
for store in $STORES; do
  name="sessio-$store"
  if [ ! -x "$SHOP" ]; then failed_row "$name" sessio "no_sessio-shop_binary_in_$BUILD"; continue; fi
  p="$(free_port)"; d="$WORK/$store"; mkdir -p "$d"
  case "$store" in
    memory) url="memory:" ;;
    sqlite) url="sqlite:$d/s.db" ;;
    sqlite-full) url="sqlite:$d/s.db?sync=full" ;;
    sqlite-excl) url="sqlite:$d/s.db?locking=exclusive" ;;
    redis)
      if ! ls "$ROOT"/src/store/redis*.c >/dev/null 2>&1; then
        echo "## $name: skipped (no Redis store in src/store yet)" | tee -a "$RESULTS"; continue
      fi
      rp="$(free_port)"
      if ! start_redis "$rp" "$d"; then failed_row "$name" sessio redis-start; continue; fi
      url="$REDIS_URL${REDIS_PARAMS:+?$REDIS_PARAMS}"
      echo "## $name: store $url (REDIS_TRANSPORT=${REDIS_TRANSPORT:-unix})" | tee -a "$RESULTS" ;;
    redis-cluster)
      if ! start_cluster "$d"; then failed_row "$name" sessio cluster-start; continue; fi
      url="$CLUSTER_URL" ;;
    postgres)
      if ! ls "$ROOT"/src/store/postgres.c >/dev/null 2>&1; then
        echo "## $name: skipped (no PostgreSQL store in src/store)" | tee -a "$RESULTS"; continue
      fi
      pp="$(free_port)"
      if ! start_postgres "$pp" "$d"; then failed_row "$name" sessio postgres-start; continue; fi
      url="$PG_URL"
      echo "## $name: store $url (synchronous_commit=${PG_SYNC_COMMIT:-off}, shop --threads ${PG_SHOP_THREADS:-8})" | tee -a "$RESULTS" ;;
    *) echo "bench.sh: unknown store $store" >&2; continue ;;
  esac
  flags=()
  [ "$store" = postgres ] && flags=(--threads "${PG_SHOP_THREADS:-8}")
  if ! start_shop "$p" "$url" "$d/shop.log" "${flags[@]}"; then
    failed_row "$name" sessio "start (--store $url): $(tail -3 "$d/shop.log" | tr '\n' ' ')"
    stop_pid "$SHOP_PID"; unset 'STOPS[-1]'
    [ "$store" = redis ] && { stop_pid "$REDIS_PID"; unset 'STOPS[-1]'; }
    [ "$store" = redis-cluster ] && { eval "${STOPS[-1]}"; unset 'STOPS[-1]'; }
    [ "$store" = postgres ] && { stop_pid "$PG_PID"; unset 'STOPS[-1]'; }
    continue
  fi
  # the server's CPU includes its private redis-server (as for the *-redis peers) or
  # PostgreSQL (the postmaster and, as its children, the backends)
  db_pids=""
  [ "$store" = redis ] && db_pids="$REDIS_PID"
  [ "$store" = redis-cluster ] && db_pids="$CLUSTER_PID"
  [ "$store" = postgres ] && db_pids="$PG_PID"
  bench_one "$name" sessio "$p" "$SHOP_PID $db_pids"
  if [ "$store" = memory ] && [ "$RSS_SESSIONS" -gt 0 ]; then
    # Memory target: RSS of the shop holding RSS_SESSIONS more live sessions.
    r0="$(rss_kib "$SHOP_PID")"
    if "$PY" "$ROOT/bench/http/api.py" sessions "http://127.0.0.1:$p" "$RSS_SESSIONS" \
         "$d/rss-sessions.tsv" >/dev/null 2>>"$RAW"; then
      r1="$(rss_kib "$SHOP_PID")"
      SHOP_RSS_LINE="RSS of sessio-shop (memory store): $((r0 / 1024)) MiB after the workloads, $((r1 / 1024)) MiB with $RSS_SESSIONS more sessions (~$(( (r1 - r0) * 1024 / RSS_SESSIONS )) B/session)"
    else
      SHOP_RSS_LINE="RSS of sessio-shop: could not create $RSS_SESSIONS sessions"
    fi
    echo "$SHOP_RSS_LINE" | tee -a "$RESULTS"
  fi
  stop_pid "$SHOP_PID"; unset 'STOPS[-1]'
  [ "$store" = redis ] && { stop_pid "$REDIS_PID"; unset 'STOPS[-1]'; }
  [ "$store" = redis-cluster ] && { eval "${STOPS[-1]}"; unset 'STOPS[-1]'; }
  [ "$store" = postgres ] && { stop_pid "$PG_PID"; unset 'STOPS[-1]'; }
  ceiling_again
done
if [ -n "$NGINX_STOP" ]; then
  eval "$NGINX_STOP"; unset "STOPS[$NGINX_IDX]"
  # the ceiling row: medians over every timed nginx run
  runs="$(grep -h '^RESULT name=nginx run=[0-9]' "$RAW")"
  med() { sed -nE "s/.* $1=([^ ]*).*/\1/p" <<<"$runs" | sort -g |
          awk '{v[NR] = $1} END {if (NR == 0) {print "-"; exit}
               print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
  errs="$(awk '{for (i = 1; i <= NF; i++) if ($i ~ /^(non2xx|socket_errors)=/) {split($i, a, "="); e += a[2]}} END {print e + 0}' <<<"$runs")"
  echo "SUMMARY name=nginx baseline_rps=$(med rps) baseline_p50_ms=$(med p50_ms) baseline_p99_ms=$(med p99_ms) baseline_cpu_us=$(med server_cpu_us) runs=$(grep -c . <<<"$runs") errors=$errs" |
    tee -a "$RESULTS"
fi

# The peers.
if [ "${SKIP_PEERS:-0}" != 1 ] && [ -d "$PEERS_DIR" ]; then
  if "$PEERS_DIR/install.sh" >>"$RAW" 2>&1; then
    for peer in $PEERS; do
      [ -x "$PEERS_DIR/$peer/start.sh" ] || { failed_row "$peer" peer "no such peer"; continue; }
      p="$(free_port 10000)"  # the peers' redis listens on P + 10000
      if ! "$PEERS_DIR/$peer/start.sh" "$p" >>"$RAW" 2>&1; then
        "$PEERS_DIR/$peer/stop.sh" "$p" >>"$RAW" 2>&1; failed_row "$peer" peer start; continue
      fi
      STOPS+=("'$PEERS_DIR/$peer/stop.sh' $p")
      bench_one "$peer" peer "$p" "$(peer_pids "$peer" "$p")"
      "$PEERS_DIR/$peer/stop.sh" "$p" >>"$RAW" 2>&1; unset 'STOPS[-1]'
    done
  else
    echo "## peers skipped: $PEERS_DIR/install.sh failed (needs root; see $RAW)" | tee -a "$RESULTS"
  fi
fi

# ---- 3. the table ---------------------------------------------------------------------
declare -A S
for name in "${ORDER[@]}"; do
  S[$name]="$(grep -h "^SUMMARY name=$name " "$RESULTS" | tail -1)"
done
field() { sed -nE "s/.* $1=([^ ]*).*/\1/p" <<<" $2"; }
num() { [[ "$1" =~ ^[0-9.]+$ ]] && printf "%.${2:-0}f" "$1" || echo "–"; }
ratio() { [[ "$1" =~ ^[0-9.]+$ && "$2" =~ ^[0-9.]+$ ]] && awk -v a="$1" -v b="$2" \
  'BEGIN { if (b > 0) printf "%.2f", a / b; else print "–" }' || echo "–"; }
ceil="$(field baseline_rps "${S[nginx]:-}")"
ref="$(field cart_rps "${S[sessio-memory]:-}")"
fastest_peer=""; fastest_rps=0
for name in "${ORDER[@]}"; do
  [ "${KIND[$name]}" = peer ] || continue
  c="$(field cart_rps "${S[$name]}")"
  [[ "$c" =~ ^[0-9.]+$ ]] && awk -v a="$c" -v b="$fastest_rps" 'BEGIN {exit !(a > b)}' &&
    { fastest_rps="$c"; fastest_peer="$name"; }
done
{
  echo
  echo "## Table (medians of $REPS runs of $DURATION, wrk -t$THREADS -c$CONNS; ceiling = nginx \`return 200\`)"
  echo
  echo "| server | healthz rps | cart rps | cart p50 / p99 ms | read rps | read p50 / p99 ms | lost per probe | cart / ceiling | cart / sessio-memory | read / ceiling | server CPU us/req healthz / cart / read | errors |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  for name in "${ORDER[@]}"; do
    s="${S[$name]}"
    if [ -z "$s" ] || [[ "$s" == *failed=* ]]; then
      echo "| $name | failed: $(field failed "$s") | | | | | | | | | | |"; continue
    fi
    if [ "${KIND[$name]}" = ceiling ]; then
      echo "| $name \`return 200\` (ceiling, median of $(field runs "$s") runs) | $(num "$(field baseline_rps "$s")") (p50 / p99 $(num "$(field baseline_p50_ms "$s")" 2) / $(num "$(field baseline_p99_ms "$s")" 2) ms) | – | – | – | – | – | – | – | – | $(num "$(field baseline_cpu_us "$s")" 1) / – / – | $(field errors "$s") |"
      continue
    fi
    c="$(field cart_rps "$s")"; r="$(field read_rps "$s")"
    lost="$(field lost "$s" | sed 's/,/, /g')"
    echo "| $name | $(num "$(field baseline_rps "$s")") | $(num "$c") | $(num "$(field cart_p50_ms "$s")" 2) / $(num "$(field cart_p99_ms "$s")" 2) | $(num "$r") | $(num "$(field read_p50_ms "$s")" 2) / $(num "$(field read_p99_ms "$s")" 2) | $lost of ${PROBE_TOTAL:-200} | $(ratio "$c" "$ceil") | $(ratio "$c" "$ref") | $(ratio "$r" "$ceil") | $(num "$(field baseline_cpu_us "$s")" 1) / $(num "$(field cart_cpu_us "$s")" 1) / $(num "$(field read_cpu_us "$s")" 1) | $(field errors "$s") |"
  done
  echo
  [ -n "$SHOP_RSS_LINE" ] && echo "$SHOP_RSS_LINE"
  [ -n "$MICRO_FAILED" ] && echo "$MICRO_FAILED"
  if [ -n "$fastest_peer" ] && [[ "$ref" =~ ^[0-9.]+$ ]]; then
    echo "fastest peer on cart: $fastest_peer ($(num "$fastest_rps") rps); sessio-memory / fastest peer = $(ratio "$ref" "$fastest_rps")x"
    sq="$(field cart_rps "${S[sessio-sqlite]:-}")"
    [[ "$sq" =~ ^[0-9.]+$ ]] && echo "sessio-sqlite / fastest peer = $(ratio "$sq" "$fastest_rps")x"
  fi
  pg="$(field cart_rps "${S[sessio-postgres]:-}")"
  if [ -n "$fastest_peer" ] && [[ "$pg" =~ ^[0-9.]+$ ]]; then
    # the same ratio by server CPU per cart request (the peer's over ours): the
    # figure that does not move with the machine's other load
    pgc="$(field cart_cpu_us "${S[sessio-postgres]:-}")"; fpc="$(field cart_cpu_us "${S[$fastest_peer]:-}")"
    echo "sessio-postgres / fastest peer ($fastest_peer) = $(ratio "$pg" "$fastest_rps")x (target 2x; by server CPU per cart request: $fpc / $pgc us = $(ratio "$fpc" "$pgc")x; store over $PG_VIA, synchronous_commit=${PG_SYNC_COMMIT:-off})"
  fi
  cc="$(field baseline_cpu_us "${S[nginx]:-}")"
  mc="$(field cart_cpu_us "${S[sessio-memory]:-}")"; mr="$(field read_cpu_us "${S[sessio-memory]:-}")"
  [[ "$cc" =~ ^[0-9.]+$ && "$mc" =~ ^[0-9.]+$ ]] &&
    echo "by server CPU per request (independent of the machine's other load): ceiling $cc us; sessio-memory cart $mc us, read $mr us: cart at $(ratio "$cc" "$mc") and read at $(ratio "$cc" "$mr") of the ceiling"
  # The stores against the memory store in this run (targets: docs/PERFORMANCE.md).
  for st in sqlite sqlite-full sqlite-excl redis redis-cluster postgres; do
    c="$(field cart_rps "${S[sessio-$st]:-}")"
    [[ "$c" =~ ^[0-9.]+$ && "$ref" =~ ^[0-9.]+$ ]] &&
      echo "sessio-$st cart / sessio-memory cart = $(ratio "$c" "$ref")$(case $st in sqlite) echo " (target >= 0.6)";; sqlite-full) echo " (sqlite:?sync=full)";; sqlite-excl) echo " (sqlite:?locking=exclusive, one process)";; esac) (server CPU per cart request $(num "$(field cart_cpu_us "${S[sessio-$st]}")" 1) us, sessio-memory $(num "$mc" 1) us)"
  done
  sh="$(field baseline_rps "${S[sessio-memory]:-}")"
  [[ "$ref" =~ ^[0-9.]+$ && "$sh" =~ ^[0-9.]+$ ]] &&
    echo "sessio-memory cart / its own healthz = $(ratio "$ref" "$sh")"
  echo
  echo "results: $RESULTS (raw wrk output: $RAW)"
} | tee -a "$RESULTS"

# The scaling runs: cart adds against live sessions, session size and shop
# processes, GC against expiry, RSS (SCALE lines; scripts/bench_scale.sh).
SCALE_FAILED=0
if [ "${SKIP_SCALE:-0}" != 1 ]; then
  "$ROOT/scripts/bench_scale.sh" "$BUILD" "$RESULTS" || SCALE_FAILED=1
fi

# The charts, from the results file just written (gnuplot: install-deps.sh bench).
PLOTS="${PLOTS:-${RESULTS%.txt}}"
"$ROOT/bench/plot/plot.sh" "$RESULTS" "$PLOTS" || echo "bench.sh: no charts (see above)" >&2
# The failover isolation run (a 3+3 cluster, a master killed under traffic):
# its figures go into docs/DEPLOYMENT.md. SKIP_FAILOVER=1 leaves it out.
if [ "${SKIP_FAILOVER:-0}" != 1 ] && command -v redis-server >/dev/null; then
  "$ROOT/scripts/bench_failover.sh" "$BUILD" || echo "## failover run failed" | tee -a "$RESULTS"
fi

# A failed server or workload (errors > 0), or a lost update on a sessio store, fails
# the run; the peers' lost updates are what is being measured, not a failure.
status=$SCALE_FAILED
for name in "${ORDER[@]}"; do
  s="${S[$name]}"
  [ "${KIND[$name]}" = peer ] && continue
  if [ -z "$s" ] || [[ "$s" == *failed=* ]] || [ "$(field errors "$s")" != 0 ]; then status=1; fi
  if [ "${KIND[$name]}" = sessio ] && [ "$(field lost_max "$s")" != 0 ]; then status=1; fi
done
exit "$status"
