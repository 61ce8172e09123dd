#!/usr/bin/python3
# api.py — the untimed HTTP steps of the bench/http load driver, with the standard
# library only (Debian's /usr/bin/python3): creating the guest sessions before the
# timed part, making the probe's session and reading a cart back after it.
#
#   api.py sessions BASE_URL N OUTFILE  N cookieless POST /api/cart over one keep-alive
#                                       connection; writes "cookie<TAB>csrf" per line
#   api.py new BASE_URL                 one new session; prints "cookie<TAB>csrf"
#   api.py qty BASE_URL COOKIE SKU      GET /api/session; prints cart[SKU] (0 if absent)
#
# The cookie kept is the first "name=value" of Set-Cookie, as a browser would send it
# back. Exit status 1 (and a message on stderr) when an answer is not what the API says.
import http.client
import json
import sys
import urllib.parse


def connect(base):
    u = urllib.parse.urlsplit(base)
    if u.scheme != "http" or not u.hostname:
        raise SystemExit("api.py: BASE_URL must be http://HOST:PORT, not %r" % base)
    return http.client.HTTPConnection(u.hostname, u.port or 80, timeout=10)


def request(conn, method, path, body=None, headers=None):
    """One request on 'conn', reconnecting once if the server closed it."""
    for attempt in (0, 1):
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, r.getheader("Set-Cookie"), r.read()
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            conn.close()
            if attempt:
                raise


def new_session(conn, sku="S0"):
    """A cookieless first cart add; returns (cookie, csrf) or raises SystemExit."""
    body = json.dumps({"sku": sku, "qty": 1})
    st, sc, data = request(conn, "POST", "/api/cart", body,
                           {"Content-Type": "application/json"})
    if st != 200 or not sc:
        raise SystemExit("api.py: POST /api/cart without cookie: status %d, Set-Cookie %r, body %r"
                         % (st, sc, data[:200]))
    cookie = sc.split(";", 1)[0].strip()
    try:
        csrf = json.loads(data)["csrf"]
    except (ValueError, KeyError, TypeError):
        raise SystemExit("api.py: no csrf in %r" % data[:200])
    if "=" not in cookie or not isinstance(csrf, str) or not csrf:
        raise SystemExit("api.py: bad cookie %r or csrf %r" % (cookie, csrf))
    return cookie, csrf


def main(argv):
    if len(argv) < 3:
        raise SystemExit(__doc__ if __doc__ else "usage: api.py sessions|new|qty BASE_URL ...")
    cmd, base = argv[1], argv[2].rstrip("/")
    conn = connect(base)
    if cmd == "sessions" and len(argv) == 5:
        n, out = int(argv[3]), argv[4]
        seen, lines = set(), []
        for _ in range(n):
            cookie, csrf = new_session(conn)
            if cookie in seen:
                raise SystemExit("api.py: the server gave the same cookie twice: %r" % cookie)
            seen.add(cookie)
            lines.append("%s\t%s\n" % (cookie, csrf))
        with open(out, "w") as f:
            f.writelines(lines)
        print("SETUP sessions=%d" % n)
    elif cmd == "new" and len(argv) == 3:
        cookie, csrf = new_session(conn, "probe")
        print("%s\t%s" % (cookie, csrf))
    elif cmd == "qty" and len(argv) == 5:
        st, _, data = request(conn, "GET", "/api/session", headers={"Cookie": argv[3]})
        if st != 200:
            raise SystemExit("api.py: GET /api/session: status %d" % st)
        cart = json.loads(data).get("cart") or {}
        print(int(cart.get(argv[4], 0)))
    else:
        raise SystemExit("usage: api.py sessions BASE N OUT | new BASE | qty BASE COOKIE SKU")
    conn.close()


if __name__ == "__main__":
    main(sys.argv)
