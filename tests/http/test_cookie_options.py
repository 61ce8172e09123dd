"""test_cookie_options.py — the shop's cookie flags (S31): --cookie-name,
--cookie-path, --cookie-domain, --same-site and --partitioned, each with its
SESSIO_* fallback, reach the Set-Cookie header; an unsafe combination stops
the shop at start (exit 2) with a message that names the rule."""
import subprocess

import requests

from shoplib import set_cookies


def _cookie_of_first_add(shop):
    r = requests.post(shop.url("/api/cart"), json={"sku": "A1", "qty": 1}, timeout=30)
    assert r.status_code == 200, r.text
    scs = set_cookies(r)
    assert len(scs) == 1, scs
    return scs[0], r


def test_name_path_domain_and_samesite_reach_the_cookie_S31(make_shop):
    shop = make_shop(args=["--cookie-name", "shop_sid", "--cookie-path", "/",
                           "--same-site", "strict", "--cookie-domain", "localhost.test"])
    sc, r = _cookie_of_first_add(shop)
    assert sc.name == "shop_sid"
    assert sc.get("Path") == "/" and sc.get("Domain") == "localhost.test"
    assert sc.get("SameSite") == "Strict" and not sc.has("Partitioned")
    # The session is read back under that name.
    h = {"Cookie": f"shop_sid={sc.value}"}
    js = requests.get(shop.url("/api/session"), headers=h, timeout=30).json()
    assert js["cart"] == {"A1": 1}
    js = requests.get(shop.url("/api/session"), headers={"Cookie": f"sid={sc.value}"},
                      timeout=30).json()
    assert js["cart"] == {}


def test_partitioned_and_samesite_none_with_secure_S31(make_shop):
    shop = make_shop(env={"SESSIO_PARTITIONED": "1", "SESSIO_SAME_SITE": "none",
                          "SESSIO_SECURE": "always", "SESSIO_COOKIE_PATH": "/"})
    sc, _ = _cookie_of_first_add(shop)
    assert sc.name == "__Host-sid"
    assert sc.has("Secure") and sc.has("Partitioned") and sc.get("SameSite") == "None"


def test_cookie_path_other_than_root_S31(make_shop):
    shop = make_shop(args=["--cookie-path", "/api", "--secure", "always"])
    sc, _ = _cookie_of_first_add(shop)
    assert sc.get("Path") == "/api" and sc.name == "__Secure-sid"


def _refused(make_shop, args, env=None):
    s = make_shop(args=args, env=env, start=False)
    p = subprocess.run(s.args, capture_output=True, text=True, timeout=20, env=s.env,
                       cwd=s.tmp)
    assert p.returncode == 2, (args, p.returncode, p.stderr)
    return p.stderr


def test_unsafe_combinations_stop_the_shop_naming_the_rule_S31(make_shop):
    err = _refused(make_shop, ["--partitioned"])
    assert "--partitioned needs --secure always" in err
    err = _refused(make_shop, ["--same-site", "none"])
    assert "--same-site none needs --secure always" in err
    err = _refused(make_shop, ["--cookie-name", "__Host-s", "--cookie-domain", "example.com",
                               "--secure", "always"])
    assert "__Host- prefix forbids a Domain" in err
    err = _refused(make_shop, ["--cookie-name", "__Host-s", "--cookie-path", "/a",
                               "--secure", "always"])
    assert "__Host- cookie name needs --cookie-path /" in err
    err = _refused(make_shop, [], env={"SESSIO_SAME_SITE": "sometimes"})
    assert "--same-site wants strict, lax or none" in err
    err = _refused(make_shop, ["--cookie-path", "shop"])
    assert "--cookie-path must start with '/'" in err
    err = _refused(make_shop, ["--cookie-name", "a=b"])
    assert "--cookie-name must be a token" in err
