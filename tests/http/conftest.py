"""conftest.py — pytest fixtures that run the real sessio-shop for the HTTP tests.

The binary is $SESSIO_BUILD_DIR/apps/shop/sessio-shop (default build-test/,
relative to the repository root). Each server listens on a free 127.0.0.1
port, is ready once GET /healthz answers 200 (bounded wait), and is stopped
with SIGTERM (then SIGKILL) at the end. A sanitizer report in its stderr
fails the test that owned it.
"""
import shutil

import pytest

import shoplib
from shoplib import Client, Shop, ShopError


def _start(shop):
    try:
        return shop.start()
    except ShopError as e:
        pytest.fail(str(e), pytrace=False)


def _finish(*shops):
    """Stops every shop, then removes their folders; fails on a sanitizer report."""
    for shop in shops:
        shop.stop()
    reps = [(shop, shop.sanitizer_report()) for shop in shops]
    for shop in shops:
        shutil.rmtree(shop.tmp, ignore_errors=True)
    for shop, rep in reps:
        if rep:
            pytest.fail(f"sanitizer report in sessio-shop stderr ({' '.join(shop.args)}):\n{rep}",
                        pytrace=False)


@pytest.fixture(scope="session")
def shop():
    """The shared server: memory store, default flags."""
    s = Shop()
    _start(s)
    yield s
    _finish(s)


@pytest.fixture
def make_shop():
    """Factory for a private server: make_shop(args=[...], store="sqlite:{tmp}/s.db")."""
    started = []

    def make(args=(), store="memory:", env=None, log_level="warn", listen=True, start=True,
             tmp=None):
        s = Shop(args=args, store=store, env=env, log_level=log_level, listen=listen, tmp=tmp)
        started.append(s)
        return _start(s) if start else s

    yield make
    _finish(*started)


@pytest.fixture(scope="module")
def module_shop():
    """A server private to one test module (for tests that revoke every
    session of a user, which would disturb other modules)."""
    s = Shop()
    _start(s)
    yield s
    _finish(s)


@pytest.fixture
def client(shop):
    return Client(shop)


@pytest.fixture(scope="session")
def alice(shop):
    """A signed-in client of alice, shared by read-mostly tests (login costs
    an argon2id hash). Tests must not sign it out."""
    c = Client(shop, ua="sessio-tests/alice-shared")
    c.api_login("alice")
    return c


def pytest_report_header(config):
    return f"sessio-shop binary: {shoplib.shop_binary()}"
