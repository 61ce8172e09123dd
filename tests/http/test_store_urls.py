"""test_store_urls.py — sessio-shop on its durable stores (--store URL): the
JSON API conformance script and the session rules hold on sqlite: and file:,
sessions survive a clean restart (SIGTERM closes the store), and with no
--store the durable default is used."""
import os
import subprocess
import threading

import pytest

from shoplib import Client, well_formed_id

CHECK_API = "/work/shared/peers/wrk/check_api.py"
STORES = ["sqlite:{tmp}/s.db", "file:{tmp}/sessions"]


@pytest.mark.parametrize("store", STORES, ids=["sqlite", "file"])
def test_check_api_passes_on_durable_store(make_shop, store):
    if not os.path.exists(CHECK_API):
        pytest.skip(f"{CHECK_API} not present")
    s = make_shop(store=store)
    p = subprocess.run(["/usr/bin/python3", CHECK_API, s.base], capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, "\n".join(l for l in p.stdout.splitlines() if l.startswith("FAIL"))


@pytest.mark.parametrize("store", STORES, ids=["sqlite", "file"])
def test_session_rules_hold_on_durable_store_S5_S6_S17_S18(make_shop, store):
    s = make_shop(store=store)
    fid = well_formed_id()
    c = Client(s, ua="store-rules-A")
    c.cookie = f"sid={fid}"
    c.add_api("U1", 2)
    assert c.sid != fid                                   # S5
    before = c.cookie
    c.api_login("alice")
    assert c.cookie != before                             # S6
    assert Client(s).get("/api/session", cookie=before).json()["csrf"] is None
    assert c.session()["cart"] == {"U1": 2}
    b = Client(s, ua="store-rules-B")
    b.api_login("alice")
    r = c.api("DELETE", "/api/sessions?others=1")         # S18
    assert r.status_code in (200, 204)
    assert b.session()["authenticated"] is False
    old = c.cookie
    assert c.api("POST", "/api/logout").status_code == 204
    assert Client(s).get("/api/session", cookie=old).json()["authenticated"] is False  # S17


@pytest.mark.parametrize("store", STORES + [None], ids=["sqlite", "file", "default"])
def test_sessions_survive_a_clean_restart(make_shop, store):
    """SIGTERM closes the store; a new process on the same store knows the
    session. store=None: no --store flag, so the default (durable) store."""
    s = make_shop(store=store)
    c = Client(s)
    c.add_api("R1", 3)
    c.api_login("bob")
    c.api("PUT", "/api/prefs", {"theme": "dark", "lang": "de"})
    code = s.stop()
    assert code == 0, f"exit code {code} on SIGTERM"
    s2 = make_shop(store=store, tmp=s.tmp)
    c.shop = s2
    js = c.session()
    assert js["user"] == "bob" and js["cart"] == {"R1": 3} and js["prefs"] == {
        "theme": "dark", "lang": "de"}, js


@pytest.mark.parametrize("store", ["memory:", STORES[0]], ids=["memory", "sqlite"])
def test_concurrent_logins_are_all_listed_and_all_revoked_S18(make_shop, store):
    """The user's index of sessions loses no entry when logins race, so
    'sign out everywhere else' reaches every one of them."""
    s = make_shop(store=store)
    n = 8
    clients = [Client(s, ua=f"idx-{i}") for i in range(n)]
    barrier = threading.Barrier(n)

    def go(c):
        c.get("/healthz")
        barrier.wait()
        c.api_login("alice")

    ts = [threading.Thread(target=go, args=(c,)) for c in clients]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    admin = Client(s, ua="idx-admin")
    admin.api_login("alice")
    listed = admin.get("/api/sessions").text
    assert all(c.ua in listed for c in clients), "a racing login is missing from the list"
    r = admin.api("DELETE", "/api/sessions?others=1")
    assert r.status_code in (200, 204)
    alive = [c.ua for c in clients
             if Client(s).get("/api/session", cookie=c.cookie).json()["authenticated"]]
    assert not alive, f"still signed in after 'everywhere else': {alive}"
    assert admin.session()["authenticated"]
