"""test_auth.py — signing in and out, HTML and JSON: argon2id password check,
the ID changing at login (S6), failed logins leaving no mark (S22), logout
deleting the record and clearing the cookie (S17), login's next= redirect."""
import urllib.parse

import pytest

from shoplib import HEX64, SID_RE, Client, find_form, set_cookies, visible_text


def _anonymous(shop, cookie):
    js = Client(shop).get("/api/session", cookie=cookie).json()
    return js["authenticated"] is False and js["csrf"] is None and js["cart"] == {} \
        and js["user"] is None


def test_api_login_changes_id_keeps_cart_and_old_id_is_anonymous_S6(shop):
    c = Client(shop)
    c.add_api("A1", 2)
    old_cookie, old_csrf = c.cookie, c.csrf
    r = c.api_login("alice")
    js = r.json()
    assert js["user"] == "alice" and HEX64.match(js["csrf"]) and js["csrf"] != old_csrf
    assert c.cookie != old_cookie and SID_RE.match(c.sid)
    assert _anonymous(shop, old_cookie), "the pre-login ID still works"
    s = c.session()
    assert s["authenticated"] is True and s["user"] == "alice" and s["cart"] == {"A1": 2}


def test_html_login_changes_id_keeps_cart_and_redirects_303_S6(shop):
    c = Client(shop)
    home = c.get("/")
    sku = find_form(home.text, "/cart/add").values()["sku"]
    r = c.request("POST", "/cart/add", data={"sku": sku, "qty": "3"})
    assert r.status_code in (302, 303)
    old = c.cookie
    assert old, "first cart add made no session"
    r = c.html_login("alice")
    assert r.status_code == 303, (r.status_code, r.text[:300])
    assert urllib.parse.urlsplit(r.headers["Location"]).path == "/"
    assert c.cookie and c.cookie != old
    assert _anonymous(shop, old)
    s = c.session()
    assert s["user"] == "alice" and s["authenticated"] and s["cart"] == {sku: 3}


def test_login_without_prior_session_creates_authenticated_session(shop):
    c = Client(shop)
    r = c.html_login("bob")
    assert r.status_code == 303
    assert c.cookie
    assert c.session()["user"] == "bob"


def test_login_redirects_to_local_next(shop):
    c = Client(shop)
    r = c.html_login("bob", next_="/cart")
    assert r.status_code == 303
    assert urllib.parse.urlsplit(r.headers["Location"]).path == "/cart"


@pytest.mark.parametrize("bad_next", ["https://evil.example/", "//evil.example/x",
                                      "/\\evil.example", "javascript:alert(1)",
                                      "/\t/evil.example", "/\r\nSet-Cookie: x=1"])
def test_login_next_is_never_an_open_redirect(shop, bad_next):
    """next= must stay on the site: an open redirect after sign-in would
    lend the shop's name to a phishing page."""
    c = Client(shop)
    r = c.html_login("bob", next_=bad_next)
    assert r.status_code == 303
    loc = r.headers["Location"]
    p = urllib.parse.urlsplit(loc)
    assert p.netloc in ("", f"127.0.0.1:{shop.port}") and not loc.startswith("//") \
        and "\\" not in loc and p.scheme in ("", "http"), loc
    assert not any(ch in loc for ch in "\t\r\n"), repr(loc)  # browsers drop tabs: /\t/ = //
    assert "x" not in [sc.name for sc in set_cookies(r)]


@pytest.mark.parametrize("user,password", [("alice", "nope"), ("alice", ""),
                                           ("nobody", "wonderland"), ("bob", "wonderland"),
                                           ("alice", "Wonderland")])
def test_api_login_wrong_credentials_is_401_and_no_mark_S22(shop, user, password):
    c = Client(shop)
    c.add_api("A2")
    before = c.cookie
    r = c.api("POST", "/api/login", {"user": user, "password": password})
    assert r.status_code == 401
    assert "error" in r.json()
    assert c.cookie == before, "a failed login must not change the session ID"
    s = c.session()
    assert s["authenticated"] is False and s["user"] is None and s["cart"] == {"A2": 1}


def test_html_login_wrong_password_is_401_with_message_S22(shop):
    c = Client(shop)
    r = c.html_login("alice", password="not-the-password")
    assert r.status_code == 401
    assert r.headers["Content-Type"].startswith("text/html")
    assert len(visible_text(r.text)) > 0
    assert "not-the-password" not in r.text, "the password is echoed back"
    js = c.get("/api/session").json() if c.cookie else {"authenticated": False}
    assert js["authenticated"] is False


@pytest.mark.parametrize("body", [{"user": "alice"}, {"user": 1, "password": "x"},
                                  {"user": "alice", "password": ["wonderland"]}, [1], "x"])
def test_api_login_malformed_is_400(shop, body):
    c = Client(shop)
    r = c.api("POST", "/api/login", body)
    allowed = (400, 401) if body == {"user": "alice"} else (400,)
    assert r.status_code in allowed, r.status_code
    assert not any(sc.value for sc in set_cookies(r))


def test_api_login_form_encoded_is_415(shop):
    c = Client(shop)
    r = c.request("POST", "/api/login", data={"user": "alice", "password": "wonderland"})
    assert r.status_code == 415


def test_logout_deletes_record_clears_cookie_and_replay_is_anonymous_S17(shop):
    c = Client(shop)
    c.api_login("bob")
    c.add_api("L1")
    cookie = c.cookie
    name = cookie.split("=", 1)[0]
    r = c.post_form("/logout", {})
    assert r.status_code == 303
    assert urllib.parse.urlsplit(r.headers["Location"]).path == "/"
    clear = [sc for sc in set_cookies(r) if sc.name == name]
    assert len(clear) == 1, set_cookies(r)
    sc = clear[0]
    assert sc.value == "" and sc.get("Max-Age") == "0" and sc.get("Path") == "/", sc.raw
    assert _anonymous(shop, cookie), "replaying the cookie after logout is not anonymous"
    # a write with the replayed cookie starts a brand new session
    r = Client(shop).api("POST", "/api/cart", {"sku": "L2", "qty": 1}, cookie=cookie)
    new = [s for s in set_cookies(r) if s.name == name]
    assert r.status_code == 200 and new and f"{name}={new[0].value}" != cookie
    assert r.json()["cart"] == {"L2": 1}


def test_api_logout_is_204_and_replay_is_anonymous_S17(shop):
    c = Client(shop)
    c.api_login("bob")
    cookie = c.cookie
    r = c.api("POST", "/api/logout")
    assert r.status_code == 204 and r.content == b""
    assert any(sc.is_clearing() for sc in set_cookies(r))
    assert _anonymous(shop, cookie)


def test_logout_needs_csrf_token_S17_S19(shop):
    c = Client(shop)
    c.api_login("bob")
    r = c.post_form("/logout", {}, token=False)
    assert r.status_code == 403
    r = c.post_form("/logout", {}, token="0" * 64)
    assert r.status_code == 403
    r = c.api("POST", "/api/logout", token=False)
    assert r.status_code == 403
    assert c.session()["user"] == "bob"


def test_login_page_form_has_user_password_remember_fields(client):
    f = find_form(client.get("/login").text, "/login")
    names = {fl["name"] for fl in f.fields}
    assert {"user", "password", "remember"} <= names, names
    assert f.field("password")["type"] == "password"


def test_login_page_carries_next_through(client):
    r = client.get("/login?next=%2Fcheckout%2Faddress")
    f = find_form(r.text, "/login")
    vals = f.values()
    action_q = urllib.parse.parse_qs(urllib.parse.urlsplit(f.action).query)
    assert vals.get("next") == "/checkout/address" or action_q.get("next") == ["/checkout/address"]


def test_login_with_existing_session_needs_csrf_token_S19(shop):
    """Every state-changing request carries the token once a session
    exists (a cross-site form must not act for the user); login included (S19: 'the login form itself is
    protected'). Note: the peers' README says their /api/login does not check it."""
    c = Client(shop)
    c.add_api("A3")
    r = c.request("POST", "/login", data={"user": "alice", "password": "wonderland"})
    assert r.status_code == 403
    r = c.api("POST", "/api/login", {"user": "alice", "password": "wonderland"}, token=False)
    assert r.status_code == 403
    assert c.session()["authenticated"] is False
