"""test_csrf.py — S19: every state-changing form and API request needs the
session's CSRF token once a session exists; requests that would create a
session are refused when Origin / Sec-Fetch-Site say cross-site; GET never
changes state; API writes take application/json only (415)."""
import pytest

from shoplib import Client, find_form, set_cookies

EVIL = [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
        {"Origin": "null"}]  # an opaque origin (sandboxed frame, data: URL) is not same-site


@pytest.fixture(scope="module")
def signed(shop):
    """One signed-in client of bob for this module."""
    c = Client(shop, ua="sessio-tests/csrf")
    c.api_login("bob")
    return c


def _sku(shop):
    return find_form(Client(shop).get("/").text, "/cart/add").values()["sku"]


def _state(c):
    js = c.session()
    return {k: js[k] for k in ("authenticated", "user", "csrf", "cart", "prefs")}


# ---- token required once a session exists ----------------------------------------------

def _form_cases(shop):
    sku = _sku(shop)
    return [("/cart/add", {"sku": sku, "qty": "1"}),
            ("/cart/remove", {"sku": sku}),
            ("/prefs", {"theme": "dark", "lang": "de"}),
            ("/checkout/address", {"name": "x"}),
            ("/checkout/shipping", {"method": "x"}),
            ("/checkout/review", {}),
            ("/checkout/place", {}),
            ("/account/sessions/revoke", {"others": "1"}),
            ("/logout", {})]


@pytest.mark.parametrize("idx", range(9))
@pytest.mark.parametrize("tok", ["missing", "wrong", "empty"])
def test_form_post_without_valid_csrf_token_is_403_and_changes_nothing_S19(shop, signed, idx, tok):
    path, fields = _form_cases(shop)[idx]
    signed.add_api("K1")
    before = _state(signed)
    token = {"missing": False, "wrong": "f" * 64, "empty": ""}[tok]
    if token is False:
        r = signed.request("POST", path, data=fields)
    else:
        r = signed.request("POST", path, data=list(fields.items()) + [(signed.csrf_name(), token)])
    assert r.status_code == 403, f"POST {path} with {tok} token -> {r.status_code}"
    assert _state(signed) == before, f"POST {path} without a valid token changed the session"


def test_form_post_with_token_of_another_session_is_403_S19(shop, signed):
    other = Client(shop)
    other.add_api("K2")
    before = _state(signed)
    r = signed.request("POST", "/cart/add", data=[("sku", _sku(shop)), ("qty", "1"),
                                                  (signed.csrf_name(), other.csrf)])
    assert r.status_code == 403
    assert _state(signed) == before


def test_form_post_with_token_is_accepted_S19(shop, signed):
    sku = _sku(shop)
    before = signed.session()["cart"].get(sku, 0)
    r = signed.post_form("/cart/add", {"sku": sku, "qty": "2"})
    assert r.status_code in (302, 303)
    assert signed.session()["cart"].get(sku, 0) == before + 2


API_CASES = [("POST", "/api/cart", {"sku": "K3", "qty": 1}),
             ("DELETE", "/api/cart/K1", None),
             ("PUT", "/api/prefs", {"theme": "dark", "lang": "fr"}),
             ("DELETE", "/api/sessions/" + "0" * 32, None),
             ("DELETE", "/api/sessions?others=1", None),
             ("POST", "/api/logout", None)]


@pytest.mark.parametrize("method,path,body", API_CASES)
@pytest.mark.parametrize("tok", [False, "0" * 64, ""])
def test_api_write_without_valid_token_is_403_S19(signed, method, path, body, tok):
    signed.add_api("K1")
    before = _state(signed)
    r = signed.api(method, path, body, token=tok)
    assert r.status_code == 403, f"{method} {path} token={tok!r} -> {r.status_code}"
    assert r.json().get("error") == "csrf"
    assert _state(signed) == before


def test_csrf_token_is_not_in_a_cookie_S19(signed):
    r = signed.get("/api/session")
    tok = r.json()["csrf"]
    for c in (signed.cookie or "",):
        assert tok not in c
    for sc in set_cookies(r):
        assert tok not in sc.raw


# ---- cross-site refusal of session-creating requests --------------------------------------

@pytest.mark.parametrize("hdrs", EVIL)
def test_cross_site_first_api_cart_add_is_refused_S19(shop, hdrs):
    c = Client(shop)
    r = c.api("POST", "/api/cart", {"sku": "X1", "qty": 1}, headers=hdrs)
    assert 400 <= r.status_code < 500 and r.status_code != 404, r.status_code
    assert r.status_code == 403, "refused, but not with 403"
    assert not set_cookies(r), "a refused request created a session"


@pytest.mark.parametrize("hdrs", EVIL)
def test_cross_site_first_form_cart_add_is_refused_S19(shop, hdrs):
    c = Client(shop)
    r = c.request("POST", "/cart/add", data={"sku": _sku(shop), "qty": "1"}, headers=hdrs)
    assert r.status_code == 403, r.status_code
    assert not set_cookies(r)


@pytest.mark.parametrize("hdrs", EVIL)
def test_cross_site_login_is_refused_S19(shop, hdrs):
    c = Client(shop)
    r = c.api("POST", "/api/login", {"user": "alice", "password": "wonderland"}, headers=hdrs)
    assert r.status_code == 403, r.status_code
    assert not any(sc.value for sc in set_cookies(r))
    r = c.request("POST", "/login", data={"user": "alice", "password": "wonderland"},
                  headers=hdrs)
    assert r.status_code == 403, r.status_code
    assert not any(sc.value for sc in set_cookies(r))


@pytest.mark.parametrize("hdrs", [{"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"},
                                  "same-origin-origin"])
def test_same_origin_first_cart_add_is_accepted_S19(shop, hdrs):
    if hdrs == "same-origin-origin":
        hdrs = {"Origin": shop.base, "Sec-Fetch-Site": "same-origin"}
    c = Client(shop)
    r = c.api("POST", "/api/cart", {"sku": "X2", "qty": 1}, headers=hdrs)
    assert r.status_code == 200 and c.cookie


def test_cross_site_with_session_and_no_token_is_refused_S19(signed):
    before = _state(signed)
    r = signed.api("POST", "/api/cart", {"sku": "X3", "qty": 1}, token=False,
                   headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert r.status_code == 403
    assert _state(signed) == before


# ---- GET never changes state ----------------------------------------------------------------

def test_get_never_changes_state_S19(shop, signed):
    sku = _sku(shop)
    signed.add_api("G1")
    before = _state(signed)
    for path in (f"/cart/add?sku={sku}&qty=1", "/cart/remove?sku=G1", "/prefs?theme=dark&lang=de",
                 "/logout", "/checkout/place", "/checkout/address?name=Mallory",
                 "/account/sessions/revoke?others=1", "/api/logout", "/api/cart?sku=G1&qty=1",
                 "/", "/cart", "/prefs", "/api/session", "/api/sessions", "/account/sessions",
                 f"/api/cart/{sku}"):
        r = signed.get(path)
        assert r.status_code < 500, (path, r.status_code)
        assert "Mallory" not in signed.get("/checkout/address").text
    assert _state(signed) == before


def test_get_pages_do_not_create_sessions_S19_S16(shop):
    for path in ("/", "/cart", "/prefs", "/login", "/checkout/address", "/api/session",
                 "/account/sessions", "/api/sessions", "/healthz"):
        c = Client(shop)
        r = c.get(path)
        if path == "/login" and set_cookies(r):
            pytest.fail("GET /login created a session (no data should be stored by a GET)")
        assert not set_cookies(r), f"GET {path} set a cookie"


# ---- 415 ------------------------------------------------------------------------------------

@pytest.mark.parametrize("ctype", [None, "text/plain", "application/x-www-form-urlencoded",
                                   "multipart/form-data; boundary=x", "application/jsonx"])
def test_api_writes_need_json_content_type_415(signed, ctype):
    for method, path, body in [("POST", "/api/cart", b'{"sku":"J1","qty":1}'),
                               ("PUT", "/api/prefs", b'{"theme":"dark"}'),
                               ("POST", "/api/login", b'{"user":"alice","password":"x"}')]:
        h = {"X-CSRF-Token": signed.csrf}
        if ctype:
            h["Content-Type"] = ctype
        r = signed.request(method, path, data=body, headers=h)
        assert r.status_code == 415, f"{method} {path} Content-Type {ctype} -> {r.status_code}"


def test_api_json_with_charset_is_accepted(signed):
    r = signed.request("POST", "/api/cart", data=b'{"sku":"J2","qty":1}', token=True,
                       headers={"Content-Type": "application/json; charset=utf-8"})
    assert r.status_code == 200, r.status_code
