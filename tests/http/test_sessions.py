"""test_sessions.py — S18: a user's sessions listed (created, last seen, user
agent, "this device") and revoked from another client, one by handle or all
others, through the JSON API and the HTML page. Uses a server private to this
module, since revoking "all others" would sign out other modules' clients."""
import random

import pytest

from shoplib import (HEX32, Client, entry_for_ua, entry_handle, find_forms, session_entries,
                     set_cookies, visible_text)


def _login(shop, user, label):
    c = Client(shop, ua=f"sessio-tests/{label}-{random.randint(10**6, 10**7)}")
    c.api_login(user)
    return c


def _entries(c):
    r = c.get("/api/sessions")
    assert r.status_code == 200, r.status_code
    return session_entries(r.json()), r


def _signed_in(c):
    js = Client(c.shop).get("/api/session", cookie=c.cookie).json()
    return js["authenticated"] is True


def test_sessions_listed_with_handle_times_user_agent_and_this_device_S18(module_shop):
    a = _login(module_shop, "alice", "list-A")
    b = _login(module_shop, "alice", "list-B")
    entries, r = _entries(a)
    ea, eb = entry_for_ua(entries, a.ua), entry_for_ua(entries, b.ua)
    ha, hb = entry_handle(ea), entry_handle(eb)
    assert HEX32.match(ha) and HEX32.match(hb) and ha != hb
    for sid in (a.sid, b.sid):
        assert sid not in r.text, "a session ID in the session list (S4)"
        assert sid not in (ha, hb)
    # "this device": a boolean that is true for the asking session only
    flags = [k for k, v in ea.items() if v is True and eb.get(k) is False]
    assert flags, f"no 'this device' flag telling {ea} from {eb}"
    # created and last seen are given
    assert sum(1 for v in ea.values() if isinstance(v, (int, float)) and not isinstance(v, bool)
               or isinstance(v, str) and any(ch.isdigit() for ch in v) and v != ha) >= 2, ea
    # bob's sessions are not in alice's list
    bob = _login(module_shop, "bob", "list-bob")
    assert not [e for e in entries if any(isinstance(v, str) and bob.ua in v for v in e.values())]
    assert bob.ua not in _entries(a)[1].text


def test_revoke_one_session_by_handle_from_another_client_S18(module_shop):
    a = _login(module_shop, "alice", "rev1-A")
    b = _login(module_shop, "alice", "rev1-B")
    b.add_api("R1")
    b_cookie = b.cookie
    hb = entry_handle(entry_for_ua(_entries(a)[0], b.ua))
    r = a.api("DELETE", f"/api/sessions/{hb}")
    assert r.status_code in (200, 204), r.status_code
    assert not _signed_in(b), "the revoked session still works"
    js = Client(module_shop).get("/api/session", cookie=b_cookie).json()
    assert js["cart"] == {} and js["csrf"] is None
    assert _signed_in(a), "revoking another session signed out the current one"
    assert b.ua not in _entries(a)[1].text


def test_revoke_all_others_keeps_current_S18(module_shop):
    a = _login(module_shop, "alice", "oth-A")
    b = _login(module_shop, "alice", "oth-B")
    c = _login(module_shop, "alice", "oth-C")
    r = a.api("DELETE", "/api/sessions?others=1")
    assert r.status_code in (200, 204), r.status_code
    assert _signed_in(a)
    assert not _signed_in(b) and not _signed_in(c)
    entries = _entries(a)[0]
    assert len(entries) == 1 and a.ua in str(entries[0]), entries


def test_cannot_revoke_another_users_session_S18(module_shop):
    bob = _login(module_shop, "bob", "other-bob")
    hb = entry_handle(entry_for_ua(_entries(bob)[0], bob.ua))
    a = _login(module_shop, "alice", "other-A")
    r = a.api("DELETE", f"/api/sessions/{hb}")
    assert r.status_code in (200, 204, 403, 404), r.status_code
    assert _signed_in(bob), "alice revoked bob's session"


@pytest.mark.parametrize("handle", ["nothex", "0" * 31, "0" * 33, "Z" * 32])
def test_revoke_with_malformed_handle_is_rejected(module_shop, handle):
    a = _login(module_shop, "bob", "badh")
    r = a.api("DELETE", f"/api/sessions/{handle}")
    assert r.status_code in (400, 404), r.status_code
    assert _signed_in(a)


def test_session_id_used_as_handle_revokes_nothing_S18_S4(module_shop):
    a = _login(module_shop, "alice", "idh-A")
    b = _login(module_shop, "alice", "idh-B")
    r = a.api("DELETE", f"/api/sessions/{b.sid}")
    assert r.status_code in (400, 404), r.status_code
    assert _signed_in(b)


def test_guest_cannot_list_or_revoke_sessions(module_shop):
    g = Client(module_shop)
    r = g.get("/api/sessions")
    assert r.status_code in (401, 403) or not session_entries(r.json())
    assert not set_cookies(r)
    r = g.get("/account/sessions")
    assert r.status_code in (302, 303, 401, 403), r.status_code
    g.add_api("R2")
    r = g.api("DELETE", "/api/sessions?others=1")
    assert r.status_code in (401, 403), r.status_code


def test_html_account_sessions_lists_and_revokes_one_S18(module_shop):
    a = _login(module_shop, "alice", "html-A")
    b = _login(module_shop, "alice", "html-B")
    page = a.get("/account/sessions")
    assert page.status_code == 200
    text = visible_text(page.text)
    assert a.ua in text and b.ua in text
    assert "this device" in text.lower()
    assert a.sid not in page.text and b.sid not in page.text
    subs = [s for f in find_forms(page.text, "/account/sessions/revoke") for s in f.submissions()]
    assert len(subs) >= 2, subs
    hb = entry_handle(entry_for_ua(_entries(a)[0], b.ua))
    mine = [s for s in subs if hb in s.values()]
    assert len(mine) == 1, f"no revoke form for handle {hb}: {subs}"
    vals = {k: v for k, v in mine[0].items() if k != a.csrf_name()}
    r = a.post_form("/account/sessions/revoke", vals)
    assert r.status_code == 303, r.status_code
    assert not _signed_in(b) and _signed_in(a)


def test_html_sign_out_everywhere_else_S18(module_shop):
    a = _login(module_shop, "alice", "html2-A")
    b = _login(module_shop, "alice", "html2-B")
    c = _login(module_shop, "alice", "html2-C")
    page = a.get("/account/sessions").text
    handles = {entry_handle(e) for e in _entries(a)[0]}
    subs = [s for f in find_forms(page, "/account/sessions/revoke") for s in f.submissions()]
    allf = [s for s in subs if not (set(s.values()) & handles)]
    assert len(allf) == 1, f"no single 'sign out everywhere else' form: {subs}"
    vals = {k: v for k, v in allf[0].items() if k != a.csrf_name()}
    r = a.post_form("/account/sessions/revoke", vals)
    assert r.status_code == 303, r.status_code
    assert _signed_in(a)
    assert not _signed_in(b) and not _signed_in(c)


def test_revoking_the_current_handle_signs_this_client_out_S18(module_shop):
    a = _login(module_shop, "bob", "self")
    cookie = a.cookie
    ha = entry_handle(entry_for_ua(_entries(a)[0], a.ua))
    r = a.api("DELETE", f"/api/sessions/{ha}")
    assert r.status_code in (200, 204), r.status_code
    js = Client(module_shop).get("/api/session", cookie=cookie).json()
    assert js["authenticated"] is False and js["csrf"] is None
