"""conftest.py — the example applications of the integration tests, each
started once per module on free loopback ports and stopped after (a
sanitizer report in a program's stderr fails the module):

  mhd           examples/mhd (sessio-mhd-example), the minimal
                libmicrohttpd program
  auth-service  sessio-auth-service's own pages (the demo with its forms),
                served by libmicrohttpd through sessio-mhd, no proxy
  fcgi-nginx    sessio-fcgi-example behind nginx (examples/fcgi/nginx.conf,
                fastcgi_pass), with a TLS listener too
  civetweb      sessio-civetweb-example on CivetWeb
  auth-request  nginx (examples/auth-request/nginx.conf) in front of
                sessio-auth-service, a static folder and app.py

A program that was not built (its dependency missing) skips its tests.
"""
import os
import shutil
import sys

import pytest

import itlib
from itlib import App, Proc, example_binary, free_port, start_nginx

EXAMPLES = os.path.join(itlib.ROOT, "examples")


def _need(path):
    if not os.path.exists(path):
        pytest.skip(f"not built: {path}")


def _need_nginx():
    if not os.path.exists(itlib.NGINX):
        pytest.skip("nginx is not installed (scripts/install-deps.sh test)")


def _finish(procs):
    for p in procs:
        p.stop()
    reports = [(p, p.sanitizer_report()) for p in procs]
    for p in procs:
        p.cleanup()
        if getattr(p, "prefix", None):
            shutil.rmtree(p.prefix, ignore_errors=True)
    for p, rep in reports:
        if rep:
            pytest.fail(f"sanitizer report in {' '.join(p.args)}:\n{rep}", pytrace=False)


def start_mhd():
    binary = example_binary("mhd", "sessio-mhd-example")
    _need(binary)
    port = free_port()
    procs = [Proc([binary, str(port), "memory:"], port)]
    # It has neither TLS nor a trusted-proxy switch: no secure variant.
    return App("mhd", f"http://127.0.0.1:{port}", readonly=["/nope", "/whoami"], procs=procs,
               style="mhd")


def start_auth_service():
    binary = example_binary("auth-request", "sessio-auth-service")
    _need(binary)
    port, tport = free_port(), free_port()
    procs = [Proc([binary, "--listen", f"127.0.0.1:{port}"], port)]
    procs.append(Proc([binary, "--listen", f"127.0.0.1:{tport}", "--trust-proxy"], tport))
    return App("auth-service", f"http://127.0.0.1:{port}", readonly=["/whoami"],
               secure=[(f"http://127.0.0.1:{tport}", {"X-Forwarded-Proto": "https"})],
               procs=procs)


def start_fcgi(tokens=False):
    binary = example_binary("fcgi", "sessio-fcgi-example")
    _need(binary)
    _need_nginx()
    fport, port, tls = free_port(), free_port(), free_port()
    procs = [Proc([binary, "--listen", f"127.0.0.1:{fport}"] + (["--tokens"] if tokens else []),
                  fport)]
    try:
        procs.append(start_nginx(os.path.join(EXAMPLES, "fcgi"),
                                 {"127.0.0.1:8080": port, "127.0.0.1:9000": fport}, tls))
    except Exception:
        _finish(procs)
        raise
    return App("fcgi-nginx", f"http://127.0.0.1:{port}", readonly=["/whoami"],
               secure=[(f"https://127.0.0.1:{tls}", {})], procs=procs)


def start_civetweb(tokens=False):
    binary = example_binary("civetweb", "sessio-civetweb-example")
    _need(binary)
    port, tport = free_port(), free_port()
    procs = [Proc([binary, "--listen", f"127.0.0.1:{port}"] + (["--tokens"] if tokens else []),
                  port)]
    procs.append(Proc([binary, "--listen", f"127.0.0.1:{tport}", "--trust-proxy"], tport))
    # Trusted proxy only: with an HTTPS port, Debian's CivetWeb 1.15 crashed
    # in a worker thread (a call through a NULL function pointer) when we
    # tried, so its is_ssl branch is not run here.
    return App("civetweb", f"http://127.0.0.1:{port}", readonly=["/whoami"],
               secure=[(f"http://127.0.0.1:{tport}", {"X-Forwarded-Proto": "https"})],
               procs=procs)


def start_auth_request():
    binary = example_binary("auth-request", "sessio-auth-service")
    _need(binary)
    _need_nginx()
    sport, aport, port, tls = free_port(), free_port(), free_port(), free_port()
    here = os.path.join(EXAMPLES, "auth-request")
    procs = [Proc([binary, "--listen", f"127.0.0.1:{sport}", "--trust-proxy"], sport),
             Proc([sys.executable, os.path.join(here, "app.py"), f"127.0.0.1:{aport}"], aport)]
    try:
        procs.append(start_nginx(here, {"127.0.0.1:8080": port, "127.0.0.1:8081": sport,
                                        "127.0.0.1:8082": aport}, tls))
    except Exception:
        _finish(procs)
        raise
    app = App("auth-request", f"http://127.0.0.1:{port}", page="/login", user_page="/app/",
              readonly=["/app/", "/static/hello.txt", "/app/anything"],
              secure=[(f"https://127.0.0.1:{tls}", {})], procs=procs)
    app.service_url = f"http://127.0.0.1:{sport}"
    return app


STARTERS = {"mhd": start_mhd, "auth-service": start_auth_service, "fcgi-nginx": start_fcgi, "civetweb": start_civetweb,
            "auth-request": start_auth_request}


@pytest.fixture(scope="module", params=list(STARTERS))
def app(request):
    a = STARTERS[request.param]()
    yield a
    _finish(a.procs)


# The integrations whose example takes --tokens (the header-token transport,
# S30), started with it: tests/integrations/test_tokens.py.
TOKEN_STARTERS = {"fcgi-nginx": start_fcgi, "civetweb": start_civetweb}


@pytest.fixture(scope="module", params=list(TOKEN_STARTERS))
def token_app(request):
    a = TOKEN_STARTERS[request.param](tokens=True)
    yield a
    _finish(a.procs)


@pytest.fixture(scope="module")
def auth_app():
    a = start_auth_request()
    yield a
    _finish(a.procs)
