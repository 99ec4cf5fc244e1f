"""The standalone app: the blueprint at `/`, settings from the environment.

Behind a reverse proxy, WSI_PROXY_FIX=N trusts N proxies' X-Forwarded-For/-Proto/-Host/-Prefix
headers, so every URL handed out (info.json ids, manifests, DZI) names the public address.
"""

import os

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from . import request_log
from .blueprint import create_blueprint
from .direct_tiles import DirectTiles
from .protocols.errors import register_error_handlers


def create_app(config: dict | None = None) -> Flask:
    app = Flask("wsi_blueprint")
    app.config.update({k: v for k, v in os.environ.items() if k.startswith("WSI_")})
    app.config.update(config or {})
    app.register_blueprint(create_blueprint())
    register_error_handlers(app)
    request_log.init_app(app)  # only if WSI_REQUEST_LOG names a file
    app.wsgi_app = DirectTiles(app, app.wsgi_app)  # DZI tiles without Flask's costs
    proxies = int(app.config.get("WSI_PROXY_FIX") or 0)
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies,
                                x_port=proxies, x_prefix=proxies)
    return app
