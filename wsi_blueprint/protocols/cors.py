"""CORS for every response of the blueprint, through flask-cors, with the configured origins.

Viewers on other origins (a LIMS page, Mirador elsewhere) fetch tiles and info.json directly.
Credentials are never allowed: access travels in signed URLs and Bearer headers, not cookies.
"""

from flask import Flask, Response
from flask_cors.core import get_cors_options, set_cors_headers

from ..settings import Settings
from .context import state


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


def add_cors_headers(response: Response) -> Response:
    set_cors_headers(response, state().cors_options)
    return response
