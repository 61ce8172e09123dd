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
[ -s "$work/servers.dat" ] || { echo "plot.sh: no SUMMARY line of a server in $results" >&2; exit 1; }
ceiling="$(sed -n 1p "$work/ceiling")"
title="$(sed -n 2p "$work/ceiling" | sed 's/^sessio benchmark, //; s/"//g')"
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
echo "plot.sh: $out/rps.svg $out/latency.svg ($n servers, from $results)"
