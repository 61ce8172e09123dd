"""test_tokens.py — the header-token transport of the shop (S30), as a mobile
client uses it: POST /api/login with "transport":"token" answers the token
in the JSON and in X-Session-Token and never in Set-Cookie; every /api/*
route takes "Authorization: Bearer"; a session cookie and a bearer token
together are 400 and adopt neither; a token session needs no CSRF token, a
cookie session always does; logout and revocation kill the token; the ID is
never read from a URL; --tokens off (or SESSIO_TOKENS=off) turns it off."""
import subprocess

import requests

from shoplib import SID_RE, USERS, Client, set_cookies, well_formed_id


def _post(shop, path, body=None, headers=None):
    return requests.post(shop.url(path), json=body, headers=headers or {},
                         allow_redirects=False, timeout=30)


def _get(shop, path, headers=None):
    return requests.get(shop.url(path), headers=headers or {}, allow_redirects=False,
                        timeout=30)


def _bearer(tok):
    return {"Authorization": f"Bearer {tok}"}


def _token_login(shop, user="alice", headers=None):
    r = _post(shop, "/api/login",
              {"user": user, "password": USERS[user], "transport": "token"}, headers)
    assert r.status_code == 200, (r.status_code, r.text[:300])
    return r


def test_token_login_answers_the_token_in_json_and_header_never_a_cookie_S30(shop):
    r = _token_login(shop)
    js = r.json()
    assert SID_RE.match(js["token"]) and js["user"] == "alice"
    assert r.headers["X-Session-Token"] == js["token"]
    assert set_cookies(r) == [], "a token login set a cookie"
    s = _get(shop, "/api/session", _bearer(js["token"])).json()
    assert s["authenticated"] is True and s["user"] == "alice"


def test_every_api_route_takes_the_bearer_without_a_csrf_token_S30(shop):
    tok = _token_login(shop).json()["token"]
    h = _bearer(tok)
    r = _post(shop, "/api/cart", {"sku": "A1", "qty": 2}, h)
    assert r.status_code == 200, r.text
    assert r.json()["cart"] == {"A1": 2} and set_cookies(r) == []
    r = requests.put(shop.url("/api/prefs"), json={"theme": "dark"}, headers=h, timeout=30)
    assert r.status_code == 200, r.text
    r = requests.delete(shop.url("/api/cart/A1"), headers=h, timeout=30)
    assert r.status_code == 200 and r.json()["cart"] == {}
    r = _get(shop, "/api/sessions", h)
    assert r.status_code == 200 and any(x["current"] for x in r.json()["sessions"])
    assert _get(shop, "/api/session", h).json()["prefs"] == {"theme": "dark"}


def test_cookie_and_bearer_together_are_400_and_adopt_neither_S30(shop):
    tok = _token_login(shop).json()["token"]
    c = Client(shop)
    c.add_api("B2", 1)
    for path in ("/api/session", "/"):
        r = _get(shop, path, {**_bearer(tok), "Cookie": c.cookie})
        assert r.status_code == 400, (path, r.status_code)
        assert "X-Session-Token" not in r.headers and set_cookies(r) == []
    r = _post(shop, "/api/cart", {"sku": "A1", "qty": 1},
              {**_bearer(tok), "Cookie": c.cookie, "X-CSRF-Token": c.csrf})
    assert r.status_code == 400 and "bearer" in r.json()["error"]
    # Neither changed.
    assert _get(shop, "/api/session", _bearer(tok)).json()["cart"] == {}
    assert c.session()["cart"] == {"B2": 1}


def test_cookie_session_always_needs_the_csrf_token_S30(shop):
    c = Client(shop)
    c.add_api("A1", 1)
    # Asking for the token transport does not lift it for a cookie session.
    r = c.api("POST", "/api/cart", {"sku": "A1", "qty": 1}, token=False,
              headers={"X-Session-Transport": "token"})
    assert r.status_code == 403
    assert "X-Session-Token" not in r.headers
    # Nor does a cookie session become a token at login.
    r = c.api("POST", "/api/login", {"user": "alice", "password": USERS["alice"],
                                     "transport": "token"})
    assert r.status_code == 400 and "X-Session-Token" not in r.headers
    assert c.session()["cart"] == {"A1": 1}


def test_transport_header_gives_a_guest_token_session_S30(shop):
    r = _post(shop, "/api/cart", {"sku": "C3", "qty": 1}, {"X-Session-Transport": "token"})
    assert r.status_code == 200, r.text
    tok = r.headers["X-Session-Token"]
    assert SID_RE.match(tok) and set_cookies(r) == []
    # The guest cart survives a token login, which changes the token (S6).
    r = _token_login(shop, headers=_bearer(tok))
    new = r.json()["token"]
    assert new != tok and r.headers["X-Session-Token"] == new
    assert _get(shop, "/api/session", _bearer(new)).json()["cart"] == {"C3": 1}
    assert _get(shop, "/api/session", _bearer(tok)).json()["authenticated"] is False


def test_logout_and_revocation_kill_the_token_S30(shop):
    tok = _token_login(shop, "bob").json()["token"]
    r = _post(shop, "/api/logout", None, _bearer(tok))
    assert r.status_code == 204 and set_cookies(r) == []
    s = _get(shop, "/api/session", _bearer(tok)).json()
    assert s["authenticated"] is False and s["cart"] == {}
    # Revoked from another session of the same user.
    t1 = _token_login(shop, "bob").json()["token"]
    t2 = _token_login(shop, "bob").json()["token"]
    r = requests.delete(shop.url("/api/sessions?others=1"), headers=_bearer(t2), timeout=30)
    assert r.status_code == 200 and r.json()["revoked"] >= 1
    assert _get(shop, "/api/session", _bearer(t1)).json()["authenticated"] is False
    assert _get(shop, "/api/session", _bearer(t2)).json()["authenticated"] is True


def test_bad_or_made_up_tokens_are_anonymous_and_never_adopted_S30(shop):
    made = well_formed_id()
    r = _post(shop, "/api/cart", {"sku": "A1", "qty": 1}, _bearer(made))
    assert r.status_code == 200
    new = r.headers["X-Session-Token"]
    assert new != made, "a client-chosen ID was adopted (S5)"
    for junk in ("not-an-id", "a" * 500, made + "x"):
        s = _get(shop, "/api/session", _bearer(junk))
        assert s.status_code == 200 and s.json()["authenticated"] is False


def test_the_id_is_never_read_from_a_url_S30(shop):
    tok = _token_login(shop).json()["token"]
    for q in (f"?token={tok}", f"?access_token={tok}", f"?sid={tok}"):
        s = _get(shop, "/api/session" + q).json()
        assert s["authenticated"] is False, q


def test_tokens_off_ignores_the_bearer_and_refuses_token_login_S30(make_shop):
    for shop in (make_shop(args=["--tokens=off"]), make_shop(env={"SESSIO_TOKENS": "off"})):
        tok = well_formed_id()
        r = _post(shop, "/api/login", {"user": "alice", "password": USERS["alice"],
                                       "transport": "token"})
        assert r.status_code == 400 and "--tokens" in r.json()["error"]
        r = _post(shop, "/api/cart", {"sku": "A1", "qty": 1}, _bearer(tok))
        assert r.status_code == 200 and "X-Session-Token" not in r.headers
        assert set_cookies(r), "a cookie session was expected"
    bad = make_shop(args=["--tokens=maybe"], start=False)
    p = subprocess.run(bad.args, capture_output=True, text=True, timeout=20, env=bad.env,
                       cwd=bad.tmp)
    assert p.returncode != 0 and "--tokens wants on or off" in p.stderr
