"""Errors every layer raises; the HTTP layer turns them into JSON with their status.

Each class names one failure a client can act on. The message is safe to show: it never
carries a traceback, a local path or a presigned URL.
"""


class WSIError(Exception):
    """Base class: an error with an HTTP status and a stable machine-readable code."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str = "", *, status: int | None = None):
        super().__init__(message or self.code.replace("_", " "))
        self.message = str(self.args[0])
        if status is not None:
            self.status = status

    def to_dict(self) -> dict:
        return {"error": self.code, "message": self.message, "status": self.status}


class BadRequest(WSIError):
    status = 400
    code = "bad_request"


class InvalidSlideId(BadRequest):
    code = "invalid_slide_id"


class Unauthorized(WSIError):
    status = 401
    code = "unauthorized"


class Forbidden(WSIError):
    status = 403
    code = "forbidden"


class NotFound(WSIError):
    status = 404
    code = "not_found"


class SlideNotFound(NotFound):
    code = "slide_not_found"


class TooLarge(WSIError):
    status = 413
    code = "too_large"


class UnsupportedFormat(WSIError):
    status = 415
    code = "unsupported_format"


class CorruptSlide(WSIError):
    status = 422
    code = "corrupt_slide"


class Busy(WSIError):
    """The server could not finish the work in time (its CPU pool is saturated)."""

    status = 503
    code = "busy"


class NotImplementedByStore(WSIError):
    """The store cannot do this (an HTTP base URL cannot list its objects)."""

    status = 501
    code = "not_supported_by_store"


class StoreError(WSIError):
    """The store answered wrongly (bad status, wrong range, a body of the wrong length)."""

    status = 502
    code = "store_error"


class StoreUnavailable(StoreError):
    """The store could not be reached, or kept failing after retries."""

    status = 503
    code = "store_unavailable"


class StoreTimeout(StoreError):
    status = 504
    code = "store_timeout"


class ObjectChanged(StoreError):
    """The object was replaced while open (its ETag changed); the slide must be reopened."""

    code = "object_changed"
