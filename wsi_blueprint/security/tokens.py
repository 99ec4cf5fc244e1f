"""Signed access tokens: HMAC-SHA256 over a small JSON claim, URL-safe, with key ids.

    <base64url(claims)>.<base64url(hmac_sha256(secret[kid], base64url(claims)))>

Claims: `kid` (which secret signed it), `sub` (a slide id, or an id prefix when `pfx` is true),
`exp` (expiry, Unix seconds) and `end` (the end of the viewing session: renewals never pass it).
Secrets are configured as `kid:secret,kid:secret`; the first signs, all verify, so a secret can
be rotated by putting the new one first and dropping the old one after the longest token life.
A bare secret without `kid:` gets the key id `k0`.
"""

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import time

from ..errors import Forbidden, Unauthorized

MAX_TOKEN_LENGTH = 4096


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def parse_secrets(config: str) -> dict[str, bytes]:
    """'kid:secret,kid:secret' (or one bare secret) -> {kid: secret}, signing key first."""
    secrets: dict[str, bytes] = {}
    for part in filter(None, (p.strip() for p in config.split(","))):
        kid, sep, secret = part.partition(":")
        if not sep:
            kid, secret = "k0", part
        if not kid or not secret:
            raise ValueError("WSI_AUTH_SECRET: expected 'kid:secret[,kid:secret...]'")
        secrets[kid] = secret.encode("utf-8")
    return secrets


@dataclasses.dataclass(frozen=True)
class Grant:
    """What a verified token allows."""

    subject: str
    prefix: bool
    expires: int
    session_end: int

    def covers(self, slide_id: str) -> bool:
        if self.prefix:
            return slide_id.startswith(self.subject)
        return hmac.compare_digest(slide_id.encode(), self.subject.encode())


class TokenSigner:
    def __init__(self, secrets: dict[str, bytes]):
        if not secrets:
            raise ValueError("no signing secret")
        self._secrets = secrets
        self._kid = next(iter(secrets))

    def _mac(self, kid: str, body: str) -> str:
        return _b64(hmac.new(self._secrets[kid], body.encode("ascii"), hashlib.sha256).digest())

    def sign(self, subject: str, *, prefix: bool = False, expires_in: int,
             session_end: int | None = None, now: float | None = None) -> str:
        now = int(time.time() if now is None else now)
        expires = now + expires_in
        end = expires if session_end is None else session_end
        claims = {"kid": self._kid, "sub": subject, "pfx": prefix, "exp": min(expires, end),
                  "end": end}
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{body}.{self._mac(self._kid, body)}"

    def verify(self, token: str, now: float | None = None) -> Grant:
        """The token's grant; 403 for a forged or malformed token, 401 for an expired one."""
        if not token or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1 or \
                not token.isascii():  # compare_digest takes no other text
            raise Forbidden("invalid access token")
        body, mac = token.split(".")
        try:
            claims = json.loads(_unb64(body))
            kid = str(claims["kid"])
            grant = Grant(str(claims["sub"]), bool(claims["pfx"]), int(claims["exp"]),
                          int(claims["end"]))
        except (ValueError, KeyError, TypeError, binascii.Error):
            raise Forbidden("invalid access token") from None
        if kid not in self._secrets or not hmac.compare_digest(self._mac(kid, body), mac):
            raise Forbidden("invalid access token")
        if grant.expires <= (time.time() if now is None else now):
            raise Unauthorized("the access token has expired")
        return grant
