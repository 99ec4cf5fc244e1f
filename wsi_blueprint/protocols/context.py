"""Where a route finds the state of the blueprint that is serving it."""

from flask import current_app, request

from ..state import WSIState

EXTENSION = "wsi_blueprint"


def state() -> WSIState:
    """Looked up once per request and kept on it: a cached tile asks for it several times."""
    req = request._get_current_object()
    try:
        return req.wsi_state
    except AttributeError:
        req.wsi_state = found = current_app.extensions[EXTENSION][req.blueprint]
        return found
