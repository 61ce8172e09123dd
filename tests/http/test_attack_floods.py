"""test_attack_floods.py — the shop under short floods from a hostile client:
slow connections and trickled heads (S26), wrong-password floods that
must not slow other requests or grow memory (S27), password guessing past
the sign-in limits (S28) and floods of new guest sessions (S29). Each flood
lasts seconds and the asserts are counts and ratios measured in the same
run, never absolute speeds; the latency figures are made by
bench/attack/run.sh (docs/RELIABILITY.md)."""
import http.client
import json
import os
import re
import socket
import statistics
import threading
import time

import pytest

OTHER = "127.0.0.2"  # another client: the whole of 127/8 is loopback on Linux


def _req(shop, method, path, body=None, headers=None, source=None, timeout=10):
    """One request on a fresh connection; returns (status, headers, body, seconds)."""
    h = {"Connection": "close"}
    data = None
    if isinstance(body, dict):
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    elif body is not None:
        data = body.encode()
        h["Content-Type"] = "application/x-www-form-urlencoded"
    h.update(headers or {})
    t0 = time.monotonic()
    c = http.client.HTTPConnection("127.0.0.1", shop.port, timeout=timeout,
                                   source_address=(source, 0) if source else None)
    try:
        c.request(method, path, body=data, headers=h)
        r = c.getresponse()
        b = r.read()
        return r.status, dict(r.getheaders()), b, time.monotonic() - t0
    finally:
        c.close()


def _login(shop, user, password, source=None):
    return _req(shop, "POST", "/api/login", {"user": user, "password": password}, source=source)


def _p(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def _closed_by_server(s, wait):
    """True when the server has closed (EOF or reset) 's' within 'wait' s."""
    s.settimeout(wait)
    try:
        while True:
            d = s.recv(4096)
            if not d:
                return True
    except socket.timeout:
        return False
    except OSError:
        return True


# ---- S26: connections ------------------------------------------------------------

def test_2000_slow_connections_from_one_client_leave_other_clients_served_S26(make_shop):
    shop = make_shop(args=["--threads", "2"])
    socks = []
    try:
        for _ in range(2000):
            s = socket.socket()
            s.setblocking(False)
            try:
                s.connect(("127.0.0.1", shop.port))
            except BlockingIOError:
                pass
            socks.append(s)
        time.sleep(0.5)  # let the server accept (or refuse) them all
        for s in socks:
            s.setblocking(True)
            try:  # an unfinished request, as a slowloris sends
                s.send(b"GET / HTTP/1.1\r\nHost: x\r\nX-a: 1\r\n")
            except OSError:
                pass
        served, lat = 0, []
        for _ in range(100):
            try:
                st, _, _, dt = _req(shop, "GET", "/healthz", source=OTHER, timeout=5)
                served += st == 200
                lat.append(dt)
            except OSError:
                pass
        assert served == 100, f"{served}/100 healthz served beside 2000 slow connections"
        open_ = sum(not _closed_by_server(s, 0.01) for s in socks)
        assert open_ <= 128, f"{open_} slow connections of one client kept open"
    finally:
        for s in socks:
            s.close()


def test_connections_of_one_client_are_capped_by_the_flag_S26(make_shop):
    shop = make_shop(args=["--max-conns-per-client", "5"])
    time.sleep(0.3)  # the readiness probe's connection is gone
    socks = [socket.create_connection(("127.0.0.1", shop.port)) for _ in range(12)]
    try:
        time.sleep(0.3)
        kept = sum(not _closed_by_server(s, 0.2) for s in socks)
        assert kept == 5, f"{kept} connections kept, want 5"
        st, _, _, _ = _req(shop, "GET", "/healthz", source=OTHER)
        assert st == 200  # another client is not counted with it
    finally:
        for s in socks:
            s.close()


def test_head_trickled_line_by_line_is_cut_at_the_header_timeout_S26(make_shop):
    shop = make_shop(args=["--header-timeout", "2s"])
    s = socket.create_connection(("127.0.0.1", shop.port))
    t0 = time.monotonic()
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    closed_at = None
    for i in range(16):  # one header line every 0.5 s resets an idle timeout
        if _closed_by_server(s, 0.5):
            closed_at = time.monotonic() - t0
            break
        try:
            s.sendall(b"X-Line-%d: x\r\n" % i)
        except OSError:
            closed_at = time.monotonic() - t0
            break
    s.close()
    assert closed_at is not None, "a head trickled for 8 s was never cut"
    assert 1.5 <= closed_at <= 4.5, closed_at
    st, _, _, _ = _req(shop, "GET", "/healthz")  # the server is fine
    assert st == 200


def test_connection_flags_are_checked_and_fall_back_to_environment_S26(make_shop):
    from shoplib import Shop
    import subprocess
    for args in (["--max-conns", "0"], ["--max-conns-per-client", "x"],
                 ["--header-timeout", "forever"], ["--login-limit", "-1"],
                 ["--login-window", "0"], ["--threads", "65"]):
        s = Shop(args=args)
        p = subprocess.run(s.args, capture_output=True, text=True, timeout=20)
        assert p.returncode == 2 and p.stderr.strip(), (args, p.returncode, p.stderr)
    shop = make_shop(env={"SESSIO_MAX_CONNS_PER_CLIENT": "3"})
    time.sleep(0.3)
    socks = [socket.create_connection(("127.0.0.1", shop.port)) for _ in range(6)]
    try:
        time.sleep(0.3)
        assert sum(not _closed_by_server(s, 0.2) for s in socks) == 3
    finally:
        for s in socks:
            s.close()


# ---- S27: password checks off the request path -------------------------------------

def _vm(shop, field):
    with open(f"/proc/{shop.proc.pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def test_wrong_login_flood_neither_slows_other_requests_nor_grows_memory_S27(make_shop):
    # ASan keeps freed blocks in a quarantine of up to 256 MiB to catch use
    # after free: its memory, not the shop's. Each connection's 32 KiB
    # libmicrohttpd pool comes from malloc, so a connection flood fills it;
    # a small quarantine keeps the figure the shop's own.
    asan = os.environ.get("ASAN_OPTIONS", "")
    shop = make_shop(args=["--threads", "8", "--login-limit", "0"],
                     env={"ASAN_OPTIONS": f"{asan}:quarantine_size_mb=8".lstrip(":")})
    st, _, _, _ = _login(shop, "alice", "nope")  # one check: its memory is in the baseline
    assert st == 401
    hwm0 = _vm(shop, "VmHWM")
    stop = threading.Event()
    logins, statuses, retry = [], [], []

    def attacker():
        while not stop.is_set():
            try:
                st, h, _, dt = _login(shop, "alice", "wrong-password", source=OTHER)
            except OSError:  # over the per-client connection limit: refused
                continue
            statuses.append(st)
            if st == 401:
                logins.append(dt)
            if st == 503:
                retry.append(h.get("Retry-After"))

    ts = [threading.Thread(target=attacker) for _ in range(16)]
    for t in ts:
        t.start()
    time.sleep(0.5)
    health, session = [], []
    t_end = time.monotonic() + 3
    while time.monotonic() < t_end:
        health.append(_req(shop, "GET", "/healthz")[3])
        session.append(_req(shop, "GET", "/api/session")[3])
    stop.set()
    for t in ts:
        t.join(60)
    grown = _vm(shop, "VmHWM") - hwm0
    assert logins, statuses
    assert set(statuses) <= {401, 503}, set(statuses)
    assert statuses.count(503) > 0, "a full queue never answered 503"
    assert all(r is not None and r.isdigit() for r in retry), retry[:5]
    check = statistics.median(logins)
    assert _p(health, 0.9) < check / 4, (_p(health, 0.9), check)
    assert _p(session, 0.9) < check / 4, (_p(session, 0.9), check)
    # 8 request threads each holding 64 MiB would grow by 448 MiB; the pool
    # holds one check per core
    assert grown < 200 * 2**20, f"peak memory grew by {grown >> 20} MiB"


def test_password_check_after_resume_answers_once_and_signs_in_S27(make_shop):
    from shoplib import Client
    shop = make_shop()
    c = Client(shop)
    c.add_api("A1")
    r = c.api("POST", "/api/login", {"user": "alice", "password": "wonderland"})
    assert r.status_code == 200 and r.json()["user"] == "alice"
    assert c.session()["cart"] == {"A1": 1}
    # a form handled again after the check is decoded once, not twice
    # ("buil%2564er" twice decoded would be bob's "builder")
    assert _req(shop, "POST", "/login", "user=bob&password=buil%2564er")[0] == 401
    assert _req(shop, "POST", "/login", "user=bob&password=buil%64er")[0] == 303


# ---- S28: sign-in limits ----------------------------------------------------------------

def test_wrong_passwords_past_the_limit_are_429_without_a_check_S28(make_shop):
    shop = make_shop(args=["--login-limit", "3", "--login-window", "1h"])
    slow = []
    for _ in range(3):
        st, _, _, dt = _login(shop, "alice", "guess")
        assert st == 401
        slow.append(dt)
    fast = []
    for pw in ("guess", "wonderland"):  # not even the right one is checked
        st, h, b, dt = _login(shop, "alice", pw)
        assert st == 429, (st, b)
        assert 3500 <= int(h["Retry-After"]) <= 3600, h
        assert json.loads(b)["error"] == "too many attempts"
        fast.append(dt)
    assert max(fast) < min(slow) / 3, (fast, slow)
    st, h, b, _ = _req(shop, "POST", "/login", "user=alice&password=guess")
    assert st == 429 and "Retry-After" in h
    m = re.search(r"Too many attempts, try again in (\d+) s", b.decode())
    assert m and 3500 <= int(m.group(1)) <= 3600, b[:500]
    # another account from the same client still gets its own tries
    assert _login(shop, "bob", "builder")[0] == 200


def test_attackers_failures_never_lock_the_owner_out_from_another_client_S28(make_shop):
    shop = make_shop(args=["--login-limit", "3", "--login-window", "1h"])
    for _ in range(8):
        assert _login(shop, "alice", "guess")[0] in (401, 429)
    assert _login(shop, "alice", "wonderland")[0] == 429
    st, _, b, _ = _login(shop, "alice", "wonderland", source=OTHER)
    assert st == 200, (st, b)


def test_one_client_failing_on_many_accounts_is_limited_too_S28(make_shop):
    shop = make_shop(args=["--login-limit", "2", "--login-window", "1h"])
    got = [_login(shop, f"user{i}", "guess")[0] for i in range(9)]
    assert got[:8] == [401] * 8 and got[8] == 429, got
    assert _login(shop, "alice", "wonderland", source=OTHER)[0] == 200


def test_login_limit_zero_turns_the_limit_off_S28(make_shop):
    shop = make_shop(args=["--login-limit", "0"], env={"SESSIO_LOGIN_WINDOW": "1h"})
    assert [_login(shop, "alice", "guess")[0] for _ in range(6)] == [401] * 6
    assert _login(shop, "alice", "wonderland")[0] == 200


# ---- S29: session floods -------------------------------------------------------------

def _cart_add(shop, cookie=None, source=None, token=None):
    h = {"Cookie": cookie} if cookie else {}
    if token:
        h["X-CSRF-Token"] = token
    return _req(shop, "POST", "/api/cart", {"sku": "A1", "qty": 1}, headers=h, source=source)


def test_new_sessions_of_one_client_are_limited_S29(make_shop):
    shop = make_shop(args=["--new-sessions-limit", "20", "--new-sessions-window", "1h"])
    made = [_cart_add(shop) for _ in range(20)]
    assert [m[0] for m in made] == [200] * 20
    assert all("Set-Cookie" in m[1] for m in made)
    st, h, b, _ = _cart_add(shop)
    assert st == 429, (st, b)
    assert 3500 <= int(h["Retry-After"]) <= 3600 and "Set-Cookie" not in h, h
    assert json.loads(b)["error"] == "too many new sessions"
    assert _cart_add(shop, source=OTHER)[0] == 200  # another client
    # sessions the client has keep working
    cookie = made[0][1]["Set-Cookie"].split(";")[0]
    st, _, b, _ = _req(shop, "GET", "/api/session", headers={"Cookie": cookie})
    tok = json.loads(b)["csrf"]
    assert _cart_add(shop, cookie=cookie, token=tok)[0] == 200


def _alice(shop):
    st, h, b, _ = _login(shop, "alice", "wonderland", source=OTHER)
    assert st == 200, b
    return h["Set-Cookie"].split(";")[0]


def _signed_in(shop, cookie):
    st, _, b, _ = _req(shop, "GET", "/api/session", headers={"Cookie": cookie}, source=OTHER)
    return st == 200 and json.loads(b)["user"] == "alice"


def test_guest_flood_never_evicts_a_signed_in_session_from_a_bounded_memory_store_S29(make_shop):
    shop = make_shop(store="memory:?max_sessions=50", args=["--new-sessions-limit", "0"])
    alice = _alice(shop)
    got = [_cart_add(shop)[0] for _ in range(600)]
    assert got.count(200) >= 500, got.count(200)  # guests evict guests
    assert set(got) <= {200, 503}, set(got)
    assert _signed_in(shop, alice)


def test_bounded_sqlite_store_refuses_new_guests_with_503_and_keeps_users_S29(make_shop):
    shop = make_shop(store="sqlite:{tmp}/s.db?max_sessions=20", args=["--new-sessions-limit", "0"])
    alice = _alice(shop)
    got = [_cart_add(shop) for _ in range(25)]
    codes = [g[0] for g in got]
    assert codes == [200] * 19 + [503] * 6, codes
    assert got[-1][1].get("Retry-After") and "Set-Cookie" not in got[-1][1]
    assert _signed_in(shop, alice)
    assert _login(shop, "bob", "builder")[0] == 200  # users still sign in
    assert "session store full" in shop.stderr()


# The same bound on the shared stores, each server started here (skipped when
# it is not installed): file:, redis://, redis-cluster:// and postgres://.
def _bounded_store(request, kind, tmp_path):
    import random
    if kind == "file":
        return f"file:{tmp_path}/s?max_sessions=20"
    if kind.startswith("redis"):
        from test_redis_shop import REDIS
        if REDIS is None:
            pytest.skip("redis-server not installed")
        fx = "redis_url" if kind == "redis" else "cluster_url"
        url = request.getfixturevalue(fx)[0]
        return f"{url}?prefix=bound{random.randrange(1 << 30)}&max_sessions=20"
    from test_postgres_shop import PG_BIN
    if PG_BIN is None:
        pytest.skip("PostgreSQL server not installed")
    pg = request.getfixturevalue("pg")
    return f"{pg.url}?table=bound{random.randrange(1 << 30)}&max_sessions=20"


from test_redis_shop import redis_url, cluster_url  # noqa: E402,F401 (fixtures)
from test_postgres_shop import pg  # noqa: E402,F401 (fixture)


@pytest.mark.parametrize("kind", ["file", "redis", "redis-cluster", "postgres"])
def test_bounded_shared_store_refuses_new_guests_with_503_and_keeps_users_S29(
        make_shop, request, tmp_path, kind):
    shop = make_shop(store=_bounded_store(request, kind, tmp_path),
                     args=["--new-sessions-limit", "0"])
    alice = _alice(shop)
    got = [_cart_add(shop) for _ in range(25)]
    codes = [g[0] for g in got]
    assert codes == [200] * 19 + [503] * 6, codes
    assert got[-1][1].get("Retry-After") and "Set-Cookie" not in got[-1][1]
    assert _signed_in(shop, alice)
    # alice keeps working: her cart takes writes past the bound
    st, _, b, _ = _req(shop, "GET", "/api/session", headers={"Cookie": alice}, source=OTHER)
    tok = json.loads(b)["csrf"]
    assert _cart_add(shop, cookie=alice, token=tok, source=OTHER)[0] == 200
    assert _login(shop, "bob", "builder")[0] == 200  # users still sign in
    assert _cart_add(shop)[0] == 503
    assert "session store full" in shop.stderr()
