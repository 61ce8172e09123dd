"""test_tokens.py — the header-token transport (S30) through sessio-fcgi
(behind nginx) and sessio-civetweb, as sessio-mhd has it: a client that
sends "X-Session-Transport: token" gets its ID in X-Session-Token (never in
a Set-Cookie), comes back with "Authorization: Bearer ID", and a request
with both a session cookie and a bearer token is refused with 400. Each
example runs with --tokens (tests/integrations/conftest.py, token_app)."""
from itlib import CSRF_RE, ID_RE, form, request

TOKEN = {"X-Session-Transport": "token"}


def bearer(tok):
    return {"Authorization": f"Bearer {tok}"}


def visits(app, r):
    m = app.visits_re.search(r.text)
    assert m, f"{app.name}: no visit count in {r!r}"
    return int(m.group(1))


def new_token_session(app):
    r = app.get(app.page, headers=TOKEN)
    assert r.status == 200, r
    assert r.set_cookies() == [], f"{app.name}: a token session got a cookie: {r!r}"
    tok = r.header("X-Session-Token")
    assert ID_RE.match(tok), f"{app.name}: X-Session-Token {tok!r} in {r!r}"
    assert visits(app, r) == 1
    return tok


def test_token_session_is_sent_in_x_session_token_not_a_cookie_S30(token_app):
    new_token_session(token_app)


def test_bearer_token_carries_the_session_S30(token_app):
    app = token_app
    tok = new_token_session(app)
    r = app.get(app.page, headers=bearer(tok))
    assert r.status == 200, r
    assert visits(app, r) == 2, f"{app.name}: the bearer token was not read: {r!r}"
    assert r.set_cookies() == [] and r.header("X-Session-Token") == "", r
    assert "no-store" in r.header("Cache-Control"), r
    # the scheme is case-insensitive, as sessio-mhd reads it
    r = app.get(app.page, headers={"Authorization": f"bearer {tok}"})
    assert visits(app, r) == 3, r


def test_cookie_and_bearer_together_are_refused_with_400_S30(token_app):
    app = token_app
    tok = new_token_session(app)
    r = app.get(app.page)
    sid = r.set_cookies("sid")[0].value
    r = app.get(app.page, cookies=[f"sid={sid}"], headers=bearer(tok))
    assert r.status == 400, f"{app.name}: cookie + bearer answered {r!r}"
    assert r.set_cookies() == [] and r.header("X-Session-Token") == "", r
    # neither session was touched
    assert visits(app, app.get(app.page, headers=bearer(tok))) == 2


def test_unknown_bearer_token_is_no_session_S30(token_app):
    app = token_app
    r = app.get(app.page, headers=bearer("A" * 43))
    assert r.status == 200, r
    assert visits(app, r) == 1, f"{app.name}: an unknown token found a session: {r!r}"
    # a new session for an unknown token travels as a token too
    assert r.set_cookies() == [], r
    assert ID_RE.match(r.header("X-Session-Token")), r
    r = app.get(app.page, headers={"Authorization": "Basic YWxpY2U6d29uZGVybGFuZA=="})
    assert r.status == 200 and visits(app, r) == 1, r
    assert r.set_cookies("sid"), f"{app.name}: another scheme is not a token: {r!r}"


def test_login_over_a_token_gives_the_new_id_in_x_session_token_S30(token_app):
    app = token_app
    tok = new_token_session(app)
    r = app.get(app.page, headers=bearer(tok))
    csrf = CSRF_RE.search(r.text).group(1)
    r = app.post("/login", form(user="alice", password="wonderland", csrf=csrf),
                 headers={**bearer(tok), "Content-Type": "application/x-www-form-urlencoded"})
    assert r.status == 303, r
    assert r.set_cookies() == [], r
    new = r.header("X-Session-Token")
    assert ID_RE.match(new) and new != tok, f"{app.name}: login kept or hid the ID: {r!r}"
    r = app.get(app.user_page, headers=bearer(new))
    assert app.user_re.search(r.text).group(1) == "alice", r
    r = app.get(app.user_page, headers=bearer(tok))
    m = app.user_re.search(r.text)
    assert not (m and m.group(1) == "alice"), f"{app.name}: the old token still signs in: {r!r}"
