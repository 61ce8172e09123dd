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
import json
import os
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
                     f"nodes-{port}.conf", "--cluster-node-timeout",
                     os.environ.get("SESSIO_CLUSTER_NODE_TIMEOUT", "1000"),
                     "--cluster-require-full-coverage", "no"]
        self.procs[port] = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if _cli(port, "ping").strip() in ("PONG", "NOAUTH Authentication required."):
                return
            time.sleep(0.02)
        raise RuntimeError(f"redis-server on {port} did not start")

    def start_cluster(self):
        """Six nodes made a 3 masters + 3 replicas cluster, once every slot
        is served and every replica synced; returns the six ports, masters
        first."""
        ports = []
        for _ in range(6):
            ports.append(_free_port(bus=True, taken=ports))
            self.start(ports[-1], cluster=True)
        out = subprocess.run(["redis-cli", "--cluster", "create",
                              *[f"127.0.0.1:{p}" for p in ports],
                              "--cluster-replicas", "1", "--cluster-yes"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        deadline = time.monotonic() + 30
        while not all(_cluster_ok(p) for p in ports):
            assert time.monotonic() < deadline, "cluster not ready"
            time.sleep(0.05)  # waiting for the cluster, not timing
        return ports

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
        ports = r.start_cluster()
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


# ---- failure isolation: one master dies, the others' sessions do not notice --

def _twin(c, shop):
    """A client of 'shop' holding c's session (same cookie and CSRF token)."""
    t = Client(shop, ua=c.ua)
    t.cookie, t.csrf, t._csrf_cookie = c.cookie, c.csrf, c._csrf_cookie
    return t


def _dbsizes(ports):
    return [int(_cli(p, "dbsize").strip() or -1) for p in ports]


def _hammer(pairs, stop_at, out):
    """Child process: one thread per session, each adding 1 to its cart in
    a loop, alternating between the two shops; reports per session the adds
    acknowledged (200), tried, and the monotonic times of its 503s."""
    import requests as rq

    def run(i, pair):
        for c in pair:
            c.http = rq.Session()
            c.http.trust_env = False
        acked = tried = 0
        t503, other = [], []
        k = 0
        while time.monotonic() < stop_at.value:
            c = pair[k % 2]
            k += 1
            tried += 1
            try:
                r = c.request("POST", "/api/cart", json_body={"sku": "H", "qty": 1},
                              token=True, timeout=10)
                st = r.status_code
            except Exception as e:  # a timeout is a failure of the test
                st = repr(e)[:80]
            if st == 200:
                acked += 1
            elif st == 503:
                t503.append(time.monotonic())
            else:
                other.append(st)
        res[i] = (acked, tried, t503, other[:5])

    res = [None] * len(pairs)
    ts = [threading.Thread(target=run, args=(i, p)) for i, p in enumerate(pairs)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    out.put(res)


def failover_isolation(make_shop, cluster_url, hammer_n=24, after_s=1.0, before_s=1.5,
                       report=None, shop_args=()):
    """Kills one master of a 3+3 cluster under traffic from two shops:
    'hammer_n' clients (another process) on sessions of that master, one
    control client on a healthy master. Returns the figures."""
    import multiprocessing as mp
    url, redis, ports = cluster_url
    store = url + "?prefix=iso"
    shops = [make_shop(store=store, log_level="info", args=shop_args) for _ in range(2)]
    masters = [p for p in ports if "role:master" in _cli(p, "info", "replication")]
    assert len(masters) == 3
    victim = masters[0]
    m = re.search(r"slave0:ip=[^,]+,port=(\d+)", _cli(victim, "info", "replication"))
    assert m, "the victim has no replica"
    replica = int(m.group(1))

    on_victim, control = [], None
    before = _dbsizes(masters)
    for _ in range(hammer_n * 8):
        c = Client(shops[0])
        c.add_api("H", 1)
        after = _dbsizes(masters)
        grew = [i for i in range(3) if after[i] > before[i]]
        before = after
        if grew == [0] and len(on_victim) < hammer_n:
            on_victim.append(c)
        elif grew and grew != [0] and control is None:
            control = c
        if control is not None and len(on_victim) == hammer_n:
            break
    assert control is not None and len(on_victim) == hammer_n, len(on_victim)
    deadline = time.monotonic() + 10
    while not _replica_in_sync(victim):
        assert time.monotonic() - deadline < 0, "replica not in sync"
        time.sleep(0.02)

    ctx = mp.get_context("fork")
    stop_at = ctx.Value("d", time.monotonic() + 60)
    q = ctx.Queue()
    proc = ctx.Process(target=_hammer,
                       args=([(c, _twin(c, shops[1])) for c in on_victim], stop_at, q))
    proc.start()
    ctl = [control, _twin(control, shops[1])]
    lat, ctl_err, ctl_acked = [], [], 0
    k = 0

    def control_once():
        nonlocal k, ctl_acked
        c = ctl[k % 2]
        k += 1
        t0 = time.monotonic()
        r = c.request("POST", "/api/cart", json_body={"sku": "C", "qty": 1}, token=True,
                      timeout=10)
        if r.status_code == 200:
            ctl_acked += 1
        else:
            ctl_err.append(r.status_code)
        return time.monotonic() - t0

    # The same load before the kill: the control's latency on this machine
    # with these clients, to tell a stall from a busy CPU.
    t_end = time.monotonic() + before_s
    lat_before = []
    while time.monotonic() < t_end:
        lat_before.append(control_once())
    redis.kill(victim)
    t_kill = time.monotonic()
    t_promoted = None
    while True:
        now = time.monotonic()
        if t_promoted is None and k % 10 == 0 and \
                "role:master" in _cli(replica, "info", "replication"):
            t_promoted = time.monotonic()
            stop_at.value = t_promoted + after_s + 1.5
        if now > stop_at.value or now - t_kill > 40:
            break
        lat.append(control_once())
    stop_at.value = 0
    res = q.get(timeout=60)
    proc.join(30)
    def pct(xs, q):
        xs = sorted(xs)
        return round(xs[max(0, int(len(xs) * q + 0.5) - 1)] * 1000, 1) if xs else None
    lat_during = [x for x in lat]
    lat.sort()
    last503 = max((t for r in res for t in r[2]), default=None)
    n503 = sum(len(r[2]) for r in res)
    lost = []
    for c, r in zip(on_victim, res):
        cart = c.session()["cart"]
        if not (1 + r[0] <= cart.get("H", 0) <= 1 + r[1]):
            lost.append((1 + r[0], cart, 1 + r[1]))
    ccart = control.session()["cart"]
    fig = {
        "failover_s": round(t_promoted - t_kill, 2) if t_promoted else None,
        "last_503_after_kill_s": round(last503 - t_kill, 2) if last503 else None,
        "victim_503s": n503,
        "victim_acked": sum(r[0] for r in res),
        "victim_other": [o for r in res for o in r[3]],
        "control_requests": len(lat),
        "control_p50_ms": pct(lat_during, 0.50),
        "control_p99_ms": pct(lat_during, 0.99),
        "control_max_ms": pct(lat_during, 1.0),
        "control_before_requests": len(lat_before),
        "control_before_p50_ms": pct(lat_before, 0.50),
        "control_before_p99_ms": pct(lat_before, 0.99),
        "hammer_clients": hammer_n,
        "control_errors": ctl_err[:10],
        "lost": lost[:5],
        "control_cart_ok": ccart.get("C", 0) == ctl_acked,
    }
    # What an operator reads meanwhile: the shop's own lines, not the access log.
    fig["log"] = [l for l in shops[0].stderr().splitlines()
                  if " level=warn " in l or " level=error " in l][:30]
    print("failover isolation:", json.dumps(fig))
    if report:
        with open(report, "w") as f:
            json.dump(fig, f)
    for s in shops:
        assert s.proc.poll() is None, "a shop died during the failover"
    return fig, shops


def test_one_dead_master_does_not_slow_the_sessions_of_the_others(make_shop, cluster_url):
    """Failure isolation (short form; `make bench` runs the long one): with
    24 clients hammering sessions of a master that is killed, through two
    shops, a client of a healthy master sees no error and p99 < 100 ms;
    the dead master's sessions get 503 no longer than the failover plus
    1 s, and then work; no acknowledged cart add is lost."""
    long_run = os.environ.get("SESSIO_FAILOVER_LONG") == "1"
    fig, shops = failover_isolation(make_shop, cluster_url, after_s=5.0 if long_run else 1.0,
                                    before_s=5.0 if long_run else 1.5,
                                    report=os.environ.get("SESSIO_FAILOVER_REPORT"))
    assert fig["failover_s"] is not None, fig
    assert not fig["control_errors"], fig
    assert fig["control_cart_ok"], fig
    # Short form on a shared, sanitized build: a stall is a p99 well above
    # the same load's before the kill (the old code: seconds); the absolute
    # target (< 100 ms) is checked by the long run (make bench, Release).
    assert fig["control_p99_ms"] < max(100, 3 * fig["control_before_p99_ms"]), fig
    if long_run:
        assert fig["control_p99_ms"] < 100, fig
    assert fig["victim_503s"] > 0, fig  # the kill was seen
    assert not fig["victim_other"], fig
    assert fig["last_503_after_kill_s"] <= fig["failover_s"] + 1.0, fig
    assert not fig["lost"], fig
