"""A viewing session's record and the jobs the prefetcher plans for it."""

import collections
import dataclasses
import threading
from typing import Callable

from ..reader import Tiling
from .markov import OperationModel
from .policy import policy_for
from .viewport import Request, Viewport, bounding_box, middle, same_scale


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


# A viewer draws a level while it shows one to two screen pixels per level pixel, so a frame's
# screen is as wide as the estimate from the screen shown (`zoom_frame`) when the zoom stepped by
# two, and up to twice as wide when it stepped by less (a continuous zoom reaches each level
# as soon as it may be drawn): a zoom's first frame is fetched this much wider and taller.
FRAME_REACH = 1.5
# Zooms a session settles on before its own screens bound that margin (`frame_reach`).
LEARNED_AFTER = 2
# A zoom whose level advances every frame steps by between root 2 and 2 a frame, so each frame
# shows 1 to 1.41 times the pixels of the frame before: later frames are fetched this much
# wider and taller than that.
LATER_FRAME_REACH = 1.25
# Seconds after a zoom in's last request within which a finer frame goes on with that zoom (a
# worker that served none of the viewer's last requests of a frame sees its burst end).
ZOOM_GOES_ON = 0.5


# A viewer's first round of a frame is about this many requests (OpenSeadragon's six
# connections); they reach the server's workers in any order.
FRAME_ROUND = 6


def zoom_frame(screens: list[Viewport], frame: list[Request]) -> Viewport | None:
    """The zoom frame whose requests so far are `frame`, estimated as many level pixels as the
    widest of `screens` shows. OpenSeadragon asks for a frame's tiles centre first, so the
    frame is centred on the middle of its first ones (which reach a worker in any order)."""
    first = frame[0]
    if first.scale < 1:
        return None
    width = max(screen.width / screen.scale for screen in screens) * first.scale
    height = max(screen.height / screen.scale for screen in screens) * first.scale
    cx, cy = middle(frame)
    return Viewport(cx - width / 2, cy - height / 2, width, height, first.scale)


def frame_reach(session: Session, shown: Viewport) -> float:
    """How much wider and taller than the estimate a zoom's first frame is fetched. A frame
    shows no more level pixels than the viewer's screen holds, and the widest screen the
    session settled on tells that: a viewer that steps a level at a time shows the estimate
    again (its screens all hold as many), one that zooms continuously up to twice it. Until
    the session has settled on `LEARNED_AFTER` zooms, `FRAME_REACH`."""
    if session.zooms < LEARNED_AFTER:
        return FRAME_REACH
    across = session.widest[0] * shown.scale / shown.width
    down = session.widest[1] * shown.scale / shown.height
    return min(FRAME_REACH, max(1.0, across, down))


def frame_region(session: Session, shown: Viewport, estimate: Viewport,
                 first: Request) -> Viewport:
    """What to fetch at once of the zoom frame `first` begins, `estimate` being
    `zoom_frame([shown], [first])`. A zoom's first frame is the estimate, `frame_reach` wider and
    taller. A later frame of the same zoom is the larger of the estimate and the frame before
    it, as far as its requests came, `LATER_FRAME_REACH` wider and taller: either within this
    burst, or within `ZOOM_GOES_ON` of a zoom in whose burst ended (then the frame before is
    the screen shown)."""
    if session.frame:
        return zoom_frame([shown, bounding_box(session.burst)], [first]).grown(LATER_FRAME_REACH)
    if goes_on(session, first):
        return estimate.grown(LATER_FRAME_REACH)
    return estimate.grown(frame_reach(session, shown))


def next_frame_margin(session: Session, first: Request) -> float:
    """How much wider and taller than estimated the next frame foreseen at the zoom frame
    `first` begins is fetched (whole: a viewer reaches a small frame's edges within a store
    round trip). At a later frame of a zoom, as much as later frames are (`LATER_FRAME_REACH`);
    at a zoom's first frame, which may be its last (a click zooms a level and stops), none."""
    return LATER_FRAME_REACH if goes_on(session, first) else 1.0


def zoom_came_from(session: Session, shown: Viewport, first: Request) -> tuple | None:
    """The centre the zoom frame `first` begins came from, whose step the next frame is drawn
    out along: the frame before, or the screen shown when the zoom goes on from one whose
    burst ended. None (the zoom keeps its centre) at a zoom's first frame: a click zooms a
    level and the next click may land anywhere, and the screen a worker knows may be stale (a
    viewer moves over tiles it holds without asking); and right after a jump within the
    burst, whose screen is known only to have moved as far as the jump's first tile."""
    if session.frame:
        return zoom_frame([shown], session.frame).centre
    if session.moved is None and goes_on(session, first):
        return shown.centre
    return None


def goes_on(session: Session, first: Request) -> bool:
    """Whether the zoom frame `first` begins goes on with a zoom (a later frame of it), not
    a zoom's first frame: one within this burst, or within `ZOOM_GOES_ON` of a zoom in whose
    burst ended."""
    return bool(session.frame) or first.time - session.zoomed_in <= ZOOM_GOES_ON


def latest_frame(session: Session, first: Request) -> bool:
    """Whether the zoom frame `first` began is still the burst's latest, as this worker has
    seen it: no finer frame has begun since, nor has the burst moved on."""
    return bool(session.frame) and session.frame[0] is first


def has_next_frame(frame: Viewport) -> bool:
    """Whether a zoom in goes on past `frame`: a level at half its scale is no finer than
    level 0."""
    return frame.scale / 2 >= 1


def next_zoom_frame(frame: Viewport, came_from: tuple[float, float]) -> Viewport | None:
    """The frame after `frame`, at half its scale, wherever the zoom takes its centre. A zoom
    about a point that stays put on the screen (OpenSeadragon's wheel and click) moves each
    frame's centre towards that point half as far as the one before; a flight to a place (a
    viewer fitting a region, its pan and zoom animated together) moves it as far; and the step
    from `came_from`, the centre of the frame (or screen) before, is told by the few tiles of
    each that reached this worker, so the centre may have stayed. The next frame is where all
    of these land: `frame` at half its scale, drawn out by that step in its direction. (At a
    zoom's first frame the caller passes the frame's own centre: see `zoom_came_from`.)"""
    if not has_next_frame(frame):
        return None
    cx, cy = frame.centre
    dx, dy = cx - came_from[0], cy - came_from[1]
    kept = frame.zoomed(0.5)
    return Viewport(kept.x + min(dx, 0.0), kept.y + min(dy, 0.0), kept.width + abs(dx),
                    kept.height + abs(dy), kept.scale)


def jump_seen(session: Session, request: Request) -> bool:
    """Counts `request`, the first this worker saw of a jump's frame (a navigator click moves
    the screen a few frames towards where it goes), before it joins the session's burst;
    whether to foresee a zoom in on where the frame lands. A pathologist jumps to a place to
    look closer, so the zoom is foreseen at the frame unless the session's jumps have mostly
    gone without one at once: counting one more that zoomed, fewer than half of them were
    followed by a zoom in within their burst. (Where the zooms come after a look, the jump's
    end foresees it: `zooms_after_a_look`.)"""
    session.jumps += not jumped_within(session, session.burst)
    session.jump = request
    return after_half_the_jumps(session, session.zoomed_after_jump - session.zoomed_after_look)


def zooms_after_a_look(session: Session, burst: list[Request]) -> bool:
    """Whether the end of `burst`, the viewer settling, foresees a zoom in on where it settled:
    the burst held a jump, and the session's zooms after jumps have come after a look at
    where they went (in a burst of their own), at least once and, counting one more, after at
    least half its jumps. Those zooms come after the jump's frames have all been asked, so
    the screen it settled on places the zoom, once, rather than each frame a guess."""
    return jumped_within(session, burst) and session.zoomed_after_look >= 1 and \
        after_half_the_jumps(session, session.zoomed_after_look)


def after_half_the_jumps(session: Session, zooms: int) -> bool:
    """Whether `zooms` followed at least half the session's jumps, counting one more that
    did: a session keeps foreseeing a zoom until its jumps have mostly gone without one."""
    return (zooms + 1) / session.jumps >= 0.5


def jumped_within(session: Session, burst: list[Request]) -> bool:
    """Whether the jump the session waits to see zoomed into came within `burst`."""
    return session.jump is not None and bool(burst) and session.jump.time >= burst[0].time


def move_ended(session: Session, burst: list[Request]) -> None:
    """The session settled after a move, `burst`: a jump before it was followed by a move
    other than a zoom in (`zoom_began` counts those)."""
    if not jumped_within(session, burst):
        session.jump = None


def zoom_began(session: Session) -> None:
    """A zoom in's first frame, before it joins the session's burst: if a jump came before it
    with no other move between, the jump was followed by a zoom, at once or after a look."""
    if session.jump is not None:
        session.zoomed_after_jump += 1
        session.zoomed_after_look += not jumped_within(session, session.burst)
        session.jump = None


def landing_round(session: Session, first: Request) -> list[Request] | None:
    """The first round of the jump frame `first` begins, as far as this worker has seen it;
    None once another jump frame has begun (only a jump's latest frame is where it lands)."""
    if session.jump is not first:
        return None
    return [r for r in session.burst if r.time >= first.time and
            same_scale(r.scale, first.scale)][:FRAME_ROUND] or [first]


def screen_at_landing(session: Session, screen: Viewport, landing: list[Request]) -> Viewport:
    """Where a jump frame lands: a screen about the middle of its first requests (a viewer asks
    for the tiles nearest the screen's centre first), as large as the widest the session
    showed (a worker may know the screen it left only in part)."""
    cx, cy = middle(landing)
    width = max(screen.width, session.widest[0] * screen.scale)
    height = max(screen.height, session.widest[1] * screen.scale)
    return Viewport(cx - width / 2, cy - height / 2, width, height, screen.scale)


def zoom_after_jump(screen: Viewport, centre: tuple[float, float]) -> Viewport | None:
    """The first frame of a zoom in on where a jump lands: `screen` (as the jump has moved it)
    at half its scale, about `centre` (at a jump frame the middle of its first requests, as a
    viewer asks for the tiles nearest the screen's centre first; at its end the screen's own).
    Without a margin: the zoom may not come."""
    if not has_next_frame(screen):
        return None
    cx, cy = centre
    width, height = screen.width / 2, screen.height / 2
    return Viewport(cx - width / 2, cy - height / 2, width, height, screen.scale / 2)
