"""test_attacks.py — the shop under the attacks of a hostile client: account
switches in one browser (S23), cookie tossing with live sessions of two
users (S24), and the smaller leaks and crashes of S29 (credentials in logs,
non-UTF-8 JSON, malformed form values, the shop's own 431, the server
secret file, store permissions). Floods live in test_attack_floods.py."""
import http.client

from shoplib import Client, find_form


def _fill_address(c, tag):
    """Fills the checkout address with values tagged 'tag'; returns them."""
    f = find_form(c.get("/checkout/address").text, "/checkout/address")
    vals = f.values()
    typed = {}
    for fl in f.fields:
        if fl["name"] and fl["type"] not in ("hidden", "submit", "button"):
            vals[fl["name"]] = typed[fl["name"]] = f"{fl['name']} {tag}"
    r = c.request("POST", "/checkout/address", data=list(vals.items()))
    assert r.status_code in (200, 303), (r.status_code, r.text[:300])
    return typed


# ---- S23: an account switch starts from empty data ---------------------------

def test_signing_in_as_another_user_never_shows_the_previous_users_data_S23(module_shop):
    c = Client(module_shop, ua="sessio-tests/switch")
    c.api_login("alice")
    sku = find_form(c.get("/").text, "/cart/add").values()["sku"]
    c.add_api(sku, 2)
    r = c.api("PUT", "/api/prefs", {"theme": "dark"})
    assert r.status_code == 200, r.text
    typed = _fill_address(c, "door code 4711")
    alice_cookie = c.cookie
    page = c.get("/login").text
    assert "nothing of this account" in page  # the copy says what happens
    r = c.html_login("bob")
    assert r.status_code == 303, (r.status_code, r.text[:300])
    js = c.session()
    assert js["user"] == "bob"
    assert js["cart"] == {} and js["prefs"] == {}, js
    review = c.get("/checkout/review", follow=True).text
    for v in typed.values():
        assert v not in review
    assert "4711" not in c.get("/checkout/address").text
    # alice's session ended with the switch
    old = Client(module_shop)
    old.cookie = alice_cookie
    assert old.session()["authenticated"] is False


def test_same_user_and_guest_logins_keep_the_data_S23(module_shop):
    c = Client(module_shop, ua="sessio-tests/keep")
    sku = find_form(c.get("/").text, "/cart/add").values()["sku"]
    c.add_api(sku, 1)
    c.api_login("bob")  # guest -> user keeps the cart
    assert c.session()["cart"] == {sku: 1}
    c.api_login("bob")  # the same user again keeps it
    assert c.session()["cart"] == {sku: 1}
    r = c.api("POST", "/api/login", {"user": "alice", "password": "wonderland"})
    assert r.status_code == 200
    assert c.session()["cart"] == {}  # another user: empty


# ---- S24: cookie tossing -----------------------------------------------------

def test_live_sessions_of_two_users_in_one_request_adopt_neither_S24(make_shop):
    shop = make_shop(log_level="info")
    victim, attacker = Client(shop), Client(shop)
    victim.api_login("alice")
    attacker.api_login("bob")
    for order in ((attacker.cookie, victim.cookie), (victim.cookie, attacker.cookie)):
        one = Client(shop)
        r = one.get("/api/session", cookie="; ".join(order))
        assert r.status_code == 200
        assert r.json()["authenticated"] is False, r.json()
    # two Cookie headers (an HTTP or sibling-domain plant comes first)
    conn = http.client.HTTPConnection("127.0.0.1", shop.port, timeout=10)
    conn.putrequest("GET", "/api/session")
    conn.putheader("Cookie", attacker.cookie)
    conn.putheader("Cookie", victim.cookie)
    conn.endheaders()
    resp = conn.getresponse()
    body = resp.read()
    conn.close()
    assert resp.status == 200 and b'"authenticated":false' in body, body
    # what the victim then types lands in no one's session
    both = f"{attacker.cookie}; {victim.cookie}"
    tok = attacker.session()["csrf"]
    r = Client(shop).request("PUT", "/api/prefs", json_body={"theme": "dark"},
                             cookie=both, token=tok)
    assert r.status_code == 200, r.text  # a new guest session of its own
    assert attacker.session()["prefs"] == {}
    assert victim.session()["authenticated"] is True  # the victim's own cookie still works
    assert "different users" in shop.stderr()


def test_guest_and_user_or_same_user_sessions_keep_the_newest_rule_S24(shop):
    a1, a2, guest = Client(shop), Client(shop), Client(shop)
    a1.api_login("alice")
    a2.api_login("alice")
    sku = find_form(guest.get("/").text, "/cart/add").values()["sku"]
    guest.add_api(sku, 1)
    r = Client(shop).get("/api/session", cookie=f"{a1.cookie}; {a2.cookie}")
    assert r.json()["user"] == "alice"
    r = Client(shop).get("/api/session", cookie=f"{a1.cookie}; {guest.cookie}")
    assert r.json()["cart"] == {sku: 1}  # the guest session is the most recent
