"""A real redis-server on loopback, for the host-cache (flask_caching) shared tier."""

import pytest

from wsi_blueprint.bench.services import Redis


@pytest.fixture
def redis_server():
    server = Redis().start()
    yield server
    server.stop()
