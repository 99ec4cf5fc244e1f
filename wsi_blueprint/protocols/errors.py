"""Every failure leaves as JSON `{"error", "message", "status"}`; never a traceback."""

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from ..errors import WSIError

log = logging.getLogger(__name__)


def error_response(error: WSIError):
    response = jsonify(error.to_dict())
    response.status_code = error.status
    return response


def handle_wsi_error(error: WSIError):
    return error_response(error)


def handle_http_exception(error: HTTPException):
    response = jsonify({"error": (error.name or "error").lower().replace(" ", "_"),
                        "message": error.description, "status": error.code})
    response.status_code = error.code or 500
    return response


def handle_unexpected(error: Exception):
    log.exception("unexpected error")
    return error_response(WSIError("the server failed to handle the request"))


def register_error_handlers(target: Flask) -> None:
    """For the standalone app: also JSON for unknown URLs and unexpected failures."""
    target.register_error_handler(WSIError, handle_wsi_error)
    target.register_error_handler(HTTPException, handle_http_exception)
    target.register_error_handler(Exception, handle_unexpected)
