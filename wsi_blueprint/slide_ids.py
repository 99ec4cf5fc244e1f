"""Slide ids: object keys relative to the store root, checked before any store sees them."""

from .errors import InvalidSlideId

MAX_ID_LENGTH = 1024


def validate_slide_id(slide_id: str) -> str:
    """Return the id if it is a safe relative key, else raise InvalidSlideId.

    Refused: empty, too long, control characters, backslashes, absolute paths, empty or
    `.`/`..` segments. Slashes between segments are allowed (`cases/42/A1.svs`).
    """
    if not isinstance(slide_id, str) or not slide_id:
        raise InvalidSlideId("slide id is empty")
    if len(slide_id) > MAX_ID_LENGTH:
        raise InvalidSlideId(f"slide id is longer than {MAX_ID_LENGTH} characters")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in slide_id):
        raise InvalidSlideId("slide id contains control characters")
    if "\\" in slide_id:
        raise InvalidSlideId("slide id contains a backslash")
    if slide_id.startswith("/"):
        raise InvalidSlideId("slide id must be relative")
    for segment in slide_id.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidSlideId("slide id has an empty, '.' or '..' segment")
    return slide_id


def is_hidden(slide_id: str) -> bool:
    """Keys with a segment starting with '.' (sidecars, markers) are never listed as slides."""
    return any(part.startswith(".") for part in slide_id.split("/"))
