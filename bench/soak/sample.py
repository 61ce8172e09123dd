#!/usr/bin/python3
# sample.py — the soak's sampler (bench/soak/run.sh): every INTERVAL seconds, one CSV
# row about the running sessio-shop and its SQLite store, until END seconds after the
# start (samples at 0, INTERVAL, 2*INTERVAL, ... END), or until the shop exits.
#
#   sample.py PID DB_PATH PROGRESS_DIR INTERVAL LOAD_END END OUT.csv
#
# Columns (see README.md): t_s phase rss_kib fds threads db_bytes wal_bytes
# store_bytes db_used_bytes rows_total rows_live rows_dead user_rows requests
# created errors cpu_pct load1. Rows are counted through a read-only connection
# (mode=ro), so the sampler never writes the store, with two counts on the expiry
# index (a few ms for 20k rows); db_used_bytes is the database's pages in use
# (page_count - freelist_count), the file's size being a high-water mark.
# 'phase' is "load" up to LOAD_END (wrk running), "tail" after it (no traffic: the
# sessions left expire and GC removes them). requests/created/errors come from the
# wrk threads' progress files (updated every 1000 answers, exact at the end).
import csv
import os
import sqlite3
import sys
import time

COLUMNS = ["t_s", "phase", "rss_kib", "fds", "threads", "db_bytes", "wal_bytes",
           "store_bytes", "db_used_bytes", "rows_total", "rows_live", "rows_dead", "user_rows",
           "requests", "created", "errors", "cpu_pct", "load1"]


def proc_status(pid):
    rss = thr = None
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("Threads:"):
                thr = int(line.split()[1])
    return rss, thr


def cpu_ticks(pid):
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])  # utime + stime


def size(path):
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def count_rows(db):
    """(total, live, user rows, bytes in use) of the store, read-only, in one read
    transaction; Nones when it cannot."""
    now_ms = int(time.time() * 1000)
    try:
        c = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=5,
                            isolation_level=None)
        try:
            c.execute("BEGIN")
            total = c.execute("SELECT count(*) FROM sessions INDEXED BY sessions_gc"
                              ).fetchone()[0]
            live = c.execute("SELECT count(*) FROM sessions WHERE expires_at > ?",
                             (now_ms,)).fetchone()[0]
            users = c.execute("SELECT count(*) FROM users").fetchone()[0]
            used = ((c.execute("PRAGMA page_count").fetchone()[0] -
                     c.execute("PRAGMA freelist_count").fetchone()[0]) *
                    c.execute("PRAGMA page_size").fetchone()[0])
            c.execute("COMMIT")
        finally:
            c.close()
        return total, live, users, used
    except sqlite3.Error as e:
        print("sample.py: cannot count rows: %s" % e, file=sys.stderr)
        return None, None, None, None


def progress(d):
    a = c = e = 0
    try:
        names = os.listdir(d)
    except FileNotFoundError:
        return 0, 0, 0
    for n in names:
        try:
            with open(os.path.join(d, n)) as f:
                v = [int(x) for x in f.read().split()]
            a, c, e = a + v[0], c + v[1], e + v[2] + v[3]
        except (OSError, ValueError, IndexError):
            pass  # being rewritten
    return a, c, e


def main(argv):
    if len(argv) != 8:
        raise SystemExit("usage: sample.py PID DB_PATH PROGRESS_DIR INTERVAL LOAD_END END OUT.csv")
    pid, db, prog = int(argv[1]), argv[2], argv[3]
    interval, load_end, end = float(argv[4]), float(argv[5]), float(argv[6])
    hz = os.sysconf("SC_CLK_TCK")
    t0 = time.monotonic()
    last_t, last_ticks = t0, None
    with open(argv[7], "w", newline="") as out:
        w = csv.writer(out)
        w.writerow(COLUMNS)
        k = 0
        while True:
            target = t0 + k * interval
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            now = time.monotonic()
            t = now - t0
            try:
                rss, thr = proc_status(pid)
                fds = len(os.listdir("/proc/%d/fd" % pid))
                ticks = cpu_ticks(pid)
            except (FileNotFoundError, ProcessLookupError, IndexError):
                print("sample.py: the shop (pid %d) is gone at t=%.0f s" % (pid, t),
                      file=sys.stderr)
                return 1
            cpu = "" if last_ticks is None else "%.0f" % (
                100.0 * (ticks - last_ticks) / hz / max(now - last_t, 1e-3))
            last_t, last_ticks = now, ticks
            dbb, walb = size(db), size(db + "-wal")
            total, live, users, used = count_rows(db)
            req, created, errors = progress(prog)
            with open("/proc/loadavg") as f:
                load1 = f.read().split()[0]
            w.writerow(["%.0f" % (k * interval), "load" if k * interval <= load_end else "tail",
                        rss, fds, thr, dbb, walb, dbb + walb, "" if used is None else used,
                        "" if total is None else total, "" if live is None else live,
                        "" if total is None else total - live,
                        "" if users is None else users, req, created, errors, cpu, load1])
            out.flush()
            k += 1
            if k * interval > end + 1e-6:
                return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
