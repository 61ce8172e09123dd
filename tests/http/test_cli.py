"""test_cli.py — `sessio`, the admin command, against real stores (file:,
sqlite:, redis://, redis-cluster://, postgres://, and memory: where
meaningful) that a real sessio-shop writes: stats, users, list, revoke, gc,
check (and --repair: undecodable records, stale and orphaned user index
entries, users with no live session, missing entries, leftover files),
secret new, the secret check, clear errors (unreachable store, unknown
scheme, wrong secret, bad usage), and migrate store to store
(sqlite->redis, redis->sqlite, file->sqlite, sqlite->redis-cluster) with a
shop on the target finding every session afterwards, run twice (idempotent)
and resumed after more sessions arrived. Redis and PostgreSQL servers are
started here on free loopback ports and stopped.
"""
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import tempfile
import time

import pytest

from shoplib import Client, build_dir
from test_postgres_shop import PG_BIN, Postgres
from test_redis_shop import Redis, _free_port

REDIS = shutil.which("redis-server")
need_redis = pytest.mark.skipif(REDIS is None, reason="redis-server not installed")
need_pg = pytest.mark.skipif(PG_BIN is None, reason="PostgreSQL server not installed")


def cli_binary():
    return os.path.join(build_dir(), "apps", "cli", "sessio")


def cli(*args, env=None, check=None):
    """Runs sessio; returns (exit status, stdout, stderr)."""
    e = dict(os.environ)
    e.pop("SESSIO_STORE", None)
    e.pop("SESSIO_SECRET_FILE", None)
    e.update(env or {})
    r = subprocess.run([cli_binary(), *args], capture_output=True, text=True, env=e,
                       timeout=120)
    if check is not None:
        assert r.returncode == check, (args, r.returncode, r.stdout, r.stderr)
    return r.returncode, r.stdout, r.stderr


def cli_json(*args, **kw):
    rc, out, err = cli(*args, "--json", check=0, **kw)
    return json.loads(out)


# ---- servers ------------------------------------------------------------------

@pytest.fixture(scope="module")
def redis_port():
    if REDIS is None:
        pytest.skip("redis-server not installed")
    r = Redis()
    try:
        port = _free_port()
        r.start(port)
        yield port
    finally:
        r.stop()


@pytest.fixture(scope="module")
def cluster_seeds():
    if REDIS is None:
        pytest.skip("redis-server not installed")
    r = Redis()
    try:
        ports = r.start_cluster()
        yield ",".join(f"127.0.0.1:{p}" for p in ports[:3])
    finally:
        r.stop()


@pytest.fixture(scope="module")
def pg_server():
    if PG_BIN is None:
        pytest.skip("PostgreSQL server not installed")
    p = Postgres()
    try:
        p.start()
        yield p
    finally:
        p.destroy()


_n = [0]


def store_url(kind, tmp, redis_port=None, cluster=None, pg=None):
    _n[0] += 1
    if kind == "file":
        return f"file:{tmp}/files{_n[0]}"
    if kind == "sqlite":
        return f"sqlite:{tmp}/s{_n[0]}.db"
    if kind == "redis":
        return f"redis://127.0.0.1:{redis_port}/0?prefix=cli{_n[0]}"
    if kind == "postgres":
        return f"{pg.url}?table=cli{_n[0]}"
    return f"redis-cluster://{cluster}?prefix=cli{_n[0]}"


@pytest.fixture
def tmp():
    d = tempfile.mkdtemp(prefix="sessio-cli-")
    os.chmod(d, 0o700)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def url_for(kind, tmp, request):
    if kind == "redis":
        return store_url(kind, tmp, redis_port=request.getfixturevalue("redis_port"))
    if kind == "cluster":
        return store_url(kind, tmp, cluster=request.getfixturevalue("cluster_seeds"))
    if kind == "postgres":
        return store_url(kind, tmp, pg=request.getfixturevalue("pg_server"))
    return store_url(kind, tmp)


def populate(make_shop, url, args=()):
    """A shop on 'url' with alice signed in twice, bob once and two guests
    with carts. Returns (shop, {name: client})."""
    sh = make_shop(store=url, args=list(args))
    clients = {}
    for name, user in (("alice1", "alice"), ("alice2", "alice"), ("bob", "bob")):
        c = Client(sh, ua=f"ua-{name}")
        c.api_login(user)
        c.add_api("A1", 2)
        clients[name] = c
    for name in ("guest1", "guest2"):
        c = Client(sh, ua=f"ua-{name}")
        c.add_api("B2", 3)
        clients[name] = c
    return sh, clients


def cart_of(c):
    js = c.session()
    return js


KINDS = ["file", "sqlite", pytest.param("redis", marks=need_redis),
         pytest.param("cluster", marks=need_redis),
         pytest.param("postgres", marks=need_pg)]


# ---- every subcommand on every store -------------------------------------------

@pytest.mark.parametrize("kind", KINDS)
def test_subcommands_on_a_store_a_shop_writes(kind, tmp, request, make_shop):
    url = url_for(kind, tmp, request)
    sh, c = populate(make_shop, url)

    st = cli_json("--store", url, "stats")
    assert st["sessions"] == 5 and st["users"] == 2, st
    assert st["bytes"] > 0
    rc, out, _ = cli("--store", url, "stats", check=0)
    assert "sessions   5" in out

    users = cli_json("--store", url, "users")["users"]
    assert users == [{"user": "alice", "sessions": 2}, {"user": "bob", "sessions": 1}]
    rc, out, _ = cli("users", env={"SESSIO_STORE": url}, check=0)  # from the environment
    assert "alice" in out and "bob" in out

    lst = cli_json("--store", url, "list", "--user", "alice")["sessions"]
    assert sorted(s["label"] for s in lst) == ["ua-alice1", "ua-alice2"]
    for s in lst:
        assert len(s["handle"]) == 32 and s["expires_at"] > s["created_at"] > 0
        assert c["alice1"].sid not in json.dumps(lst)  # never an ID
    rc, out, _ = cli("--store", url, "list", "--user", "nobody", check=0)
    assert "no live session" in out

    # revoke one by handle: that cookie stops working, the other does not
    h1 = next(s["handle"] for s in lst if s["label"] == "ua-alice1")
    assert cli_json("--store", url, "revoke", "--user", "alice", "--handle", h1)["revoked"] == 1
    assert cart_of(c["alice1"]).get("user") is None
    assert cart_of(c["alice2"]).get("user") == "alice"
    rc, _, err = cli("--store", url, "revoke", "--user", "alice", "--handle", h1, check=1)
    assert "no live session" in err
    rc, out, _ = cli("--store", url, "revoke", "--user", "bob", "--all", check=0)
    assert "revoked 1 session of bob" in out
    assert cart_of(c["bob"]).get("user") is None
    rc, _, err = cli("--store", url, "revoke", "--user", "bob", check=2)
    assert "--handle" in err

    g = cli_json("--store", url, "gc", "--budget", "5s")
    assert g["complete"] is True and g["removed"] >= 0

    ck = cli_json("--store", url, "check")
    assert ck["ok"] is True and ck["undecodable"] == 0 and ck["stale_index_entries"] == 0, ck
    assert ck["live"] == 3  # alice2 and the two guests
    assert cli_json("--store", url, "stats")["sessions"] == 3

    # --watch: rates between passes while the shop writes
    rc, out, _ = cli("--store", url, "stats", "--watch", "--interval", "0.2", "--count", "2",
                     check=0)
    lines = out.strip().splitlines()
    assert lines[0].split()[0] == "time" and len(lines) == 3, out
    assert "commits/s" in lines[0]


def test_memory_store_and_help_everywhere(tmp):
    st = cli_json("--store", "memory:", "stats")
    assert st == {"store": "memory", "sessions": 0, "users": 0, "bytes": 0,
                  "expired_not_collected": 0}
    rc, out, _ = cli("--help", check=0)
    for cmd in ("stats", "users", "list", "revoke", "gc", "check", "migrate", "secret"):
        assert cmd in out
        rc, sub, _ = cli(cmd, "--help", check=0)
        assert sub.startswith("Usage: sessio") and cmd in sub.split("\n")[0], sub
        rc, sub2, _ = cli("help", cmd, check=0)
        assert sub2 == sub
    rc, out, _ = cli("--version", check=0)
    assert out.startswith("sessio 1.0.0")
    if shutil.which("man"):
        page = os.path.join(os.path.dirname(__file__), "..", "..", "man", "man1", "sessio.1")
        r = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", page],
                           capture_output=True, text=True, env={**os.environ, "MANWIDTH": "80"})
        assert r.returncode == 0 and not r.stderr.strip(), r.stderr
        for cmd in ("stats", "users", "list", "revoke", "gc", "check", "migrate", "secret new"):
            assert cmd in r.stdout


def test_secret_new_writes_64_hex_and_a_newline_mode_0600(tmp):
    path = os.path.join(tmp, "secret")
    rc, out, _ = cli("secret", "new", path, check=0)
    with open(path) as f:
        text = f.read()
    assert len(text) == 65 and text[64] == "\n"
    int(text[:64], 16)
    assert text[:64] == text[:64].lower()
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    rc, _, err = cli("secret", "new", path, check=1)  # never overwritten
    assert "exists" in err
    with open(path) as f:
        assert f.read() == text
    other = os.path.join(tmp, "secret2")
    cli("secret", "new", other, check=0)
    with open(other) as f:
        assert f.read() != text
    cli("secret", check=2)


def test_clear_errors(tmp):
    port = _free_port()  # nothing listens there
    rc, _, err = cli("--store", f"redis://127.0.0.1:{port}", "stats", check=1)
    assert "cannot" in err and "unavailable" in err
    rc, _, err = cli("--store", "nosuchscheme:x", "stats", check=2)
    assert "not a store URL" in err
    rc, _, err = cli("stats", check=2)
    assert "no store" in err
    cli("--store", "memory:", "frobnicate", check=2)
    cli("--store", "memory:", "list", check=2)
    cli("--store", "memory:", "stats", "--bogus", check=2)
    rc, _, err = cli("--store", "memory:", "migrate", check=2)
    assert "--to" in err
    bad = os.path.join(tmp, "bad.key")
    with open(bad, "w") as f:
        f.write("zz\n")
    os.chmod(bad, 0o600)
    rc, _, err = cli("--store", "memory:", "--secret-file", bad, "stats", check=1)
    assert "64 hexadecimal" in err


def test_wrong_secret_is_detected_not_an_empty_listing(tmp, make_shop):
    key = os.path.join(tmp, "k1")
    wrong = os.path.join(tmp, "k2")
    cli("secret", "new", key, check=0)
    cli("secret", "new", wrong, check=0)
    url = f"sqlite:{tmp}/sec.db"
    sh, c = populate(make_shop, url, args=["--secret-file", key])
    rc, _, err = cli("--store", url, "list", "--user", "alice", check=1)
    assert "--secret-file" in err
    rc, _, err = cli("--store", url, "--secret-file", wrong, "list", "--user", "alice", check=1)
    assert "wrong secret" in err
    lst = cli_json("--store", url, "--secret-file", key, "list", "--user", "alice")
    assert len(lst["sessions"]) == 2
    st = cli_json("--store", url, "--secret-file", key, "stats")
    assert st["sessions"] == 5  # the check record is not a session


def test_check_finds_and_repairs_damage_sqlite(tmp, make_shop):
    url = f"sqlite:{tmp}/dmg.db"
    sh, c = populate(make_shop, url)
    db = sqlite3.connect(f"{tmp}/dmg.db", timeout=10)
    far = int(time.time() * 1000) + 3600_000
    # an undecodable record, a stale index entry, a session missing from its index
    db.execute("INSERT INTO sessions(key, version, expires_at, touched_at, user, blob)"
               " VALUES (?, 1, ?, ?, '', ?)",
               (b"\x01" * 32, far, far - 1000, b"garbage"))
    db.execute("INSERT INTO users VALUES ('alice', ?, ?)", (b"\x02" * 32, far))
    (bob_key,) = db.execute("SELECT key FROM users WHERE user = 'bob'").fetchone()
    db.execute("DELETE FROM users WHERE user = 'bob'")
    db.commit()
    db.close()
    rc, out, _ = cli("--store", url, "check", check=1)
    assert "damage found" in out
    ck = cli_json("--store", url, "check", "--repair")
    assert ck["undecodable"] == 1 and ck["stale_index_entries"] == 1, ck
    assert ck["missing_index_entries"] == 1 and ck["ok"] is True
    assert ck["repaired"]["undecodable_removed"] == 1
    assert ck["repaired"]["stale_removed"] == 1 and ck["repaired"]["missing_added"] == 1
    assert cli_json("--store", url, "check")["ok"] is True
    # bob's session is listed (and revocable) again
    assert len(cli_json("--store", url, "list", "--user", "bob")["sessions"]) == 1
    assert cart_of(c["bob"]).get("user") == "bob"


# ---- check: orphans and leftovers on every store ---------------------------------

def _redis_ports(url):
    hosts = url.split("://", 1)[1].split("?", 1)[0].split("/", 1)[0]
    return [int(h.rsplit(":", 1)[1]) for h in hosts.split(",")]


def _redis(port, *args):
    r = subprocess.run(["redis-cli", "-c", "-p", str(port), *args], capture_output=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    return r.stdout


def drop_records_of(kind, url, user, n, request):
    """Deletes up to n session records of 'user' behind the library's back
    (as a crash or a hand-made fix would): their user index entries stay."""
    u = user.encode()
    if kind == "file":
        root, done = url[len("file:"):], 0
        for dirpath, _, files in os.walk(root):
            if "/users" in dirpath[len(root):]:
                continue
            for f in files:
                if len(f) != 64 or done >= n:
                    continue
                p = os.path.join(dirpath, f)
                b = open(p, "rb").read()
                ul = int.from_bytes(b[12:16], "little")
                if b[:8] == b"SSIOFREC" and b[80:80 + ul] == u:
                    os.unlink(p)
                    done += 1
        return done
    if kind == "sqlite":
        db = sqlite3.connect(url[len("sqlite:"):], timeout=10)
        keys = [k for (k,) in db.execute("SELECT key FROM sessions WHERE user = ?", (user,))]
        for k in keys[:n]:
            db.execute("DELETE FROM sessions WHERE key = ?", (k,))
        db.commit()
        db.close()
        return min(n, len(keys))
    if kind == "postgres":
        pg, table = request.getfixturevalue("pg_server"), url.rsplit("table=", 1)[1]
        keys = pg.sql(f"SELECT encode(key, 'hex') FROM {table}"
                      f" WHERE user_name = '{user}'::bytea").split()
        for k in keys[:n]:
            pg.sql(f"DELETE FROM {table} WHERE key = decode('{k}', 'hex')")
        return min(n, len(keys))
    prefix, done = url.split("prefix=", 1)[1], 0
    for port in _redis_ports(url):
        for key in _redis(port, "--scan", "--pattern", f"{prefix}:s:*").split():
            if done < n and _redis(port, "GETRANGE", key, "28", str(28 + len(u))) \
                    == bytes([len(u)]) + u + b"\n":
                _redis(port, "DEL", key)
                done += 1
    return done


def leave_twin(url):
    """A temporary file of a record write that a crash interrupted (file: store)."""
    root = url[len("file:"):]
    name = "ab" * 32
    os.makedirs(os.path.join(root, "ab", "ab"), mode=0o700, exist_ok=True)
    p = os.path.join(root, "ab", "ab", f".{name}.tmp")
    with open(p, "wb") as f:
        f.write(b"SSIOFREC half-written")
    return p


@pytest.mark.parametrize("kind", KINDS)
def test_check_finds_and_repairs_orphaned_index_entries(kind, tmp, request, make_shop):
    url = url_for(kind, tmp, request)
    sh, c = populate(make_shop, url)
    ck = cli_json("--store", url, "check")
    assert ck["ok"] is True and ck["stale_index_entries"] == 0, ck
    assert ck["index_entries"] == 3 and ck["leftovers"] == 0, ck
    # bob's only session and one of alice's two lose their records behind
    # the library's back: their index entries stay, bob has no live session
    assert drop_records_of(kind, url, "bob", 1, request) == 1
    assert drop_records_of(kind, url, "alice", 1, request) == 1
    sh.stop()  # its GC would take the leftover file away before we look
    twin = leave_twin(url) if kind == "file" else None

    rc, out, _ = cli("--store", url, "check", check=1 if twin else 0)
    assert "stale index entries    2 (2 whose record is gone; of 1 user with no live " \
        "session)" in out, out
    if twin:
        assert "leftover: temporary file without its record: ab/ab/" in out, out
        assert "damage found" in out
    else:
        assert out.strip().endswith("ok"), out
    ck = json.loads(cli("--store", url, "check", "--json", check=1 if twin else 0)[1])
    assert ck["stale_index_entries"] == 2 and ck["orphaned_index_entries"] == 2, ck
    assert ck["users_without_live_session"] == 1 and ck["missing_index_entries"] == 0, ck
    # file: ours, and the previous version a record kept beside it (until
    # the shop's GC) when its record went by hand
    left = ck["leftovers"]
    assert (left >= 1) if twin else (left == 0), ck

    rc, out, _ = cli("--store", url, "check", "--repair", check=0)
    assert ("removed 2 stale index entries, added 0 missing index entries, "
            f"removed {left} leftover file") in out, out
    if twin:
        assert not os.path.exists(twin)
    ck = cli_json("--store", url, "check")
    assert ck["ok"] is True and ck["stale_index_entries"] == 0 and ck["leftovers"] == 0, ck
    assert ck["index_entries"] == 1 and ck["live"] == 3, ck
    assert cli_json("--store", url, "list", "--user", "bob")["sessions"] == []
    assert len(cli_json("--store", url, "list", "--user", "alice")["sessions"]) == 1
    # a shop on the repaired store still serves the sessions left alone
    sh2 = make_shop(store=url)
    c["guest1"].shop = sh2
    assert cart_of(c["guest1"]).get("cart")


# ---- migrate --------------------------------------------------------------------

def carts(clients):
    return {n: (js.get("user"), json.dumps(js.get("cart"), sort_keys=True))
            for n, js in ((n, cart_of(c)) for n, c in clients.items())}


@pytest.mark.parametrize("src,dst", [
    ("sqlite", "redis"), ("redis", "sqlite"), ("file", "sqlite"), ("sqlite", "cluster"),
    pytest.param("sqlite", "postgres", marks=need_pg),
    pytest.param("postgres", "file", marks=need_pg)])
def test_migrate_store_to_store_with_live_shops(src, dst, tmp, request, make_shop):
    if "redis" in (src, dst) or "cluster" in (src, dst):
        if REDIS is None:
            pytest.skip("redis-server not installed")
    a_url, b_url = url_for(src, tmp, request), url_for(dst, tmp, request)
    sh_a, clients = populate(make_shop, a_url)
    before = carts(clients)
    assert before["alice1"][0] == "alice" and before["guest1"][0] is None

    m = cli_json("--store", a_url, "migrate", "--to", b_url)
    assert m["live"] == 5 and m["copied"] == 5 and m["missing"] == 0, m
    assert m["found_in_target"] == 5 and m["index_entries"] == 3
    # idempotent: a second run copies nothing and says so
    rc, out, _ = cli("--store", a_url, "migrate", "--to", b_url, check=0)
    assert "already in the target" in out and "count check: 5 of 5" in out

    # a half-finished migration run again: new sessions since are copied,
    # the rest is found there already
    late = Client(sh_a, ua="ua-late")
    late.add_api("C3", 1)
    clients["late"] = late
    before = carts(clients)
    rc, out, _ = cli("--store", a_url, "migrate", "--to", b_url, check=0)
    assert "resumed: 5 sessions were already in the target" in out, out

    # the shops move to the new store: every cookie keeps working
    sh_a.stop()
    sh_b = make_shop(store=b_url)
    for c in clients.values():
        c.shop = sh_b
    assert carts(clients) == before
    lst = cli_json("--store", b_url, "list", "--user", "alice")["sessions"]
    assert len(lst) == 2  # the user index came along
    assert clients["alice2"].add_api("A1", 1)  # and they write there
