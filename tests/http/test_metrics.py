"""test_metrics.py — sessio-shop's GET /metrics on --metrics-listen
(SESSIO_METRICS_LISTEN): off by default, on its own address only, valid
Prometheus text (promtool check metrics), with the library's figures and the
shop's HTTP figures moving with a known workload; a real Prometheus (Debian's
prometheus), started here on a free port, scrapes a shop under a short
workload and its query API returns the expected session and commit counts.
The example prometheus.yml and alert rules of docs/OPERATIONS.md are checked
with promtool. Every server is started here on free loopback ports and
stopped.
"""
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time

import pytest
import requests

from shoplib import ROOT, Client, Shop, free_port

PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
need_promtool = pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed")


def metrics_shop(store="memory:", env=None, flag=True):
    mport = free_port()
    args = ["--metrics-listen", f"127.0.0.1:{mport}"] if flag else []
    sh = Shop(args=args, store=store, env=env).start()
    return sh, mport


def scrape(mport):
    r = requests.get(f"http://127.0.0.1:{mport}/metrics", timeout=10)
    assert r.status_code == 200, r.text[:300]
    return r


def value(text, name):
    """The value of the sample 'name' (with its labels, exactly)."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"no sample {name} in:\n{text[:3000]}")


def workload(sh, clients, adds):
    """'clients' browsers, each adding to its cart 'adds' times over the API."""
    def one(i):
        c = Client(sh)
        for _ in range(adds):
            c.add_api("A1", 1)
    ts = [threading.Thread(target=one, args=(i,)) for i in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def test_metrics_off_by_default_and_not_on_the_shop_address():
    sh = Shop().start()
    try:
        assert "metrics on" not in sh.stdout()
        r = requests.get(sh.url("/metrics"), timeout=10)
        assert r.status_code == 404
    finally:
        sh.stop()


@need_promtool
def test_metrics_valid_text_with_library_and_shop_figures():
    sh, mport = metrics_shop()
    try:
        assert f"metrics on http://127.0.0.1:{mport}/metrics" in sh.stdout()
        workload(sh, clients=3, adds=4)
        c = Client(sh)
        c.api_login("alice")
        r = requests.get(sh.url("/"), headers={"Cookie": "sid=not-a-session-id"},
                         timeout=10)
        assert r.status_code == 200
        r = scrape(mport)
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.text
        check = subprocess.run([PROMTOOL, "check", "metrics"], input=text,
                               capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
        # 3 cart sessions and alice's login session
        assert value(text, "sessio_sessions_created_total") == 4
        assert value(text, 'sessio_logins_total{result="ok"}') == 1
        assert value(text, 'sessio_rejected_ids_total{reason="malformed"}') == 1
        assert value(text, 'sessio_store_sessions') == 4
        assert value(text, 'sessio_shop_http_requests_total{route="/api/cart",code="200"}') == 12
        assert value(text, 'sessio_shop_http_requests_total{route="/api/login",code="200"}') == 1
        # the last answer may be sent before MHD has told the shop it ended
        assert value(text, "sessio_shop_http_requests_in_flight") in (0, 1)
        assert value(text, "sessio_shop_throttled_total") == 0
        assert value(text, 'sessio_store_operation_duration_seconds_count{op="save"}') >= 13
        assert 'sessio_info{version="1.0.0",store="memory"} 1' in text
        for line in text.splitlines():  # names, units and suffixes
            if line.startswith("# TYPE "):
                _, _, name, kind = line.split()
                assert name.startswith("sessio_"), line
                assert (kind == "counter") == name.endswith("_total"), line
        # only GET /metrics, on that address
        assert requests.get(f"http://127.0.0.1:{mport}/", timeout=10).status_code == 404
        assert requests.post(f"http://127.0.0.1:{mport}/metrics",
                             timeout=10).status_code == 405
    finally:
        assert sh.stop() == 0
        assert sh.sanitizer_report() is None, sh.sanitizer_report()


def test_metrics_listen_from_environment_and_bad_address():
    mport = free_port()
    sh = Shop(env={"SESSIO_METRICS_LISTEN": f"127.0.0.1:{mport}"}).start()
    try:
        assert "sessio_sessions_created_total 0" in scrape(mport).text
    finally:
        sh.stop()
    bad = Shop(args=["--metrics-listen", "nowhere"])
    with pytest.raises(Exception):
        bad.start()
    bad.stop()
    assert "cannot serve metrics" in bad.stderr()


@pytest.mark.skipif(PROMETHEUS is None or PROMTOOL is None,
                    reason="prometheus not installed")
def test_prometheus_scrapes_a_shop_under_load():
    sh, mport = metrics_shop(store="sqlite:{tmp}/s.db")
    tmp = tempfile.mkdtemp(prefix="sessio-prom-")
    pport = free_port()
    cfg = os.path.join(tmp, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                "scrape_configs:\n  - job_name: sessio-shop\n"
                f"    static_configs:\n      - targets: ['127.0.0.1:{mport}']\n")
    check = subprocess.run([PROMTOOL, "check", "config", cfg], capture_output=True,
                           text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    log = open(os.path.join(tmp, "prometheus.log"), "wb")
    prom = subprocess.Popen([PROMETHEUS, f"--config.file={cfg}",
                             f"--storage.tsdb.path={tmp}/data",
                             f"--web.listen-address=127.0.0.1:{pport}"],
                            stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        clients, adds = 5, 6
        workload(sh, clients, adds)
        direct = scrape(mport).text
        created = value(direct, "sessio_sessions_created_total")
        commits = value(direct, 'sessio_commits_total{result="ok"}')
        assert created == clients
        # each add is one request and one commit (the CSRF token comes
        # with the first add's answer)
        assert commits == clients * adds

        def query(q):
            r = requests.get(f"http://127.0.0.1:{pport}/api/v1/query",
                             params={"query": q}, timeout=5)
            res = r.json()["data"]["result"]
            return float(res[0]["value"][1]) if res else None

        want = {"sessio_sessions_created_total": created,
                'sessio_commits_total{result="ok"}': commits,
                'sum(sessio_shop_http_requests_total{route="/api/cart"})': clients * adds}
        got = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # waiting for scrapes, not timing
            try:
                got = {q: query(q) for q in want}
            except (requests.RequestException, ValueError, KeyError):
                got = {}
            if got == want:
                break
            assert prom.poll() is None, open(os.path.join(tmp, "prometheus.log")).read()[-2000:]
            time.sleep(0.5)
        assert got == want
        up = query('up{job="sessio-shop"}')
        assert up == 1
    finally:
        prom.terminate()
        try:
            prom.wait(timeout=20)
        except subprocess.TimeoutExpired:
            prom.kill()
            prom.wait()
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)
        sh.stop()


def _doc_block(marker):
    """The fenced block that follows the line '<!-- marker -->' in
    docs/OPERATIONS.md."""
    with open(os.path.join(ROOT, "docs", "OPERATIONS.md")) as f:
        doc = f.read()
    m = re.search(r"<!-- " + re.escape(marker) + r" -->\s*```[a-z]*\n(.*?)```", doc, re.S)
    assert m, f"no block marked {marker} in docs/OPERATIONS.md"
    return m.group(1)


@need_promtool
def test_operations_doc_prometheus_config_and_rules_are_valid():
    tmp = tempfile.mkdtemp(prefix="sessio-promdoc-")
    try:
        with open(os.path.join(tmp, "sessio-alerts.yml"), "w") as f:
            f.write(_doc_block("checked: sessio-alerts.yml"))
        with open(os.path.join(tmp, "prometheus.yml"), "w") as f:
            f.write(_doc_block("checked: prometheus.yml"))
        for cmd in (["check", "rules", "sessio-alerts.yml"],
                    ["check", "config", "prometheus.yml"]):
            r = subprocess.run([PROMTOOL, *cmd], cwd=tmp, capture_output=True,
                               text=True, timeout=60)
            assert r.returncode == 0, r.stdout + r.stderr
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
