"""test_sessions_per_user.py — --max-sessions-per-user and --on-max-sessions
(S33) as clients see them: evict-oldest signs the least recently seen device
out, refuse answers 409 "Signed in on too many devices: sign one out first"
(JSON and the sign-in page) and stores nothing of the refused login; the
flags fall back to SESSIO_MAX_SESSIONS_PER_USER / SESSIO_ON_MAX_SESSIONS."""
import subprocess

from shoplib import USERS, Client

MSG = "Signed in on too many devices: sign one out first"


def _login(shop, user="alice"):
    c = Client(shop)
    r = c.api("POST", "/api/login", {"user": user, "password": USERS[user]})
    return c, r


def test_evict_oldest_signs_out_the_least_recently_seen_device_S33(make_shop):
    shop = make_shop(args=["--max-sessions-per-user", "2"])
    a, r = _login(shop)
    assert r.status_code == 200
    b, _ = _login(shop)
    assert b.session()["authenticated"] is True  # b seen after a
    c, r = _login(shop)
    assert r.status_code == 200
    assert a.session()["authenticated"] is False
    assert b.session()["authenticated"] is True and c.session()["authenticated"] is True
    assert len(c.api("GET", "/api/sessions").json()["sessions"]) == 2
    d, _ = _login(shop, "bob")  # users are counted apart
    assert d.session()["authenticated"] and b.session()["authenticated"]


def test_refuse_answers_409_and_keeps_the_guest_session_S33(make_shop):
    shop = make_shop(env={"SESSIO_MAX_SESSIONS_PER_USER": "2",
                          "SESSIO_ON_MAX_SESSIONS": "refuse"})
    a, _ = _login(shop)
    b, _ = _login(shop)
    g = Client(shop)
    g.add_api("A1", 3)
    r = g.api("POST", "/api/login", {"user": "alice", "password": USERS["alice"]})
    assert r.status_code == 409 and r.json()["error"] == MSG
    assert "Set-Cookie" not in r.headers
    s = g.session()
    assert s["authenticated"] is False and s["cart"] == {"A1": 3}
    h = Client(shop)
    r = h.html_login("alice")
    assert r.status_code == 409 and MSG in r.text
    # Signing one out frees a place.
    assert a.api("POST", "/api/logout").status_code == 204
    r = g.api("POST", "/api/login", {"user": "alice", "password": USERS["alice"]})
    assert r.status_code == 200 and g.session()["cart"] == {"A1": 3}
    assert b.session()["authenticated"] is True


def test_bad_flag_values_stop_the_shop_S33(make_shop):
    for args in (["--max-sessions-per-user", "-1"], ["--on-max-sessions", "oldest"]):
        s = make_shop(args=args, start=False)
        p = subprocess.run(s.args, capture_output=True, text=True, timeout=20, env=s.env,
                           cwd=s.tmp)
        assert p.returncode == 2 and args[0] in p.stderr, (args, p.stderr)
