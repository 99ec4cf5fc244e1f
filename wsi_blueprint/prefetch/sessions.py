"""A viewing session's record and the jobs the prefetcher plans for it."""

import collections
import dataclasses
import threading

from ..reader import Tiling
from .markov import OperationModel
from .policy import policy_for
from .viewport import Request, Viewport


@dataclasses.dataclass
class Session:
    key: str
    slide_id: str
    model: OperationModel
    policy: str
    burst: list = dataclasses.field(default_factory=list)  # requests since the last quiet
    finest: float = 0.0  # the finest scale the burst has asked for
    drags: set = dataclasses.field(default_factory=set)  # pans whose strip the burst fetched
    frame_centre: tuple | None = None  # the centre of the burst's last zoom frame
    viewport: Viewport | None = None  # the screen shown, followed through pan strips
    predicted: tuple[str, ...] = ()
    strides: tuple[float, float] = (0.0, 0.0)  # the last pan's displacement along x and y
    tiling: Tiling | None = None  # how the viewer names tiles, to render them ahead
    spent: int = 0
    generation: int = 0
    seen: float = 0.0


@dataclasses.dataclass(frozen=True)
class Job:
    session: Session
    slide_id: str
    reason: str                  # overview, rule:<name>, thumbnail, metadata, or an operation
    level: int | None = None     # stored level and tiles to warm, or
    coords: tuple = ()
    region: Viewport | None = None  # a region to plan at its scale
    generation: int | None = None   # for viewport jobs: dropped once the session moves on
    render: bool = False            # also render the region's resampled tiles
    urgent: bool = False            # asked for within a frame: does not wait behind demand


class Sessions:
    """The sessions seen lately, oldest first; a session is new when it opens another slide.
    Callers hold `lock` (the prefetcher's) around every call."""

    def __init__(self, history: int, confidence: float, policies: tuple, ttl: float,
                 limit: int, lock: threading.Lock):
        self.history, self.confidence, self.policies = history, confidence, list(policies)
        self.ttl, self.limit = ttl, limit
        self.lock = lock
        self._sessions: collections.OrderedDict[str, Session] = collections.OrderedDict()

    def touch(self, key: str, slide_id: str, now: float) -> tuple[Session, bool]:
        """The session, and whether it has just opened its slide."""
        with self.lock:
            session = self._sessions.get(key)
            opened = session is None or session.slide_id != slide_id
            if opened:
                session = Session(key, slide_id, OperationModel(self.history, self.confidence),
                                  policy_for(key, self.policies))
                self._sessions[key] = session
            session.seen = now
            self._sessions.move_to_end(key)
            while self._sessions and (
                    len(self._sessions) > self.limit or
                    now - next(iter(self._sessions.values())).seen > self.ttl):
                self._sessions.popitem(last=False)
        return session, opened


# A viewer draws a level while it shows one to two screen pixels per level pixel, so a frame's
# screen is as wide as the estimate from the screen shown (`zoom_frame`) when the zoom stepped by
# two, and up to twice as wide when it stepped by less (a continuous zoom reaches each level
# as soon as it may be drawn): the frame being shown is fetched this much wider and taller.
FRAME_REACH = 1.5


def zoom_frame(shown: Viewport, first: Request) -> Viewport | None:
    """The zoom frame `first` begins, estimated as many screen pixels as the screen shown:
    OpenSeadragon asks for a frame's tiles centre first, so it is centred on `first`."""
    if first.scale < 1:
        return None
    scale = first.scale
    width, height = (shown.width * scale / shown.scale, shown.height * scale / shown.scale)
    cx, cy = first.x + first.width / 2, first.y + first.height / 2
    return Viewport(cx - width / 2, cy - height / 2, width, height, scale)


def next_zoom_frame(frame: Viewport, came_from: tuple[float, float]) -> Viewport | None:
    """The frame after `frame`, at half its scale. OpenSeadragon zooms about a point that
    stays put on the screen (the pointer, or the centre), so each frame's centre moves
    towards that point half as far as the one before: the next lies past `frame` by half its
    step from `came_from`, the centre of the frame (or screen) before."""
    if frame.scale / 2 < 1:
        return None
    cx, cy = frame.centre
    return frame.zoomed(0.5).shifted((cx - came_from[0]) / 2, (cy - came_from[1]) / 2)
