"""Case context: which slides belong to the same case, their stains, the prior case.

By default it comes from a sidecar `.case.json` in the slide's folder of the store (hidden from
listings), for example `cases/S24-1234/.case.json`:

    {"case": "S24-1234", "type": "follow-up", "prior_case": "cases/S23-0042/",
     "slides": {"A1.svs": {"stain": "H&E"}, "A2.svs": {"stain": "Ki-67"}}}

A host app that knows its cases from a LIMS passes its own `case_context(slide_id)` instead.
"""

import dataclasses
import json
import threading
import time
from typing import Callable

from ..errors import WSIError
from ..storage import Store

SIDECAR = ".case.json"
MAX_SIDECAR_BYTES = 1 << 20


@dataclasses.dataclass(frozen=True)
class CaseContext:
    folder: str                      # the case's prefix in the store, '' or ending in '/'
    case_type: str
    prior_case: str | None           # the prior case's folder, if any
    stains: dict[str, str]           # slide id -> stain

    def stain_of(self, slide_id: str) -> str | None:
        return self.stains.get(slide_id)


CaseContextProvider = Callable[[str], "CaseContext | None"]


def _folder(slide_id: str) -> str:
    return slide_id.rpartition("/")[0] + "/" if "/" in slide_id else ""


def parse_sidecar(folder: str, data: bytes) -> CaseContext:
    document = json.loads(data)
    slides = document.get("slides", {})
    if not isinstance(slides, dict):
        raise ValueError("'slides' must map file names to their details")
    prior = document.get("prior_case")
    return CaseContext(
        folder=folder, case_type=str(document.get("type", "")),
        prior_case=(prior.rstrip("/") + "/") if isinstance(prior, str) and prior else None,
        stains={folder + name: str(details.get("stain", ""))
                for name, details in slides.items() if isinstance(details, dict)})


class SidecarContext:
    """Reads and caches (for `ttl` seconds) the sidecar of each case folder."""

    def __init__(self, store: Store, ttl: float = 300.0):
        self._store = store
        self._ttl = ttl
        self._cache: dict[str, tuple[float, CaseContext | None]] = {}
        self._lock = threading.Lock()

    def __call__(self, slide_id: str) -> CaseContext | None:
        folder = _folder(slide_id)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(folder)
        if cached and now - cached[0] < self._ttl:
            return cached[1]
        context = self._load(folder)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[folder] = (now, context)
        return context

    def _load(self, folder: str) -> CaseContext | None:
        try:
            reader = self._store.open(folder + SIDECAR)
            if reader.size > MAX_SIDECAR_BYTES:
                return None
            # Opening an object over HTTP already fetched its first block: a sidecar fits.
            whole = len(reader.head) >= reader.size
            return parse_sidecar(folder, reader.head[:reader.size] if whole
                                 else reader.read(0, reader.size))
        except (WSIError, ValueError, AttributeError):
            return None  # no sidecar, or one we cannot read: no case context
