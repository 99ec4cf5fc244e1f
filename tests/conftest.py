"""Fixtures with real parts: a memcached process, an S3 server on loopback, counters."""

import os

import pytest

from browser import CHROMIUM, CHROMIUM_ARGS
from helpers import Memcached, S3Server
from wsi_blueprint.counters import Counters


@pytest.fixture
def memcached():
    server = Memcached().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def s3_server():
    server = S3Server()
    yield server
    server.stop()


@pytest.fixture
def s3_bucket(s3_server):
    """A fresh, empty bucket in the session's S3 server."""
    return s3_server.new_bucket()


@pytest.fixture
def counters():
    return Counters()


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole run."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: the browser tests need Debian's chromium "
                    "(deploy/install-system-deps.sh installs it; tox runs that first)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()
