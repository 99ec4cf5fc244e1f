"""The standalone app: the blueprint at `/`, settings from the environment."""

import os

from flask import Flask

from .blueprint import create_blueprint
from .protocols.errors import register_error_handlers


def create_app(config: dict | None = None) -> Flask:
    app = Flask("wsi_blueprint")
    app.config.update({k: v for k, v in os.environ.items() if k.startswith("WSI_")})
    app.config.update(config or {})
    app.register_blueprint(create_blueprint())
    register_error_handlers(app)
    return app
