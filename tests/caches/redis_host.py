"""A host app with a flask_caching Cache of its own (Redis) that mounts the blueprint at
/pathology and hands it that cache: what `gunicorn "redis_host:create_app()"` serves in
tests/caches/test_host_cache.py. The Redis URL comes from HOST_REDIS_URL, the WSI_* settings
from the environment."""

import os

from flask import Flask
from flask_caching import Cache

from wsi_blueprint.blueprint import create_blueprint


def create_app() -> Flask:
    app = Flask("host")
    app.config.update({k: v for k, v in os.environ.items() if k.startswith("WSI_")})
    app.config.update(CACHE_TYPE="RedisCache", CACHE_REDIS_URL=os.environ["HOST_REDIS_URL"],
                      CACHE_DEFAULT_TIMEOUT=600,
                      CACHE_OPTIONS={"socket_timeout": 0.25, "socket_connect_timeout": 0.25})
    cache = Cache(app)
    app.register_blueprint(create_blueprint(cache=cache), url_prefix="/pathology")
    return app
