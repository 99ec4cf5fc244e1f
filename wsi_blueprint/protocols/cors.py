"""CORS for every response of the blueprint, through flask-cors, with the configured origins.

Viewers on other origins (a LIMS page, Mirador elsewhere) fetch tiles and info.json directly.
Credentials are never allowed: access travels in signed URLs and Bearer headers, not cookies.
"""

from flask import Flask, Response, request
from flask_cors.core import (ACL_REQUEST_HEADER_PRIVATE_NETWORK, FLASK_CORS_EVALUATED,
                             get_cors_headers, get_cors_options, set_cors_headers)
from werkzeug.datastructures import EnvironHeaders, Headers

from ..settings import Settings
from .context import state

# Origins remembered per blueprint; a server sees a handful, a flood of made-up ones is
# evaluated afresh once the memo is full.
MEMO_SIZE = 256


def cors_options(app: Flask, settings: Settings) -> dict:
    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()] or ["*"]
    return get_cors_options(app, {
        "origins": "*" if "*" in origins else origins,
        "send_wildcard": "*" in origins,  # a literal "*": one cacheable answer for every origin
        "supports_credentials": False,
        "methods": ["GET", "HEAD", "OPTIONS", "POST"],
        "expose_headers": ["ETag", "Link", "Content-Length", "Server-Timing"],
        "allow_headers": ["Authorization", "If-None-Match", "Content-Type"],
        "max_age": 86400,
        "vary_header": True,
    })


_memo: dict[tuple, tuple[dict, list]] = {}
_PRIVATE_NETWORK = "HTTP_" + ACL_REQUEST_HEADER_PRIVATE_NETWORK.upper().replace("-", "_")


def add_cors_headers(response: Response) -> Response:
    options = state().cors_options
    if (request.method == "OPTIONS" or hasattr(response, FLASK_CORS_EVALUATED)
            or not isinstance(response.headers, Headers)):
        return set_cors_headers(response, options)
    for name, value in cors_headers(options, request.environ):
        response.headers.add(name, value)
    return response


def cors_headers(options: dict, environ: dict) -> list[tuple[str, str]]:
    """flask-cors's headers for a request other than a preflight. They depend only on the
    options, the Origin and the private-network request header, so each such answer is worked
    out once (the headers read from the environ: no lookup raising KeyError)."""
    key = (id(options), environ.get("HTTP_ORIGIN"), environ.get(_PRIVATE_NETWORK))
    found = _memo.get(key)
    if found is None or found[0] is not options:
        found = (options, list(get_cors_headers(options, EnvironHeaders(environ), "GET").items(
            multi=True)))
        if len(_memo) < MEMO_SIZE:
            _memo[key] = found
    return found[1]
