"""test_integration_security.py — every server integration keeps sessio-mhd's
security rules, checked from outside on each example application (the
`app` fixture: mhd, auth-service, fcgi-nginx, civetweb, auth-request; see
conftest.py).
The rules are those of docs/SECURITY.md: cookie name and attributes (S3,
S8, S9), where the ID may travel (S4), strict mode (S5), a new ID at login
and logout (S6, S17), malformed IDs (S7), no-store (S10), the Cookie header
parser (S11), several Cookie headers (S12), no session without data (S16),
a dead session cookie deleted (S34).
"""
import pytest

from itlib import ID_RE, Browser, form, request, user_of, well_formed_id


def _one_cookie(r, name="sid"):
    cs = r.set_cookies(name)
    assert len(cs) == 1, f"expected one Set-Cookie {name}: {r.headers('Set-Cookie')}"
    return cs[0]


def _visits(app, r):
    m = app.visits_re.search(r.text)
    assert m, f"no visit count on the page: {r.text[:300]!r}"
    return int(m.group(1))


def _alice(app):
    b = Browser(app)
    b.login()
    assert user_of(app, b.cookies()) == "alice"
    return b


# ---- S3, S8, S9: the cookie --------------------------------------------------------

def test_new_session_cookie_is_sid_httponly_lax_path_root_no_domain_S3_S8_S9(app):
    r = app.get(app.page)
    assert r.status == 200, r
    c = _one_cookie(r)
    assert ID_RE.match(c.value), f"not 43 base64url characters: {c.value!r}"
    assert c.has("HttpOnly") and c.get("Path") == "/", c.raw
    assert (c.get("SameSite") or "").lower() == "lax", c.raw
    assert not c.has("Domain"), c.raw
    assert not c.has("Max-Age") and not c.has("Expires"), "browser-session cookie expected"
    assert not c.has("Secure"), "plain HTTP from an untrusted client: no Secure"
    assert len(r.headers("Set-Cookie")) == len({x.name for x in r.set_cookies()}), \
        f"several Set-Cookie for one name: {r.headers('Set-Cookie')}"


def test_forwarded_proto_from_the_client_is_not_believed_S8(app):
    # "HTTPS: on" too: through FastCGI it becomes HTTP_HTTPS, never the
    # web server's HTTPS parameter.
    r = app.get(app.page, headers={"X-Forwarded-Proto": "https", "Forwarded": "proto=https",
                                   "HTTPS": "on"})
    c = _one_cookie(r)
    assert not c.has("Secure"), c.raw


def test_tls_or_trusted_proxy_gives_host_prefixed_secure_cookie_S3_S8(app):
    if not app.secure:
        pytest.skip(f"{app.name} has no TLS or trusted-proxy mode")
    for url, headers in app.secure:
        b = Browser(app, url=url, headers=headers, cookie_name="__Host-sid")
        r = b.visit()
        c = _one_cookie(r, "__Host-sid")
        assert c.has("Secure") and c.has("HttpOnly") and c.get("Path") == "/", (url, c.raw)
        assert not c.has("Domain"), c.raw
        assert _visits(app, b.visit()) == 2, f"{url}: the Secure cookie does not work sent back"
        r = b.login()
        assert _one_cookie(r, "__Host-sid").has("Secure")
        r = b.logout()
        c = _one_cookie(r, "__Host-sid")
        assert c.value == "" and c.get("Max-Age") == "0" and c.has("Secure") \
            and c.get("Path") == "/", c.raw


def test_login_sends_one_cookie_with_a_new_id_and_the_old_one_dies_S6_S9(app):
    b = Browser(app)
    b.visit()
    before = b.sid
    r = b.login()
    c = _one_cookie(r)
    assert ID_RE.match(c.value) and c.value != before
    assert user_of(app, [f"sid={c.value}"]) == "alice"
    assert user_of(app, [f"sid={before}"]) is None, "the pre-login ID still works"


def test_logout_clears_the_cookie_and_the_old_id_is_dead_S17(app):
    b = _alice(app)
    sid = b.sid
    r = b.logout()
    c = _one_cookie(r)
    assert c.value == "" and c.get("Max-Age") == "0" and c.get("Path") == "/", c.raw
    assert user_of(app, [f"sid={sid}"]) is None


# ---- S10 ---------------------------------------------------------------------------

def test_session_responses_are_no_store_and_vary_cookie_S10(app):
    b = _alice(app)
    responses = [b.get(app.page), b.get(app.user_page)] + [b.get(p) for p in app.readonly]
    responses += [b.login("bob", "builder"), b.logout()]
    # An unknown route's 404 does not depend on the session: exempt.
    for r in (r for r in responses if r.status != 404):
        assert "no-store" in r.header("Cache-Control").lower(), r
        assert "cookie" in r.header("Vary").lower(), r


def test_response_that_sets_a_cookie_is_no_store_S10(app):
    r = app.get(app.page)
    assert r.set_cookies("sid") and "no-store" in r.header("Cache-Control").lower(), r


# ---- S16 ---------------------------------------------------------------------------

def test_read_only_requests_without_cookie_create_no_session_S16(app):
    for path in app.readonly:
        r = app.get(path)
        assert r.status in (200, 302, 404), (path, r)
        assert not r.headers("Set-Cookie"), (path, r.headers("Set-Cookie"))


# ---- S34 ---------------------------------------------------------------------------

def test_dead_session_cookie_is_deleted_on_a_read_only_request_S34(app):
    """A request whose only session cookie is dead (made up, or ended at a
    logout) and that stores nothing gets the cookie's deletion: one
    Set-Cookie with the real cookie's name and attributes and Max-Age=0."""
    real = _one_cookie(app.get(app.page))
    b = _alice(app)
    ended = b.cookies()
    b.logout()
    # An unknown route's 404 does not depend on the session: exempt.
    paths = [p for p in app.readonly if app.get(p).status != 404]
    if not paths:
        pytest.skip(f"{app.name} has no read-only route that reads the session")
    for cookies in ([f"sid={well_formed_id()}"], ended):
        for path in paths:
            r = app.get(path, cookies)
            c = _one_cookie(r)
            assert c.value == "" and c.get("Max-Age") == "0", (path, c.raw)
            assert c.get("Path") == real.get("Path") and c.has("HttpOnly"), c.raw
            assert (c.get("SameSite") or "").lower() == "lax", c.raw
            assert "no-store" in r.header("Cache-Control").lower(), (path, r)


# ---- S5, S7 ------------------------------------------------------------------------

def test_made_up_well_formed_id_is_never_adopted_S5(app):
    fid = well_formed_id()
    r = app.get(app.page, [f"sid={fid}"])
    assert _visits(app, r) == 1
    c = _one_cookie(r)
    assert c.value != fid and ID_RE.match(c.value)
    r = app.get(app.page, [f"sid={fid}"])
    assert _visits(app, r) == 1, "something was stored under the made-up ID"
    assert _one_cookie(r).value != fid


MALFORMED = ["abc", "x" * 42, "x" * 44, "A" * 42 + "*", "A" * 42 + "B",
             well_formed_id()[:-1] + "=", "%41" * 20, '"' + "A" * 43 + '"x', ""]


@pytest.mark.parametrize("value", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_cookie_value_is_ignored_S7(app, value):
    r = app.get(app.page, [f"sid={value}"])
    assert r.status == 200, r
    assert _visits(app, r) == 1
    c = _one_cookie(r)
    assert ID_RE.match(c.value) and c.value != value


# ---- S11 ---------------------------------------------------------------------------

def test_junk_in_cookie_headers_does_not_break_the_request_S11(app):
    b = _alice(app)
    for junk in ["sid", "=;=;;", "a=1; sid; b", 'sid="unbalanced', "sid=\xe9\xff",
                 ";".join(f"k{i}=v" for i in range(300))]:
        cookies = [junk + "; " + b.cookies()[0]]
        assert user_of(app, cookies) == "alice", junk[:40]
    # Control bytes make the header line invalid HTTP (RFC 9110 5.5): the
    # server's own parser may refuse the request (CivetWeb answers 400);
    # if it lets it through, the session must still be read.
    r = request(app.url, "GET", app.user_page, ["sid=\x01\x02; " + b.cookies()[0]])
    assert r.status in (200, 400), r
    if r.status == 200:
        assert user_of(app, ["sid=\x01\x02; " + b.cookies()[0]]) == "alice"


def test_cookie_headers_over_8_kib_get_431_and_the_server_lives_S11(app):
    b = _alice(app)
    big = ["pad%d=%s" % (i, "v" * 3000) for i in range(3)]  # ~9 KiB in 3 headers
    r = app.get(app.page, big + b.cookies())
    assert r.status == 431, r
    r = app.get(app.page, ["pad=" + "v" * 9000] + b.cookies())  # one long line
    assert r.status == 431, r
    assert user_of(app, b.cookies()) == "alice", "the server did not survive"


# ---- S12 ---------------------------------------------------------------------------

def test_several_cookie_headers_are_read_and_forged_never_shadows_valid_S12(app):
    b = _alice(app)
    mine = b.cookies()[0]
    fid = well_formed_id()
    for headers in ([mine, f"sid={fid}"], [f"sid={fid}", mine], ["theme=x", mine],
                    ["sid=garbage; other=1", mine], [f"sid={fid}; {mine}"],
                    [f"{mine}; sid={fid}"], [f"sid=bad; {mine}"]):
        assert user_of(app, headers) == "alice", headers


# ---- S4 ----------------------------------------------------------------------------

def test_id_in_the_query_string_or_form_body_is_ignored_S4(app):
    owner = _alice(app)
    sep = "&" if "?" in app.page else "?"
    for q in (f"sid={owner.sid}", f"__Host-sid={owner.sid}", f"session={owner.sid}"):
        r = app.get(f"{app.page}{sep}{q}")
        assert r.status == 200 and app.user_re.search(r.text) is None, (q, r)
        assert _one_cookie(r).value != owner.sid
    other = Browser(app)
    other.visit()
    for path in ("/login", "/logout", app.page):
        r = other.post(path, form(sid=owner.sid, user="alice", password="nope"))
        assert r.status < 500, r
        assert other.sid != owner.sid and user_of(app, other.cookies()) is None
    assert user_of(app, owner.cookies()) == "alice", "the owner's session was changed"


def test_session_id_never_in_a_body_location_or_other_header_S4(app):
    b = Browser(app)
    b.visit()
    ids = [b.sid]
    b.login()
    ids.append(b.sid)
    b.get(app.user_page)
    for p in app.readonly:
        b.get(p)
    b.logout()
    for r in b.history:
        for sid in ids:
            assert sid not in r.text, f"session ID in a body: {r}"
            for k, v in r.header_pairs:
                if k.lower() != "set-cookie":
                    assert sid not in v, f"session ID in header {k}"
