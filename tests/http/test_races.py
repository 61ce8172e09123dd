"""test_races.py — ending a session while other requests of it are in flight:
a logout (S17), a login (S6) or a revoke from another client (S18) racing
with cart writes on the same cookie must leave the old ID dead; no
in-flight write may bring the record back."""
import threading

import pytest

from shoplib import Client, entry_for_ua, entry_handle, session_entries


def _race(shop, cookie, token, end, writers=8, adds=3):
    barrier = threading.Barrier(writers + 1)
    errors = []

    def add():
        w = Client(shop)
        w.get("/healthz")
        barrier.wait()
        for _ in range(adds):
            r = w.api("POST", "/api/cart", {"sku": "R", "qty": 1}, cookie=cookie, token=token)
            if r.status_code >= 500:
                errors.append(r.status_code)

    def finish():
        barrier.wait()
        end()

    ts = [threading.Thread(target=add) for _ in range(writers)] + [threading.Thread(target=finish)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not errors, f"5xx while racing: {errors}"


def _dead(shop, cookie):
    js = Client(shop).get("/api/session", cookie=cookie).json()
    return js["csrf"] is None and js["authenticated"] is False and js["cart"] == {}


@pytest.mark.parametrize("trial", range(2))
def test_logout_racing_with_writes_leaves_old_id_dead_S17(shop, trial):
    c = Client(shop)
    c.api_login("bob")
    cookie, token = c.cookie, c.csrf
    _race(shop, cookie, token,
          lambda: Client(shop).api("POST", "/api/logout", cookie=cookie, token=token))
    assert _dead(shop, cookie), "a write in flight brought the logged-out session back"


@pytest.mark.parametrize("trial", range(2))
def test_login_racing_with_writes_leaves_old_id_dead_S6(shop, trial):
    c = Client(shop)
    c.add_api("R0")
    cookie, token = c.cookie, c.csrf
    _race(shop, cookie, token, lambda: c.api_login("alice"))
    assert _dead(shop, cookie), "a write in flight brought the pre-login ID back"
    assert c.session()["user"] == "alice"


@pytest.mark.parametrize("trial", range(2))
def test_revoke_racing_with_writes_leaves_revoked_id_dead_S18(module_shop, trial):
    victim = Client(module_shop, ua=f"race-victim-{trial}")
    victim.api_login("bob")
    admin = Client(module_shop, ua=f"race-admin-{trial}")
    admin.api_login("bob")
    handle = entry_handle(entry_for_ua(session_entries(admin.get("/api/sessions").json()),
                                       victim.ua))
    _race(module_shop, victim.cookie, victim.csrf,
          lambda: admin.api("DELETE", f"/api/sessions/{handle}"))
    assert _dead(module_shop, victim.cookie), "a write in flight brought the revoked session back"
    admin.api("DELETE", "/api/sessions?others=1")
