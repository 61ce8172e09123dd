"""test_checkout.py — the multi-step checkout: guests sent to /login?next=...,
typed data kept moving forward and back, placing the order clears cart and
form data and shows a one-shot flash (S22: the form never authenticates).
The step forms are filled generically (field names are not in the spec)."""
import random
import urllib.parse

import pytest

from shoplib import Client, find_form, find_forms, forms, visible_text

STEPS = ["/checkout/address", "/checkout/shipping", "/checkout/review"]


def _fill(form, tag):
    """Values for every user-editable field: unique text tagged with 'tag',
    digits where the name asks for a number, the last option of selects and
    radio groups (not the default). Returns (values, typed) where typed maps
    a field name to what must be shown again."""
    vals = form.values()
    typed = {}
    radios = {}
    for f in form.fields:
        n, t = f["name"], f["type"]
        if not n or t in ("hidden", "submit", "button", "reset", "image"):
            continue
        ln = n.lower()
        if f["tag"] == "select":
            opts = [o["value"] for o in f["options"] if o["value"]]
            if opts:
                vals[n] = typed[n] = opts[-1]
        elif t == "radio":
            radios.setdefault(n, []).append(f["value"])
        elif t == "checkbox":
            continue
        elif t == "email" or "mail" in ln:
            vals[n] = typed[n] = f"{tag.lower()}@example.org"
        elif t in ("tel", "number") or any(k in ln for k in ("zip", "postal", "postcode", "phone",
                                                              "tel")):
            vals[n] = typed[n] = str(random.randint(10000, 99999))
        elif "country" in ln:
            vals[n] = typed[n] = "France"
        else:
            vals[n] = typed[n] = f"{n.capitalize()} {tag}"
    for n, opts in radios.items():
        vals[n] = typed[n] = opts[-1]
    # a named submit button that moves forward (not "back"), when there is one
    for f in form.fields:
        if f["name"] and f["type"] in ("submit", "image") and \
                not any(b in (f["name"] + " " + f["value"]).lower() for b in ("back", "prev")):
            vals[f["name"]] = f["value"]
            break
    return vals, typed


def _texts(form, typed):
    """The typed values that came from free-text fields (shown verbatim later)."""
    kinds = {f["name"]: f for f in form.fields if f["name"]}
    return {k: v for k, v in typed.items()
            if kinds[k]["tag"] in ("input", "textarea") and kinds[k]["type"] not in ("radio",)}


def _shown(page, typed):
    """Field name -> value the page's forms show now."""
    out = {}
    for f in [f for f in forms(page) if f.method == "post"]:
        out.update({k: v for k, v in f.values().items() if k in typed})
    return out


def _step_form(page, path):
    fs = find_forms(page, path)
    assert fs, f"no form posting to {path}"
    return fs[0]


@pytest.fixture
def buyer(shop):
    c = Client(shop, ua="sessio-tests/checkout")
    sku = find_form(c.get("/").text, "/cart/add").values()["sku"]
    c.request("POST", "/cart/add", data={"sku": sku, "qty": "2"})
    c.api_login("alice")
    c.sku = sku
    return c


@pytest.mark.parametrize("path", STEPS)
def test_guest_is_sent_to_login_with_next(shop, path):
    c = Client(shop)
    r = c.get(path)
    assert r.status_code in (302, 303), (path, r.status_code)
    loc = urllib.parse.urlsplit(r.headers["Location"])
    assert loc.path == "/login"
    assert urllib.parse.parse_qs(loc.query).get("next") == [path]
    assert not c.cookie, "redirecting a guest created a session"


def test_guest_post_to_checkout_is_not_accepted(shop):
    c = Client(shop)
    c.add_api("G1")
    r = c.post_form("/checkout/address", {"name": "Guest"})
    assert r.status_code in (302, 303, 401, 403)
    if r.status_code in (302, 303):
        assert urllib.parse.urlsplit(r.headers["Location"]).path == "/login"
    r = c.post_form("/checkout/place", {})
    assert r.status_code in (302, 303, 401, 403)
    assert c.session()["cart"] == {"G1": 1}
    assert c.session()["authenticated"] is False, "S22: a form flow set the authenticated mark"


def test_login_from_checkout_redirect_returns_to_the_step(shop):
    c = Client(shop)
    c.add_api("G2")
    r = c.get("/checkout/address")
    nxt = urllib.parse.parse_qs(urllib.parse.urlsplit(r.headers["Location"]).query)["next"][0]
    r = c.html_login("alice", next_=nxt)
    assert r.status_code == 303
    assert urllib.parse.urlsplit(r.headers["Location"]).path == "/checkout/address"
    assert c.get("/checkout/address").status_code == 200


def test_checkout_keeps_typed_data_forward_and_back_then_places_order_with_flash_once(buyer):
    c = buyer
    tag = f"T{random.randint(100000, 999999)}"
    # step 1: address
    page = c.get("/checkout/address")
    assert page.status_code == 200
    f1 = _step_form(page.text, "/checkout/address")
    v1, typed1 = _fill(f1, tag)
    assert typed1, f"address form has no editable field: {f1}"
    r = c.post_form("/checkout/address", {k: v for k, v in v1.items() if k != c.csrf_name()})
    assert r.status_code == 303, (r.status_code, visible_text(r.text)[:300])
    assert urllib.parse.urlsplit(r.headers["Location"]).path == "/checkout/shipping"
    # step 2: shipping
    page = c.get("/checkout/shipping")
    assert page.status_code == 200
    f2 = _step_form(page.text, "/checkout/shipping")
    v2, typed2 = _fill(f2, tag)
    assert typed2, f"shipping form has no choice: {f2}"
    # back to step 1: what was typed is still there
    back = c.get("/checkout/address").text
    assert _shown(back, typed1) == typed1, "address not kept when going back"
    # forward again
    r = c.post_form("/checkout/shipping", {k: v for k, v in v2.items() if k != c.csrf_name()})
    assert r.status_code == 303, (r.status_code, visible_text(r.text)[:300])
    assert urllib.parse.urlsplit(r.headers["Location"]).path == "/checkout/review"
    assert _shown(c.get("/checkout/shipping").text, typed2) == typed2, "shipping not kept"
    assert _shown(c.get("/checkout/address").text, typed1) == typed1, "address lost later"
    # step 3: review shows what was typed
    review = c.get("/checkout/review")
    assert review.status_code == 200
    rtext = visible_text(review.text)
    for k, v in _texts(f1, typed1).items():
        assert v in rtext or v in review.text, f"review does not show {k}={v}"
    assert c.sku in review.text
    # place the order
    place = find_form(review.text, "/checkout/place")
    r = c.post_form("/checkout/place", {k: v for k, v in place.submissions()[0].items()
                                        if k != c.csrf_name()})
    assert r.status_code == 303, (r.status_code, visible_text(r.text)[:300])
    target = r.headers["Location"]
    s = c.session()
    assert s["cart"] == {}, "placing the order did not clear the cart"
    assert s["authenticated"] and s["user"] == "alice"
    first = c.get(target)
    second = c.get(target)
    assert first.status_code == second.status_code == 200
    flash = set(visible_text(first.text).splitlines()) - set(visible_text(second.text).splitlines())
    assert flash, "no one-shot flash message after placing the order"
    third = visible_text(c.get(target).text)
    assert not any(line in third for line in flash), "flash shown twice"
    # the form data is cleared
    addr = c.get("/checkout/address").text
    for v in _texts(f1, typed1).values():
        assert v not in addr, f"form data not cleared after the order: {v}"


def test_checkout_step_rejects_missing_required_data(buyer):
    """Posting the address step empty does not move forward (a clear 400 or
    the same step again)."""
    c = buyer
    f1 = _step_form(c.get("/checkout/address").text, "/checkout/address")
    empty = {k: "" for k in _fill(f1, "x")[1]}
    r = c.post_form("/checkout/address", empty)
    if r.status_code == 303:
        assert urllib.parse.urlsplit(r.headers["Location"]).path == "/checkout/address"
    else:
        assert r.status_code == 400, r.status_code


def test_checkout_data_is_per_session(shop, buyer):
    """Another session of the same user does not see what was typed."""
    c = buyer
    f1 = _step_form(c.get("/checkout/address").text, "/checkout/address")
    v1, typed1 = _fill(f1, "Iso")
    c.post_form("/checkout/address", {k: v for k, v in v1.items() if k != c.csrf_name()})
    other = Client(shop)
    other.api_login("alice")
    page = other.get("/checkout/address").text
    for v in _texts(f1, typed1).values():
        if not v.isdigit():
            assert v not in page


def test_back_button_saves_what_was_typed(buyer):
    """Moving back with the step's own Back button (when the form has one)
    keeps what was typed on that step."""
    c = buyer
    f1 = _step_form(c.get("/checkout/address").text, "/checkout/address")
    v1, _ = _fill(f1, "Bk")
    r = c.post_form("/checkout/address", {k: v for k, v in v1.items() if k != c.csrf_name()})
    assert r.status_code == 303
    f2 = _step_form(c.get("/checkout/shipping").text, "/checkout/shipping")
    v2, typed2 = _fill(f2, "Bk")
    backs = [f for f in f2.fields if f["name"] and f["type"] in ("submit", "image")
             and any(b in (f["name"] + " " + f["value"]).lower() for b in ("back", "prev"))]
    if not backs:
        pytest.skip("the shipping form has no Back button (going back is a link)")
    fwd = [f["name"] for f in f2.fields if f["type"] in ("submit", "image") and f["name"]]
    vals = {k: v for k, v in v2.items() if k != c.csrf_name() and k not in fwd}
    vals[backs[0]["name"]] = backs[0]["value"]
    r = c.post_form("/checkout/shipping", vals)
    assert r.status_code == 303, r.status_code
    assert urllib.parse.urlsplit(r.headers["Location"]).path == "/checkout/address"
    assert _shown(c.get("/checkout/shipping").text, typed2) == typed2, "Back lost the choice"
