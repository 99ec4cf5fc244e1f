"""What one request tells of its viewing session's burst.

A request that comes after a quiet gap the burst watcher has not ended yet ends the burst
before it (`quiet_burst`); the prefetcher settles that burst first. The request is then read
against the screen the session showed (`Session.viewport`, or where a move within the burst
has taken it, `Session.moved`). It may begin a zoom frame (finer than both the screen and the
burst so far), a jump frame (far off the screen, at its scale) or a drag (just beyond one of
its edges), or go on with what the burst is doing. `read_request` keeps the session's record
of its burst and says what began, for the prefetcher to plan from; it fetches nothing.
"""

import dataclasses

from .frames import FRAME_ROUND, frame_region, next_frame_margin, zoom_came_from, zoom_frame
from .jumps import jump_seen, zoom_began
from .sessions import Session
from .viewport import Request, Viewport, drag_strip, moved_to, same_scale

# A very long burst keeps this many of its latest requests.
BURST_KEPT = 256


@dataclasses.dataclass(slots=True)
class Read:
    """What a request began: each field but `shown` is set only when the request began that
    move. (Made on every image request: slots, not frozen, cost a fifth as much.)"""

    shown: Viewport | None  # the screen the request was read against
    frame: tuple[Viewport, float] | None = None  # a zoom frame: what of it to fetch at once,
    # and how much wider and taller than estimated its next frame is fetched
    walking: bool = False  # the frame is a level of a walk down to the burst's new screen
    jump: Viewport | None = None  # a jump frame: the screen, moved to it
    zoom_at_jump: bool = False  # and a zoom in where it lands is foreseen at the frame
    drag: tuple[str, Viewport] | None = None  # a drag's first frame: its pan and the strip
    # past that edge


def quiet_burst(session: Session, request: Request, burst_gap: float) -> list[Request]:
    """The burst `request` ends, coming more than `burst_gap` after its last request, taken
    from the session; none if it goes on (the caller holds the prefetcher's lock)."""
    if session.burst and request.time - session.burst[-1].time > burst_gap:
        ended, session.burst = session.burst, []
        return ended
    return []


def read_request(session: Session, request: Request) -> Read:
    """Reads `request` into `session`'s burst (the caller holds the prefetcher's lock)."""
    if not session.burst:
        session.drags, session.frame, session.moved = set(), [], None
    shown = session.moved or session.viewport
    # Once the burst has moved the screen to a coarser scale, finer requests may be a viewer
    # filling the levels under its new screen coarse first, a tile or two each (a jump to
    # where its cache holds no coarse tiles): each such frame is over as the next level
    # begins, and a request at the scale it settled on ends the walk.
    walking = shown is not None and shown is session.moved and \
        not same_scale(shown.scale, session.viewport.scale)
    if walking and same_scale(request.scale, session.viewport.scale):
        session.moved, session.frame, walking = None, [], False
        shown = session.viewport
    frame = jump = drag = None
    zoom_at_jump = False
    # A zoom frame is finer than both the screen the viewer settled on and the burst so far:
    # a burst that loads coarse levels first, then the screen's own (a pan, a slide opening),
    # is no zoom.
    if shown is not None and request.scale < shown.scale / 1.5 and \
            (not session.burst or request.scale < session.finest / 1.5):
        now = zoom_frame([shown], [request])
        if now is not None:
            zoom_began(session)
            # A walk asks for each level's screen, no more, as the level before lands: its
            # frame is the screen at this level, and its next frame the screen at the next
            # level, about this one. (The burst's box is a jump's way, not a frame before it.)
            if walking:
                frame, session.came_from = (now, 1.0), None
            else:
                frame = frame_region(session, shown, now, request), \
                    next_frame_margin(session, request)
                session.came_from = zoom_came_from(session, shown, request)
        session.frame = [request] if now is not None else []
    elif shown is not None:
        if session.frame and len(session.frame) < FRAME_ROUND and \
                same_scale(request.scale, session.frame[0].scale):
            session.frame.append(request)
        moved = moved_to(shown, request)
        if moved is not None:  # a drag's strip lies nearer: a request is one or the other
            if not same_scale(moved.scale, shown.scale):  # the burst starts anew there
                session.frame, session.finest = [], request.scale
            elif not session.frame:
                jump, zoom_at_jump = moved, jump_seen(session, request)
            session.moved, session.drags = moved, set()
        else:
            found = drag_strip(shown, request, session.strides)
            if found is not None and found[0] not in session.drags:  # once a burst a way
                session.drags.add(found[0])
                drag = found
    if not session.burst or request.scale < session.finest:
        session.finest = request.scale
    session.burst.append(request)
    del session.burst[:-BURST_KEPT]
    return Read(shown, frame, walking, jump, zoom_at_jump, drag)
