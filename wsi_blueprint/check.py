"""`wsi-blueprint check`: walk the data path once and say where it breaks.

Each step reports PASS, FAIL (with the reason) or SKIP, and its time; a failed step stops the
steps that depend on it, and wrong settings stop them all. Operators run it after a deploy
or when a probe goes red.
"""

import dataclasses
import time
from typing import Any, Callable, Mapping

from .errors import NotImplementedByStore, WSIError
from .imaging.passthrough import native_tile_jpeg
from .serving import validated_settings
from .settings import Settings
from .state import WSIState


@dataclasses.dataclass
class Step:
    name: str
    outcome: str  # PASS, FAIL, SKIP
    detail: str
    seconds: float

    def line(self) -> str:
        return f"{self.outcome:4}  {self.name:<26} {self.seconds * 1000:8.1f} ms  {self.detail}"


def _step(name: str, work: Callable[[], str]) -> Step:
    began = time.perf_counter()
    try:
        detail, outcome = work(), "PASS"
    except _Skip as skip:
        detail, outcome = str(skip), "SKIP"
    except _Failed as failure:
        detail, outcome = str(failure), "FAIL"
    except WSIError as error:
        detail, outcome = f"{error.code}: {error.message}", "FAIL"
    except Exception as error:  # the check reports every failure; it must not crash itself
        detail, outcome = f"{type(error).__name__}: {error}", "FAIL"
    return Step(name, outcome, detail, time.perf_counter() - began)


class _Skip(Exception):
    """The step does not apply here."""


class _Failed(Exception):
    """The step found the system wrong (not an error of ours)."""


def run_checks(settings: Settings, slide_id: str | None = None) -> list[Step]:
    state = WSIState.build(settings)
    found = {"id": slide_id}

    def store_reachable() -> str:
        state.store.check()
        return state.store.name

    def list_ids() -> str:
        try:
            page = state.store.list(limit=10)
        except NotImplementedByStore:
            raise _Skip("this store cannot list") from None
        if not page.slides:
            raise _Failed("the store lists no slides")
        found["id"] = found["id"] or page.slides[0].id
        return f"{len(page.slides)} ids, first {page.slides[0].id!r}"

    def open_slide() -> str:
        if not found["id"]:
            raise _Skip("no slide id: pass --slide")
        index = state.library.open(found["id"]).index
        return (f"{found['id']!r}: {index.format}, {index.width}x{index.height}, "
                f"{len(index.levels)} levels")

    def fetch_tile() -> str:
        slide = state.library.open(found["id"])
        level = len(slide.levels) - 1
        data = native_tile_jpeg(slide.read_tiles(level, [(0, 0)])[0], settings.jpeg_quality)
        return f"level {level} tile (0, 0): {len(data)} bytes of JPEG"

    def memcached() -> str:
        if state.caches.shared is None:
            raise _Skip("WSI_MEMCACHED is empty: caches stay in process")
        silent = state.caches.shared.unanswered()
        if silent:
            raise _Failed(f"{', '.join(silent)} of {settings.memcached} do not answer")
        return settings.memcached

    steps = [_step("store reachable", store_reachable)]
    steps.append(_step("slide ids listed", list_ids) if steps[-1].outcome == "PASS"
                 else Step("slide ids listed", "SKIP", "the store is unreachable", 0.0))
    opened = _step("slide opened and parsed", open_slide)
    steps.append(opened)
    steps.append(_step("tile fetched", fetch_tile) if opened.outcome == "PASS"
                 else Step("tile fetched", "SKIP", "no slide was opened", 0.0))
    steps.append(_step("memcached reachable", memcached))
    return steps


def run_all(mapping: Mapping[str, Any], slide_id: str | None = None) -> list[Step]:
    """The settings of `mapping` (WSI_* keys) checked first; with a wrong one, that FAIL
    line alone, since every later step would use it."""
    parsed: list[Settings] = []

    def settings_valid() -> str:
        try:
            parsed.append(validated_settings(mapping))
        except ValueError as error:  # names the setting and what it accepts
            raise _Failed(str(error)) from None
        return "every WSI_* value allowed"

    first = _step("settings valid", settings_valid)
    if first.outcome != "PASS":
        return [first]
    return [first, *run_checks(parsed[0], slide_id)]
