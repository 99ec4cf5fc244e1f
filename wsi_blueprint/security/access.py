"""Enforcing tokens on every request of the blueprint, before any store is touched.

A token may come in the path (`/t/<token>/...`, every route exists in that form too), as
`?token=`, or as `Authorization: Bearer`. Path and query tokens are carried into every URL the
response hands out (info.json ids, DZI descriptors, manifests, the viewer's tile source), so an
unmodified OpenSeadragon or Mirador sends it with every tile request without knowing about it.
"""

from flask import current_app, g, request

from ..errors import Forbidden, Unauthorized
from ..slide_ids import validate_slide_id
from .tokens import Grant

PUBLIC_ENDPOINTS = {"healthz", "readyz", "metrics", "static", "sign", "openapi"}
TOKEN_PREFIX = "/t/<token>"


def presented_token() -> tuple[str | None, bool]:
    """(token, whether it came in the URL)."""
    token = g.get("wsi_path_token") or request.args.get("token")
    if token:
        return token, True
    return bearer_token(request.headers.get("Authorization", "")), False


def bearer_token(authorization: str) -> str | None:
    """The token of an Authorization header's value, if it is a Bearer one."""
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return None


def require_grant(signer) -> Grant:
    token, in_url = presented_token()
    if not token:
        raise Unauthorized("an access token is required")
    grant = signer.verify(token)
    if in_url:
        g.wsi_url_token = token
    return grant


def check_request(signer) -> None:
    """The blueprint's before_request when access control is on."""
    endpoint = (request.endpoint or "").rsplit(".", 1)[-1]
    if endpoint in PUBLIC_ENDPOINTS:
        return
    grant = require_grant(signer)
    slide_id = (request.view_args or {}).get("slide_id")
    if slide_id is not None:
        check_slide(grant, slide_id)
    elif endpoint == "list_slides":
        if not grant.prefix or not listing_prefix(grant).startswith(grant.subject):
            raise Forbidden("the access token does not grant this listing")
    elif endpoint != "renew":
        raise Forbidden("the access token does not grant this resource")
    g.wsi_grant = grant


def check_slide(grant: Grant, slide_id: str) -> None:
    """403 unless `grant` covers the slide; its id is checked first, as no store may see a
    bad one."""
    validate_slide_id(slide_id)
    if not grant.covers(slide_id):
        raise Forbidden("the access token does not grant this slide")


def listing_prefix(grant: Grant | None) -> str:
    """The prefix a listing asks for; without `?prefix=`, a prefix token's own prefix, so the
    link a token comes with needs nothing added."""
    asked = request.args.get("prefix", "")
    if not asked and grant is not None and grant.prefix:
        return grant.subject
    return asked


def pull_path_token(endpoint: str | None, values: dict | None) -> None:
    """url_value_preprocessor: take `token` out of the view arguments."""
    if values and "token" in values:
        g.wsi_path_token = values.pop("token")


def push_url_token(endpoint: str, values: dict) -> None:
    """url_defaults: URLs built while serving a URL-token request carry that token in the path."""
    token = g.get("wsi_url_token")
    if token and "token" not in values and current_app.url_map.is_endpoint_expecting(
            endpoint, "token"):
        values["token"] = token
