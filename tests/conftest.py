"""Fixtures with real parts: a memcached process, an S3 server on loopback, counters."""

import pytest

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
