"""Zoom frames: where the frame a zoom animation has begun lies, how much of it to fetch at
once, and where the frame after it lies. A zooming viewer asks for a frame's tiles a few at a
time, centre first, and a worker knows the frame only from the first of them it saw."""

from .sessions import Session
from .viewport import Request, Viewport, bounding_box, middle


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
