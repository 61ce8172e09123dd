"""test_postgres_shop.py — sessio-shop on the postgres:// store: the shop's
black-box tests of sessions, sign-in and the cart run again with a shop on
PostgreSQL (imported from their modules, with this module's fixtures); two
shop processes on one database lose no cart add (20 connections x 10 adds
on one session, spread over both); while PostgreSQL is down the shop answers
503 to what needs the session, logs the outage once, and recovers by itself
within about a second of the server coming back, sessions intact; and a
PostgreSQL crash and restart under shop write traffic loses no acknowledged
commit (synchronous_commit on). The server is private: initdb in a temporary
directory, a free 127.0.0.1 port, run as "nobody" when the tests run as root,
always stopped.
"""
import ctypes
import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
import time

import pytest

import shoplib
from shoplib import Client, Shop, two_shops_count_all_cart_adds


def _pg_bin():
    env = os.environ.get("SESSIO_PG_BIN")
    if env:
        return env
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return os.path.dirname(found[-1]) if found else None


PG_BIN = _pg_bin()
pytestmark = pytest.mark.skipif(PG_BIN is None,
                                reason="PostgreSQL server not installed (Debian: postgresql)")


class Postgres:
    """A private PostgreSQL: initdb once, then start/stop (fast, immediate
    or kill) on the same port and data directory."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="sessio-pg-shop-")
        self.data = os.path.join(self.dir, "data")
        self.port = shoplib.free_port()
        self.proc = None
        self.uid = self.gid = None
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            pw = pwd.getpwnam("nobody")
            self.uid, self.gid = pw.pw_uid, pw.pw_gid
            os.chown(self.dir, self.uid, self.gid)
        subprocess.run([os.path.join(PG_BIN, "initdb"), "-D", self.data, "-U", "sessio",
                        "-E", "UTF8", "--locale=C", "--no-sync", "--auth=trust"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       preexec_fn=self._child, timeout=120)
        self.url = f"postgres://sessio@127.0.0.1:{self.port}/postgres"

    def _child(self):
        if self.uid is not None:
            os.setgroups([])
            os.setgid(self.gid)
            os.setuid(self.uid)
        # Die with the test process (PR_SET_PDEATHSIG, after setuid).
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)

    def start(self):
        log = open(os.path.join(self.dir, "log"), "ab")
        self.proc = subprocess.Popen(
            [os.path.join(PG_BIN, "postgres"), "-D", self.data, "-p", str(self.port),
             "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=",
             "-c", "synchronous_commit=on", "-c", "fsync=on", "-c", "max_connections=200"],
            stdout=log, stderr=log, preexec_fn=self._child)
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            r = subprocess.run([os.path.join(PG_BIN, "pg_isready"), "-q", "-h", "127.0.0.1",
                                "-p", str(self.port), "-U", "sessio", "-d", "postgres"])
            if r.returncode == 0:
                return
            assert self.proc.poll() is None, "postgres exited: " + self.log()[-2000:]
            time.sleep(0.05)
        raise RuntimeError("postgres did not start")

    def stop(self, sig=signal.SIGINT):
        """SIGINT: fast shutdown; SIGQUIT: immediate (a crash: WAL replay at
        the next start); SIGKILL: the postmaster killed."""
        if self.proc is not None:
            self.proc.send_signal(sig)
            self.proc.wait(60)
            self.proc = None

    def sql(self, query):
        r = subprocess.run([os.path.join(PG_BIN, "psql"), "-X", "-At", "-h", "127.0.0.1",
                            "-p", str(self.port), "-U", "sessio", "-d", "postgres", "-c", query],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    def log(self):
        try:
            with open(os.path.join(self.dir, "log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def destroy(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def pg():
    p = Postgres()
    try:
        p.start()
        yield p
    finally:
        p.destroy()


# ---- the shop's black-box tests, again on postgres:// ------------------------
# The tests below are collected here too, and take the fixtures of this
# module: a shop on PostgreSQL (one table per kind of fixture).
from test_auth import *  # noqa: E402,F401,F403
from test_cart_prefs import *  # noqa: E402,F401,F403
from test_sessions import *  # noqa: E402,F401,F403


def _pg_shop(pg, table):
    s = Shop(store=f"{pg.url}?table={table}")
    try:
        s.start()
    except shoplib.ShopError as e:
        pytest.fail(str(e), pytrace=False)
    return s


def _finish(s):
    s.stop()
    rep = s.sanitizer_report()
    shutil.rmtree(s.tmp, ignore_errors=True)
    if rep:
        pytest.fail(f"sanitizer report in sessio-shop stderr:\n{rep}", pytrace=False)


@pytest.fixture(scope="module")
def shop(pg):
    s = _pg_shop(pg, "shared")
    yield s
    _finish(s)


@pytest.fixture(scope="module")
def module_shop(pg):
    s = _pg_shop(pg, "module")
    yield s
    _finish(s)


@pytest.fixture
def client(shop):
    return Client(shop)


@pytest.fixture(scope="module")
def alice(shop):
    c = Client(shop, ua="sessio-tests/alice-shared")
    c.api_login("alice")
    return c


# ---- postgres-specific ------------------------------------------------------------

def test_shop_sessions_are_rows_of_the_postgres_table(pg, shop):
    """The shared shop really runs on PostgreSQL: a new session is a row,
    its user in the index table, and no row holds the session ID (S7)."""
    c = Client(shop)
    c.api_login("bob")
    c.add_api("PG", 2)
    assert c.session()["cart"] == {"PG": 2}
    assert int(pg.sql("SELECT count(*) FROM shared")) >= 1
    assert int(pg.sql("SELECT count(*) FROM shared_users WHERE user_name = 'bob'::bytea")) >= 1
    sid_hex = c.sid.encode().hex()
    assert pg.sql(f"SELECT count(*) FROM shared WHERE position('\\x{sid_hex}'::bytea in blob) > 0"
                  f" OR position('\\x{sid_hex}'::bytea in key) > 0") == "0"


def test_two_shops_on_one_postgres_count_all_200_cart_adds(make_shop, pg):
    """20 connections x 10 adds on one session over two shop processes on
    one database give exactly 200 items."""
    two_shops_count_all_cart_adds(make_shop, pg.url + "?table=two")


def test_shop_answers_503_while_postgres_is_down_and_recovers_within_a_second(make_shop, pg):
    """An outage: 503 with a JSON error or a page for what needs the
    session, the rest served, one log line per state change, no crash;
    recovery within about a second of the server being back; sessions kept."""
    shop = make_shop(store=pg.url + "?table=outage")
    c = Client(shop)
    c.add_api("K", 3)
    cookie = c.cookie

    pg.stop(signal.SIGINT)
    for _ in range(5):
        r = c.get("/api/session")
        assert r.status_code == 503, (r.status_code, r.text[:200])
        assert "json" in r.headers.get("Content-Type", "")
        assert r.json()
        page = c.get("/cart")
        assert page.status_code == 503
        assert "unavailable" in page.text.lower()
        assert c.get("/healthz").status_code == 200
        assert c.get("/static/style.css").status_code == 200
        assert c.cookie == cookie
    assert shop.proc.poll() is None, "the shop died during the outage"
    down_lines = [l for l in shop.stderr().splitlines() if "unreachable" in l]
    assert len(down_lines) == 1, down_lines
    assert "sessio@127.0.0.1" in down_lines[0]

    pg.start()
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
    assert c.session()["cart"] == {"K": 3}
    up_lines = [l for l in shop.stderr().splitlines() if "reachable again" in l]
    assert len(up_lines) == 1, up_lines
    c.add_api("K", 1)
    assert c.session()["cart"] == {"K": 4}


def test_postgres_crash_under_shop_writes_loses_no_acknowledged_commit(make_shop, pg):
    """Writers add to their carts while PostgreSQL is killed (immediate
    shutdown: no checkpoint, WAL replay at start) and started again. With
    synchronous_commit on, every add the shop acknowledged (200) is there
    afterwards; an add whose answer was lost may be there too (between
    acknowledged and tried). Two shops write, so both processes reconnect."""
    assert pg.sql("SHOW synchronous_commit") == "on"
    url = pg.url + "?table=crash"
    shops = [make_shop(store=url), make_shop(store=url)]
    writers = 6
    clients = []
    for i in range(writers):
        c = Client(shops[i % 2])
        c.add_api("K", 1)
        clients.append(c)
    acked = [1] * writers
    tried = [1] * writers
    statuses = {}
    phase = {"n": 0}
    stop = threading.Event()
    lock = threading.Lock()

    def worker(i):
        c = clients[i]
        while not stop.is_set():
            tried[i] += 1
            try:
                r = c.api("POST", "/api/cart", {"sku": "K", "qty": 1}, timeout=10)
                code = r.status_code
            except Exception:  # noqa: BLE001 - a lost answer counts as tried
                code = -1
            with lock:
                statuses[code] = statuses.get(code, 0) + 1
            if code == 200:
                acked[i] += 1
            else:
                time.sleep(0.01)

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(writers)]
    for t in ts:
        t.start()
    try:
        deadline = time.monotonic() + 60
        while sum(acked) < writers * 20:
            assert time.monotonic() < deadline, f"writes too slow: {acked}"
            time.sleep(0.01)
        pg.stop(signal.SIGQUIT)  # under write load
        phase["n"] = sum(acked)
        time.sleep(0.3)
        pg.start()
        deadline = time.monotonic() + 60
        while sum(acked) < phase["n"] + writers * 20:
            assert time.monotonic() < deadline, f"no writes after the restart: {acked}"
            time.sleep(0.01)
    finally:
        stop.set()
        for t in ts:
            t.join(60)
    print(f"answers: {statuses}")
    assert set(statuses) <= {200, 503}, statuses
    for s in shops:
        assert s.proc.poll() is None, "a shop died"
    for i, c in enumerate(clients):
        cart = c.session()["cart"]
        assert acked[i] <= cart.get("K", 0) <= tried[i], \
            f"writer {i}: acknowledged {acked[i]}, tried {tried[i]}, stored {cart}"


def test_shop_refuses_a_table_that_is_not_ours_with_a_clear_error(pg):
    """The schema check: a table of that name that is not sessio's stops
    the shop at start with one line saying so (and what to do); the table
    is left as it was."""
    pg.sql("CREATE TABLE IF NOT EXISTS orders (id int PRIMARY KEY)")
    pg.sql("INSERT INTO orders VALUES (7) ON CONFLICT DO NOTHING")
    s = Shop(store=pg.url + "?table=orders")
    try:
        p = subprocess.run(s.args, capture_output=True, text=True, timeout=30)
    finally:
        shutil.rmtree(s.tmp, ignore_errors=True)
    assert p.returncode != 0
    assert "table orders or orders_users exists and is not a sessio table" in p.stderr, p.stderr
    assert "?table=NAME" in p.stderr
    assert pg.sql("SELECT id FROM orders") == "7"
