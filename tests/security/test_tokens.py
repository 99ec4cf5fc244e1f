import pytest

from wsi_blueprint.errors import Forbidden, Unauthorized
from wsi_blueprint.security.tokens import TokenSigner, parse_secrets

NOW = 1_800_000_000


def signer(config="k1:secret-one"):
    return TokenSigner(parse_secrets(config))


def test_a_token_grants_its_slide_until_it_expires():
    token = signer().sign("cases/1/a.svs", expires_in=60, now=NOW)
    grant = signer().verify(token, now=NOW + 59)
    assert grant.covers("cases/1/a.svs") and not grant.covers("cases/1/a.svs2")
    with pytest.raises(Unauthorized):
        signer().verify(token, now=NOW + 60)


def test_prefix_tokens_cover_a_case():
    grant = signer().verify(signer().sign("cases/1/", prefix=True, expires_in=60, now=NOW),
                            now=NOW)
    assert grant.covers("cases/1/a.svs") and not grant.covers("cases/2/a.svs")


def test_tampered_tokens_are_refused():
    token = signer().sign("a.svs", expires_in=60, now=NOW)
    body, mac = token.split(".")
    other = signer().sign("b.svs", expires_in=60, now=NOW)
    for forged in (body + "." + mac[:-2] + ("A" if mac[-2] != "A" else "B") + mac[-1],
                   other.split(".")[0] + "." + mac, token + "x", "x" * 5000, "", "a.b.c",
                   "!!!.???", body, body + "." + mac[:-1] + "\u00ff",
                   body[:-1] + "\u00e9." + mac):  # non-ASCII: refused, not a TypeError
        with pytest.raises(Forbidden):
            signer().verify(forged, now=NOW)


def test_wrong_key_and_rotation():
    old = signer("k1:secret-one").sign("a.svs", expires_in=60, now=NOW)
    with pytest.raises(Forbidden):
        signer("k1:another").verify(old, now=NOW)
    rotating = signer("k2:secret-two,k1:secret-one")
    assert rotating.verify(old, now=NOW).covers("a.svs")
    new = rotating.sign("a.svs", expires_in=60, now=NOW)
    assert signer("k2:secret-two").verify(new, now=NOW).covers("a.svs")
    with pytest.raises(Forbidden):
        signer("k1:secret-one").verify(new, now=NOW)


def test_session_end_caps_expiry():
    token = signer().sign("a.svs", expires_in=600, session_end=NOW + 30, now=NOW)
    assert signer().verify(token, now=NOW).expires == NOW + 30


def test_secret_configuration():
    assert parse_secrets("plain") == {"k0": b"plain"}
    assert list(parse_secrets("b:2, a:1")) == ["b", "a"]
    for bad in (":x", "k:"):
        with pytest.raises(ValueError):
            parse_secrets(bad)
