"""test_deployment_guide.py — docs/DEPLOYMENT.md works as pasted: every
block marked <!-- snippet: NAME --> is extracted and run with only the
addresses, ports and (for the Redis config) the two paths substituted: six
redis-server nodes from the guide's config, made a cluster by the guide's
create command with REDISCLI_AUTH; the systemd unit checked by
systemd-analyze; the shop started from the guide's env file (its
percent-encoded password included) on that cluster; the nginx block checked
by `nginx -t`. Every server is started here on free 127.0.0.1 ports and
stopped after.
"""
import os
import re
import shutil
import subprocess
import tempfile
import time

import pytest

from shoplib import Client, Shop, free_port
from test_redis_shop import _free_port

ROOT = os.path.join(os.path.dirname(__file__), "..", "..")
GUIDE = os.path.join(ROOT, "docs", "DEPLOYMENT.md")
REDIS = shutil.which("redis-server")
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)


def snippet(name):
    text = open(GUIDE, encoding="utf-8").read()
    m = re.search(r"<!-- snippet: " + re.escape(name) + r" -->\n```[a-z]*\n(.*?)```", text, re.S)
    assert m, f"no snippet {name} in docs/DEPLOYMENT.md"
    return m.group(1)


def test_redis_config_lines_have_no_trailing_comments():
    """Redis reads '#' only at the start of a line: 'port 1 # x' is an error."""
    for line in snippet("redis.conf").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            assert "#" not in line, line


def test_systemd_unit_is_valid():
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze not installed")
    d = tempfile.mkdtemp(prefix="sessio-unit-")
    try:
        path = os.path.join(d, "redis-sessio@.service")
        with open(path, "w") as f:
            f.write(snippet("redis-sessio@.service"))
        inst = os.path.join(d, "redis-sessio@7001.service")
        os.symlink(path, inst)
        r = subprocess.run(["systemd-analyze", "verify", inst], capture_output=True, text=True,
                           timeout=60)
        # Only the unit's own syntax counts: the machine may lack the redis
        # user, the config file or a running systemd.
        bad = [l for l in r.stderr.splitlines()
               if "redis-sessio@" in l and ("nknown" in l or "Invalid" in l or "rror" in l)
               and "ExecStart" not in l and "User" not in l]
        assert not bad, r.stderr
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.skipif(REDIS is None, reason="redis-server not installed")
def test_the_guides_cluster_and_env_file_work_as_pasted(make_shop):
    conf = snippet("redis.conf")
    password = re.search(r"^requirepass (\S+)$", conf, re.M).group(1)
    d = tempfile.mkdtemp(prefix="sessio-guide-")
    procs = []
    try:
        ports = []
        for _ in range(6):
            ports.append(_free_port(bus=True, taken=ports))
        # The guide's layout: three machines x (7001 master, 7002 replica).
        guide_nodes = [f"10.0.2.1{m}:{p}" for p in (7001, 7002) for m in (1, 2, 3)]
        addr = dict(zip(guide_nodes, ports))
        for node, port in addr.items():
            ip, gport = node.split(":")
            text = conf.replace("bind 10.0.2.11", "bind 127.0.0.1")
            text = text.replace("7001", gport).replace(gport, str(port))
            text = text.replace("/var/lib/redis", os.path.join(d, "lib"))
            text = text.replace("/var/log/redis", os.path.join(d, "log"))
            os.makedirs(os.path.join(d, "lib", str(port)), exist_ok=True)
            os.makedirs(os.path.join(d, "log"), exist_ok=True)
            path = os.path.join(d, f"sessio-{port}.conf")
            with open(path, "w") as f:
                f.write(text)
            procs.append(subprocess.Popen([REDIS, path], stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT))
        env = dict(os.environ, REDISCLI_AUTH=password)
        for port, p in zip(ports, procs):
            deadline = time.monotonic() + 10
            while True:
                assert p.poll() is None, p.stdout.read().decode()[-2000:] + \
                    open(os.path.join(d, "log", f"sessio-{port}.log")).read()[-2000:]
                r = subprocess.run(["redis-cli", "-p", str(port), "ping"], env=env,
                                   capture_output=True, text=True)
                if r.stdout.strip() == "PONG":
                    break
                assert time.monotonic() < deadline, r.stdout + r.stderr
                time.sleep(0.05)
        # The create command as written, addresses substituted, the
        # interactive 'read' replaced by the environment.
        create = snippet("cluster-create")
        cmds = [l for l in create.replace("\\\n", " ").splitlines() if l.startswith("redis-cli")]
        for node, port in addr.items():
            cmds = [c.replace(node, f"127.0.0.1:{port}") for c in cmds]
        cmds = [c.replace("-h 10.0.2.11 -p 7001", f"-h 127.0.0.1 -p {ports[0]}") for c in cmds]
        out = subprocess.run(cmds[0], shell=True, env=env, capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr
        assert "Warning: Using a password" not in out.stderr
        deadline = time.monotonic() + 30
        while True:
            info = subprocess.run(cmds[1], shell=True, env=env, capture_output=True,
                                  text=True).stdout
            if "cluster_state:ok" in info and "cluster_slots_ok:16384" in info:
                break
            assert time.monotonic() < deadline, info
            time.sleep(0.1)

        # The shop from the guide's env file: its URL (password and all),
        # with the addresses substituted; trust-proxy and secure as written.
        envfile = {}
        for line in snippet("sessio-shop.env").splitlines():
            if line and not line.startswith("#"):
                k, v = line.split("=", 1)
                envfile[k] = v
        store = envfile.pop("SESSIO_STORE")
        for node, port in addr.items():
            store = store.replace(node, f"127.0.0.1:{port}")
        envfile.pop("SESSIO_LISTEN")
        envfile["SESSIO_THREADS"] = "2"  # a small machine
        shop = make_shop(store=store, env=envfile)
        c = Client(shop)
        assert c.get("/readyz").status_code == 200
        c.add_api("K", 2)
        assert c.session()["cart"] == {"K": 2}
        keys = sum(int(subprocess.run(["redis-cli", "-p", str(p), "dbsize"], env=env,
                                      capture_output=True, text=True).stdout.strip() or 0)
                   for p in ports[:3])
        assert keys >= 1  # the session is in the cluster
        shop.stop()
        assert "Cw2pZ7vQ" not in shop.stderr() + shop.stdout()
    finally:
        for p in procs:
            p.kill()
            p.wait(10)
        shutil.rmtree(d, ignore_errors=True)


@pytest.mark.skipif(NGINX is None, reason="nginx not installed")
def test_the_guides_nginx_block_passes_nginx_t():
    block = snippet("nginx")
    assert "$http_host" in block and "proxy_set_header Host $host;" not in block
    assert "max_fails=" in block and "fail_timeout=" in block and "/readyz" in block
    d = tempfile.mkdtemp(prefix="sessio-nginx-")
    try:
        cert, key = os.path.join(d, "c.pem"), os.path.join(d, "k.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                        "1", "-subj", "/CN=shop.example", "-keyout", key, "-out", cert],
                       check=True, capture_output=True, timeout=60)
        text = block.replace("/etc/ssl/shop.example.pem", cert)
        text = text.replace("/etc/ssl/shop.example.key", key)
        text = text.replace("listen 443", f"listen 127.0.0.1:{free_port()}")
        text = text.replace("listen 80;", f"listen 127.0.0.1:{free_port()};")
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(f"pid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\n"
                    f"http {{\n access_log off;\n client_body_temp_path {d};\n"
                    f" proxy_temp_path {d};\n{text}\n}}\n")
        r = subprocess.run([NGINX, "-t", "-c", conf, "-p", d], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, r.stderr
    finally:
        shutil.rmtree(d, ignore_errors=True)
