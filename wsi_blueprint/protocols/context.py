"""Where a route finds the state of the blueprint that is serving it."""

from flask import current_app, request

from ..state import WSIState

EXTENSION = "wsi_blueprint"


def state() -> WSIState:
    return current_app.extensions[EXTENSION][request.blueprint]
