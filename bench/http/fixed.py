#!/usr/bin/python3
"""fixed.py — a fixed cart workload for instruction counts: SESSIONS
cookieless POST /api/cart (each makes a session), then ADDS POST /api/cart
round-robin over them with their cookies and CSRF tokens, on one keep-alive
connection, so that two builds of the shop under callgrind serve exactly the
same requests. Usage: fixed.py PORT [SESSIONS] [ADDS]   (200, 2000)
Used for the metrics cost in docs/PERFORMANCE.md:
  valgrind --tool=callgrind --callgrind-out-file=OUT sessio-shop \
      --listen 127.0.0.1:PORT --store memory: --threads 1 &
  bench/http/fixed.py PORT 200 2000; kill -TERM %1; callgrind_annotate --inclusive=yes OUT
"""
import http.client, json, sys
port = int(sys.argv[1])
n = int(sys.argv[2]) if len(sys.argv) > 2 else 200
adds = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
sess = []
for i in range(n):
    c.request("POST", "/api/cart", body=json.dumps({"sku": "A1", "qty": 1}),
              headers={"Content-Type": "application/json"})
    r = c.getresponse(); body = r.read()
    ck = r.getheader("Set-Cookie").split(";")[0]
    sess.append((ck, json.loads(body)["csrf"]))
for i in range(adds):
    ck, tok = sess[i % n]
    c.request("POST", "/api/cart", body=json.dumps({"sku": "S%d" % (i % 8), "qty": 1}),
              headers={"Content-Type": "application/json", "Cookie": ck, "X-CSRF-Token": tok})
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
print("ok", n, adds)
