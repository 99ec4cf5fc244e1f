"""The blueprint factory: one call gives a host app everything, mounted wherever it likes.

    app.register_blueprint(create_blueprint(), url_prefix="/pathology")

Settings come from the argument or, at registration, from the app's config (`WSI_*` keys).
"""

from typing import Callable

from flask import Blueprint
from flask.blueprints import BlueprintSetupState
from werkzeug.exceptions import HTTPException

from .errors import WSIError
from .protocols import dzi, iiif, rest, viewer
from .protocols.context import EXTENSION
from .protocols.cors import add_cors_headers, cors_options
from .protocols.errors import handle_http_exception, handle_unexpected, handle_wsi_error
from .settings import Settings
from .state import WSIState


def create_blueprint(name: str = "wsi", *, settings: Settings | None = None,
                     resolve: Callable[[str], str | None] | None = None) -> Blueprint:
    """`resolve(slide_id) -> url or None` plugs in a host's own signed URLs instead of a store."""
    bp = Blueprint(name, __name__, static_folder=viewer.STATIC,
                   static_url_path="/viewer/static", template_folder=viewer.TEMPLATES)

    def setup(setup_state: BlueprintSetupState) -> None:
        app = setup_state.app
        full_name = ".".join(filter(None, (setup_state.name_prefix, setup_state.name)))
        wsi = settings or Settings.from_mapping(app.config)
        app.extensions.setdefault(EXTENSION, {})[full_name] = WSIState.build(
            wsi, resolve, cors_options(app, wsi))

    bp.record(setup)
    bp.after_request(add_cors_headers)
    bp.register_error_handler(WSIError, handle_wsi_error)
    bp.register_error_handler(HTTPException, handle_http_exception)
    bp.register_error_handler(Exception, handle_unexpected)
    rest.register(bp)
    dzi.register(bp)
    iiif.register(bp)
    viewer.register(bp)
    return bp
