#!/usr/bin/env bash
# plot.sh — draws the charts of one `make bench` run from its results file
# (scripts/bench.sh writes it; the file stays the source: re-drawing needs no
# re-run). It reads the SUMMARY lines only (bench/http/run.sh documents their
# fields); for a server measured more than once the last line counts, as in the
# table bench.sh prints, and a row that failed is left out. The ceiling is
# nginx `return 200`: its last SUMMARY line's baseline_rps.
#
# Writes into OUTDIR:
#   rps.svg      req/s per server: healthz, cart and read, with the ceiling as a line
#   latency.svg  p50 and p99 of cart and read per server (ms, log scale)
# and, from the SCALE lines of the scaling runs (scripts/bench_scale.sh documents
# them; for a point measured more than once the last line counts), one chart per
# curve that has points:
#   scale-sessions.svg  cart req/s and p99 against the live sessions, per store
#   scale-size.svg      cart req/s and CPU per request against the session's size
#                       (the HTTP curve per store, and the core's one-key change)
#   scale-procs.svg     total cart req/s and CPU per request against shop processes
# A file with SCALE lines and no SUMMARY line (a scaling run alone) gets those only.
#
# Usage: bench/plot/plot.sh RESULTS_FILE OUTDIR      (needs gnuplot: gnuplot-nox)
set -euo pipefail
results="${1:?usage: $0 RESULTS_FILE OUTDIR}"
out="${2:?usage: $0 RESULTS_FILE OUTDIR}"
command -v gnuplot >/dev/null || { echo "plot.sh: gnuplot missing (scripts/install-deps.sh bench)" >&2; exit 1; }
[ -r "$results" ] || { echo "plot.sh: cannot read $results" >&2; exit 1; }
mkdir -p "$out"
work="$(mktemp -d "${TMPDIR:-/tmp}/sessio-plot.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# One line per server, in the order first seen: name and the fields gnuplot
# needs, "-" where a figure is missing. The ceiling goes to its own file.
awk -v dat="$work/servers.dat" -v ceil="$work/ceiling" '
  /^SUMMARY name=/ {
    delete f
    for (i = 2; i <= NF; i++) { k = $i; sub(/=.*/, "", k); v = $i; sub(/^[^=]*=/, "", v); f[k] = v }
    n = f["name"]
    if (!(n in seen)) { seen[n] = 1; order[++count] = n }
    if ("failed" in f) { failed[n] = 1; next }
    delete failed[n]
    row[n] = sprintf("%s %s %s %s %s %s %s %s", val(f["baseline_rps"]), val(f["cart_rps"]),
                     val(f["read_rps"]), val(f["cart_p50_ms"]), val(f["cart_p99_ms"]),
                     val(f["read_p50_ms"]), val(f["read_p99_ms"]), val(f["baseline_p99_ms"]))
    if (n == "nginx") ceiling = f["baseline_rps"]
  }
  function val(x) { return (x ~ /^[0-9.]+$/) ? x : "-" }
  /^sessio benchmark, / { title = $0 }
  END {
    for (i = 1; i <= count; i++) {
      n = order[i]
      if (n in failed || n == "nginx" || !(n in row)) continue
      printf "\"%s\" %s\n", n, row[n] > dat
    }
    printf "%s\n%s\n", ceiling, title > ceil
  }' "$results"
# The SCALE lines: one file per curve and store, "x rps p50 p99 cpu" sorted by x
# (micro-size: "x - - - cpu_ns"), and the list of curve/store pairs seen.
awk -v dir="$work" '
  /^SCALE curve=/ {
    delete f
    for (i = 2; i <= NF; i++) { k = $i; sub(/=.*/, "", k); v = $i; sub(/^[^=]*=/, "", v); f[k] = v }
    if ("failed" in f || !(f["x"] ~ /^[0-9.]+$/)) next
    id = f["curve"] "-" f["store"]
    if (!(id in seen)) { seen[id] = 1; ids[++n] = id }
    pt[id, f["x"]] = sprintf("%s %s %s %s %s", f["x"], val(f["rps"]), val(f["p50_ms"]),
                             val(f["p99_ms"]), val(f["curve"] == "micro-size" ? f["cpu_ns"] : f["cpu_us"]))
    xs[id, f["x"]] = 1
  }
  function val(x) { return (x ~ /^[0-9.]+$/) ? x : "-" }
  END {
    for (i = 1; i <= n; i++) {
      print ids[i] > (dir "/scale.ids")
      for (k in pt) { split(k, a, SUBSEP); if (a[1] == ids[i]) print pt[k] | ("sort -g > " dir "/scale-" ids[i] ".dat") }
      close("sort -g > " dir "/scale-" ids[i] ".dat")
    }
  }' "$results"
if [ ! -s "$work/servers.dat" ] && [ ! -s "$work/scale.ids" ]; then
  echo "plot.sh: no SUMMARY or SCALE line in $results" >&2; exit 1
fi
ceiling="$(sed -n 1p "$work/ceiling")"
title="$(sed -n 2p "$work/ceiling" | sed 's/^sessio benchmark, //; s/"//g')"
drawn=""
if [ -s "$work/servers.dat" ]; then
n="$(wc -l < "$work/servers.dat")"
width=$((200 + 100 * n)); [ "$width" -lt 720 ] && width=720

ceiling_plot=""
if [[ "$ceiling" =~ ^[0-9.]+$ ]]; then
  ceiling_plot=", $ceiling with lines dashtype 2 linewidth 2 linecolor rgb '#333333' title sprintf('nginx return 200 (ceiling): %.0f', $ceiling)"
fi

gnuplot <<GP
set terminal svg size $width,500 dynamic noenhanced font 'sans,11' background rgb 'white'
set datafile missing '-'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.9 border -1
set boxwidth 0.9
set key below horizontal
set grid ytics
set xtics nomirror font ',10'
set xrange [-0.6:$n - 0.4]
set yrange [0:*]
set ylabel 'requests per second (median)'
set format y '%.0f'
set output '$out/rps.svg'
set title "sessio-shop, the peers and the ceiling: req/s per workload\n$title"
plot '$work/servers.dat' using 2:xtic(1) title 'healthz (no session)' linecolor rgb '#9ecae1', \
     '' using 3 title 'cart (session write)' linecolor rgb '#08519c', \
     '' using 4 title 'read (session read)' linecolor rgb '#6baed6'$ceiling_plot

set output '$out/latency.svg'
set logscale y
set yrange [*:*]
set format y '%g'
set ylabel 'latency, ms (median of the runs; log scale)'
set key below horizontal
set title "Latency per server: p50 and p99 of cart and read\n$title"
plot '$work/servers.dat' using 5:xtic(1) title 'cart p50' linecolor rgb '#08519c', \
     '' using 6 title 'cart p99' linecolor rgb '#9ecae1', \
     '' using 7 title 'read p50' linecolor rgb '#a63603', \
     '' using 8 title 'read p99' linecolor rgb '#fdae6b'
GP
drawn="$out/rps.svg $out/latency.svg ($n servers)"
fi

# ---- the scaling curves ---------------------------------------------------------------
# stores_of CURVE: the stores with points on that curve, in the order first seen
stores_of() { sed -n "s/^$1-//p" "$work/scale.ids" 2>/dev/null; }
color() { case "$1" in memory) echo '#08519c';; sqlite) echo '#a63603';; redis) echo '#238b45';;
          postgres) echo '#6a51a3';; *) echo '#525252';; esac; }
scale_head() {  # scale_head FILE TITLE: the common settings of a scaling chart
  cat <<GP
set terminal svg size 760,480 dynamic noenhanced font 'sans,11' background rgb 'white'
set datafile missing '-'
set output '$1'
set title "$2\n$title"
set key below horizontal
set grid xtics ytics
set style data linespoints
set yrange [0:*]
set y2range [0:*]
set ytics nomirror
set y2tics
set format y '%.0f'
GP
}
# scale-sessions.svg: req/s (left) and p99 (right) against live sessions
if [ -n "$(stores_of sessions)" ]; then
  plots=()
  for st in $(stores_of sessions); do
    f="$work/scale-sessions-$st.dat"; c="$(color "$st")"
    plots+=("'$f' using 1:2 axes x1y1 linewidth 2 pointtype 7 linecolor rgb '$c' title '$st: cart req/s'")
    plots+=("'$f' using 1:4 axes x1y2 dashtype 2 pointtype 6 linecolor rgb '$c' title '$st: cart p99 ms'")
  done
  { scale_head "$out/scale-sessions.svg" "Cart adds against the live sessions in the store"
    echo "set logscale x 10"
    echo "set xlabel 'live sessions in the store (log scale)'"
    echo "set ylabel 'cart requests per second'"
    echo "set y2label 'cart p99 latency, ms'"
    echo "set format x '%.0s%c'"
    echo "plot $(IFS=,; echo "${plots[*]}")"; } | gnuplot
  drawn="$drawn $out/scale-sessions.svg"
fi
# scale-size.svg: req/s (left) and CPU per request (right, µs) against the data size
if [ -n "$(stores_of size)$(stores_of micro-size)" ]; then
  plots=()
  for st in $(stores_of size); do
    f="$work/scale-size-$st.dat"; c="$(color "$st")"
    plots+=("'$f' using 1:2 axes x1y1 linewidth 2 pointtype 7 linecolor rgb '$c' title '$st: cart req/s'")
    plots+=("'$f' using 1:5 axes x1y2 dashtype 2 pointtype 6 linecolor rgb '$c' title '$st: server CPU us per cart add'")
  done
  for st in $(stores_of micro-size); do
    f="$work/scale-micro-size-$st.dat"
    plots+=("'$f' using 1:(\$5 / 1000) axes x1y2 dashtype 3 pointtype 4 linewidth 2 linecolor rgb '#000000' title 'core (sessio_micro, $st): CPU us per one-key change'")
  done
  { scale_head "$out/scale-size.svg" "Cart adds against the session's size (one key changed per request)"
    echo "set logscale x 10"
    echo "set xlabel 'bytes of data in the session (log scale)'"
    echo "set ylabel 'cart requests per second'"
    echo "set y2label 'CPU us per request / per change'"
    echo "plot $(IFS=,; echo "${plots[*]}")"; } | gnuplot
  drawn="$drawn $out/scale-size.svg"
fi
# scale-procs.svg: total req/s (left) and CPU per request (right) against processes
if [ -n "$(stores_of procs)" ]; then
  plots=()
  for st in $(stores_of procs); do
    f="$work/scale-procs-$st.dat"; c="$(color "$st")"
    plots+=("'$f' using 1:2 axes x1y1 linewidth 2 pointtype 7 linecolor rgb '$c' title '$st: total cart req/s'")
    plots+=("'$f' using 1:5 axes x1y2 dashtype 2 pointtype 6 linecolor rgb '$c' title '$st: server CPU us per request'")
  done
  { scale_head "$out/scale-procs.svg" "Shop processes sharing one store: total cart adds"
    echo "set xlabel 'sessio-shop processes on one store'"
    echo "set xtics 1"
    echo "set xrange [0.5:*]"
    echo "set ylabel 'cart requests per second (all processes)'"
    echo "set y2label 'server CPU us per request'"
    echo "plot $(IFS=,; echo "${plots[*]}")"; } | gnuplot
  drawn="$drawn $out/scale-procs.svg"
fi
echo "plot.sh: $drawn, from $results"
