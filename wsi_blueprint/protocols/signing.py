"""Minting tokens: `POST /sign` for the host's authorised users, `POST /renew` for viewers.

/sign is guarded by the host app's `authorize(request, slide_id_or_prefix)` hook, or, when the
server runs standalone, by an admin key. /renew trades a valid token for a fresh one with the
same scope that never outlives the viewing session the first token began.
"""

import hmac
import time

from flask import Blueprint, jsonify, request, url_for

from ..errors import BadRequest, Forbidden, NotFound, Unauthorized
from ..security.access import require_grant
from ..slide_ids import validate_slide_id
from .context import state


def _signer():
    signer = state().signer
    if signer is None:
        raise NotFound("access control is off: no tokens are needed")
    return signer


def _require_admin_key() -> None:
    """Standalone: the admin key, checked before the body is read, so a caller without it
    learns nothing about what a valid request would be."""
    key = state().settings.sign_key
    header = request.headers.get("Authorization", "")
    given = header[7:].strip() if header[:7].lower() == "bearer " else ""
    if not key or not hmac.compare_digest(given.encode(), key.encode()):
        raise Unauthorized("admin key required: send `Authorization: Bearer <WSI_SIGN_KEY>`"
                           + ("" if key else " (WSI_SIGN_KEY is not set, so none is accepted)"))


def _token_answer(token: str, subject: str, prefix: bool, expires: int) -> dict:
    answer = {"token": token, "expires_at": expires, "expires_in": expires - int(time.time())}
    if prefix:
        answer["urls"] = {"slides": url_for(".list_slides", token=token, _external=True)}
    else:
        answer["urls"] = {name: url_for(f".{endpoint}", slide_id=subject, token=token,
                                        _external=True)
                          for name, endpoint in (("viewer", "viewer"),
                                                 ("metadata", "slide_metadata"),
                                                 ("dzi", "dzi_descriptor"),
                                                 ("iiif", "iiif3_base"),
                                                 ("manifest", "iiif3_manifest"))}
    return answer


def sign():
    signer = _signer()
    authorize = state().authorize
    if authorize is None:
        _require_admin_key()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadRequest("send JSON: {\"slide_id\": ...} or {\"prefix\": ...}")
    prefix = "prefix" in body
    subject = body.get("prefix") if prefix else body.get("slide_id")
    if not isinstance(subject, str) or not subject:
        raise BadRequest("slide_id (or prefix) must be a non-empty string")
    validate_slide_id(subject.rstrip("/") if prefix else subject)
    settings = state().settings
    ttl = body.get("expires_in", settings.auth_token_ttl)
    if not isinstance(ttl, int) or not 1 <= ttl <= settings.auth_token_ttl:
        raise BadRequest(f"expires_in must be an integer from 1 to {settings.auth_token_ttl}")
    if authorize is not None and not authorize(request, subject):
        raise Forbidden("not allowed to sign tokens for this slide")
    now = int(time.time())
    token = signer.sign(subject, prefix=prefix, expires_in=ttl,
                        session_end=now + settings.auth_session_max, now=now)
    return jsonify(_token_answer(token, subject, prefix, min(now + ttl,
                                                              now + settings.auth_session_max)))


def renew():
    signer = _signer()
    grant = require_grant(signer)
    now = int(time.time())
    if grant.session_end <= now:
        raise Unauthorized("the viewing session has ended")
    ttl = state().settings.auth_token_ttl
    token = signer.sign(grant.subject, prefix=grant.prefix, expires_in=ttl,
                        session_end=grant.session_end, now=now)
    return jsonify(_token_answer(token, grant.subject, grant.prefix,
                                 min(now + ttl, grant.session_end)))


def register(bp: Blueprint) -> None:
    bp.add_url_rule("/sign", "sign", sign, methods=["POST"])
    bp.add_url_rule("/renew", "renew", renew, methods=["POST"])
