"""itlib.py — helpers for the integration tests: run the example programs
and a real nginx in front of them (each on free loopback ports, stopped
after), and a bare HTTP client that sends exactly the Cookie headers a test
gives (several of them, forged ones, none) and parses every Set-Cookie.

The programs are found under $SESSIO_BUILD_DIR/examples (default
build-test/). nginx runs the example's own nginx.conf, copied to a
temporary prefix with only its ports changed (and its commented TLS lines
switched on when a test wants HTTPS).
"""
import http.client
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "http"))
from shoplib import SANITIZER_MARKS, SetCookie, free_port, well_formed_id  # noqa: E402,F401

START_TIMEOUT = 20.0
CSRF_RE = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
USER_RE = re.compile(r'<span id="user">([^<]*)</span>')
VISITS_RE = re.compile(r'<span id="visits">(\d+)</span>')
ID_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def build_dir():
    d = os.environ.get("SESSIO_BUILD_DIR") or "build-test"
    return d if os.path.isabs(d) else os.path.join(ROOT, d)


def example_binary(sub, name):
    return os.path.join(build_dir(), "examples", sub, name)


def wait_port(port, proc=None, timeout=START_TIMEOUT):
    """Waits until 127.0.0.1:port accepts a connection (bounded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


class Proc:
    """A program started for a test, its stderr in a file."""

    def __init__(self, args, port, cwd=None):
        self.args = [str(a) for a in args]
        self.port = port
        self.tmp = tempfile.mkdtemp(prefix="sessio-it-")
        self.err_path = os.path.join(self.tmp, "stderr")
        self._err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(self.args, stdout=subprocess.DEVNULL, stderr=self._err,
                                     cwd=cwd, start_new_session=True)
        try:
            wait_port(port, self.proc)
        except RuntimeError as e:
            self.stop()
            raise RuntimeError(f"{e}\n{self.stderr()[-2000:]}") from None

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._err.close()

    def sanitizer_report(self):
        err = self.stderr()
        for m in SANITIZER_MARKS:
            if m in err:
                i = err.index(m)
                return err[max(0, i - 200):][:4000]
        return None

    def cleanup(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


def make_cert(d):
    """A self-signed certificate for 127.0.0.1 (cert.pem, key.pem in d)."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-keyout", os.path.join(d, "key.pem"), "-out", os.path.join(d, "cert.pem")],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def start_nginx(example_dir, ports, tls_port=None):
    """Runs nginx on the example's nginx.conf (and the files next to it) in a
    temporary prefix. 'ports' maps each address of the file (the example's
    127.0.0.1:8080...) to the free port to use instead; the first is the
    one nginx listens on. With 'tls_port', the file's commented TLS lines
    are switched on, listening there."""
    prefix = tempfile.mkdtemp(prefix="sessio-nginx-")
    for name in os.listdir(example_dir):
        src = os.path.join(example_dir, name)
        if name.endswith((".c", ".md", ".txt")) and os.path.isfile(src):
            continue
        (shutil.copytree if os.path.isdir(src) else shutil.copy)(src, os.path.join(prefix, name))
    os.makedirs(os.path.join(prefix, "tmp"), exist_ok=True)
    conf_path = os.path.join(prefix, "nginx.conf")
    with open(conf_path) as f:
        conf = f.read()
    for old, new in ports.items():
        assert old in conf, f"{old} not in {example_dir}/nginx.conf"
        conf = conf.replace(old, f"127.0.0.1:{new}")
    if tls_port is not None:
        make_cert(prefix)
        conf, n = re.subn(r"#(listen 127\.0\.0\.1:)8443( ssl;)", rf"\g<1>{tls_port}\2", conf)
        assert n == 1, "no commented TLS listen line in nginx.conf"
        conf = re.sub(r"#(ssl_certificate(_key)? \S+;)", r"\1", conf)
    with open(conf_path, "w") as f:
        f.write(conf)
    # nginx started as root runs its workers as nobody: they must read the
    # prefix (static files) and write its temporary folders.
    for dirpath, dirnames, filenames in os.walk(prefix):
        os.chmod(dirpath, 0o777 if dirpath.endswith("tmp") else 0o755)
        for fn in filenames:
            os.chmod(os.path.join(dirpath, fn), 0o644)
    first = next(iter(ports.values()))
    p = Proc([NGINX, "-p", prefix, "-c", conf_path, "-e", "stderr"], first)
    p.prefix = prefix
    if tls_port is not None:
        wait_port(tls_port, p.proc)
    return p


# ---- the client ---------------------------------------------------------------

class Resp:
    def __init__(self, r):
        self.status = r.status
        self.header_pairs = r.getheaders()
        self.text = r.read().decode("utf-8", "replace")

    def headers(self, name):
        return [v for k, v in self.header_pairs if k.lower() == name.lower()]

    def header(self, name):
        return ", ".join(self.headers(name))

    def set_cookies(self, name=None):
        cs = [SetCookie(v) for v in self.headers("Set-Cookie")]
        return [c for c in cs if name is None or c.name == name]

    def __repr__(self):
        return f"<Resp {self.status} {self.header_pairs} {self.text[:200]!r}>"


def request(url, method, path, cookies=(), headers=None, body=None):
    """One request on a fresh connection. 'cookies' is a list of Cookie
    header values, each sent as its own header line."""
    m = re.match(r"^(https?)://([^:/]+):(\d+)$", url)
    scheme, host, port = m.group(1), m.group(2), int(m.group(3))
    if scheme == "https":
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(host, port, timeout=30, context=ctx)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=30)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for c in cookies:
            conn.putheader("Cookie", c)
        hdrs = dict(headers or {})
        data = None
        if body is not None:
            data = body.encode() if isinstance(body, str) else body
            hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
            hdrs["Content-Length"] = str(len(data))
        for k, v in hdrs.items():
            conn.putheader(k, v)
        conn.endheaders(data)
        return Resp(conn.getresponse())
    finally:
        conn.close()


def form(**fields):
    from urllib.parse import urlencode
    return urlencode(fields)


class App:
    """One example application as a browser sees it.
      page       GET creates the session and shows the visit count (and,
                 for the demo apps, the CSRF token of the forms)
      user_page  GET shows the signed-in user
      readonly   GETs that must not create a session
      secure     [(url, headers)...] where the client's connection counts as
                 TLS (TLS to the server or to nginx, or a trusted proxy's
                 header); empty when the app has neither
      style      "demo" (examples/common: forms with user, password and a
                 CSRF token) or "mhd" (examples/mhd: POST /login?user=NAME,
                 POST /logout, "visit N by NAME" in plain text)
    """

    def __init__(self, name, url, page="/", user_page="/", readonly=("/whoami",),
                 secure=None, procs=(), style="demo"):
        self.name, self.url, self.page, self.user_page = name, url, page, user_page
        self.readonly, self.secure, self.procs = list(readonly), list(secure or []), list(procs)
        self.style = style
        self.visits_re = VISITS_RE if style == "demo" else re.compile(r"^visit (\d+)", re.M)
        self.user_re = USER_RE if style == "demo" else re.compile(r"^visit \d+ by (\S+)", re.M)

    def get(self, path, cookies=(), headers=None, url=None):
        return request(url or self.url, "GET", path, cookies, headers)

    def post(self, path, body, cookies=(), headers=None, url=None):
        return request(url or self.url, "POST", path, cookies, headers, body)


class Browser:
    """A client of one App that keeps its session cookie by hand."""

    def __init__(self, app, url=None, headers=None, cookie_name="sid"):
        self.app, self.url, self.headers = app, url or app.url, dict(headers or {})
        self.cookie_name = cookie_name
        self.sid = None
        self.history = []

    def cookies(self):
        return [f"{self.cookie_name}={self.sid}"] if self.sid else []

    def _absorb(self, r):
        for c in r.set_cookies(self.cookie_name):
            self.sid = c.value or None
        self.history.append(r)
        return r

    def get(self, path):
        return self._absorb(request(self.url, "GET", path, self.cookies(), self.headers))

    def post(self, path, body):
        return self._absorb(request(self.url, "POST", path, self.cookies(), self.headers, body))

    def visit(self):
        r = self.get(self.app.page)
        assert r.status == 200, r
        return r

    def csrf(self):
        m = CSRF_RE.search(self.visit().text)
        assert m, "no CSRF token on the page"
        return m.group(1)

    def login(self, user="alice", password="wonderland"):
        if self.app.style == "mhd":
            r = self.post(f"/login?user={user}", "")
            assert r.status == 200 and f"signed in as {user}" in r.text, r
            return r
        r = self.post("/login", form(user=user, password=password, csrf=self.csrf()))
        assert r.status == 303, r
        return r

    def logout(self):
        if self.app.style == "mhd":
            r = self.post("/logout", "")
            assert r.status == 200, r
            return r
        r = self.post("/logout", form(csrf=self.csrf()))
        assert r.status == 303, r
        return r


def user_of(app, cookies, url=None, headers=None):
    """The signed-in user the app sees for these Cookie headers, or None."""
    r = request(url or app.url, "GET", app.user_page, cookies, headers)
    assert r.status in (200, 302), r
    m = app.user_re.search(r.text) if r.status == 200 else None
    return m.group(1) if m else None
