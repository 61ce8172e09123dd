"""test_remember_reauth.py — remember-me with its own lifetime and the
password asked again before sensitive actions (S8): the remember-me cookie's
Max-Age is --remember (30 days by default), longer than --absolute; past
--reauth-after since the last password, signing sessions out and placing an
order go through /login?reauth=1&next=..., and signing in again as the same
user keeps the cart and the checkout data; the API answers 401
"reauthenticate"."""
import subprocess
import urllib.parse

from shoplib import Client, find_form, set_cookies
from test_checkout import STEPS, _fill


def _session_cookie(r):
    return [sc for sc in set_cookies(r) if sc.name in ("sid", "__Host-sid")][-1]


def test_remember_me_cookie_lives_its_own_lifetime_S8(make_shop):
    shop = make_shop()  # defaults: --absolute 12h, --remember 30d, --remember-idle 7d
    r = Client(shop).api_login("alice", remember=True)
    assert _session_cookie(r).get("Max-Age") == str(30 * 86400)
    r = Client(shop).api_login("alice", remember=False)
    assert _session_cookie(r).get("Max-Age") is None
    shop2 = make_shop(env={"SESSIO_REMEMBER": "10d", "SESSIO_REMEMBER_IDLE": "2d"})
    r = Client(shop2).api_login("bob", remember=True)
    assert _session_cookie(r).get("Max-Age") == str(10 * 86400)
    info = Client(shop2)
    info.cookie = f"sid={_session_cookie(r).value}"
    s = info.api("GET", "/api/sessions").json()["sessions"][0]
    assert s["remember"] is True
    assert 2 * 86400e3 - 60e3 <= s["expires_at"] - s["last_seen"] <= 2 * 86400e3


def test_bad_remember_flags_stop_the_shop_S8(make_shop):
    for args in (["--remember-idle", "40d"], ["--reauth-after", "soon"]):
        s = make_shop(args=args, start=False)
        p = subprocess.run(s.args, capture_output=True, text=True, timeout=20, env=s.env,
                           cwd=s.tmp)
        assert p.returncode == 2 and args[0] in p.stderr, (args, p.stderr)


def test_placing_an_order_asks_the_password_again_and_keeps_the_checkout_S8(make_shop):
    # 1 ms: any request after the one that signed in (an argon2id check of
    # 64 MiB takes far longer) is past it.
    shop = make_shop(args=["--reauth-after", "1ms"])
    c = Client(shop)
    c.add_api("A1", 2)
    c.html_login("alice")
    typed_all = {}
    for step in STEPS[:-1]:
        page = c.get(step)
        assert page.status_code == 200, (step, page.status_code)
        vals, typed = _fill(find_form(page.text, step), "Reauth")
        typed_all.update(typed)
        r = c.request("POST", step, data=list(vals.items()))
        assert r.status_code in (302, 303), (step, r.status_code, r.text[:300])
    review = c.get("/checkout/review")
    place = find_form(review.text, "/checkout/place")
    r = c.request("POST", "/checkout/place", data=list(place.values().items()))
    assert r.status_code == 303
    loc = urllib.parse.urlsplit(r.headers["Location"])
    assert loc.path == "/login" and urllib.parse.parse_qs(loc.query) == {
        "reauth": ["1"], "next": ["/checkout/review"]}
    page = c.get(loc.path + "?" + loc.query)
    assert page.status_code == 200 and 'id="reauth"' in page.text
    r = c.html_login("alice", next_="/checkout/review")
    assert r.status_code == 303
    assert urllib.parse.urlsplit(r.headers["Location"]).path == "/checkout/review"
    assert c.session()["cart"] == {"A1": 2}
    review = c.get("/checkout/review").text
    assert any(v in review for v in typed_all.values()), "checkout data lost"


def test_signing_sessions_out_asks_the_password_again_S8(make_shop):
    shop = make_shop(args=["--reauth-after", "1ms"])
    a, b = Client(shop), Client(shop)
    a.html_login("alice")
    b.api_login("alice")
    page = a.get("/account/sessions")
    form = find_form(page.text, "/account/sessions/revoke")
    r = a.request("POST", "/account/sessions/revoke", data=list(form.values().items()))
    assert r.status_code == 303
    loc = urllib.parse.urlsplit(r.headers["Location"])
    assert loc.path == "/login" and "reauth=1" in loc.query
    assert b.session()["authenticated"] is True, "revoked without the password"
    r = b.api("DELETE", "/api/sessions?others=1")
    assert r.status_code == 401 and r.json()["error"] == "reauthenticate"
    assert a.session()["authenticated"] is True


def test_recent_password_needs_no_reauthentication_S8(make_shop):
    shop = make_shop()  # --reauth-after 1h
    a, b = Client(shop), Client(shop)
    a.api_login("alice")
    b.api_login("alice")
    r = b.api("DELETE", "/api/sessions?others=1")
    assert r.status_code == 200 and r.json()["revoked"] >= 1
    assert a.session()["authenticated"] is False
