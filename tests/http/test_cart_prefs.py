"""test_cart_prefs.py — the cart (HTML and JSON, guests and signed-in users,
50 concurrent adds on one session all counted) and preferences (theme and
lang validated, remembered, applied on every page)."""
import re
import threading

import pytest

from shoplib import Client, find_form, find_forms, html_lang, theme_marks, visible_text


def _skus(shop):
    return [f.values()["sku"] for f in find_forms(Client(shop).get("/").text, "/cart/add")]


# ---- cart, HTML ----------------------------------------------------------------------------

def test_guest_cart_add_remove_through_forms(shop):
    sku, sku2 = _skus(shop)[:2]
    c = Client(shop)
    r = c.request("POST", "/cart/add", data={"sku": sku, "qty": "2"})
    assert r.status_code in (302, 303) and c.cookie
    r = c.post_form("/cart/add", {"sku": sku2, "qty": "1"})
    assert r.status_code in (302, 303)
    r = c.post_form("/cart/add", {"sku": sku, "qty": "3"})
    assert c.session()["cart"] == {sku: 5, sku2: 1}
    page = c.get("/cart")
    assert page.status_code == 200
    text = visible_text(page.text)
    assert sku in page.text and sku2 in page.text
    assert re.search(r"\b5\b", text), "quantity 5 not shown on /cart"
    r = c.post_form("/cart/remove", {"sku": sku})
    assert r.status_code in (302, 303)
    assert c.session()["cart"] == {sku2: 1}


def test_cart_page_has_remove_forms_with_csrf(shop):
    sku = _skus(shop)[0]
    c = Client(shop)
    c.request("POST", "/cart/add", data={"sku": sku, "qty": "1"})
    page = c.get("/cart")
    rm = find_forms(page.text, "/cart/remove")
    assert rm and rm[0].values().get("sku") == sku
    assert c.session()["csrf"] in rm[0].values().values()


def test_signed_in_user_cart_works_and_header_shows_count(shop):
    sku = _skus(shop)[0]
    c = Client(shop)
    c.api_login("bob")
    c.post_form("/cart/add", {"sku": sku, "qty": "7"})
    assert c.session()["cart"] == {sku: 7}
    text = visible_text(c.get("/").text)
    assert re.search(r"(?is)cart\W{0,10}(\D{0,20})\b7\b", text), \
        f"cart count 7 not shown in the header: {text[:400]}"


@pytest.mark.parametrize("fields", [{"sku": "A", "qty": "abc"}, {"sku": "A", "qty": "0"},
                                    {"sku": "A", "qty": "100"}, {"qty": "1"}, {"sku": "A"},
                                    {"sku": "", "qty": "1"}, {"sku": "A", "qty": "1.5"},
                                    {"sku": "A", "qty": "-1"}])
def test_cart_add_form_with_bad_fields_is_400_and_creates_nothing(shop, fields):
    if fields.get("sku") == "A":
        fields = dict(fields, sku=_skus(shop)[0])
    c = Client(shop)
    r = c.request("POST", "/cart/add", data=fields)
    assert r.status_code == 400, (fields, r.status_code)
    assert not c.cookie, "a rejected request created a session"
    assert len(visible_text(r.text)) > 0, "400 without a message"


def test_malformed_form_encoding_is_400(shop):
    c = Client(shop)
    r = c.request("POST", "/cart/add", data=b"sku=%ZZ&qty=1",
                  ctype="application/x-www-form-urlencoded")
    assert r.status_code == 400, r.status_code
    assert not c.cookie


# ---- cart, JSON ----------------------------------------------------------------------------

def test_api_cart_delete_sku_removes_it(shop):
    c = Client(shop)
    c.add_api("D1", 2)
    c.add_api("D2", 3)
    r = c.api("DELETE", "/api/cart/D1")
    assert r.status_code in (200, 204), r.status_code
    assert c.session()["cart"] == {"D2": 3}
    r = c.api("DELETE", "/api/cart/nothere")
    assert r.status_code in (200, 204, 404)
    assert c.session()["cart"] == {"D2": 3}


def test_api_cart_add_reply_has_cart_items_csrf(shop):
    c = Client(shop)
    js = c.add_api("E1", 4)
    assert js["cart"] == {"E1": 4} and js["items"] == 4 and js["csrf"] == c.session()["csrf"]


def test_fifty_concurrent_api_cart_adds_on_one_session_all_counted(shop):
    """No lost update: 50 concurrent POST /api/cart on one session all
    counted."""
    seed = Client(shop)
    seed.add_api("P0", 1)
    cookie, token = seed.cookie, seed.csrf
    n = 50
    barrier = threading.Barrier(n)
    results = [None] * n

    def worker(i):
        c = Client(shop)
        c.cookie = cookie
        c.csrf = token
        c.get("/healthz")  # open the connection before the barrier
        barrier.wait()
        try:
            r = c.api("POST", "/api/cart", {"sku": "P", "qty": 1})
            results[i] = (r.status_code, r.json().get("csrf"), c.cookie)
        except Exception as e:  # noqa: BLE001 - reported below
            results[i] = (repr(e), None, None)

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(120)
    bad = [r for r in results if r is None or r[0] != 200 or r[1] != token or r[2] != cookie]
    assert not bad, f"{len(bad)} of {n} adds failed or lost the session: {bad[:5]}"
    assert seed.session()["cart"] == {"P0": 1, "P": n}


# ---- prefs ---------------------------------------------------------------------------------

def test_prefs_form_sets_theme_and_lang_applied_on_every_page(shop):
    """The chosen theme applies on every page, and so does the language,
    as <html lang="fr">."""
    c = Client(shop)
    c.add_api("F1")
    light = theme_marks(c.get("/").text)
    assert "dark" not in light.lower(), f"dark theme before choosing it: {light}"
    f = find_form(c.get("/prefs").text, "/prefs")
    assert f.field("theme") and f.field("lang")
    r = c.post_form("/prefs", {"theme": "dark", "lang": "fr"})
    assert r.status_code in (302, 303)
    assert c.session()["prefs"] == {"theme": "dark", "lang": "fr"}
    for path in ("/", "/cart", "/prefs", "/login"):
        page = c.get(path).text
        assert "dark" in theme_marks(page).lower(), f"dark theme not applied on {path}"
        assert html_lang(page) == "fr", f"<html lang> on {path} is {html_lang(page)!r}"


def test_prefs_page_shows_current_choice(shop):
    c = Client(shop)
    c.add_api("F2")
    c.post_form("/prefs", {"theme": "dark", "lang": "de"})
    f = find_form(c.get("/prefs").text, "/prefs")
    assert f.values().get("theme") == "dark" and f.values().get("lang") == "de", f.values()


@pytest.mark.parametrize("fields", [{"theme": "purple", "lang": "en"},
                                    {"theme": "dark", "lang": "xx"},
                                    {"theme": "<script>", "lang": "en"}])
def test_prefs_form_rejects_invalid_values(shop, fields):
    c = Client(shop)
    c.add_api("F3")
    r = c.post_form("/prefs", fields)
    assert r.status_code == 400, r.status_code
    assert c.session()["prefs"] in ({}, {"theme": "light", "lang": "en"})


def test_api_prefs_put_validates_and_is_remembered(shop):
    c = Client(shop)
    c.add_api("F4")
    r = c.api("PUT", "/api/prefs", {"theme": "dark", "lang": "de"})
    assert r.status_code in (200, 204), r.status_code
    assert c.session()["prefs"] == {"theme": "dark", "lang": "de"}
    for bad in [{"theme": "blue"}, {"lang": "es"}, {"theme": 1}, [1], "dark"]:
        r = c.api("PUT", "/api/prefs", bad)
        assert r.status_code == 400, (bad, r.status_code)
    r = c.request("PUT", "/api/prefs", data=b"{bad", token=True, ctype="application/json")
    assert r.status_code == 400
    assert c.session()["prefs"] == {"theme": "dark", "lang": "de"}


def test_prefs_survive_login(shop):
    c = Client(shop)
    c.add_api("F5")
    c.api("PUT", "/api/prefs", {"theme": "dark", "lang": "fr"})
    c.api_login("bob")
    assert c.session()["prefs"] == {"theme": "dark", "lang": "fr"}


def test_api_prefs_put_without_session_creates_one_or_is_refused_cross_site(shop):
    c = Client(shop)
    r = c.api("PUT", "/api/prefs", {"theme": "dark"},
              headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 or not c.cookie


def test_cart_add_flash_shown_once_and_head_does_not_consume_it(shop):
    """A flash is consumed by the GET that shows it, not by a HEAD (HEAD is
    a GET without a body: it must not change what the next GET shows)."""
    sku = _skus(shop)[0]
    c = Client(shop)
    r = c.request("POST", "/cart/add", data={"sku": sku, "qty": "1"})
    assert r.status_code in (302, 303)
    target = r.headers["Location"]
    assert c.request("HEAD", target).status_code == 200
    first = visible_text(c.get(target).text).splitlines()
    second = visible_text(c.get(target).text).splitlines()
    flash = [l for l in first if l not in second]
    assert flash, "no one-shot flash after adding to the cart (or HEAD consumed it)"
