"""test_attacks.py — the shop under the attacks of a hostile client: account
switches in one browser (S23), cookie tossing with live sessions of two
users (S24), and the smaller leaks and crashes of S25 (credentials in logs,
non-UTF-8 JSON, malformed form values, the shop's own 431, the server
secret file, store permissions). Floods live in test_attack_floods.py."""
import http.client
import json
import os
import shutil
import subprocess

import pytest

from shoplib import Client, Shop, find_form, free_port


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
    assert "door code 4711" not in c.get("/checkout/address").text
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


# ---- S25: the rest -------------------------------------------------------------

def _run(args, env=None, timeout=20):
    s = Shop(args=args, store=None, env=env)
    p = subprocess.run(s.args, capture_output=True, text=True, timeout=timeout, cwd=s.tmp,
                       env=s.env)
    shutil.rmtree(s.tmp, ignore_errors=True)
    return p


def test_store_password_never_appears_in_the_log_S25(make_shop):
    port = free_port()  # nothing listens there: the store cannot be opened
    # (the shop starts anyway and says so; a malformed URL stops it)
    for url in (f"redis://:Sup3rS3cretPw@127.0.0.1:{port}/0",
                f"redis://app:Sup3rS3cretPw@127.0.0.1:{port}",
                f"redis://app:Sup3r%2FS3cretPw@127.0.0.1:{port}"):
        shop = make_shop(store=url)
        shop.stop()
        out = shop.stderr() + shop.stdout()
        assert "Sup3rS3cretPw" not in out and "S3cretPw" not in out, out
        assert ":***@127.0.0.1" in out, out
    p = _run(["--store", f"redis://:Sup3r/S3cretPw@127.0.0.1:{port}?x=1"])
    assert p.returncode != 0
    out = p.stderr + p.stdout
    assert "S3cretPw" not in out and ":***@127.0.0.1" in out, out


def test_every_json_answer_is_valid_utf8_whatever_bytes_the_client_sent_S25(make_shop):
    shop = make_shop()
    c = Client(shop)
    c.ua = b"Bad\xff\xfe\xc3 agent \xed\xa0\x80 \xf0\x9f\x98\x80 end"
    c.api_login("alice")
    c.add_api("B2")
    for path in ("/api/sessions", "/api/session"):
        r = c.get(path)
        assert r.status_code == 200, r.status_code
        text = r.content.decode("utf-8")  # raises on invalid UTF-8
        js = json.loads(text)
        assert js
    labels = [s["info"] for s in
              json.loads(c.get("/api/sessions").content.decode("utf-8"))["sessions"]]
    assert any("\ufffd" in lab and "\U0001f600" in lab for lab in labels), labels
    assert "\ufffd" in c.get("/account/sessions").content.decode("utf-8")


@pytest.mark.parametrize("sku", ["a+b", "%C3%A9", "%00", "a%20b", "%FF"])
def test_malformed_form_values_on_cart_remove_are_400_never_500_S25(shop, sku):
    c = Client(shop)
    c.add_api("A1")
    tok = c.session()["csrf"]
    body = f"sku={sku}&{c.csrf_name()}={tok}"
    r = c.request("POST", "/cart/remove", data=body,
                  ctype="application/x-www-form-urlencoded")
    assert r.status_code == 400, (sku, r.status_code, r.text[:200])
    assert c.session()["cart"] == {"A1": 1}


def test_shops_own_431_carries_the_security_headers_S25(shop):
    for path in ("/", "/api/session"):
        r = Client(shop).get(path, headers={f"X-Pad-{i}": "p" * 1000 for i in range(20)})
        assert r.status_code == 431
        assert r.headers.get("X-Content-Type-Options") == "nosniff"
        assert "frame-ancestors 'none'" in r.headers.get("Content-Security-Policy", "")
        assert r.headers.get("Cache-Control") == "no-store"
        assert r.headers.get("Referrer-Policy") == "same-origin"


def _secret_file(tmp_path, name, text, mode=0o600):
    p = tmp_path / name
    p.write_text(text)
    os.chmod(p, mode)
    return str(p)


def test_secret_file_gives_the_server_secret_S25(make_shop, tmp_path):
    a = _secret_file(tmp_path, "a", os.urandom(32).hex() + "\n")
    b = _secret_file(tmp_path, "b", os.urandom(32).hex() + "\n")
    first = make_shop(args=["--secret-file", a], store="sqlite:{tmp}/s.db")
    c = Client(first)
    c.add_api("A1")
    first.stop()
    # another secret names other records: the cookie finds nothing
    other = make_shop(env={"SESSIO_SECRET_FILE": b}, store=f"sqlite:{first.tmp}/s.db",
                      tmp=first.tmp)
    c.shop = other
    assert c.session()["cart"] == {}
    other.stop()
    same = make_shop(args=["--secret-file", a], store=f"sqlite:{first.tmp}/s.db", tmp=first.tmp)
    c.shop = same
    assert c.session()["cart"] == {"A1": 1}


@pytest.mark.parametrize("text,mode,why", [
    ("ab" * 32 + "\n", 0o640, "group"),
    ("ab" * 32 + "\n", 0o604, "group or others"),
    ("ab" * 32 + "\n", 0o644, "group or others"),
    ("ab" * 32, 0o600, "64 hexadecimal"),
    ("ab" * 31 + "\n", 0o600, "64 hexadecimal"),
    ("zz" * 32 + "\n", 0o600, "64 hexadecimal"),
    ("ab" * 32 + "\n\n", 0o600, "64 hexadecimal")])
def test_bad_or_exposed_secret_file_is_refused_S25(tmp_path, text, mode, why):
    path = _secret_file(tmp_path, "secret", text, mode)
    for args, env in ((["--secret-file", path], None), ([], {"SESSIO_SECRET_FILE": path})):
        p = _run(args + ["--store", "memory:"], env=env)
        assert p.returncode != 0, (args, env)
        assert why in p.stderr, p.stderr


@pytest.mark.parametrize("kind", ["file", "sqlite"])
def test_store_path_open_to_others_is_refused_with_a_clear_error_S25(tmp_path, kind):
    if kind == "file":
        path = tmp_path / "sessions"
        path.mkdir()
        os.chmod(path, 0o755)
    else:
        path = tmp_path / "s.db"
        path.write_bytes(b"")
        os.chmod(path, 0o644)
    p = _run(["--store", f"{kind}:{path}"])
    assert p.returncode != 0
    assert "SESSIO_EPERM" in p.stderr and "other users" in p.stderr, p.stderr
    assert (os.stat(path).st_mode & 0o777) in (0o755, 0o644)  # left as it was
