"""A viewing session's record and the jobs the prefetcher plans for it."""

import collections
import dataclasses
import threading
from typing import Callable

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
    frame: list = dataclasses.field(default_factory=list)  # the burst's last zoom frame's
    # requests this worker has seen, up to `FRAME_ROUND`
    came_from: tuple | None = None  # the centre of the frame (or screen) before the burst's
    # zoom frame, once the zoom goes on
    viewport: Viewport | None = None  # the screen shown, followed through pan strips
    moved: Viewport | None = None  # the screen as a move within the burst has taken it
    widest: tuple[float, float] = (0.0, 0.0)  # most level pixels across and down a screen showed
    zooms: int = 0  # zooms (in or out) the session settled on
    zoomed_in: float = float("-inf")  # when the session's last zoom in asked for its last tile
    jumps: int = 0  # bursts that jumped (far off the screen, at its scale)
    zoomed_after_jump: int = 0  # of them, those that zoomed in on where they went
    zoomed_after_look: int = 0  # of those, the zooms that came in a burst of their own
    jump: Request | None = None  # the last jump frame's first request this worker saw, until
    # the next move (a zoom in, or another)
    predicted: tuple[str, ...] = ()
    strides: tuple[float, float] = (0.0, 0.0)  # the last pan's displacement along x and y
    tiling: Tiling | None = None  # how the viewer names tiles, to render them ahead
    spent: int = 0
    generation: int = 0
    seen: float = 0.0

    @property
    def reading(self) -> tuple[str, str]:
        """Which it is: the viewer (its session id, or client) and the slide it reads."""
        return self.key, self.slide_id


@dataclasses.dataclass(frozen=True)
class Job:
    session: Session
    slide_id: str
    reason: str                  # overview, rule:<name>, thumbnail, metadata, or an operation
    level: int | None = None     # stored level and tiles to warm, or
    coords: tuple = ()
    region: Viewport | None = None  # a region to plan at its scale, or
    foresee: Callable[[], Viewport | None] | None = None  # one found when the job runs
    generation: int | None = None   # for viewport jobs: dropped once the session moves on
    render: bool = False            # also render the region's resampled tiles
    urgent: bool = False            # asked for within a frame: does not wait behind demand

    @property
    def predictor(self) -> str:
        """The reason without a rule's name: the label its figures are counted under."""
        return self.reason.split(":")[0]


class Sessions:
    """The sessions seen lately, oldest first: a viewer's reading of one slide. A viewer that
    shows several slides at once under one session id (side by side) has one session for
    each; its A/B policy follows the id. Callers hold `lock` (the prefetcher's) around every
    call."""

    def __init__(self, history: int, confidence: float, policies: tuple, ttl: float,
                 limit: int, lock: threading.Lock):
        self.history, self.confidence, self.policies = history, confidence, list(policies)
        self.ttl, self.limit = ttl, limit
        self.lock = lock
        self._sessions: collections.OrderedDict[tuple[str, str], Session] = \
            collections.OrderedDict()

    def touch(self, key: str, slide_id: str, now: float) -> tuple[Session, bool]:
        """The session of viewer `key` on `slide_id`, and whether it has just opened it."""
        with self.lock:
            reading = (key, slide_id)  # the sessions' key, built once: every tile asks here
            session = self._sessions.get(reading)
            opened = session is None
            if opened:
                session = Session(key, slide_id, OperationModel(self.history, self.confidence),
                                  policy_for(key, self.policies))
                self._sessions[reading] = session
            session.seen = now
            self._sessions.move_to_end(reading)
            while self._sessions and (
                    len(self._sessions) > self.limit or
                    now - next(iter(self._sessions.values())).seen > self.ttl):
                self._sessions.popitem(last=False)
        return session, opened
