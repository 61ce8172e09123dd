"""test_routes.py — routes and HTTP basics of sessio-shop:
/healthz, the catalogue, 404/405/HEAD, security headers, --help, and the peers'
conformance script check_api.py run against the shop."""
import os
import re
import subprocess

import pytest

from shoplib import Client, find_forms, html_lang, tags, visible_text

# The peers' API checker lives in ../shared beside the repository (CI lays a
# copy there); skipped where it is absent.
CHECK_API = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..",
                         "shared", "peers", "wrk", "check_api.py")
HTML_PAGES = ["/", "/login", "/cart", "/prefs"]


def test_healthz_is_ok_and_sets_no_cookie(client):
    """GET /healthz -> 200 'ok', no session (S16)."""
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.text.strip() == "ok"
    assert "Set-Cookie" not in r.headers


def test_healthz_with_a_session_cookie_sets_no_cookie(shop):
    c = Client(shop)
    c.add_api("H1")
    r = c.get("/healthz")
    assert r.status_code == 200 and r.text.strip() == "ok"
    assert "Set-Cookie" not in r.headers


def test_check_api_conformance_script_passes(shop):
    """The peers' conformance script (40 checks of the JSON API) passes."""
    if not os.path.exists(CHECK_API):
        pytest.skip(f"{CHECK_API} not present")
    p = subprocess.run(["/usr/bin/python3", CHECK_API, shop.base], capture_output=True,
                       text=True, timeout=120)
    fails = [l for l in p.stdout.splitlines() if l.startswith("FAIL")]
    assert p.returncode == 0, "check_api.py failed:\n" + "\n".join(fails) + "\n" + p.stdout[-500:]


def test_home_lists_products_with_sku_name_price(client):
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    adds = find_forms(r.text, "/cart/add")
    skus = {f.values().get("sku") for f in adds}
    assert len(skus - {None, ""}) >= 2, f"expected several products with add-to-cart forms: {adds}"
    assert re.search(r"\d+[.,]\d\d", visible_text(r.text)), "no price on the product page"


def test_home_shows_sign_in_link_for_guest_and_name_when_signed_in(client, alice):
    r = client.get("/")
    assert any(a.get("href", "").split("?")[0] == "/login" for _, a in tags(r.text, "a")), \
        "guest page has no link to /login"
    assert "Signed in as" not in visible_text(r.text)
    r = alice.get("/")
    assert re.search(r"Signed in as\s+alice", visible_text(r.text)), visible_text(r.text)[:500]


@pytest.mark.parametrize("path", ["/nope", "/api/nope", "/cart/nope", "/checkout/nope"])
def test_unknown_route_is_404(client, path):
    r = client.get(path)
    assert r.status_code == 404
    assert "Set-Cookie" not in r.headers


def test_unknown_api_route_is_404_json(client):
    r = client.get("/api/nope")
    assert r.status_code == 404
    assert "error" in r.json()


@pytest.mark.parametrize("method,path", [
    ("DELETE", "/"), ("POST", "/"), ("PUT", "/login"), ("GET", "/logout"),
    ("GET", "/cart/add"), ("GET", "/cart/remove"), ("GET", "/checkout/place"),
    ("DELETE", "/prefs"), ("POST", "/healthz"), ("GET", "/api/cart"),
    ("GET", "/api/login"), ("GET", "/api/logout"), ("POST", "/api/session"),
    ("GET", "/account/sessions/revoke"), ("GET", "/api/prefs"),
])
def test_wrong_method_on_known_route_is_405(client, method, path):
    """A known path with another method -> 405, and it changes nothing (S19: GET never
    changes state)."""
    r = client.request(method, path)
    assert r.status_code == 405, f"{method} {path} -> {r.status_code}"
    assert "Set-Cookie" not in r.headers


def test_405_carries_allow_header(client):
    """RFC 9110 15.5.6: a 405 response MUST carry Allow."""
    r = client.request("DELETE", "/cart")
    assert r.status_code == 405
    assert "Allow" in r.headers and "GET" in r.headers["Allow"]


@pytest.mark.parametrize("path", ["/", "/healthz", "/login", "/cart", "/api/session"])
def test_head_works_like_get_without_body(client, path):
    g = client.get(path)
    h = client.request("HEAD", path)
    assert h.status_code == g.status_code == 200
    assert h.content == b""
    assert h.headers.get("Content-Type") == g.headers.get("Content-Type")
    assert ("Set-Cookie" in h.headers) == ("Set-Cookie" in g.headers)


def _csp(r):
    csp = r.headers.get("Content-Security-Policy")
    assert csp, f"no Content-Security-Policy on {r.url}"
    d = {}
    for part in csp.split(";"):
        bits = part.split()
        if bits:
            d[bits[0].lower()] = [b.lower() for b in bits[1:]]
    return csp, d


@pytest.mark.parametrize("path", HTML_PAGES + ["/api/session", "/nope"])
def test_security_headers_on_every_response(client, path):
    """CSP without inline script, frame-ancestors 'none', nosniff, Referrer-Policy."""
    r = client.get(path)
    csp, d = _csp(r)
    script = d.get("script-src", d.get("default-src"))
    assert script is not None, f"CSP restricts no scripts: {csp}"
    assert "'unsafe-inline'" not in script and "'unsafe-eval'" not in script, csp
    assert "*" not in script, csp
    assert d.get("frame-ancestors") == ["'none'"], csp
    assert r.headers.get("X-Content-Type-Options", "").lower() == "nosniff"
    assert r.headers.get("Referrer-Policy", "").lower() in (
        "no-referrer", "same-origin", "strict-origin", "strict-origin-when-cross-origin"), \
        r.headers.get("Referrer-Policy")


def test_csp_has_no_unsafe_inline_at_all(client):
    """CSP without 'unsafe-inline', for styles too: an injected style
    can leak page content (CSS selectors on attribute values)."""
    csp, _ = _csp(client.get("/"))
    assert "'unsafe-inline'" not in csp, csp


@pytest.mark.parametrize("path", HTML_PAGES)
def test_pages_have_no_inline_script_and_work_without_js(alice, path):
    """Server-rendered HTML: no inline <script> body, no on* handlers, a lang."""
    r = alice.get(path)
    assert r.status_code == 200
    body = r.text
    for m in re.finditer(r"<script\b([^>]*)>(.*?)</script>", body, re.S | re.I):
        assert "src=" in m.group(1).lower() and not m.group(2).strip(), m.group(0)[:200]
    for t, a in tags(body):
        ons = [k for k in a if k.startswith("on")]
        assert not ons, f"<{t}> has inline handlers {ons}"
    assert html_lang(body), "<html> has no lang attribute"


def test_help_lists_every_flag_and_env_fallbacks(shop):
    p = subprocess.run([shop.binary, "--help"], capture_output=True, text=True, timeout=20)
    out = p.stdout + p.stderr
    assert p.returncode == 0, out
    for flag in ("--listen", "--store", "--threads", "--secure", "--trust-proxy", "--idle",
                 "--absolute", "--remember", "--users", "--log-level", "--help"):
        assert flag in out, f"--help does not mention {flag}"
    assert "SESSIO_" in out, "--help does not mention the SESSIO_* environment variables"
    assert "127.0.0.1:8080" in out, "--help does not state the --listen default"


def test_env_variable_is_a_fallback_for_listen(make_shop):
    """SESSIO_LISTEN used when --listen is absent (every flag has a SESSIO_*
    environment fallback)."""
    s = make_shop(listen=False, start=False)
    s.env["SESSIO_LISTEN"] = f"127.0.0.1:{s.port}"
    s.start()
    r = Client(s).get("/healthz")
    assert r.status_code == 200


def test_unknown_flag_is_refused(make_shop):
    s = make_shop(args=["--no-such-flag"], start=False)
    p = subprocess.run(s.args, capture_output=True, text=True, timeout=20)
    assert p.returncode != 0


def test_static_files_are_typed_cacheable_and_cookie_free(shop):
    c = Client(shop)
    c.add_api("ST")
    r = c.get("/static/style.css")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/css")
    assert r.headers.get("X-Content-Type-Options") == "nosniff"
    assert "Set-Cookie" not in r.headers
    h = c.request("HEAD", "/static/style.css")
    assert h.status_code == 200 and h.content == b""
