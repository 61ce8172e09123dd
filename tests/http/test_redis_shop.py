"""test_redis_shop.py — sessio-shop on the redis:// and redis-cluster://
stores: two shop processes on one Redis (or one 3+3 Redis Cluster) lose no
cart add when 20 connections x 10 adds on one session are spread over both;
while Redis is down the shop answers 503 (clear JSON or page) to requests
that need the session, serves the rest, logs the outage once, and recovers
by itself within about a second of Redis coming back, with the sessions
written before the outage still there (Redis with append-only fsync always);
and on a cluster, a master killed under traffic costs only 503s for its
slots until its replica takes over, after which every session is intact.
Redis servers are started here on free 127.0.0.1 ports and always stopped.
"""
import random
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import pytest

from shoplib import Client, two_shops_count_all_cart_adds

REDIS = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(REDIS is None, reason="redis-server not installed")


def _port_free(port):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _free_port(bus=False, taken=()):
    """A free port below the ephemeral range (and port + 10000 for a
    cluster bus)."""
    for _ in range(1000):
        p = random.randrange(11000, 22000)
        if p in taken or p + 10000 in taken or p - 10000 in taken:
            continue
        if _port_free(p) and (not bus or _port_free(p + 10000)):
            return p
    raise RuntimeError("no free port")


def _cli(port, *args, timeout=5):
    r = subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True,
                       text=True, timeout=timeout)
    return r.stdout


class Redis:
    """redis-server processes on loopback, killed on stop (and if the test
    process dies: they are our children, and stop() runs in a finally)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sessio-redis-shop-")
        self.procs = {}

    def start(self, port, cluster=False, aof=False, extra=()):
        args = [REDIS, *extra, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "yes" if aof else "no", "--dir", self.dir,
                "--daemonize", "no", "--logfile", "", "--loglevel", "warning",
                "--repl-diskless-sync-delay", "0"]
        if aof:
            args += ["--appendfsync", "always"]
        if cluster:
            args += ["--cluster-enabled", "yes", "--cluster-config-file",
                     f"nodes-{port}.conf", "--cluster-node-timeout", "1000",
                     "--cluster-require-full-coverage", "no"]
        self.procs[port] = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if _cli(port, "ping").strip() in ("PONG", "NOAUTH Authentication required."):
                return
            time.sleep(0.02)
        raise RuntimeError(f"redis-server on {port} did not start")

    def kill(self, port):
        p = self.procs.pop(port, None)
        if p is not None:
            p.kill()
            p.wait(10)

    def stop(self):
        for port in list(self.procs):
            self.kill(port)
        shutil.rmtree(self.dir, ignore_errors=True)


def _cluster_ok(port):
    info = _cli(port, "cluster", "info")
    if "cluster_state:ok" not in info or "cluster_slots_ok:16384" not in info:
        return False
    repl = _cli(port, "info", "replication")
    return "role:slave" in repl or "state=online" in repl


@pytest.fixture
def redis_url():
    """One Redis; yields (url, Redis, port)."""
    r = Redis()
    try:
        port = _free_port()
        r.start(port, aof=True)
        yield f"redis://127.0.0.1:{port}", r, port
    finally:
        r.stop()


@pytest.fixture
def cluster_url():
    """Six nodes made a 3 masters + 3 replicas cluster; yields (url, Redis,
    ports)."""
    r = Redis()
    try:
        ports = []
        for _ in range(6):
            ports.append(_free_port(bus=True, taken=ports))
            r.start(ports[-1], cluster=True)
        out = subprocess.run(["redis-cli", "--cluster", "create",
                              *[f"127.0.0.1:{p}" for p in ports],
                              "--cluster-replicas", "1", "--cluster-yes"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        deadline = time.monotonic() + 30
        while not all(_cluster_ok(p) for p in ports):
            assert time.monotonic() < deadline, "cluster not ready"
            time.sleep(0.05)
        yield ("redis-cluster://" + ",".join(f"127.0.0.1:{p}" for p in ports[:3]),
               r, ports)
    finally:
        r.stop()


def test_two_shops_on_one_redis_count_all_200_cart_adds(make_shop, redis_url):
    """No lost update: 20 connections x 10 adds over two processes on
    redis://."""
    two_shops_count_all_cart_adds(make_shop, redis_url[0] + "?prefix=shop")


def test_two_shops_on_a_redis_cluster_count_all_200_cart_adds(make_shop, cluster_url):
    """No lost update: the same on a 3+3 redis-cluster://."""
    two_shops_count_all_cart_adds(make_shop, cluster_url[0] + "?prefix=shop")


def test_shop_answers_503_while_redis_is_down_and_recovers_within_a_second(
        make_shop, redis_url):
    """Redis outage: 503 with a clear JSON error or page for what
    needs the session, the rest served, one log line per state change, no
    crash, recovery within about a second, sessions kept (AOF fsync always)."""
    url, redis, port = redis_url
    shop = make_shop(store=url + "?prefix=outage")
    c = Client(shop)
    c.add_api("K", 3)
    cookie = c.cookie

    redis.kill(port)
    for _ in range(5):
        r = c.get("/api/session")
        assert r.status_code == 503, (r.status_code, r.text[:200])
        assert "json" in r.headers.get("Content-Type", "")
        assert r.json()  # a JSON error body, not an empty answer
        page = c.get("/cart")
        assert page.status_code == 503
        assert "unavailable" in page.text.lower()
        assert c.get("/healthz").status_code == 200
        assert c.get("/static/style.css").status_code == 200
        assert c.cookie == cookie  # the client keeps its session cookie
    assert shop.proc.poll() is None, "the shop died during the outage"
    down_lines = [l for l in shop.stderr().splitlines() if "unreachable" in l]
    assert len(down_lines) == 1, down_lines

    redis.start(port, aof=True)  # same port; AOF replayed
    t_up = time.monotonic()
    status = None
    while time.monotonic() - t_up < 5:
        status = c.get("/api/session").status_code
        if status == 200:
            break
        time.sleep(0.02)
    recovered = time.monotonic() - t_up
    assert status == 200, f"not recovered after {recovered:.2f} s"
    assert recovered <= 1.5, f"recovered after {recovered:.2f} s"
    assert c.session()["cart"] == {"K": 3}  # written before the outage
    up_lines = [l for l in shop.stderr().splitlines() if "reachable again" in l]
    assert len(up_lines) == 1, up_lines
    c.add_api("K", 1)
    assert c.session()["cart"] == {"K": 4}


LOGFMT = re.compile(r'^ts=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z level=(error|warn|info|debug) ')


def test_shop_starts_without_its_store_and_readyz_follows_the_store(make_shop):
    """A shop started while Redis is down starts anyway (one log line),
    answers 503 for session work and on /readyz (no cookie, no session),
    /healthz stays 200; once Redis is there it serves sessions within about
    a second and /readyz says 200. Every line is logfmt with ts=, level=
    and msg= (the library's through the shop's logger), a 503 line names
    the hashed session ID the client sent, and the URL's password (with an
    escaped '/') is never shown."""
    r = Redis()
    try:
        port = _free_port()
        url = f"redis://:pa%2Fss%40word@127.0.0.1:{port}?prefix=late"
        shop = make_shop(store=url, log_level="info")
        assert shop.proc.poll() is None
        c = Client(shop)
        ready = c.get("/readyz")
        assert ready.status_code == 503, ready.status_code
        assert "Set-Cookie" not in ready.headers
        assert c.get("/healthz").status_code == 200
        assert c.api("POST", "/api/cart", {"sku": "K", "qty": 1}).status_code == 503
        starts = [l for l in shop.stderr().splitlines() if "unreachable at start" in l]
        assert len(starts) == 1, shop.stderr()[-2000:]

        r.start(port, aof=False, extra=("--requirepass", "pa/ss@word"))
        t0 = time.monotonic()
        while c.get("/readyz").status_code != 200:
            assert time.monotonic() - t0 < 3, "/readyz not 200 3 s after the store came"
            time.sleep(0.02)
        c.add_api("K", 2)
        assert c.session()["cart"] == {"K": 2}
        hashed = None
        for l in shop.stderr().splitlines():
            m = re.search(r'path="/api/cart" status=200 .*sid=([0-9a-f]{16})', l)
            hashed = m.group(1) if m else hashed
        assert hashed

        r.kill(port)  # a session the store cannot load: its 503 names it
        resp = c.get("/api/session")
        assert resp.status_code == 503
        time.sleep(0.2)  # lines are written before the answer; let the file settle
        log = shop.stderr()
        assert f'path="/api/session" status=503' in log
        assert any('status=503' in l and f"sid={hashed}" in l for l in log.splitlines()), \
            log[-2000:]
        t0 = time.monotonic()
        while c.get("/readyz").status_code != 503:
            assert time.monotonic() - t0 < 3, "/readyz still 200 3 s after the store died"
            time.sleep(0.05)
        shop.stop()
        log = shop.stderr()
        assert "pa/ss" not in log and "pa%2Fss" not in log and "word@" not in log, log
        lines = [l for l in log.splitlines() if l.startswith("ts=") or "src=sessio" in l]
        assert lines
        for l in lines:
            assert LOGFMT.match(l), l
            assert " msg=" in l or " method=" in l, l
        assert any("src=sessio" in l and "unreachable" in l for l in lines), log[-2000:]
    finally:
        r.stop()


def _replica_in_sync(port):
    """The master at 'port' has sent its replica everything it has."""
    info = _cli(port, "info", "replication")
    m = re.search(r"master_repl_offset:(\d+)", info)
    o = re.search(r"slave0:.*?offset=(\d+)", info)
    return bool(m and o and m.group(1) == o.group(1))


def test_shop_sessions_survive_a_cluster_master_failover(make_shop, cluster_url):
    """Cluster failover: kill a master under traffic; requests for its slots
    get 503 (never a crash, never a new session) until its replica is
    promoted, then every session works again with its cart intact."""
    url, redis, ports = cluster_url
    shop = make_shop(store=url + "?prefix=fo&failover_wait_ms=1000")
    clients = [Client(shop) for _ in range(12)]  # spread over the 3 masters
    for c in clients:
        c.add_api("F", 1)
    cookies = [c.cookie for c in clients]
    masters = [p for p in ports if "role:master" in _cli(p, "info", "replication")]
    assert len(masters) == 3
    victim = masters[0]
    deadline = time.monotonic() + 10
    while not _replica_in_sync(victim):  # replication is asynchronous
        assert time.monotonic() < deadline, "replica not in sync"
        time.sleep(0.02)

    counts = [1] * len(clients)
    stop = threading.Event()
    seen = {"503": 0, "other": []}

    def reader():  # traffic that keeps going while the master dies
        while not stop.is_set():
            for c in clients:
                r = c.get("/api/session")
                if r.status_code == 503:
                    seen["503"] += 1
                elif r.status_code != 200:
                    seen["other"].append(r.status_code)

    t = threading.Thread(target=reader)
    t.start()
    try:
        time.sleep(0.2)
        redis.kill(victim)
        t0 = time.monotonic()
        done = [False] * len(clients)
        while not all(done) and time.monotonic() - t0 < 30:
            for i, c in enumerate(clients):
                if done[i]:
                    continue
                r = c.api("POST", "/api/cart", {"sku": "F", "qty": 1})
                assert r.status_code in (200, 503), (r.status_code, r.text[:200])
                if r.status_code == 200:
                    done[i] = True
                    counts[i] += 1
        back = time.monotonic() - t0
    finally:
        stop.set()
        t.join(60)
    print(f"failover: all sessions back {back:.2f} s after the kill, "
          f"{seen['503']} reads answered 503 meanwhile")
    assert all(done), f"sessions not back {back:.1f} s after the kill"
    assert not seen["other"], seen["other"][:5]
    assert shop.proc.poll() is None, "the shop died during the failover"
    for i, c in enumerate(clients):
        assert c.cookie == cookies[i]  # the same session, not a new one
        assert c.session()["cart"] == {"F": counts[i]}
