#!/usr/bin/env python3
"""flood.py — one flood against a running sessio-shop while another client
(source address 127.0.0.2) measures GET /healthz and GET /api/session.

Usage: flood.py PORT KIND SECONDS
  KIND: none | slow (2000 connections that each send an unfinished head) |
        login (32 clients looping on wrong passwords for alice) |
        sessions (16 clients starting a new guest session per request)
Prints one line: FLOOD kind= seconds= healthz_n= healthz_p50_ms= healthz_p99_ms=
healthz_max_ms= healthz_failed= session_p50_ms= session_p99_ms= attack_requests=
attack_codes= server_rss_mb= server_peak_mb=
The attackers use 127.0.0.1 from a child process at nice 19 (standing in
for another machine), the measuring client 127.0.0.2 (all of 127/8 is
loopback on Linux). Standard library only."""
import collections
import os
import http.client
import json
import socket
import sys
import threading
import time

port, kind, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
pid = int(sys.argv[4]) if len(sys.argv) > 4 else 0


def req(method, path, body=None, source=None, timeout=10):
    h = {"Connection": "close"}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                   source_address=(source, 0) if source else None)
    try:
        t0 = time.monotonic()
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        r.read()
        return r.status, time.monotonic() - t0
    finally:
        c.close()


stop = threading.Event()
codes = collections.Counter()
socks = []


def slow():
    for _ in range(2000):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        socks.append(s)
    time.sleep(0.5)
    for s in socks:
        s.setblocking(True)
        try:
            s.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-a: 1\r\n")
            codes["sent"] += 1
        except OSError:
            codes["refused"] += 1


def loop(fn):
    def run():
        while not stop.is_set():
            try:
                codes[fn()] += 1
            except OSError:
                codes["error"] += 1
    return run


# The attackers run in a child process, so that their threads do not hold
# the measuring loop's interpreter lock (that would be measured as latency).
rfd, wfd = os.pipe()
child = os.fork()
if child == 0:
    os.close(rfd)
    # On one machine the attacker's own CPU use would be measured as the
    # server's slowness: nice 19 stands in for a separate machine.
    os.nice(19)
    attackers = []
    if kind == "slow":
        slow()
    elif kind == "login":
        attackers = [threading.Thread(target=loop(
            lambda: req("POST", "/api/login", {"user": "alice", "password": "wrong"})[0]))
            for _ in range(32)]
    elif kind == "sessions":
        attackers = [threading.Thread(target=loop(
            lambda: req("POST", "/api/cart", {"sku": "A1", "qty": 1})[0]))
            for _ in range(16)]
    for t in attackers:
        t.start()
    time.sleep(seconds + 2.5)
    stop.set()
    for t in attackers:
        t.join(30)
    os.write(wfd, json.dumps({str(k): v for k, v in codes.items()}).encode())
    os._exit(0)
os.close(wfd)
time.sleep(2.0 if kind == "slow" else 0.5)  # the flood is in place
health, session, failed = [], [], 0
t_end = time.monotonic() + seconds
while time.monotonic() < t_end:
    for path, out in (("/healthz", health), ("/api/session", session)):
        try:
            st, dt = req("GET", path, source="127.0.0.2", timeout=5)
            out.append(dt * 1000)
            failed += st != 200
        except OSError:
            failed += 1
    time.sleep(0.01)
with os.fdopen(rfd) as f:
    codes = collections.Counter(json.loads(f.read() or "{}"))
os.waitpid(child, 0)


def q(v, p):
    v = sorted(v)
    return f"{v[min(len(v) - 1, int(p * len(v)))]:.1f}" if v else "nan"


def vm(field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) // 1024
    except OSError:
        pass
    return 0


print(f"FLOOD kind={kind} seconds={seconds:g} healthz_n={len(health)} "
      f"healthz_p50_ms={q(health, .5)} healthz_p99_ms={q(health, .99)} "
      f"healthz_max_ms={q(health, 1)} healthz_failed={failed} "
      f"session_p50_ms={q(session, .5)} session_p99_ms={q(session, .99)} "
      f"attack_requests={sum(v for k, v in codes.items() if k.isdigit())} "
      f"attack_codes={dict(codes)} server_rss_mb={vm('VmRSS')} server_peak_mb={vm('VmHWM')}")
for s in socks:
    s.close()
