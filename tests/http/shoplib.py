"""shoplib.py — helpers for the black-box HTTP tests of sessio-shop.

Organised as: locating and running the server (Shop), a cookie-aware client
that handles the session cookie by hand (Client), Set-Cookie parsing, and a
small HTML form parser. Written from the shop's documented behaviour
(docs/SHOP.md) and SECURITY.md only, not from
the shop's code. Standard library + python3-requests (Debian).
"""
import base64
import html.parser
import http.client
import json
import os
import re
import select
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.parse
from http.cookiejar import DefaultCookiePolicy

import requests

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
HEX64 = re.compile(r"^[0-9a-f]{64}$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")
SID_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
START_TIMEOUT = float(os.environ.get("SESSIO_SHOP_START_TIMEOUT", "15"))
USERS = {"alice": "wonderland", "bob": "builder"}
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                   "runtime error:", "SUMMARY: UndefinedBehaviorSanitizer")


def build_dir():
    d = os.environ.get("SESSIO_BUILD_DIR") or "build-test"
    return d if os.path.isabs(d) else os.path.join(ROOT, d)


def shop_binary():
    return os.path.join(build_dir(), "apps", "shop", "sessio-shop")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def well_formed_id():
    """A made-up ID of the right form: 43 canonical base64url chars."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


class ShopError(Exception):
    pass


class Shop:
    """One sessio-shop process on a free 127.0.0.1 port; stderr to a file."""

    def __init__(self, args=(), store="memory:", env=None, log_level="warn",
                 listen=True, tmp=None):
        self.binary = shop_binary()
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        # the working directory (relative default store paths land here) and
        # the place for logs; pass the tmp of an earlier Shop to restart on it
        self.tmp = tmp or tempfile.mkdtemp(prefix="sessio-shop-test-")
        self.store = store.format(tmp=self.tmp) if store else None
        self.args = [self.binary]
        self.listen = listen
        if listen:
            self.args += ["--listen", f"127.0.0.1:{self.port}"]
        if self.store:
            self.args += ["--store", self.store]
        if log_level:
            self.args += ["--log-level", log_level]
        self.args += list(args)
        self.env = dict(os.environ)
        self.env.update(env or {})
        self.stderr_path = os.path.join(self.tmp, f"stderr-{self.port}.log")
        self.stdout_path = os.path.join(self.tmp, f"stdout-{self.port}.log")
        self.proc = None

    def url(self, path):
        return self.base + path

    def start(self):
        """Starts the shop; when the free port was taken by someone else in
        the meantime (the shop cannot listen), retries on another port."""
        for attempt in range(3):
            try:
                return self._start_once()
            except ShopError:
                if not (self.listen and "cannot listen" in self.stderr() and attempt < 2):
                    raise
                self._err.close()
                self._out.close()
                old = f"127.0.0.1:{self.port}"
                self.port = free_port()
                self.base = f"http://127.0.0.1:{self.port}"
                self.args = [f"127.0.0.1:{self.port}" if a == old else a for a in self.args]
        raise AssertionError("unreachable")

    def _start_once(self):
        if not os.access(self.binary, os.X_OK):
            raise ShopError(f"sessio-shop binary not found at {self.binary} "
                            f"(set SESSIO_BUILD_DIR or build it first)")
        self._err = open(self.stderr_path, "wb")
        self._out = open(self.stdout_path, "wb")
        self.proc = subprocess.Popen(self.args, stdout=self._out, stderr=self._err,
                                     stdin=subprocess.DEVNULL, env=self.env, cwd=self.tmp,
                                     start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ShopError(f"sessio-shop exited with {self.proc.returncode} at start: "
                                f"{' '.join(self.args)}\n{self.stderr()[-3000:]}")
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=0.5)
                c.request("GET", "/healthz")
                r = c.getresponse()
                r.read()
                c.close()
                if r.status == 200:
                    return self
                last = f"status {r.status}"
            except OSError as e:
                last = repr(e)
            time.sleep(0.05)  # polling for readiness, not testing time
        self.stop()
        raise ShopError(f"sessio-shop did not answer GET /healthz within {START_TIMEOUT}s "
                        f"({last}): {' '.join(self.args)}\n{self.stderr()[-3000:]}")

    def stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stdout(self):
        try:
            with open(self.stdout_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def signal(self, sig):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout):
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self):
        """SIGTERM, wait up to 10 s, then SIGKILL. Returns the exit code."""
        if not self.proc:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (getattr(self, "_err", None), getattr(self, "_out", None)):
            if f:
                f.close()
        return self.proc.returncode

    def sanitizer_report(self):
        err = self.stderr()
        for m in SANITIZER_MARKS:
            if m in err:
                return err[err.index(m) - 200 if err.index(m) > 200 else 0:][:4000]
        return None


# ---- Set-Cookie ------------------------------------------------------------

class SetCookie:
    def __init__(self, raw):
        self.raw = raw
        parts = [p.strip() for p in raw.split(";")]
        nv = parts[0]
        self.name, _, self.value = nv.partition("=")
        self.name = self.name.strip()
        self.attrs = {}   # lower-case name -> value ("" for flags)
        self.attr_names = []  # as sent
        for p in parts[1:]:
            if not p:
                continue
            k, _, v = p.partition("=")
            self.attrs[k.strip().lower()] = v.strip()
            self.attr_names.append(k.strip())

    def has(self, attr):
        return attr.lower() in self.attrs

    def get(self, attr):
        return self.attrs.get(attr.lower())

    def is_clearing(self):
        ma = self.get("max-age")
        return self.value == "" or (ma is not None and ma.strip() in ("0", "-1")) or \
            "1970" in (self.get("expires") or "")

    def __repr__(self):
        return f"SetCookie({self.raw!r})"


def set_cookies(resp):
    """All Set-Cookie headers of a requests response, parsed."""
    try:
        raw = resp.raw.headers.getlist("Set-Cookie")
    except AttributeError:
        raw = [resp.headers["Set-Cookie"]] if "Set-Cookie" in resp.headers else []
    return [SetCookie(v) for v in raw]


def header_list(resp, name):
    try:
        return resp.raw.headers.getlist(name)
    except AttributeError:
        return [resp.headers[name]] if name in resp.headers else []


# ---- the client --------------------------------------------------------------

class Client:
    """A client that keeps the session cookie by hand (so that Secure cookies
    over plain HTTP and cookie replay can be tested) and remembers the last
    CSRF token it saw. Never follows redirects unless asked."""

    def __init__(self, shop, ua=None):
        self.shop = shop
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        self.cookie = None        # "name=value" of the session cookie
        self.csrf = None
        self._csrf_cookie = None  # the cookie self.csrf was learned with
        self.ua = ua or "sessio-tests/1"
        self.form_field = None    # name of the hidden CSRF form field
        self.history = []         # (method, path, response) for S4 scans

    # -- raw requests
    def request(self, method, path, *, json_body=None, data=None, headers=None,
                token=False, cookie=True, ctype=None, follow=False, timeout=60):
        h = {"User-Agent": self.ua}
        if token is True and cookie is True and self.cookie and \
                (self.csrf is None or self._csrf_cookie != self.cookie):
            self.session()  # the token of the current session (e.g. after an HTML login)
        if cookie is True and self.cookie:
            h["Cookie"] = self.cookie
        elif isinstance(cookie, str):
            h["Cookie"] = cookie
        if token is True and self.csrf:
            h["X-CSRF-Token"] = self.csrf
        elif isinstance(token, str):
            h["X-CSRF-Token"] = token
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            h["Content-Type"] = "application/json"
        elif data is not None:
            if isinstance(data, (dict, list, tuple)):
                body = urllib.parse.urlencode(data).encode()
                h["Content-Type"] = "application/x-www-form-urlencoded"
            else:
                body = data if isinstance(data, bytes) else data.encode()
        if ctype is not None:
            h["Content-Type"] = ctype
        h.update(headers or {})
        r = self.http.request(method, self.shop.url(path), data=body, headers=h,
                              allow_redirects=False, timeout=timeout)
        if cookie is True:  # a request sent with another cookie teaches nothing
            self._absorb(r)
        self.history.append((method, path, r))
        if follow:
            n = 0
            while r.status_code in (301, 302, 303, 307, 308) and n < 5:
                loc = r.headers["Location"]
                p = urllib.parse.urlsplit(loc)
                assert p.netloc in ("", f"127.0.0.1:{self.shop.port}"), f"offsite redirect {loc}"
                r = self.request("GET", p.path + ("?" + p.query if p.query else ""))
                n += 1
        return r

    def _absorb(self, r):
        """Takes the session cookie and CSRF token from a response to a
        request sent with this client's own cookie."""
        for sc in set_cookies(r):
            if sc.name in ("sid", "__Host-sid"):
                if sc.is_clearing():
                    self.cookie = None
                else:
                    self.cookie = f"{sc.name}={sc.value}"
        ct = r.headers.get("Content-Type", "")
        if ct.startswith("application/json") and r.content:
            try:
                js = r.json()
            except ValueError:
                js = None
            if isinstance(js, dict) and isinstance(js.get("csrf"), str):
                self.csrf = js["csrf"]
                self._csrf_cookie = self.cookie

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def api(self, method, path, body=None, token=True, **kw):
        return self.request(method, path, json_body=body, token=token, **kw)

    @property
    def sid(self):
        return self.cookie.split("=", 1)[1] if self.cookie else None

    # -- state
    def session(self):
        r = self.get("/api/session")
        assert r.status_code == 200, (r.status_code, r.text[:300])
        js = r.json()
        if js.get("csrf"):
            self.csrf = js["csrf"]
            self._csrf_cookie = self.cookie
        return js

    def add_api(self, sku, qty=1):
        r = self.api("POST", "/api/cart", {"sku": sku, "qty": qty})
        assert r.status_code == 200, (r.status_code, r.text[:300])
        return r.json()

    def api_login(self, user="alice", password=None, remember=False):
        r = self.api("POST", "/api/login",
                     {"user": user, "password": password or USERS[user], "remember": remember})
        assert r.status_code == 200, (r.status_code, r.text[:300])
        return r

    def csrf_name(self):
        """The name of the hidden form field that carries the CSRF token,
        found as the hidden input whose value is the session's token."""
        if self.form_field:
            return self.form_field
        tok = self.session()["csrf"]
        assert tok, "no session, so no CSRF token"
        for path in ("/prefs", "/cart", "/"):
            for f in forms(self.get(path).text):
                for fl in f.fields:
                    if fl["type"] == "hidden" and fl["value"] == tok:
                        self.form_field = fl["name"]
                        return self.form_field
        raise AssertionError("no hidden form field holds the session's CSRF token on "
                             "/prefs, /cart or /")

    def post_form(self, path, fields, token=True, **kw):
        """POST a form; token=True adds the CSRF field (when a session exists)."""
        fields = list(fields.items()) if isinstance(fields, dict) else list(fields)
        if token is True and self.cookie:
            name = self.csrf_name()
            fields.append((name, self.session()["csrf"]))
        elif isinstance(token, str):
            fields.append((self.csrf_name(), token))
        return self.request("POST", path, data=fields, **kw)

    def html_login(self, user="alice", password=None, remember=False, next_=None):
        """Signs in through GET/POST /login like a browser would."""
        page = self.get("/login" + (f"?next={urllib.parse.quote(next_, safe='')}" if next_ else ""))
        assert page.status_code == 200, page.status_code
        f = find_form(page.text, "/login")
        vals = f.values()
        vals["user"] = user
        vals["password"] = password or USERS[user]
        if remember:
            vals["remember"] = checkbox_value(f, "remember")
        else:
            vals.pop("remember", None)
        return self.request("POST", "/login", data=list(vals.items()))


# ---- HTML forms ----------------------------------------------------------------

class Form:
    def __init__(self, action, method):
        self.action = action
        self.method = method
        self.fields = []   # dicts: tag, name, type, value, checked, options

    def values(self):
        """What a browser would submit with no change (buttons excluded)."""
        out = {}
        for f in self.fields:
            if not f["name"] or f["type"] in ("submit", "button", "reset", "image"):
                continue
            if f["type"] in ("checkbox", "radio") and not f["checked"]:
                continue
            if f["tag"] == "select":
                sel = [o for o in f["options"] if o["selected"]] or f["options"][:1]
                out[f["name"]] = sel[0]["value"] if sel else ""
                continue
            out[f["name"]] = f["value"]
        return out

    def submissions(self):
        """One dict per way to submit the form: its values plus each named
        submit button (or just the values when no button has a name)."""
        base = self.values()
        subs = [dict(base, **{f["name"]: f["value"]}) for f in self.fields
                if f["name"] and f["type"] in ("submit", "image")]
        return subs or [base]

    def field(self, name):
        for f in self.fields:
            if f["name"] == name:
                return f
        return None

    def __repr__(self):
        return f"Form({self.method} {self.action} {[f['name'] for f in self.fields]})"


class _FormParser(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms = []
        self.cur = None
        self.select = None
        self.option = None
        self.textarea = None

    def handle_starttag(self, tag, attrs):
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form":
            self.cur = Form(a.get("action", ""), a.get("method", "get").lower())
            self.forms.append(self.cur)
        elif self.cur is None:
            return
        elif tag == "input":
            self.cur.fields.append({"tag": "input", "name": a.get("name"),
                                    "type": a.get("type", "text").lower(),
                                    "value": a.get("value", "on" if a.get("type", "").lower()
                                                   in ("checkbox", "radio") else ""),
                                    "checked": "checked" in a, "options": [], "attrs": a})
        elif tag == "button":
            self.cur.fields.append({"tag": "button", "name": a.get("name"),
                                    "type": a.get("type", "submit").lower(),
                                    "value": a.get("value", ""), "checked": False,
                                    "options": [], "attrs": a})
        elif tag == "select":
            self.select = {"tag": "select", "name": a.get("name"), "type": "select",
                           "value": "", "checked": False, "options": [], "attrs": a}
            self.cur.fields.append(self.select)
        elif tag == "option" and self.select is not None:
            self.option = {"value": a.get("value"), "selected": "selected" in a, "text": ""}
            self.select["options"].append(self.option)
        elif tag == "textarea":
            self.textarea = {"tag": "textarea", "name": a.get("name"), "type": "textarea",
                             "value": "", "checked": False, "options": [], "attrs": a}
            self.cur.fields.append(self.textarea)

    def handle_endtag(self, tag):
        if tag == "form":
            self.cur = None
        elif tag == "select":
            self.select = None
        elif tag == "option":
            self.option = None
        elif tag == "textarea":
            self.textarea = None

    def handle_data(self, data):
        if self.option is not None:
            self.option["text"] += data
            if self.option["value"] is None or self.option["value"] == "":
                pass
        if self.textarea is not None:
            self.textarea["value"] += data

    def close(self):
        super().close()
        for f in self.forms:
            for fl in f.fields:
                for o in fl["options"]:
                    if o["value"] is None:
                        o["value"] = o["text"].strip()


def forms(text):
    p = _FormParser()
    p.feed(text)
    p.close()
    return p.forms


def find_form(text, action, method="post"):
    """The first form posting to 'action' (path part compared)."""
    for f in forms(text):
        if urllib.parse.urlsplit(f.action).path == action and f.method == method:
            return f
    raise AssertionError(f"no <form method={method} action={action}> in page: "
                         f"{[repr(f) for f in forms(text)]}")


def find_forms(text, action, method="post"):
    return [f for f in forms(text)
            if urllib.parse.urlsplit(f.action).path == action and f.method == method]


def checkbox_value(form, name):
    f = form.field(name)
    return f["value"] if f else "1"


class _Text(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts = []
        self.skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "title"):
            self.skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style", "title") and self.skip:
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip and data.strip():
            self.parts.append(" ".join(data.split()))


def visible_text(text):
    """The page's text without tags, scripts and styles, one line per text node."""
    p = _Text()
    p.feed(text)
    p.close()
    return "\n".join(p.parts)


class _Tags(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: (v or "") for k, v in attrs}))


def tags(text, name=None):
    p = _Tags()
    p.feed(text)
    p.close()
    return [(t, a) for t, a in p.tags if name is None or t == name]


def theme_marks(text):
    """Attribute text of <html> and <body> plus stylesheet hrefs: where a theme
    choice shows up in a server-rendered page."""
    out = []
    for t, a in tags(text):
        if t in ("html", "body"):
            out.append(" ".join(f"{k}={v}" for k, v in a.items()))
        if t == "link" and "stylesheet" in a.get("rel", ""):
            out.append(a.get("href", ""))
    return " ".join(out)


def html_lang(text):
    for t, a in tags(text, "html"):
        return a.get("lang")
    return None


def walk_json(obj):
    yield obj
    if isinstance(obj, dict):
        for v in obj.values():
            yield from walk_json(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from walk_json(v)


def session_entries(js):
    """Dicts of a GET /api/sessions answer that describe one session: the
    ones holding a 32-hex handle."""
    out = []
    for o in walk_json(js):
        if isinstance(o, dict) and any(isinstance(v, str) and HEX32.match(v) for v in o.values()):
            out.append(o)
    return out


def entry_handle(entry):
    if isinstance(entry.get("handle"), str):
        return entry["handle"]
    for v in entry.values():
        if isinstance(v, str) and HEX32.match(v):
            return v
    return None


def entry_for_ua(entries, ua):
    hits = [e for e in entries if any(isinstance(v, str) and ua in v for v in e.values())]
    assert len(hits) == 1, f"expected one session entry showing user agent {ua!r}: {entries}"
    return hits[0]


def wait_server_read(server_port, client_port, timeout=5.0):
    """Waits until the server's end of the connection from 'client_port' has
    no unread bytes (/proc/net/tcp rx_queue 0): the server has read the
    request. Returns False when that is not seen within 'timeout' seconds."""
    local = f"0100007F:{server_port:04X}"
    remote = f"0100007F:{client_port:04X}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open("/proc/net/tcp") as f:
            for line in f.readlines()[1:]:
                parts = line.split()
                if parts[1] == local and parts[2] == remote:
                    if int(parts[4].split(":")[1], 16) == 0:
                        return True
        time.sleep(0.002)  # polling the kernel's queue, not testing time
    return False


def raw_request(port, data, timeout=20, until_close=False):
    """Sends raw bytes over a new connection and returns (status, head, body).
    Stops sending as soon as the server answers (it may answer a too large
    request before reading all of it), then reads until the server closes."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    buf = b""
    try:
        try:
            view = memoryview(data)
            while view:
                n = s.send(view[:16384])
                view = view[n:]
                r, _, _ = select.select([s], [], [], 0)
                if r:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            buf += chunk
            if not until_close and _complete(buf):
                break
    finally:
        s.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    return (int(m.group(1)) if m else None), head.decode("latin-1"), body


def _complete(buf):
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    return bool(m) and len(body) >= int(m.group(1))


def two_shops_count_all_cart_adds(make_shop, url):
    """No lost update: two shop processes on one store URL; 20 connections x 10
    adds on one session, spread over both, give exactly 200 items, and
    both processes see the same cart. make_shop is the conftest fixture."""
    shops = [make_shop(store=url), make_shop(store=url)]
    seed = Client(shops[0])
    seed.add_api("P0", 1)
    cookie, token = seed.cookie, seed.csrf
    conns, adds = 20, 10
    barrier = threading.Barrier(conns)
    errors = []

    def worker(i):
        c = Client(shops[i % 2])
        c.cookie, c.csrf = cookie, token
        c.get("/healthz")  # connect before the barrier
        barrier.wait()
        for _ in range(adds):
            try:
                r = c.api("POST", "/api/cart", {"sku": "P", "qty": 1})
                if r.status_code != 200 or c.cookie != cookie:
                    errors.append((i, r.status_code, r.text[:200]))
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append((i, repr(e)))

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)
    assert not errors, f"{len(errors)} adds failed: {errors[:5]}"
    for s in shops:  # both processes see the same cart
        c = Client(s)
        c.cookie = cookie
        assert c.session()["cart"] == {"P0": 1, "P": conns * adds}
