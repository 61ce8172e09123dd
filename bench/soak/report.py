#!/usr/bin/python3
# report.py — the soak's report and verdict (bench/soak/run.sh): reads the sampler's
# CSV and run.sh's key=value facts, writes a Markdown report (totals, the curves as
# sparklines and a table, the verdict) and exits 1 when the verdict is FAIL.
#
#   report.py SAMPLES.csv FACTS.txt REPORT.md
#
# The criterion ("levels off", see README.md): over the load phase, split into
# thirds by time, for RSS, open descriptors, session rows, the database file's bytes
# and its bytes in use,
#   max(last third) <= max(middle third) * (1 + TOL/100) + SLACK(metric).
# The WAL file's size is a high-water mark that SQLite cuts back to the store's
# journal_size_limit (64 MiB) when it restarts the log: it must stay below that.
# Also: no wrk error (non-2xx, socket error, foreign answer), no line in the shop's
# log but the shutdown notice, the shop stopped by SIGTERM with exit status 0, and,
# when the tail after the load is at least the idle timeout + 2 samples long, no
# session row left at its end (every session created was collected).
import csv
import sys

SPARK = " ▁▂▃▄▅▆▇█"
# metric -> (label, absolute slack); slack absorbs noise on small numbers
CHECKED = [("rss_kib", "RSS (KiB)", 1024), ("fds", "open descriptors", 4),
           ("rows_total", "session rows", 0), ("db_bytes", "database file bytes", 0),
           ("db_used_bytes", "database bytes in use", 0)]


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def spark(vals, width=60):
    """A sparkline of at most 'width' characters (values bucketed by max)."""
    vals = [v for v in vals if v is not None]
    if not vals:
        return "(none)"
    if len(vals) > width:
        step = len(vals) / width
        vals = [max(vals[int(i * step):max(int((i + 1) * step), int(i * step) + 1)])
                for i in range(width)]
    lo, hi = 0, max(vals)
    if hi <= lo:
        return SPARK[1] * len(vals)
    return "".join(SPARK[1 + int((v - lo) / (hi - lo) * (len(SPARK) - 2) + 0.5)] for v in vals)


def fmt_int(v):
    return "–" if v is None else "{:,}".format(int(round(v)))


def mib(v):
    return "–" if v is None else "%.1f" % (v / 1048576.0)


def main(argv):
    if len(argv) != 4:
        raise SystemExit("usage: report.py SAMPLES.csv FACTS.txt REPORT.md")
    with open(argv[1], newline="") as f:
        rows = list(csv.DictReader(f))
    facts = {}
    with open(argv[2]) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                facts[k] = v
    wrk = {}
    for part in facts.get("wrk_result", "").split():
        if "=" in part:
            k, v = part.split("=", 1)
            wrk[k] = v
    tol = float(facts.get("tol_pct", "10"))
    load_s = float(facts.get("duration_s", "0"))
    idle_s = float(facts.get("idle_s", "0"))
    interval = float(facts.get("interval_s", "10"))
    for r in rows:
        for k in list(r):
            if k != "phase":
                r[k] = num(r[k])
    load = [r for r in rows if r["phase"] == "load"]
    tail = [r for r in rows if r["phase"] == "tail"]
    fails = []

    # ---- the thirds ----
    mid = [r for r in load if load_s / 3 < r["t_s"] <= 2 * load_s / 3]
    last = [r for r in load if r["t_s"] > 2 * load_s / 3]
    checks = []
    if len(mid) < 3 or len(last) < 3:
        fails.append("too few samples in the load phase (%d in the middle third, %d in the last)"
                     % (len(mid), len(last)))
    else:
        for key, label, slack in CHECKED:
            m = [r[key] for r in mid if r[key] is not None]
            l = [r[key] for r in last if r[key] is not None]
            if not m or not l:
                fails.append("%s: not sampled" % label)
                continue
            limit = max(m) * (1 + tol / 100.0) + slack
            ok = max(l) <= limit
            checks.append((label, max(m), max(l), limit, ok))
            if not ok:
                fails.append("%s does not level off: last third max %s > limit %s"
                             % (label, fmt_int(max(l)), fmt_int(limit)))

    wal_limit = float(facts.get("wal_limit_bytes", str(64 * 1048576)))
    wal_max = max([r["wal_bytes"] for r in rows if r["wal_bytes"] is not None] or [0])
    if wal_max > wal_limit:
        fails.append("the WAL file reached %s bytes, over its limit %s (checkpoints starved)"
                     % (fmt_int(wal_max), fmt_int(wal_limit)))

    # ---- errors, log, exit ----
    for k in ("non2xx", "foreign", "socket_errors"):
        if wrk.get(k, "?") != "0":
            fails.append("wrk %s=%s (codes %s)" % (k, wrk.get(k, "missing"), wrk.get("codes", "-")))
    if facts.get("shop_log_lines", "?") != "0":
        fails.append("the shop logged %s line(s) besides the shutdown notice"
                     % facts.get("shop_log_lines", "?"))
    if facts.get("shop_exit", "?") != "0" or facts.get("shop_stopped", "0") != "1":
        fails.append("the shop did not stop cleanly on SIGTERM (exit %s, 'stopped' printed: %s)"
                     % (facts.get("shop_exit", "?"), facts.get("shop_stopped", "?")))
    if facts.get("sampler_exit", "0") != "0":
        fails.append("the sampler stopped early (exit %s)" % facts.get("sampler_exit"))

    # ---- collection ----
    created = num(wrk.get("created"))
    end_rows = tail[-1]["rows_total"] if tail else (load[-1]["rows_total"] if load else None)
    tail_s = (tail[-1]["t_s"] - load_s) if tail else 0
    if tail and tail_s >= idle_s + 2 * interval:
        if end_rows is None or end_rows != 0:
            fails.append("%s session row(s) left %.0f s after the load stopped (idle timeout %.0f s)"
                         % (fmt_int(end_rows), tail_s, idle_s))
    collected = None if created is None or end_rows is None else created - end_rows

    def col(key, rs=rows):
        return [r[key] for r in rs]

    peak = lambda key: max([v for v in col(key, load) if v is not None] or [0])
    loads = sorted(v for v in col("load1") if v is not None)
    verdict = "PASS" if not fails else "FAIL"

    out = []
    w = out.append
    w("# sessio soak: %s" % facts.get("date", "?"))
    w("")
    w("- command: `%s`" % facts.get("command", "bench/soak/run.sh"))
    w("- commit %s, %s" % (facts.get("commit", "?"), facts.get("machine", "?")))
    w("- shop: `%s`" % facts.get("shop_cmd", "?"))
    w("- load: `%s`" % facts.get("wrk_cmd", "?"))
    w("- phases: load %.0f s, then tail %.0f s without traffic; a sample every %.0f s"
      % (load_s, tail_s, interval))
    if loads:
        w("- machine load average (1 min) during the run: min %s, median %s, max %s"
          % (loads[0], loads[len(loads) // 2], loads[-1]))
    w("")
    w("## Totals")
    w("")
    w("| figure | value |")
    w("| --- | ---: |")
    w("| requests served (wrk) | %s |" % fmt_int(num(wrk.get("requests"))))
    w("| requests/s (mean over the load) | %s |" % fmt_int(num(wrk.get("rps"))))
    w("| latency p50 / p99 / max (ms) | %s / %s / %s |"
      % (wrk.get("p50_ms", "–"), wrk.get("p99_ms", "–"), wrk.get("max_ms", "–")))
    w("| sessions created (new cookies seen by wrk; the few in flight when wrk stopped are not counted) | %s |" % fmt_int(created))
    w("| sessions collected (created − rows left at the end) | %s |" % fmt_int(collected))
    w("| session rows at the end | %s |" % fmt_int(end_rows))
    w("| peak session rows (live + dead) during the load | %s |" % fmt_int(peak("rows_total")))
    w("| peak live rows / peak dead rows (GC backlog) | %s / %s |"
      % (fmt_int(peak("rows_live")), fmt_int(peak("rows_dead"))))
    w("| peak RSS (MiB) / peak open fds | %s / %s |" % (mib(peak("rss_kib") * 1024), fmt_int(peak("fds"))))
    w("| peak store size db + wal (MiB) | %s |" % mib(peak("store_bytes")))
    w("| peak database file / in use / WAL file (MiB) | %s / %s / %s |"
      % (mib(peak("db_bytes")), mib(peak("db_used_bytes")), mib(peak("wal_bytes"))))
    w("| errors: non-2xx / foreign / socket | %s / %s / %s |"
      % (wrk.get("non2xx", "?"), wrk.get("foreign", "?"), wrk.get("socket_errors", "?")))
    w("| shop log lines besides the shutdown notice | %s |" % facts.get("shop_log_lines", "?"))
    w("| shop exit after SIGTERM | %s |" % facts.get("shop_exit", "?"))
    w("")
    w("## Curves (every sample, load then tail; scale 0..max)")
    w("")
    w("```")
    for key, label in (("rss_kib", "RSS"), ("fds", "fds"), ("rows_total", "rows"),
                       ("rows_live", "live rows"), ("rows_dead", "dead rows"),
                       ("db_bytes", "db file"), ("db_used_bytes", "db in use"),
                       ("wal_bytes", "wal file"), ("cpu_pct", "shop CPU %"),
                       ("load1", "load avg")):
        v = col(key)
        mx = max([x for x in v if x is not None] or [0])
        shown = mib(mx) + " MiB" if key.endswith("bytes") else (
            mib(mx * 1024) + " MiB" if key == "rss_kib" else fmt_int(mx))
        w("%-11s %s  max %s" % (label, spark(v), shown))
    w("```")
    w("")
    every = float(facts.get("table_every_s", "60"))
    w("## Samples every %.0f s" % every)
    w("")
    w("| t (s) | phase | RSS MiB | fds | rows | live | dead | user rows | db MiB (in use) | wal MiB | requests | created | shop CPU % | load |")
    w("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        t = r["t_s"]
        if t is None or (abs(t / every - round(t / every)) > 1e-6 and r is not rows[-1]):
            continue
        w("| %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |"
          % (t, r["phase"], mib((r["rss_kib"] or 0) * 1024), fmt_int(r["fds"]),
             fmt_int(r["rows_total"]), fmt_int(r["rows_live"]), fmt_int(r["rows_dead"]),
             fmt_int(r["user_rows"]), "%s (%s)" % (mib(r["db_bytes"]), mib(r["db_used_bytes"])),
             mib(r["wal_bytes"]),
             fmt_int(r["requests"]), fmt_int(r["created"]),
             "–" if r["cpu_pct"] is None else "%.0f" % r["cpu_pct"],
             "–" if r["load1"] is None else r["load1"]))
    w("")
    w("## Verdict: %s" % verdict)
    w("")
    w("Levels off when max(last third) <= max(middle third) x %.2f + slack (load phase: "
      "middle %.0f-%.0f s, last %.0f-%.0f s)." % (1 + tol / 100, load_s / 3, 2 * load_s / 3,
                                                   2 * load_s / 3, load_s))
    w("")
    w("| metric | middle third max | last third max | limit | levels off |")
    w("| --- | ---: | ---: | ---: | --- |")
    for label, m, l, limit, ok in checks:
        w("| %s | %s | %s | %s | %s |" % (label, fmt_int(m), fmt_int(l), fmt_int(limit),
                                         "yes" if ok else "**no**"))
    w("| WAL file bytes (whole run; a high-water mark) | | %s (max) | %s (journal_size_limit) | %s |"
      % (fmt_int(wal_max), fmt_int(wal_limit), "yes" if wal_max <= wal_limit else "**no**"))
    w("")
    if fails:
        for f in fails:
            w("- FAIL: %s" % f)
    else:
        w("- every checked metric levels off; no error, no log line, clean exit%s"
          % (", every session collected by the end of the tail" if tail else ""))
    w("")
    text = "\n".join(out)
    with open(argv[3], "w") as f:
        f.write(text)
    print(text)
    return 0 if not fails else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
