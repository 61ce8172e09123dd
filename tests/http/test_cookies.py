"""test_cookies.py — the session cookie as a client sees it: name and attributes
(S3, S8, S9), no-store (S10), strict mode (S5), malformed IDs (S7), several
Cookie headers (S12), where the ID may travel (S4), nothing stored without
data (S16), a dead session cookie deleted (S34)."""
import http.client
import re
import sqlite3

import pytest

from shoplib import SID_RE, Client, find_form, set_cookies, well_formed_id


def _session_cookie(resp, name="sid"):
    cs = [c for c in set_cookies(resp) if c.name == name]
    assert len(cs) == 1, f"expected one Set-Cookie {name}: {set_cookies(resp)}"
    return cs[0]


def _assert_anonymous(js):
    assert js["authenticated"] is False and js["user"] is None
    assert js["csrf"] is None and js["cart"] == {}


# ---- S2, S3, S8, S9 ---------------------------------------------------------------

def test_new_session_cookie_is_sid_httponly_lax_path_root_no_domain_no_max_age_S3_S8(client):
    r = client.api("POST", "/api/cart", {"sku": "C1", "qty": 1})
    assert r.status_code == 200
    c = _session_cookie(r)
    assert SID_RE.match(c.value), f"ID is not 43 base64url characters: {c.value!r}"
    assert c.has("HttpOnly")
    assert (c.get("SameSite") or "").lower() == "lax"
    assert c.get("Path") == "/"
    assert not c.has("Domain")
    assert not c.has("Max-Age") and not c.has("Expires"), "browser-session cookie expected"
    assert not c.has("Secure"), "plain HTTP with --secure auto: no Secure"


def test_ids_are_opaque_and_distinct_S2(shop):
    ids = set()
    for _ in range(20):
        c = Client(shop)
        c.add_api("C2")
        ids.add(c.sid)
        # Opaque: 43 base64url characters (256 random bits) and nothing else.
        # (A check for the SKU's text inside it would fail by chance: a
        # two-character string shows up in ~1% of random IDs.)
        assert re.fullmatch(r"[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]", c.sid), c.sid
    assert len(ids) == 20


def test_login_response_has_one_set_cookie_per_name_S9(shop):
    c = Client(shop)
    c.add_api("C3")
    r = c.api_login("bob")
    names = [sc.name for sc in set_cookies(r)]
    assert len(names) == len(set(names)), f"several Set-Cookie for one name: {set_cookies(r)}"
    for sc in set_cookies(r):
        assert re.fullmatch(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*", sc.value), sc.raw
        if sc.has("Expires"):
            assert re.fullmatch(r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT",
                                sc.get("Expires")), sc.raw


def test_remember_me_login_sets_max_age_within_limits_S8(shop):
    c = Client(shop)
    r = c.api_login("bob", remember=True)
    sc = _session_cookie(r)
    assert sc.has("Max-Age"), f"remember-me cookie without Max-Age: {sc.raw}"
    ma = int(sc.get("Max-Age"))
    assert 0 < ma <= 400 * 86400
    assert sc.has("HttpOnly") and sc.get("Path") == "/"


def test_plain_login_sets_no_max_age_S8(shop):
    c = Client(shop)
    r = c.api_login("bob", remember=False)
    sc = _session_cookie(r)
    assert not sc.has("Max-Age") and not sc.has("Expires"), sc.raw


def test_html_login_with_remember_sets_max_age_S8(shop):
    c = Client(shop)
    r = c.html_login("bob", remember=True)
    assert r.status_code == 303
    sc = _session_cookie(r)
    assert sc.has("Max-Age") and int(sc.get("Max-Age")) > 0, sc.raw


def test_secure_always_uses_host_prefixed_secure_cookie_S3_S8(make_shop):
    s = make_shop(args=["--secure", "always"])
    c = Client(s)
    r = c.api("POST", "/api/cart", {"sku": "C4", "qty": 1})
    assert r.status_code == 200
    sc = _session_cookie(r, "__Host-sid")
    assert sc.has("Secure") and sc.has("HttpOnly") and sc.get("Path") == "/"
    assert not sc.has("Domain")
    assert (sc.get("SameSite") or "").lower() == "lax"
    # the cookie works when sent back (TLS ends at a proxy in front)
    js = c.session()
    assert js["cart"] == {"C4": 1}
    # login rotates it with the same attributes; logout's deletion cookie must
    # also be Secure, Path=/ and without Domain, or browsers drop it (S17)
    r = c.api_login("bob")
    sc = _session_cookie(r, "__Host-sid")
    assert sc.has("Secure") and sc.value and sc.value != js["csrf"]
    r = c.api("POST", "/api/logout")
    assert r.status_code == 204
    sc = _session_cookie(r, "__Host-sid")
    assert sc.value == "" and sc.get("Max-Age") == "0" and sc.has("Secure") \
        and sc.get("Path") == "/" and not sc.has("Domain"), sc.raw


def test_forwarded_proto_is_ignored_without_trust_proxy_S8(client):
    """Only TLS or a *trusted* proxy decides Secure: any client can send
    X-Forwarded-Proto."""
    r = client.api("POST", "/api/cart", {"sku": "C5", "qty": 1},
                   headers={"X-Forwarded-Proto": "https", "Forwarded": "proto=https"})
    sc = _session_cookie(r)
    assert not sc.has("Secure")


# ---- S10 ------------------------------------------------------------------------------

def test_session_responses_are_no_store_and_vary_cookie_S10(alice):
    for method, path, body in [("GET", "/api/session", None), ("GET", "/", None),
                               ("GET", "/cart", None), ("GET", "/prefs", None),
                               ("POST", "/api/cart", {"sku": "C6", "qty": 1}),
                               ("GET", "/account/sessions", None), ("GET", "/api/sessions", None)]:
        r = alice.api(method, path, body)
        assert r.status_code == 200, (path, r.status_code)
        cc = r.headers.get("Cache-Control", "")
        assert "no-store" in cc.lower(), f"{method} {path}: Cache-Control {cc!r}"
        assert "cookie" in r.headers.get("Vary", "").lower(), f"{method} {path}: no Vary: Cookie"


def test_response_that_sets_a_cookie_is_no_store_S10(client):
    r = client.api("POST", "/api/cart", {"sku": "C7", "qty": 1})
    assert "Set-Cookie" in r.headers
    assert "no-store" in r.headers.get("Cache-Control", "").lower()


# ---- S16 ------------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/", "/api/session", "/cart", "/prefs", "/healthz"])
def test_request_without_cookie_sets_no_cookie_S16(client, path):
    r = client.get(path)
    assert r.status_code == 200
    assert "Set-Cookie" not in r.headers, r.headers.get("Set-Cookie")


def _store_rows(path):
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        tables = [r[0] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
        return {t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        db.close()


@pytest.fixture
def sqlite_shop(make_shop):
    s = make_shop(store="sqlite:{tmp}/s.db", start=False)
    try:
        s.start()
    except Exception as e:  # the sqlite store may not exist yet
        pytest.skip(f"sessio-shop does not start with a sqlite store: {str(e)[:300]}")
    return s


def test_cookieless_and_forged_requests_store_nothing_S16_S5(sqlite_shop):
    """Counted in the store itself (sqlite file): a flood of requests without a
    cookie or with forged/malformed IDs adds no record."""
    s = sqlite_shop
    db = f"{s.tmp}/s.db"
    c = Client(s)
    c.add_api("C8")  # one real session so the schema exists
    before = _store_rows(db)
    forged = [well_formed_id() for _ in range(8)]
    for i, fid in enumerate(forged):
        for path in ("/", "/api/session", "/cart", "/prefs", "/checkout/address"):
            Client(s).get(path)
            Client(s).get(path, cookie=f"sid={fid}")
            Client(s).get(path, cookie="sid=" + "x" * (i + 1))
    after = _store_rows(db)
    assert after == before, f"store grew: {before} -> {after}"


# ---- S5 -------------------------------------------------------------------------------

def test_made_up_well_formed_id_is_not_adopted_S5(shop):
    fid = well_formed_id()
    c = Client(shop)
    c.cookie = f"sid={fid}"
    r = c.get("/api/session")
    _assert_anonymous(r.json())
    assert all(sc.value != fid for sc in set_cookies(r))
    # a write gets a fresh ID, never the one sent
    r = c.api("POST", "/api/cart", {"sku": "C9", "qty": 1}, token=False)
    assert r.status_code == 200
    new = _session_cookie(r)
    assert new.value != fid and SID_RE.match(new.value)
    # nothing is stored under the made-up value
    _assert_anonymous(Client(shop).get("/api/session", cookie=f"sid={fid}").json())
    # and the fresh ID does hold the data
    assert Client(shop).get("/api/session", cookie=f"sid={new.value}").json()["cart"] == {"C9": 1}


def test_made_up_id_on_html_cart_add_is_not_adopted_S5(shop):
    fid = well_formed_id()
    c = Client(shop)
    c.cookie = f"sid={fid}"
    sku = find_form(Client(shop).get("/").text, "/cart/add").values()["sku"]
    r = c.request("POST", "/cart/add", data={"sku": sku, "qty": "1"})
    assert r.status_code in (302, 303), r.status_code
    assert c.sid and c.sid != fid
    _assert_anonymous(Client(shop).get("/api/session", cookie=f"sid={fid}").json())


# ---- S7 -------------------------------------------------------------------------------

MALFORMED = ["abc", "x" * 42, "x" * 44, "A" * 42 + "*", "A" * 42 + "B",  # B: stray bits
             well_formed_id()[:-1] + "=", "%41" * 20, "\"" + "A" * 43 + "\"x", ""]


@pytest.mark.parametrize("value", MALFORMED)
def test_malformed_cookie_value_is_ignored_S7(shop, value):
    c = Client(shop)
    r = c.get("/api/session", cookie=f"sid={value}")
    assert r.status_code == 200
    _assert_anonymous(r.json())
    r = c.api("POST", "/api/cart", {"sku": "M1", "qty": 1}, cookie=f"sid={value}")
    assert r.status_code == 200, "a malformed cookie must not block a new session"
    sc = _session_cookie(r)
    assert SID_RE.match(sc.value) and sc.value != value


def test_junk_cookie_headers_do_not_break_the_request_S7_S11(shop):
    c = Client(shop)
    c.add_api("M2")
    # 300 pairs: more than a browser keeps for one site (Chrome 180, Firefox
    # 150); the shop's 32 KiB MHD pool parses about 390 (apps/shop/shop.h).
    for junk in ["sid", "=;=;;", "sid=\x01\x02", "a=1; sid; b", "sid=\"unbalanced",
                 ";".join(f"k{i}=v" for i in range(300))]:
        r = c.get("/api/session", cookie=junk + "; " + c.cookie)
        assert r.status_code == 200, (junk[:40], r.status_code)
        assert r.json()["cart"] == {"M2": 1}, junk[:40]


# ---- S12 ------------------------------------------------------------------------------

def _two_cookie_headers(shop, first, second):
    conn = http.client.HTTPConnection("127.0.0.1", shop.port, timeout=30)
    conn.putrequest("GET", "/api/session")
    conn.putheader("Cookie", first)
    conn.putheader("Cookie", second)
    conn.endheaders()
    r = conn.getresponse()
    import json
    js = json.loads(r.read())
    conn.close()
    return js


def test_several_cookie_headers_are_read_and_forged_never_shadows_valid_S12(shop):
    c = Client(shop)
    c.add_api("M3", 2)
    fid = well_formed_id()
    for a, b in [(c.cookie, f"sid={fid}"), (f"sid={fid}", c.cookie),
                 ("theme=x", c.cookie), ("sid=garbage; other=1", c.cookie)]:
        js = _two_cookie_headers(shop, a, b)
        assert js["cart"] == {"M3": 2}, (a, b, js)
    for a in [f"sid={fid}; {c.cookie}", f"{c.cookie}; sid={fid}", f"sid=bad; {c.cookie}"]:
        js = c.get("/api/session", cookie=a).json()
        assert js["cart"] == {"M3": 2}, (a, js)


# ---- S4 -------------------------------------------------------------------------------

def test_id_in_query_string_is_ignored_S4(shop):
    owner = Client(shop)
    owner.add_api("Q1")
    other = Client(shop)
    for q in (f"sid={owner.sid}", f"__Host-sid={owner.sid}", f"session={owner.sid}"):
        r = other.get(f"/api/session?{q}")
        _assert_anonymous(r.json())
        assert "Set-Cookie" not in r.headers
        r = other.get(f"/?{q}")
        assert "Signed in" not in r.text and "Set-Cookie" not in r.headers


def test_id_in_form_body_is_ignored_S4(shop):
    owner = Client(shop)
    owner.add_api("Q2")
    sku = find_form(owner.get("/").text, "/cart/add").values()["sku"]
    other = Client(shop)
    r = other.request("POST", "/cart/add",
                      data={"sku": sku, "qty": "1", "sid": owner.sid, "__Host-sid": owner.sid})
    assert r.status_code in (302, 303)
    assert other.sid != owner.sid
    assert owner.session()["cart"] == {"Q2": 1}, "the owner's cart was changed"


def test_id_in_json_body_is_ignored_S4(shop):
    owner = Client(shop)
    owner.add_api("Q3")
    other = Client(shop)
    r = other.api("POST", "/api/cart", {"sku": "Q3", "qty": 5, "sid": owner.sid})
    assert r.status_code in (200, 400)
    assert owner.session()["cart"] == {"Q3": 1}


def test_session_id_never_in_body_or_location_S4(shop):
    """Walks every page as a signed-in user and checks that neither the ID
    before login nor the one after shows up in a body or Location."""
    c = Client(shop, ua="sessio-tests/s4-scan")
    c.add_api("Q4")
    ids = [c.sid]
    c.html_login("alice", next_="/cart")
    ids.append(c.sid)
    c.add_api("Q5")
    for p in ("/", "/cart", "/prefs", "/account/sessions", "/api/session", "/api/sessions",
              "/checkout/address", "/checkout/shipping", "/checkout/review", "/login"):
        c.get(p)
    c.post_form("/prefs", {"theme": "dark", "lang": "en"})
    c.post_form("/logout", {})
    for method, path, resp in c.history:
        for sid in ids:
            assert sid not in resp.text, f"session ID in the body of {method} {path}"
            assert sid not in resp.headers.get("Location", ""), f"ID in Location of {path}"
            for k, v in resp.headers.items():
                if k.lower() != "set-cookie":
                    assert sid not in v, f"ID in header {k} of {method} {path}"


# ---- S34 ------------------------------------------------------------------------------

def _dead_cookie_answers(shop, cookie, paths=("/", "/cart", "/prefs", "/no-such-page")):
    return [(p, Client(shop).get(p, cookie=cookie)) for p in paths]


def test_dead_session_cookie_is_deleted_with_its_attributes_S34(make_shop):
    """Unknown, malformed and ended (replaced at a login) IDs: a page's
    answer tells the browser to drop the cookie, with the real cookie's name
    and attributes and Max-Age=0. The JSON API keeps its contract (shared
    with the benchmark's peers): a read with an unknown ID sends no cookie
    (sessio_keep_dead_cookie)."""
    shop = make_shop(args=["--cookie-name", "shop_sid", "--same-site", "strict",
                           "--cookie-domain", "localhost.test"])
    first = Client(shop).http.post(shop.url("/api/cart"), json={"sku": "A1", "qty": 1},
                                   timeout=30)
    real = _session_cookie(first, "shop_sid")
    out = Client(shop)
    out.cookie = f"shop_sid={real.value}"
    out.api_login("alice")  # the guest ID ends at the login (S6)
    gone = f"shop_sid={real.value}"
    for cookie in (f"shop_sid={well_formed_id()}", "shop_sid=junk", gone):
        r = Client(shop).get("/api/session", cookie=cookie)
        assert r.status_code == 200 and "Set-Cookie" not in r.headers, r.headers
        for path, r in _dead_cookie_answers(shop, cookie):
            assert r.status_code in (200, 404), (path, r.status_code)
            sc = _session_cookie(r, "shop_sid")
            assert sc.value == "" and sc.get("Max-Age") == "0", (cookie, path, sc)
            assert sc.get("Path") == real.get("Path") and sc.get("Domain") == "localhost.test"
            assert sc.get("SameSite") == "Strict" and sc.has("HttpOnly"), sc
            assert "no-store" in r.headers.get("Cache-Control", ""), path


def test_no_deletion_without_the_cookie_or_beside_a_live_session_S34_S16_S12(shop):
    live = Client(shop)
    live.add_api("A1")
    for cookie in (None, "theme=dark", "other=1; sid_x=2",
                   f"sid={well_formed_id()}; {live.cookie}", f"{live.cookie}; sid=junk"):
        for path, r in _dead_cookie_answers(shop, cookie):
            assert "Set-Cookie" not in r.headers, (cookie, path, r.headers.get("Set-Cookie"))
    # the live session is whole
    assert live.session()["cart"] == {"A1": 1}


def test_dead_cookie_with_new_data_gets_the_new_session_not_a_deletion_S34_S5(shop):
    fid = well_formed_id()
    c = Client(shop)
    c.cookie = f"sid={fid}"
    r = c.api("POST", "/api/cart", {"sku": "B1", "qty": 1})
    assert r.status_code == 200, r.status_code
    sc = _session_cookie(r)
    assert not sc.is_clearing() and sc.value != fid, sc
    assert c.session()["cart"] == {"B1": 1}


def test_dead_cookie_is_dropped_after_one_answer_S34(shop):
    """A client that keeps cookies as a browser does sends the dead ID once."""
    c = Client(shop)
    c.cookie = f"sid={well_formed_id()}"
    r = c.get("/cart")
    assert _session_cookie(r).is_clearing()
    assert c.cookie is None
    r = c.get("/cart")
    assert "Set-Cookie" not in r.headers
