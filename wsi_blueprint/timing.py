"""Where a request's time went (store, decode, encode...), for the Server-Timing header.

A request opens a record; the block reader and the CPU pool add their wall time to whichever
record is open in the calling greenlet or thread (a context variable: greenlet-local under
gevent). Outside a request nothing is recorded.
"""

import contextlib
import contextvars
import time
from typing import Iterator

_record: contextvars.ContextVar[dict | None] = contextvars.ContextVar("wsi_timing", default=None)


def begin() -> contextvars.Token:
    return _record.set({})


def end(token: contextvars.Token) -> dict[str, float]:
    record = _record.get() or {}
    _record.reset(token)
    return record


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    began = time.perf_counter()
    try:
        yield
    finally:
        record = _record.get()
        if record is not None:
            record[name] = record.get(name, 0.0) + time.perf_counter() - began


def server_timing(record: dict[str, float]) -> str:
    return ", ".join(f"{name};dur={seconds * 1000:.1f}" for name, seconds in record.items())
