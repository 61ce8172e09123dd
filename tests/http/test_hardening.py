"""test_hardening.py — limits and failure paths: 431 for
oversize headers (S11), 413 for oversize bodies, 400 with a message for
malformed JSON, a clean shutdown on SIGTERM/SIGINT that finishes requests in
flight, and an access log that shows only a keyed hash of IDs (S4, S20)."""
import http.client
import json
import re
import signal
import threading

import pytest
import requests

from shoplib import Client, raw_request, set_cookies, wait_server_read


def _req(port, method, path, headers=(), body=b""):
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n"
    for k, v in headers:
        head += f"{k}: {v}\r\n"
    if body or method in ("POST", "PUT"):
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


@pytest.mark.parametrize("name", ["X-Filler", "Cookie", "User-Agent"])
def test_oversize_header_is_431_S11(shop, name):
    st, head, _ = raw_request(shop.port, _req(shop.port, "GET", "/api/session",
                                              [(name, "a=" + "b" * 40000)]))
    assert st == 431, f"{name} of 40 KB -> {st} {head[:100]!r}"
    assert shop.proc.poll() is None


def test_many_headers_totalling_too_much_is_431_S11(shop):
    hs = [(f"X-H{i}", "v" * 100) for i in range(400)]
    st, head, _ = raw_request(shop.port, _req(shop.port, "GET", "/", hs))
    assert st == 431, st


def test_cookie_header_of_9k_is_431_or_ignored_S11(shop):
    """S11: headers over 8 KiB get 431, not a crash; a big Cookie header is
    never an error 5xx."""
    st, _, body = raw_request(shop.port, _req(shop.port, "GET", "/api/session",
                                              [("Cookie", "; ".join(f"c{i}=v" for i in range(1500)))]))
    assert st in (200, 431), st


@pytest.mark.parametrize("path,ctype", [("/api/cart", "application/json"),
                                        ("/cart/add", "application/x-www-form-urlencoded"),
                                        ("/api/login", "application/json")])
def test_oversize_body_is_413(shop, path, ctype):
    body = b'{"sku":"' + b"A" * (4 << 20) + b'","qty":1}' if "json" in ctype else \
        b"sku=" + b"A" * (4 << 20) + b"&qty=1"
    st, _, _ = raw_request(shop.port, _req(shop.port, "POST", path,
                                           [("Content-Type", ctype)], body))
    assert st == 413, f"POST {path} with 4 MiB -> {st}"
    assert shop.proc.poll() is None


def test_oversize_declared_length_is_413_before_reading(shop):
    data = _req(shop.port, "POST", "/api/cart", [("Content-Type", "application/json"),
                                                 ("Content-Length", str(1 << 30))])
    data = data.replace(b"Content-Length: 0\r\n", b"")
    st, _, _ = raw_request(shop.port, data, timeout=10)
    assert st == 413, st


def _chunks(*parts):
    yield from parts


def test_chunked_json_body_is_accepted(shop):
    c = Client(shop)
    r = c.http.post(shop.url("/api/cart"), data=_chunks(b'{"sku":"CH",', b'"qty":3}'),
                    headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 200 and r.json()["cart"] == {"CH": 3}


def test_oversize_chunked_body_is_413(shop):
    """No Content-Length to check up front: the limit holds while reading."""
    body = _chunks(b'{"sku":"', *([b"A" * 16384] * 300), b'","qty":1}')
    c = Client(shop)
    try:
        r = c.http.post(shop.url("/api/cart"), data=body,
                        headers={"Content-Type": "application/json"}, timeout=30)
        status = r.status_code
    except requests.ConnectionError:
        status = "connection closed without an answer"
    assert status == 413, status
    assert shop.proc.poll() is None


def test_oversize_field_is_rejected(shop):
    c = Client(shop)
    r = c.request("POST", "/cart/add", data={"sku": "A" * 5000, "qty": "1"})
    assert r.status_code in (400, 413), r.status_code
    assert not c.cookie


@pytest.mark.parametrize("body", [b"{", b"{\"sku\":\"A\",\"qty\":1", b"\xff\xfe", b"",
                                  b"{\"sku\":\"A\",\"qty\":1}garbage", b"null",
                                  b"{\"sku\":\"A\",\"qty\":1e400}", b"[]"])
def test_malformed_json_is_400_with_message(shop, body):
    c = Client(shop)
    r = c.request("POST", "/api/cart", data=body, ctype="application/json")
    assert r.status_code == 400, (body, r.status_code)
    js = r.json()
    assert isinstance(js.get("error"), str) and js["error"]
    assert not set_cookies(r)


def test_deeply_nested_json_is_400_not_a_crash(shop):
    c = Client(shop)
    body = b"[" * 100000 + b"]" * 100000
    r = c.request("POST", "/api/cart", data=body, ctype="application/json")
    assert r.status_code in (400, 413)
    assert shop.proc.poll() is None


def test_bad_request_line_gets_400_not_a_crash(shop):
    st, _, _ = raw_request(shop.port, b"GARBAGE\r\n\r\n")
    assert st in (None, 400, 405, 501)
    assert shop.proc.poll() is None
    assert Client(shop).get("/healthz").status_code == 200


def _stop(s, sig):
    s.signal(sig)
    code = s.wait(15)
    assert code is not None, f"no exit within 15 s of {sig.name}"
    return code


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_clean_shutdown_on_signal_finishes_request_in_flight(make_shop, sig):
    s = make_shop()
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=30)
    conn.request("GET", "/healthz")
    conn.getresponse().read()  # the connection is accepted and kept alive
    conn.request("POST", "/api/login", body=json.dumps({"user": "alice", "password": "wonderland"}),
                 headers={"Content-Type": "application/json"})
    out = {}

    def reader():
        try:
            r = conn.getresponse()
            out["status"], out["body"] = r.status, r.read()
        except Exception as e:  # noqa: BLE001 - reported by the assert
            out["error"] = repr(e)

    t = threading.Thread(target=reader)
    t.start()
    # signal once the server has read the request, while the argon2id check runs
    assert wait_server_read(s.port, conn.sock.getsockname()[1]), "server never read the request"
    s.signal(sig)
    t.join(30)
    code = s.wait(15)
    assert "error" not in out, f"request in flight cut off by {sig.name}: {out}"
    assert out.get("status") == 200 and b"alice" in out.get("body", b"")
    assert code == 0, f"exit code {code} after {sig.name}; stderr: {s.stderr()[-1500:]}"
    assert s.sanitizer_report() is None


def test_access_log_shows_only_keyed_hash_of_ids_S4_S20(make_shop):
    s = make_shop(log_level="info")
    c = Client(s)
    c.add_api("L1")
    ids = [c.sid]
    c.api_login("alice")
    ids.append(c.sid)
    c.get("/api/session")
    c.api("POST", "/api/logout")
    s.stop()
    log = s.stderr() + s.stdout()
    assert log.strip(), "no access log at --log-level info"
    for sid in ids:
        assert sid not in log, "a session ID in the log"
    lines = [l for l in log.splitlines() if "/api/session" in l]
    assert lines, "requests not in the access log"
    assert all(re.search(r'\b\w+=("[^"]*"|\S+)', l) for l in lines), "log is not logfmt"
    assert any(re.search(r"=[0-9a-f]{8,}\b", l) for l in lines), "no hashed session in the log"


def test_access_log_never_contains_query_string_id_S4(make_shop):
    """Strict reading of S4 ('an ID never appears in ... a log line'): even an
    ID a client wrongly puts in the query string is not logged verbatim."""
    s = make_shop(log_level="info")
    c = Client(s)
    c.add_api("L2")
    c.get("/api/session?sid=" + c.sid)
    s.stop()
    assert c.sid not in s.stderr() + s.stdout(), "session ID (from the URL) in the log"


def test_get_with_a_body_is_answered_once_and_the_connection_survives(shop):
    conn = http.client.HTTPConnection("127.0.0.1", shop.port, timeout=20)
    conn.request("GET", "/api/session", body=b"ignored=1", headers={"Content-Length": "9"})
    r = conn.getresponse()
    assert r.status in (200, 400) and r.read()
    conn.request("GET", "/healthz")
    r = conn.getresponse()
    assert r.status == 200 and r.read().strip() == b"ok"
    conn.close()


def test_pipelined_requests_get_one_answer_each(shop):
    one = f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{shop.port}\r\n\r\n"
    last = one.replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n")
    st, head, body = raw_request(shop.port, (one + one + last).encode(), until_close=True)
    raw = (head + "\r\n\r\n").encode() + body
    assert raw.count(b"HTTP/1.1 200") == 3, raw[:500]


def test_expect_100_continue_with_oversize_length_is_413(shop):
    data = (f"POST /api/cart HTTP/1.1\r\nHost: 127.0.0.1:{shop.port}\r\n"
            "Content-Type: application/json\r\nContent-Length: 10000000\r\n"
            "Expect: 100-continue\r\nConnection: close\r\n\r\n").encode()
    st, head, _ = raw_request(shop.port, data, timeout=10)
    assert st == 413, head[:200]
