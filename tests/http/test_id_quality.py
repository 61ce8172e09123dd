"""test_id_quality.py — the quality of the session IDs a running sessio-shop
hands out (S1): 10^4 sessions created over HTTP (a first
cart add each, pipelined), their IDs taken from Set-Cookie, then: no
duplicates, each exactly 256 bits of canonical base64url, per-position
chi-square over the 64-symbol alphabet (the last character carries 4 bits:
16 symbols), and per-bit frequency of all 256 bits. Biased generators fed
to the same checks must fail them (negative control). The library-level
test with 10^6 IDs is tests/unit/test_id.c.

Bounds (the same as test_id.c, independent of n): chi-square at p = 1e-9
(Wilson-Hilferty) for df 63 (156) and df 15 (76); for each bit,
|z| = |ones - n/2| / (sqrt(n)/2) <= 6 (two-sided 2e-9 each, 5e-7 for 256);
the sum of the 256 z^2 under 392 (chi-square df 256 at p = 1e-7). A good
generator fails this file less than once in 10^6 runs.
"""
import base64
import os
import re
import random

from test_floods import pipeline, post

N_HTTP = 10_000
CHI_MAX_DF63 = 156.0
CHI_MAX_DF15 = 76.0
BIT_Z_MAX = 6.0
BIT_CHI_MAX_DF256 = 392.0
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
INDEX = {c: i for i, c in enumerate(ALPHABET)}
_SID = re.compile(r"(?im)^set-cookie:\s*(?:__Host-)?sid=([^;\r\n]*)")


def decode256(s):
    """The 32 bytes of an ID, or None unless it is 43 canonical base64url
    characters (no padding, no stray low bits in the last one)."""
    if len(s) != 43 or any(c not in INDEX for c in s):
        return None
    raw = base64.urlsafe_b64decode(s + "=")
    if len(raw) != 32 or base64.urlsafe_b64encode(raw).decode().rstrip("=") != s:
        return None
    return raw


def chi_square(counts, total):
    k = len(counts)
    e = total / k
    return sum((c - e) ** 2 / e for c in counts)


def quality(ids):
    """Measures a list of ID strings: a dict of the figures the checks use."""
    raws = [decode256(s) for s in ids]
    good = [(s, r) for s, r in zip(ids, raws) if r is not None]
    n = len(good)
    counts = [[0] * 64 for _ in range(43)]
    ones = [0] * 256
    for s, raw in good:
        for p, c in enumerate(s):
            counts[p][INDEX[c]] += 1
        v = int.from_bytes(raw, "big")
        for k in range(256):
            ones[k] += (v >> (255 - k)) & 1
    chis = [chi_square(counts[p], n) for p in range(42)]
    last = counts[42]
    z = [(o - n / 2) / (n ** 0.5 / 2) for o in ones]
    worst_bit = max(range(256), key=lambda k: abs(z[k]))
    return {
        "n": len(ids),
        "duplicates": len(ids) - len(set(ids)),
        "not_256_bits": len(ids) - n,
        "worst_chi": max(chis), "worst_chi_pos": chis.index(max(chis)),
        "last_chi": chi_square([last[i] for i in range(0, 64, 4)], n),
        "last_stray": sum(last[i] for i in range(64) if i % 4),
        "worst_bit_z": abs(z[worst_bit]), "worst_bit": worst_bit,
        "bit_chi": sum(x * x for x in z),
    }


def failures(q):
    """The names of the checks 'q' fails (empty: a good generator)."""
    out = []
    if q["duplicates"]:
        out.append("duplicates")
    if q["not_256_bits"]:
        out.append("not 256 bits")
    if q["worst_chi"] >= CHI_MAX_DF63 or q["last_chi"] >= CHI_MAX_DF15 or q["last_stray"]:
        out.append("chi-square")
    if q["worst_bit_z"] > BIT_Z_MAX or q["bit_chi"] >= BIT_CHI_MAX_DF256:
        out.append("bit frequency")
    return out


def _server_ids(shop, n):
    reqs = [post("/api/cart", "application/json", b'{"sku":"A1","qty":1}') for _ in range(n)]
    a = pipeline(shop.port, reqs, keep=lambda i, st, head: True)
    assert a.status == {200: n}, a.status
    ids = []
    for _, head, _ in a.kept:
        m = _SID.search(head)
        assert m, head
        ids.append(m.group(1))
    return ids, a


def test_10k_server_ids_unique_256_bits_flat_per_position_and_per_bit_S1(make_shop):
    """S1 over HTTP: 10^4 IDs from the Set-Cookie of sessions the running
    shop created pass every check."""
    s = make_shop(args=["--new-sessions-limit", "0"])  # 10^4 sessions from one client
    ids, a = _server_ids(s, N_HTTP)
    q = quality(ids)
    print(f"\n  {N_HTTP} server IDs in {a.seconds:.1f} s: {q}")
    assert failures(q) == [], q


def _biased_ids(n, bias, seed):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        raw = bytearray(os.urandom(32))
        bias(raw, rng)
        out.append(base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("="))
    return out


def test_id_checks_catch_biased_generators_S1():
    """Negative control at the HTTP test's size: each bias is caught."""
    def modulo(raw, rng):      # one byte drawn as r % 200
        raw[10] = raw[10] % 200

    def stuck_bit(raw, rng):   # one bit set 60% of the time
        if rng.random() < 0.2:
            raw[25] |= 0x80

    def counter(raw, rng):     # the first 4 bytes a counter (time-like)
        counter.i += 1
        raw[0:4] = counter.i.to_bytes(4, "big")
    counter.i = 0

    good = _biased_ids(N_HTTP, lambda raw, rng: None, 1)
    assert failures(quality(good)) == []
    assert "chi-square" in failures(quality(_biased_ids(N_HTTP, modulo, 2)))
    assert "bit frequency" in failures(quality(_biased_ids(N_HTTP, modulo, 2)))
    assert "bit frequency" in failures(quality(_biased_ids(N_HTTP, stuck_bit, 3)))
    assert "chi-square" in failures(quality(_biased_ids(N_HTTP, counter, 4)))
    dup = good[:-1] + [good[0]]
    assert failures(quality(dup)) == ["duplicates"]
    assert "not 256 bits" in failures(quality(good[:-1] + [good[-1][:-1] + "B"]))
    assert "not 256 bits" in failures(quality(good[:-1] + [good[-1][:42]]))
