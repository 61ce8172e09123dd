#!/usr/bin/python3
"""fixed.py — a fixed cart workload for instruction counts: SESSIONS
cookieless POST /api/cart (each makes a session), then ADDS POST /api/cart
round-robin over them with their cookies and CSRF tokens, on one keep-alive
connection, so that two builds of the shop under callgrind serve exactly the
same requests. Usage: fixed.py PORT [SESSIONS] [ADDS] [token]   (200, 2000)
With "token" the sessions travel in the header-token transport instead (S30):
made with X-Session-Transport: token, then sent as Authorization: Bearer
without a CSRF token.
Used for the metrics cost in docs/PERFORMANCE.md:
  valgrind --tool=callgrind --callgrind-out-file=OUT sessio-shop \
      --listen 127.0.0.1:PORT --store memory: --threads 1 &
  bench/http/fixed.py PORT 200 2000; kill -TERM %1; callgrind_annotate --inclusive=yes OUT
"""
import http.client, json, sys
port = int(sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
adds = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
token = len(sys.argv) > 4 and sys.argv[4] == "token"
c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
sess = []
for i in range(n):
    h = {"Content-Type": "application/json"}
    if token:
        h["X-Session-Transport"] = "token"
    c.request("POST", "/api/cart", body=json.dumps({"sku": "A1", "qty": 1}), headers=h)
    r = c.getresponse(); body = r.read()
    if token:
        sess.append((r.getheader("X-Session-Token"), None))
    else:
        sess.append((r.getheader("Set-Cookie").split(";")[0], json.loads(body)["csrf"]))
for i in range(adds):
    ck, tok = sess[i % n]
    h = {"Content-Type": "application/json"}
    if token:
        h["Authorization"] = "Bearer " + ck
    else:
        h.update({"Cookie": ck, "X-CSRF-Token": tok})
    c.request("POST", "/api/cart", body=json.dumps({"sku": "S%d" % (i % 8), "qty": 1}), headers=h)
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
print("ok", n, adds)
