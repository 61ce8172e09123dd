"""test_shop_pages.py — the shop as a shopper meets it, over HTTP: the
checkout's forms and steps, orders kept in the shop's own database
(/orders, /orders/ID, one order per checkout however often it is placed),
product pages and their pictures, "Recently viewed", the French pages and
error pages in the site's layout, the sign-in and signed-out notices, the
sessions page's device names, times and paging, and the size of every page.
Each test names the shortcoming of the shop it guards against."""
import concurrent.futures
import os
import re
import urllib.parse

import pytest

from shoplib import Client, find_form, forms, html_lang, visible_text

ADDRESS = {"name": "Ada Lovelace", "street": "12 Analytical Row", "city": "Lyon",
           "zip": "69001", "country": "France"}
PAGES = ["/", "/cart", "/prefs", "/login", "/product/A1", "/checkout/address",
         "/checkout/shipping", "/checkout/review", "/orders", "/account/sessions",
         "/no-such-page"]
MSGS_H = os.path.join(os.path.dirname(__file__), "..", "..", "apps", "shop", "messages.h")


def path_of(r):
    return urllib.parse.urlsplit(r.headers["Location"]).path


def buyer(shop, ua="sessio-tests/pages", sku="A1", qty=2):
    c = Client(shop, ua=ua)
    c.api_login("alice")
    c.add_api(sku, qty)
    return c


def to_review(c, address=ADDRESS, ship="standard"):
    r = c.post_form("/checkout/address", dict(address, go="next"))
    assert r.status_code == 303 and path_of(r) == "/checkout/shipping", (r.status_code, r.text[:300])
    r = c.post_form("/checkout/shipping", {"ship": ship, "note": "", "go": "next"})
    assert r.status_code == 303 and path_of(r) == "/checkout/review", r.status_code
    page = c.get("/checkout/review")
    assert page.status_code == 200
    return find_form(page.text, "/checkout/place").values(), page


def place(c, vals):
    return c.post_form("/checkout/place", {k: v for k, v in vals.items() if k != c.csrf_name()})


# ---- 1: Enter in a checkout form goes forward -------------------------------

@pytest.mark.parametrize("step", ["/checkout/address", "/checkout/shipping"])
def test_first_submit_button_of_a_checkout_step_goes_forward(shop, step):
    """A browser submits a form on Enter with its first submit button: it
    was "Back"."""
    c = buyer(shop)
    if step == "/checkout/shipping":
        c.post_form("/checkout/address", ADDRESS)
    f = find_form(c.get(step).text, step)
    subs = [fl for fl in f.fields if fl["tag"] == "button" and fl["type"] == "submit"]
    assert subs and subs[0]["value"] == "next", subs


# ---- 3: every string in French ----------------------------------------------

def english_only_messages():
    """The English strings of the message table that differ from their
    French (literal parts long enough to be unambiguous)."""
    text = open(MSGS_H, encoding="utf-8").read()
    out = []
    for m in re.finditer(r'M\((\w+),((?:\s*"(?:[^"\\]|\\.)*"\s*\\?)+),((?:\s*"(?:[^"\\]|\\.)*"\s*\\?)+)\)',
                         text):
        en = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(2)))
        fr = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(3)))
        if en != fr:
            for part in re.split(r"\{\d\}", en):
                part = part.strip()
                if len(part) >= 8 and part not in fr:
                    out.append(part)
    assert len(out) > 50, "message table not parsed"
    return out


def test_french_pages_have_no_english_string_and_a_french_title(shop):
    """Choosing Français translated only the home heading."""
    c = buyer(shop, ua="sessio-tests/fr")
    c.post_form("/prefs", {"lang": "fr"})
    to_review(c)
    english = english_only_messages()
    for path in PAGES:
        r = c.get(path)
        assert html_lang(r.text) == "fr", path
        title = re.search(r"<title>(.*?)</title>", r.text).group(1)
        assert "boutique" in title, (path, title)
        text = visible_text(r.text) + " " + title + " " + " ".join(
            re.findall(r'(?:aria-label|alt|title)="([^"]*)"', r.text))
        left = [e for e in english if e in text]
        assert not left, (path, left)


def test_german_choice_renders_english_with_lang_en(shop):
    """<html lang> is true to the content: untranslated German shows English."""
    c = Client(shop)
    c.add_api("A1")
    c.post_form("/prefs", {"lang": "de"})
    assert html_lang(c.get("/").text) == "en"


# ---- 4: error pages in the layout, theme and language ------------------------

def test_404_page_keeps_the_layout_theme_language_and_cart(shop):
    c = Client(shop)
    c.add_api("A1", 3)
    c.post_form("/prefs", {"theme": "dark", "lang": "fr"})
    r = c.get("/no-such-page")
    assert r.status_code == 404
    assert 'class="theme-dark"' in r.text
    assert html_lang(r.text) == "fr"
    assert 'aria-label="Principale"' in r.text and 'href="/cart"' in r.text
    assert re.search(r'id="cart-count">3<', r.text)
    assert "<footer>" in r.text
    assert "Page introuvable" in r.text


@pytest.mark.parametrize("status", [400, 403])
def test_400_and_403_pages_keep_the_layout_theme_language_and_cart(shop, status):
    """The 400 and 403 pages dropped the layout and the theme as the 404 did."""
    c = Client(shop)
    c.add_api("A1", 2)
    c.post_form("/prefs", {"theme": "dark", "lang": "fr"})
    if status == 403:  # a form without its CSRF token
        r = c.post_form("/cart/add", {"sku": "B1", "qty": "1"}, token=False)
    else:  # a form value that is not UTF-8
        tok = c.session()["csrf"]
        r = c.request("POST", "/cart/remove", data=f"sku=%FF&{c.csrf_name()}={tok}",
                      ctype="application/x-www-form-urlencoded")
    assert r.status_code == status, r.status_code
    assert r.headers["Content-Type"].startswith("text/html")
    assert 'class="theme-dark"' in r.text and html_lang(r.text) == "fr"
    assert 'aria-label="Principale"' in r.text and re.search(r'id="cart-count">2<', r.text)
    assert '<a class="skip" href="#main">' in r.text and "<footer>" in r.text
    assert re.search(r"<title>[^<]* · boutique sessio</title>", r.text)


def test_bad_quantity_is_said_on_the_product_card(shop):
    """A bad quantity was a full-page dead end."""
    c = Client(shop)
    r = c.post_form("/cart/add", {"sku": "B1", "qty": "0"})
    assert r.status_code == 400
    card = re.search(r'<li class="product" id="product-B1">.*?</li>', r.text, re.S).group(0)
    assert 'role="alert"' in card and "1 to 99" in card
    assert 'aria-invalid="true"' in card
    assert len(forms(r.text)) >= 6, "the page is the product list, not a dead end"


# ---- 5: an empty cart cannot be checked out -----------------------------------

@pytest.mark.parametrize("method,step", [("GET", "/checkout/address"), ("POST", "/checkout/address"),
                                         ("GET", "/checkout/shipping"), ("POST", "/checkout/shipping"),
                                         ("GET", "/checkout/review"), ("POST", "/checkout/place")])
def test_every_checkout_step_sends_an_empty_cart_back_to_the_cart(shop, method, step):
    c = Client(shop, ua="sessio-tests/empty")
    c.api_login("alice")
    if method == "GET":
        r = c.get(step)
    else:
        r = c.post_form(step, dict(ADDRESS, ship="standard", go="next"))
    assert r.status_code == 303 and path_of(r) == "/cart", (step, r.status_code)
    assert "cart is empty" in visible_text(c.get("/cart").text)


# ---- 6: orders ----------------------------------------------------------------

def test_placing_an_order_redirects_to_its_page_and_lists_it(shop):
    c = buyer(shop, ua="sessio-tests/order", sku="C2", qty=2)
    vals, _ = to_review(c, ship="express")
    r = place(c, vals)
    assert r.status_code == 303
    loc = path_of(r)
    assert re.fullmatch(r"/orders/\d+", loc), loc
    page = c.get(loc)
    assert page.status_code == 200
    text = visible_text(page.text)
    assert "Thank you!" in text  # the one-shot notice
    assert "Hand grinder" in text and "Analytical Row" in text
    assert "€ 118.00" in text.replace("\xa0", " ") and "€ 130.00" in text.replace("\xa0", " ")
    listing = c.get("/orders")
    assert f'href="{loc}"' in listing.text
    assert c.session()["cart"] == {}


def test_repeated_place_answers_the_same_order_not_an_empty_cart(shop):
    c = buyer(shop, ua="sessio-tests/repeat")
    vals, _ = to_review(c)
    first = place(c, vals)
    second = place(c, vals)
    assert first.status_code == second.status_code == 303
    assert path_of(first) == path_of(second)
    assert "cart is empty" not in visible_text(c.get(path_of(second)).text)


def test_concurrent_places_make_one_order(make_shop, tmp_path):
    shop = make_shop(args=["--data", str(tmp_path / "data")])
    c = buyer(shop, ua="sessio-tests/race")
    vals, _ = to_review(c)
    before = len(re.findall(r'href="/orders/\d+"', c.get("/orders").text))
    name, tok = c.csrf_name(), c.session()["csrf"]
    fields = [(k, v) for k, v in vals.items() if k != name] + [(name, tok)]

    def one(_):
        return c.request("POST", "/checkout/place", data=fields)

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        answers = list(ex.map(one, range(8)))
    assert {a.status_code for a in answers} == {303}
    assert len({path_of(a) for a in answers}) == 1, [path_of(a) for a in answers]
    after = len(re.findall(r'href="/orders/\d+"', c.get("/orders").text))
    assert after == before + 1
    assert os.path.exists(tmp_path / "data" / "shop.db")


def test_orders_survive_a_restart_and_stay_private(make_shop, tmp_path):
    data = str(tmp_path / "d")
    shop = make_shop(args=["--data", data], store="sqlite:{tmp}/s.db")
    c = buyer(shop, ua="sessio-tests/keep")
    loc = path_of(place(c, to_review(c)[0]))
    shop.stop()
    again = make_shop(args=["--data", data], store="sqlite:{tmp}/s.db", tmp=shop.tmp)
    c.shop = again
    assert c.get(loc).status_code == 200
    bob = Client(again)
    bob.api_login("bob")
    assert bob.get(loc).status_code == 404
    guest = Client(again)
    r = guest.get(loc)
    assert r.status_code == 303 and path_of(r) == "/login"


# ---- 7: addresses of spaces, quantities ----------------------------------------

@pytest.mark.parametrize("field", ["name", "street", "city", "zip"])
def test_an_address_of_spaces_is_refused(shop, field):
    c = buyer(shop)
    r = c.post_form("/checkout/address", dict(ADDRESS, **{field: " \t  ", "go": "next"}))
    assert r.status_code == 400
    assert re.search(rf'name="{field}"[^>]*aria-invalid="true"', r.text), field
    # the order cannot be reviewed or placed with it
    c.post_form("/checkout/shipping", {"ship": "standard", "note": "", "go": "next"})
    r = c.get("/checkout/review")
    assert r.status_code == 303 and path_of(r) == "/checkout/address", r.status_code


def test_one_cart_line_holds_at_most_99(shop):
    c = Client(shop)
    for _ in range(2):
        r = c.post_form("/cart/add", {"sku": "A2", "qty": "99"})
        assert r.status_code == 303
    assert c.session()["cart"] == {"A2": 99}
    assert "limited to 99 per order" in visible_text(c.get("/cart").text)  # said
    r = c.post_form("/cart/add", {"sku": "A2", "qty": "100"})  # one add over 99
    assert r.status_code == 400 and c.session()["cart"] == {"A2": 99}


def test_cart_quantity_can_be_changed_and_zero_removes(shop):
    c = Client(shop)
    c.add_api("B2", 1)
    assert find_form(c.get("/cart").text, "/cart/update")
    assert c.post_form("/cart/update", {"sku": "B2", "qty": "7"}).status_code == 303
    assert c.session()["cart"] == {"B2": 7}
    assert c.post_form("/cart/update", {"sku": "B2", "qty": "0"}).status_code == 303
    assert c.session()["cart"] == {}
    assert c.post_form("/cart/update", {"sku": "B2", "qty": "100"}).status_code == 400


# ---- 8, 9: sign in comes back; signing out is said ------------------------------

def test_sign_in_link_carries_the_page(shop):
    c = Client(shop)
    link = re.search(r'<a[^>]*id="signin"[^>]*>', c.get("/cart").text).group(0)
    href = re.search(r'href="([^"]*)"', link).group(1)
    assert urllib.parse.parse_qs(urllib.parse.urlsplit(href).query)["next"] == ["/cart"], href
    # and signing in through it comes back to the cart, not to /
    r = c.html_login("alice", next_="/cart")
    assert r.status_code == 303 and r.headers["Location"] == "/cart", r.headers.get("Location")
    # the sign-in page's own link does not point back at itself
    assert not re.search(r'id="signin"[^>]*next=', c.get("/login").text)


def test_sign_out_says_so(shop):
    c = Client(shop)
    c.api_login("alice")
    r = c.post_form("/logout", {})
    assert r.status_code == 303
    assert "You were signed out" in visible_text(c.get(r.headers["Location"]).text)


def test_a_session_revoked_elsewhere_says_so(module_shop):
    a, b = Client(module_shop, ua="sessio-tests/rev-a"), Client(module_shop, ua="sessio-tests/rev-b")
    a.api_login("bob")
    b.api_login("bob")
    stale = a.cookie
    assert b.api("DELETE", "/api/sessions?others=1").status_code == 200  # everywhere else
    text = visible_text(a.get("/cart", cookie=stale).text)
    assert "You were signed out" in text and "Signed in as" not in text


def test_session_ended_notice_is_shown_once_then_the_cookie_is_gone_S34(module_shop):
    """The notice came back on every page while the browser kept the dead
    cookie: the answer that shows it also deletes the cookie (S34)."""
    a, b = Client(module_shop, ua="sessio-tests/once-a"), Client(module_shop, ua="sessio-tests/once-b")
    a.api_login("bob")
    b.api_login("bob")
    assert b.api("DELETE", "/api/sessions?others=1").status_code == 200
    r = a.get("/prefs")  # a keeps cookies as a browser does
    assert "You were signed out" in visible_text(r.text)
    assert a.cookie is None, r.headers.get("Set-Cookie")
    for path in ("/prefs", "/", "/cart"):
        assert "You were signed out" not in visible_text(a.get(path).text), path


def test_session_ended_notice_survives_the_redirect_that_drops_the_cookie_S34(module_shop):
    """A page that redirects (a member page sends a guest to sign in) carries
    the deletion, so the notice rides in the address and shows once."""
    a, b = Client(module_shop, ua="sessio-tests/redir-a"), Client(module_shop, ua="sessio-tests/redir-b")
    a.api_login("bob")
    b.api_login("bob")
    assert b.api("DELETE", "/api/sessions?others=1").status_code == 200
    r = a.get("/orders")
    assert r.status_code == 303 and a.cookie is None
    loc = r.headers["Location"]
    q = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query)
    assert path_of(r) == "/login" and q["next"] == ["/orders"] and q["signed_out"] == ["ended"], loc
    assert "You were signed out" in visible_text(a.get(loc).text)
    r = a.get("/orders")  # no cookie any more: a plain guest
    assert "signed_out" not in r.headers["Location"], r.headers["Location"]
    assert "You were signed out" not in visible_text(a.get(r.headers["Location"]).text)


# ---- 10, 11, 13: forms and tables ------------------------------------------------

def test_address_fields_have_autocomplete_tokens_and_a_country_list(shop):
    c = buyer(shop)
    f = find_form(c.get("/checkout/address").text, "/checkout/address")
    tokens = {fl["name"]: fl["attrs"].get("autocomplete") for fl in f.fields if fl["name"]}
    assert tokens["name"] == "name" and tokens["street"] == "street-address"
    assert tokens["zip"] == "postal-code" and tokens["city"] == "address-level2"
    assert tokens["country"] == "country-name"
    country = f.field("country")
    assert country["tag"] == "select" and len(country["options"]) > 5


def test_review_shows_subtotal_shipping_and_total_with_currency(shop):
    c = buyer(shop, sku="A1", qty=2)  # 2 x 8.50
    _, page = to_review(c, ship="standard")  # 4.90
    text = visible_text(page.text).replace("\xa0", " ")
    assert re.search(r"Subtotal\s+€ 17\.00", text), text
    assert re.search(r"Shipping\s+€ 4\.90", text)
    assert re.search(r"Total to pay\s+€ 21\.90", text)
    assert "€ 8.50" in text
    for path in ("/cart", "/checkout/review", "/account/sessions"):
        html = c.get(path).text
        assert not re.search(r"<th[^>]*>\s*</th>", html), path


def test_skip_link_nav_label_and_focus_after_failed_login(shop):
    c = Client(shop)
    page = c.get("/").text
    assert re.search(r'<a class="skip" href="#main">', page) and 'id="main"' in page
    assert re.search(r'<nav aria-label="[^"]+">', page)
    r = c.request("POST", "/login", data={"user": "alice", "password": "nope"})
    assert r.status_code == 401
    assert re.search(r'<input type="password"[^>]*autofocus', r.text)


# ---- 12: the sessions page ---------------------------------------------------------

def test_sessions_page_names_devices_and_gives_relative_times(module_shop):
    ua = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
    c = Client(module_shop, ua=ua)
    c.api_login("alice")
    r = c.request("POST", "/api/login", json_body={"user": "alice", "password": "wonderland"},
                  headers={"User-Agent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) "
                                         "AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
                                         "Mobile/15E148 Safari/604.1"}, cookie=False)
    assert r.status_code == 200
    page = c.get("/account/sessions").text
    text = visible_text(page)
    assert "Firefox on Linux" in text and "Safari on iPhone" in text
    assert ua not in text
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT[\d:]+Z" title="\d{4}-\d\d-\d\d \d\d:\d\d UTC">'
                     r"(just now|\d+ min ago)</time>", page)


def test_sessions_page_pages_through_many_sessions(make_shop):
    # more sessions than one page holds: the per-user limit (S33) lifted
    shop = make_shop(args=["--max-sessions-per-user", "0"])
    c = Client(shop, ua="sessio-tests/many")
    c.api_login("bob")
    for i in range(12):
        Client(shop, ua=f"sessio-tests/other-{i}").api_login("bob")
    first = c.get("/account/sessions").text
    assert len(re.findall(r"<tr data-handle=", first)) == 10
    assert 'href="/account/sessions?page=2"' in first
    second = c.get("/account/sessions?page=2").text
    assert len(re.findall(r"<tr data-handle=", second)) >= 3


# ---- 14: products and pictures ------------------------------------------------------

def test_product_page_with_a_picture_the_shop_serves(shop):
    c = Client(shop)
    r = c.get("/product/C1")
    assert r.status_code == 200
    assert '<img src="/static/img/C1.svg"' in r.text
    img = c.get("/static/img/C1.svg")
    assert img.status_code == 200 and img.headers["Content-Type"] == "image/svg+xml"
    assert img.content.startswith(b"<svg")
    assert "img-src 'self'" in r.headers["Content-Security-Policy"]
    assert c.get("/product/ZZ").status_code == 404
    assert c.get("/static/img/ZZ.svg").status_code == 404


def test_recently_viewed_is_kept_in_the_session_and_shown_on_home(shop):
    c = Client(shop)
    assert 'id="recent"' not in c.get("/").text
    for sku in ("A1", "B2", "C1"):
        c.get(f"/product/{sku}")
    home = c.get("/").text
    strip = re.search(r'<section class="recent".*?</section>', home, re.S).group(0)
    assert re.findall(r'href="/product/(\w+)"', strip) == ["C1", "B2", "A1"]
    other = Client(shop)
    assert 'id="recent"' not in other.get("/").text


# ---- pages stay small ------------------------------------------------------------------

def test_every_page_is_under_10_kb(module_shop):
    c = Client(module_shop, ua="sessio-tests/size")
    c.api_login("alice")
    for sku in ("A1", "A2", "B1", "B2", "C1", "C2"):
        c.add_api(sku, 3)
        c.get(f"/product/{sku}")
    vals, _ = to_review(c)
    for path in PAGES:
        r = c.get(path)
        assert len(r.content) < 10 * 1024, (path, len(r.content))
    loc = path_of(place(c, vals))
    for path in (loc, "/orders"):
        assert len(c.get(path).content) < 10 * 1024, path


def test_405_page_keeps_the_layout_theme_and_language(shop):
    """A 405 on an HTML route is an error page like the others, with Allow."""
    c = Client(shop)
    c.add_api("A1", 2)
    c.post_form("/prefs", {"theme": "dark", "lang": "fr"})
    r = c.request("DELETE", "/cart")
    assert r.status_code == 405
    assert "GET" in r.headers.get("Allow", "")
    assert r.headers["Content-Type"].startswith("text/html")
    assert 'class="theme-dark"' in r.text and html_lang(r.text) == "fr"
    assert "<footer>" in r.text and "Méthode non autorisée" in r.text
    assert "Set-Cookie" not in r.headers


# ---- the 431 page -------------------------------------------------------------------------

BIG = {f"X-Pad-{i}": "p" * 1000 for i in range(20)}


@pytest.mark.parametrize("accept,lang", [
    (None, "en"), ("fr", "fr"), ("fr-CA,fr;q=0.9,en;q=0.8", "fr"), ("de-DE, fr;q=0.9, en;q=0.8", "fr"),
    ("de, en;q=0.9, fr;q=0.5", "en"), ("en-GB", "en"), ("fr;q=0, en", "en"), ("*", "en"), ("de", "en")])
def test_431_page_follows_accept_language_in_the_site_layout(shop, accept, lang):
    """The 431 is written before any session is read: no theme or language
    preference is known, so it speaks the browser's language and says that
    it does not know the preferences, in the site's layout."""
    h = dict(BIG)
    if accept:
        h["Accept-Language"] = accept
    r = Client(shop).get("/cart", headers=h)
    assert r.status_code == 431
    assert html_lang(r.text) == lang, (accept, r.text[:200])
    text = visible_text(r.text)
    if lang == "fr":
        assert "En-têtes trop volumineux" in text and "Vos préférences" in text
        assert re.search(r"<title>En-têtes trop volumineux · boutique sessio</title>", r.text)
    else:
        assert "Headers too large" in text and "Your preferences could not be read" in text
    assert re.search(r'<a class="skip" href="#main">', r.text) and 'id="main"' in r.text
    assert re.search(r'<nav aria-label="[^"]+">', r.text) and "<footer>" in r.text
    assert 'class="theme-auto"' in r.text and 'href="/static/style.css"' in r.text
    assert "Set-Cookie" not in r.headers and len(r.content) < 10 * 1024
    assert "<script" not in r.text


def test_431_page_ignores_the_language_preference_it_cannot_read(shop):
    c = Client(shop)
    c.add_api("A1")
    c.post_form("/prefs", {"theme": "dark", "lang": "fr"})
    assert html_lang(c.get("/").text) == "fr"
    r = c.get("/", headers=dict(BIG, **{"Accept-Language": "en"}))
    assert r.status_code == 431 and html_lang(r.text) == "en"
    assert 'class="theme-auto"' in r.text
