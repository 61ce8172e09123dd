"""test_secret_rotation.py — rotating the server secret with shops running
(S32): a shop given the new secret and the old one as --previous-secret-file
keeps every signed-in user signed in (their records re-keyed at the next
request, the cookie unchanged), after which the old secret can be dropped;
a fourth previous secret is refused at start."""
import os
import subprocess

from shoplib import Client, set_cookies


def _secret_file(tmp_path, name):
    p = tmp_path / name
    p.write_text(os.urandom(32).hex() + "\n")
    os.chmod(p, 0o600)
    return str(p)


def test_rotation_keeps_users_signed_in_and_rekeys_their_sessions_S32(make_shop, tmp_path):
    old = _secret_file(tmp_path, "old")
    new = _secret_file(tmp_path, "new")
    first = make_shop(args=["--secret-file", old], store="sqlite:{tmp}/s.db")
    store = f"sqlite:{first.tmp}/s.db"
    c = Client(first)
    c.add_api("A1", 2)
    c.api_login("alice")
    cookie = c.cookie
    first.stop()

    # Step 2 of the procedure: the new secret, the old one as previous.
    both = make_shop(args=["--secret-file", new, "--previous-secret-file", old],
                     store=store, tmp=first.tmp)
    c.shop = both
    r = c.get("/api/session")
    js = r.json()
    assert js["authenticated"] is True and js["user"] == "alice" and js["cart"] == {"A1": 2}
    assert set_cookies(r) == [], "re-keying must not change the cookie"
    assert c.cookie == cookie
    both.stop()

    # Step 3: the old secret dropped; the session was re-keyed, so it stays.
    after = make_shop(env={"SESSIO_SECRET_FILE": new}, store=store, tmp=first.tmp)
    c.shop = after
    js = c.session()
    assert js["authenticated"] is True and js["cart"] == {"A1": 2}
    after.stop()

    # The old secret alone no longer finds it: one copy, under the new key.
    back = make_shop(args=["--secret-file", old], store=store, tmp=first.tmp)
    c.shop = back
    assert c.session()["authenticated"] is False


def test_previous_secret_from_the_environment_S32(make_shop, tmp_path):
    old = _secret_file(tmp_path, "old")
    new = _secret_file(tmp_path, "new")
    other = _secret_file(tmp_path, "other")
    first = make_shop(args=["--secret-file", old], store="sqlite:{tmp}/s.db")
    c = Client(first)
    c.add_api("B2", 1)
    first.stop()
    both = make_shop(env={"SESSIO_SECRET_FILE": new,
                          "SESSIO_PREVIOUS_SECRET_FILE": f"{other}:{old}"},
                     store=f"sqlite:{first.tmp}/s.db", tmp=first.tmp)
    c.shop = both
    assert c.session()["cart"] == {"B2": 1}


def test_at_most_three_previous_secrets_S32(make_shop, tmp_path):
    files = [_secret_file(tmp_path, f"s{i}") for i in range(5)]
    args = ["--secret-file", files[0]]
    for f in files[1:]:
        args += ["--previous-secret-file", f]
    s = make_shop(args=args, start=False)
    p = subprocess.run(s.args, capture_output=True, text=True, timeout=20, env=s.env, cwd=s.tmp)
    assert p.returncode != 0 and "at most 3 --previous-secret-file" in p.stderr
