"""test_auth_request.py — the nginx auth_request recipe (examples/auth-request)
run as shipped: nginx asks sessio-auth-service about every request to the
protected static folder and app.py; a signed-in user gets through with the
user (and CSRF token) passed on, anyone else goes to the sign-in page."""
from itlib import Browser, form, request, user_of


def _alice(app):
    b = Browser(app)
    b.login()
    return b


def test_protected_pages_send_strangers_to_the_sign_in_page(auth_app):
    for path in ("/app/", "/app/deep/page", "/static/hello.txt"):
        r = auth_app.get(path)
        assert r.status == 302, (path, r)
        assert r.header("Location") == f"/login?next={path}", r.header("Location")
        assert not r.headers("Set-Cookie")
        assert "hello" not in r.text.lower()


def test_sign_in_then_back_to_the_page_asked_for(auth_app):
    b = Browser(auth_app)
    page = b.get("/login?next=/app/")
    assert 'name="next" value="/app/"' in page.text
    token = page.text.split('name="csrf" value="')[1][:64]
    r = b.post("/login", form(user="alice", password="wonderland", csrf=token, next="/app/"))
    assert r.status == 303 and r.header("Location") == "/app/", r
    r = b.get("/app/")
    assert r.status == 200 and '<span id="user">alice</span>' in r.text, r


def test_next_to_another_site_is_not_followed(auth_app):
    b = Browser(auth_app)
    for bad in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        r = b.post("/login", form(user="alice", password="wonderland", csrf=b.csrf(), next=bad))
        assert r.status == 303 and r.header("Location") == "/", (bad, r.header("Location"))


def test_signed_in_user_reaches_the_static_folder_and_the_app(auth_app):
    b = _alice(auth_app)
    r = b.get("/static/hello.txt")
    assert r.status == 200 and "static file" in r.text, r
    assert "no-store" in r.header("Cache-Control") and "Cookie" in r.header("Vary")
    r = b.get("/app/")
    assert r.status == 200 and '<span id="user">alice</span>' in r.text, r
    assert r.header("Cache-Control") == "no-store", "the app's own Cache-Control leaked"


def test_a_client_cannot_name_itself_with_x_session_user(auth_app):
    r = auth_app.get("/app/", headers={"X-Session-User": "admin"})
    assert r.status == 302, r
    b = _alice(auth_app)
    r = request(auth_app.url, "GET", "/app/", b.cookies(), {"X-Session-User": "admin"})
    assert '<span id="user">alice</span>' in r.text and "admin" not in r.text, r


def test_app_post_needs_the_session_csrf_token_passed_by_nginx_S19(auth_app):
    b = _alice(auth_app)
    token = b.get("/app/").text.split('name="csrf" value="')[1][:64]
    assert token == b.csrf(), "the app did not get the session's CSRF token"
    r = b.post("/app/note", form(note="hi", csrf=token))
    assert r.status == 200 and "alice: hi" in r.text, r
    r = b.post("/app/note", form(note="hi", csrf="0" * 64))
    assert r.status == 403, r
    r = b.post("/app/note", form(note="hi"))
    assert r.status == 403, r


def test_unsafe_request_from_another_site_is_refused_before_the_app_S19(auth_app):
    b = _alice(auth_app)
    token = b.csrf()
    for headers in ({"Sec-Fetch-Site": "cross-site"}, {"Origin": "http://evil.example"}):
        r = request(auth_app.url, "POST", "/app/note", b.cookies(), headers,
                    form(note="x", csrf=token))
        assert r.status == 403, (headers, r)
    r = request(auth_app.url, "POST", "/app/note", b.cookies(),
                {"Sec-Fetch-Site": "same-origin"}, form(note="y", csrf=token))
    assert r.status == 200, r


def test_the_auth_endpoint_itself(auth_app):
    """What nginx sees: 204 with the user and token, or 401; never public."""
    svc = auth_app.service_url
    r = request(svc, "GET", "/auth")
    assert r.status == 401 and not r.headers("X-Session-User"), r
    b = _alice(auth_app)
    r = request(svc, "GET", "/auth", b.cookies(), {"X-Original-Method": "POST"})
    assert r.status == 204, r
    assert r.header("X-Session-User") == "alice"
    assert len(r.header("X-Session-Csrf")) == 64
    assert request(auth_app.url, "GET", "/_sessio/auth", b.cookies()).status == 404


def test_after_sign_out_the_app_is_closed_again_S17(auth_app):
    b = _alice(auth_app)
    old = b.cookies()
    r = b.logout()
    assert r.status == 303
    assert b.get("/app/").status == 302
    assert user_of(auth_app, old) is None
