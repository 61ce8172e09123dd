#!/usr/bin/env bash
# pg_cost.sh — what one request of sessio-shop on the postgres:// store costs, split
# between the shop and PostgreSQL: CPU time (task-clock) and context switches per
# request, from `perf stat` software events (they work in VMs without hardware
# counters), plus statements (transactions) per request from pg_stat_database.
# Wall-clock req/s is printed too, but on a shared machine only the per-request
# figures mean something.
#
# Usage: bench/http/pg_cost.sh PATH/TO/sessio-shop [unix|tcp] [cart|read]
# Env:   THREADS (8: the shop's --threads) DURATION (5, seconds) N (1000 sessions)
#        PG_BIN (default the newest /usr/lib/postgresql/N/bin) PG_SYNC_COMMIT (off)
# A private PostgreSQL (initdb in a temporary directory, as nobody when root) listens
# on a free 127.0.0.1 port and on a Unix-domain socket in that directory; the shop
# reaches it over the one named (unix: postgres://sessio@%2Ftmp%2F...:PORT/postgres).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
SHOP="${1:?usage: $0 PATH/TO/sessio-shop [unix|tcp] [cart|read]}"
MODE="${2:-unix}"; W="${3:-cart}"
TH="${THREADS:-8}"; DUR="${DURATION:-5}"; NS="${N:-1000}"
PG_BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}"
PY=/usr/bin/python3
for t in perf wrk "$PG_BIN/initdb"; do
  command -v "$t" >/dev/null || { echo "pg_cost.sh: $t not found" >&2; exit 2; }
done
D="$(mktemp -d /tmp/sessio-pgcost.XXXXXX)"
PGPID=""; SHOPPID=""
cleanup() {
  [ -n "$SHOPPID" ] && kill "$SHOPPID" 2>/dev/null
  [ -n "$PGPID" ] && kill -INT "$PGPID" 2>/dev/null
  wait 2>/dev/null; rm -rf "$D"
}
trap cleanup EXIT
free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
as=()
if [ "$(id -u)" -eq 0 ]; then
  chmod 755 "$D"; chown nobody "$D"; as=(setpriv --reuid=nobody --regid=nogroup --clear-groups --)
fi
PP="$(free_port)"; SP="$(free_port)"
"${as[@]}" "$PG_BIN/initdb" -D "$D/pg" -U sessio -A trust -E UTF8 --locale=C --no-sync \
  >"$D/initdb.log" 2>&1 || { echo "pg_cost.sh: initdb failed" >&2; exit 1; }
"${as[@]}" "$PG_BIN/postgres" -D "$D/pg" -p "$PP" -c listen_addresses=127.0.0.1 \
  -c unix_socket_directories="$D" -c synchronous_commit="${PG_SYNC_COMMIT:-off}" \
  >"$D/postgres.log" 2>&1 </dev/null &
PGPID=$!
for ((i = 0; i < 100; i++)); do "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PP" && break; sleep 0.1; done
case "$MODE" in
  unix) URL="postgres://sessio@${D//\//%2F}:$PP/postgres" ;;
  tcp) URL="postgres://sessio@127.0.0.1:$PP/postgres" ;;
  *) echo "pg_cost.sh: transport is unix or tcp" >&2; exit 2 ;;
esac
"$SHOP" --store "$URL" --listen "127.0.0.1:$SP" --threads "$TH" --log-level warn \
  --new-sessions-limit 0 >"$D/shop.log" 2>&1 </dev/null &
SHOPPID=$!
for ((i = 0; i < 100; i++)); do curl -sf "http://127.0.0.1:$SP/healthz" >/dev/null && break; sleep 0.1; done
"$PY" "$HERE/api.py" sessions "http://127.0.0.1:$SP" "$NS" "$D/s.tsv" >/dev/null ||
  { echo "pg_cost.sh: could not make sessions" >&2; exit 1; }
load() { wrk -t2 -c32 -d"$1"s -s "$HERE/sessions.lua" "http://127.0.0.1:$SP" -- "$W" "$D/s.tsv" 2 1; }
load 2 >/dev/null  # warm-up: every pooled connection open, plans cached
xacts() { "$PG_BIN/psql" -X -At -h "$D" -p "$PP" -U sessio postgres \
  -c "select xact_commit from pg_stat_database where datname = 'postgres'"; }
x0="$(xacts)"
pgkids="$(pgrep -P "$PGPID" | paste -sd,)"
perf stat -x, -e task-clock,context-switches -p "$SHOPPID" -o "$D/shop.stat" -- sleep $((DUR + 1)) &
P1=$!
perf stat -x, -e task-clock,context-switches -p "$PGPID,$pgkids" -o "$D/pg.stat" -- sleep $((DUR + 1)) &
P2=$!
sleep 0.3
o="$(load "$DUR")"
wait $P1 $P2
x1="$(xacts)"
n="$(awk '/requests in/ {print $1}' <<<"$o")"
[ -n "$n" ] && [ "$n" -gt 0 ] || { echo "pg_cost.sh: no requests: $o" >&2; exit 1; }
# perf counted ~1 s more than wrk ran (idle then): the per-request figures are a
# little high, equally for every variant compared.
per() { awk -F, -v n="$n" '$3 ~ /task-clock/ {c = $1} $3 ~ /context-switches/ {s = $1}
  END {printf "cpu_us=%.1f cs=%.2f", c * 1000 / n, s / n}' "$1"; }
echo "PGCOST transport=$MODE workload=$W threads=$TH requests=$n rps=$(awk '/Requests\/sec/ {print $2}' <<<"$o") shop[$(per "$D/shop.stat")] postgres[$(per "$D/pg.stat")] xacts_per_req=$(awk -v a="$x0" -v b="$x1" -v n="$n" 'BEGIN {printf "%.2f", (b - a) / n}') errors=$(grep -cE 'Non-2xx|Socket errors' <<<"$o")"
