"""test_escaping.py — data a client controls comes back safely: HTML-escaped
in pages (SKUs, checkout fields, user agents on /account/sessions), exact in
JSON, addressable in DELETE /api/cart/SKU; a session that grows past its
limit gets a 4xx, not a crash; two live session cookies resolve the same
way in any order (S12)."""
import json
import random
import re
import threading
import urllib.parse

import pytest

from shoplib import Client, find_form, forms, set_cookies

EVIL = '<img src=x onerror=alert(1)>"\''


def test_sku_from_api_is_escaped_in_cart_page(shop):
    c = Client(shop)
    c.add_api("<b>x</b>\"'&")
    page = c.get("/cart").text
    assert "<b>x</b>" not in page, "SKU rendered as HTML"
    js = c.session()
    assert js["cart"] == {"<b>x</b>\"'&": 1}


def test_checkout_fields_are_escaped_on_review(shop):
    c = Client(shop)
    c.add_api("E1")
    c.api_login("bob")
    f = next(f for f in forms(c.get("/checkout/address").text)
             if urllib.parse.urlsplit(f.action).path == "/checkout/address")
    vals = {k: v for k, v in f.submissions()[0].items() if k != c.csrf_name()}
    texts = [fl["name"] for fl in f.fields if fl["tag"] in ("input", "textarea")
             and fl["type"] in ("text", "textarea", "") and fl["name"]]
    assert texts
    for n in texts:
        vals[n] = f"{n} {EVIL}"
    r = c.post_form("/checkout/address", vals)
    assert r.status_code in (303, 400)
    for p in ("/checkout/address", "/checkout/review", "/checkout/shipping"):
        page = c.get(p).text
        assert "<img src=x" not in page, f"typed HTML rendered raw on {p}"


def test_user_agent_is_escaped_on_account_sessions(shop):
    c = Client(shop, ua=f"evil {EVIL}")
    c.api_login("bob")
    page = c.get("/account/sessions").text
    assert "<img src=x" not in page, "user agent rendered as HTML"
    js = c.get("/api/sessions").json()
    assert EVIL in json.dumps(js, ensure_ascii=False) or "evil" in json.dumps(js)


@pytest.mark.parametrize("sku", ['q"uote', "back\\slash", "tab\tnl\n", "é-ü", "emoji-\U0001F600",
                                 "ctl-\x01\x1f", "a/b", "sp ace", "per%cent", "x?y#z"])
def test_sku_round_trips_exactly_in_json_or_is_rejected_400(shop, sku):
    """The shop may restrict SKUs (it is not required to take every string),
    but what it accepts comes back exactly, and what it refuses is a 400."""
    c = Client(shop)
    r = c.api("POST", "/api/cart", {"sku": sku, "qty": 2})
    assert r.status_code in (200, 400), (sku, r.status_code, r.text[:200])
    if r.status_code == 400:
        assert "error" in r.json() and not c.cookie
        return
    assert r.json()["cart"] == {sku: 2}
    assert c.session()["cart"] == {sku: 2}


@pytest.mark.parametrize("sku", ["a/b", "per%cent", "x?y#z", "a+b", "%2F"])
def test_delete_api_cart_with_percent_encoded_sku(shop, sku):
    c = Client(shop)
    c.add_api(sku, 1)
    c.add_api("keep", 1)
    r = c.api("DELETE", "/api/cart/" + urllib.parse.quote(sku, safe=""))
    assert r.status_code in (200, 204), (sku, r.status_code)
    assert c.session()["cart"] == {"keep": 1}, sku


def test_session_over_its_size_limit_gets_4xx_and_stays_usable(shop):
    """Fills one session from 4 threads until the shop refuses: a 4xx (413
    expected for 'session too large'), never a 5xx, and the session lives on."""
    c = Client(shop)
    c.add_api("S0")
    statuses = set()
    stop = threading.Event()

    def fill(k):
        w = Client(shop)
        w.cookie, w.csrf = c.cookie, c.csrf
        for i in range(1000):
            if stop.is_set():
                return
            r = w.api("POST", "/api/cart", {"sku": f"{k}{i:04d}-" + "x" * 26, "qty": 99})
            statuses.add(r.status_code)
            if r.status_code != 200:
                stop.set()

    ts = [threading.Thread(target=fill, args=(k,)) for k in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    assert statuses - {200}, "no limit reached with 4000 cart lines"
    assert all(s < 500 for s in statuses), f"statuses {statuses}"
    js = c.session()
    assert js["cart"].get("S0") == 1, "the session was lost after hitting the limit"
    assert shop.proc.poll() is None


def test_two_live_session_cookies_resolve_the_same_in_any_order_S12(shop):
    a, b = Client(shop), Client(shop)
    a.add_api("O1")
    b.add_api("O2")
    one = Client(shop).get("/api/session", cookie=f"{a.cookie}; {b.cookie}").json()
    two = Client(shop).get("/api/session", cookie=f"{b.cookie}; {a.cookie}").json()
    assert one["csrf"] == two["csrf"] and one["csrf"] in (a.csrf, b.csrf)


def test_logged_out_session_leaves_the_users_list_S17_S18(shop):
    a = Client(shop, ua=f"lo-A-{random.randint(0, 10**9)}")
    b = Client(shop, ua=f"lo-B-{random.randint(0, 10**9)}")
    a.api_login("bob")
    b.api_login("bob")
    assert b.ua in a.get("/api/sessions").text
    b.post_form("/logout", {})
    assert b.ua not in a.get("/api/sessions").text


def test_set_cookie_never_sent_on_plain_reads_of_a_live_session_S9(shop):
    c = Client(shop)
    c.add_api("R1")
    for p in ("/", "/cart", "/api/session", "/prefs"):
        r = c.get(p)
        assert not set_cookies(r), f"GET {p} re-sent the cookie: {set_cookies(r)}"


def test_login_form_is_prefilled_with_nothing_secret(shop):
    c = Client(shop)
    f = find_form(c.get("/login").text, "/login")
    assert not f.field("password")["value"]


@pytest.mark.parametrize("path", ["/login?next=%22%3E%3Cimg%20src%3Dx%3E",
                                  "/%3Cimg%20src=x%3E", "/checkout/%3Cimg%20src=x%3E"])
def test_reflected_input_is_escaped(client, path):
    r = client.get(path)
    assert "<img src=x" not in r.text, f"GET {path} reflects raw HTML"


def test_unknown_sku_error_page_does_not_reflect_html(client):
    r = client.request("POST", "/cart/add", data={"sku": "<img src=x>", "qty": "1"})
    assert r.status_code == 400
    assert "<img src=x" not in r.text


def test_access_log_lines_cannot_be_forged_through_the_path_S20(make_shop):
    s = make_shop(log_level="info")
    c = Client(s)
    c.get("/x%22%20level=error%20msg=%22forged")
    c.get("/y%0Alevel=error%20msg=forged2")
    s.stop()
    lines = [l for l in s.stderr().splitlines() if "forged" in l]
    assert lines, "the requests are not in the access log"
    for line in lines:
        keys = [m.group(1) for m in re.finditer(r'(?:^|\s)([\w.-]+)=("(?:[^"\\]|\\.)*"|\S*)', line)]
        assert keys.count("level") == 1 and keys.count("msg") <= 1, f"forged keys: {line}"
        assert "level=info" in line, line


# ---- NUL inside JSON strings (\u0000): never truncated into another value -------------------

@pytest.mark.parametrize("body", [{"user": "alice\u0000x", "password": "wonderland"},
                                  {"user": "alice", "password": "wonderland\u0000junk"},
                                  {"user": "bob", "password": "builder\u0000"}])
def test_json_login_with_nul_in_a_string_is_refused(shop, body):
    """A JSON string holding \\u0000 must not be cut at the NUL: 'alice\\0x'
    is not alice, 'wonderland\\0junk' is not her password. (The form path
    already answers 400 for %00.)"""
    c = Client(shop)
    r = c.api("POST", "/api/login", body)
    assert r.status_code in (400, 401), f"{body!r} -> {r.status_code} {r.text[:80]}"
    assert not c.cookie


@pytest.mark.parametrize("raw", [b'{"user":"alice\\u00zzx","password":"wonderland"}',
                                 b'{"user":"alice\\u00","password":"wonderland"}',
                                 b'{"user":"alice\x00x","password":"wonderland"}'])
def test_json_login_with_malformed_escape_or_raw_nul_is_refused(shop, raw):
    """cJSON reads a malformed \\u escape as \\u0000 and copies a raw 0 byte:
    both would cut 'alice...' to 'alice' (found by fuzz/json_fuzz.c)."""
    c = Client(shop)
    r = c.request("POST", "/api/login", data=raw, ctype="application/json")
    assert r.status_code == 400, f"{raw!r} -> {r.status_code} {r.text[:80]}"
    assert not c.cookie


def test_json_sku_with_nul_is_rejected_not_truncated(shop):
    c = Client(shop)
    r = c.api("POST", "/api/cart", {"sku": "a\u0000b", "qty": 1})
    if r.status_code == 200:
        assert r.json()["cart"] == {"a\u0000b": 1}, f"SKU cut at the NUL: {r.json()['cart']}"
    else:
        assert r.status_code == 400 and not c.cookie


def test_json_prefs_with_nul_is_rejected_not_truncated(shop):
    c = Client(shop)
    c.add_api("N1")
    r = c.api("PUT", "/api/prefs", {"theme": "dark\u0000evil", "lang": "en"})
    assert r.status_code == 400, f"theme 'dark\\0evil' -> {r.status_code}"
    assert c.session()["prefs"].get("theme") != "dark"
