"""Jumps: where a navigator jump's frame lands, and whether and where a zoom in follows it. A
session counts its jumps and the zooms in after them, at once (in the jump's burst) or after a
look (in a burst of their own)."""

from .frames import FRAME_ROUND, has_next_frame
from .sessions import Session
from .viewport import Request, Viewport, middle, same_scale


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
