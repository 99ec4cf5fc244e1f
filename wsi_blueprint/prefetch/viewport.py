"""What the viewer shows and how it moved, inferred from the image requests it makes.

Every image request is a level-0 rectangle at a scale (level-0 pixels per output pixel). A
viewer asks in bursts: a screenful when it opens or jumps, the strip a pan uncovers, the next
level when it zooms, then nothing until the user moves again. A burst's bounding box, compared
with the one before, is an operation: a pan in one of four directions, a zoom in or out, or a
jump elsewhere. (Comparing requests one by one would read a screen filling in as motion.)
"""

import dataclasses
import math

from ..reader import View

PAN_N, PAN_S, PAN_E, PAN_W = "pan_n", "pan_s", "pan_e", "pan_w"
ZOOM_IN, ZOOM_OUT, JUMP = "zoom_in", "zoom_out", "jump"
PANS = (PAN_N, PAN_S, PAN_E, PAN_W)
OPERATIONS = (*PANS, ZOOM_IN, ZOOM_OUT, JUMP)


@dataclasses.dataclass(frozen=True)
class Request:
    """One image request in level-0 terms."""

    time: float
    x: int
    y: int
    width: int
    height: int
    scale: float  # level-0 pixels per output pixel


@dataclasses.dataclass(frozen=True)
class Viewport:
    x: float
    y: float
    width: float
    height: float
    scale: float

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.width / 2, self.y + self.height / 2

    def shifted(self, dx: float, dy: float) -> "Viewport":
        return dataclasses.replace(self, x=self.x + dx, y=self.y + dy)

    def view(self) -> View:
        """The same rectangle as the reader's request for it at its scale."""
        return View(self.x, self.y, self.width, self.height, self.scale)

    def zoomed(self, factor: float) -> "Viewport":
        """The viewport at `factor` times the scale, around the same centre."""
        return dataclasses.replace(self.grown(factor), scale=self.scale * factor)

    def grown(self, factor: float) -> "Viewport":
        """The viewport `factor` times as wide and tall around the same centre, at its scale."""
        cx, cy = self.centre
        width, height = self.width * factor, self.height * factor
        return Viewport(cx - width / 2, cy - height / 2, width, height, self.scale)


def centred_on(view: Viewport, width: float, height: float) -> Viewport:
    """`view` moved, if need be, so that its centre lies on a `width` x `height` slide: a
    viewer keeps its screen's centre on the image (OpenSeadragon's default constraint), so a
    screen foreseen with its centre off the slide is one at the slide's edge."""
    cx, cy = view.centre
    return view.shifted(min(max(cx, 0.0), width) - cx, min(max(cy, 0.0), height) - cy)


def same_scale(a: float, b: float) -> bool:
    return abs(math.log2(a / b)) < 0.25


def bounding_box(requests: list[Request]) -> Viewport:
    """The area of the requests at the finest scale among them: a viewer loads coarser levels
    first (in any order, six at a time) and the finest one it asks for is what it shows."""
    finest = min(requests, key=lambda r: r.scale)
    same = [r for r in requests if same_scale(r.scale, finest.scale)]
    left = min(r.x for r in same)
    top = min(r.y for r in same)
    right = max(r.x + r.width for r in same)
    bottom = max(r.y + r.height for r in same)
    return Viewport(left, top, right - left, bottom - top, finest.scale)


def middle(requests: list[Request]) -> tuple[float, float]:
    """The mean of the requests' centres: where a viewer asking centre first is looking."""
    return (sum(r.x + r.width / 2 for r in requests) / len(requests),
            sum(r.y + r.height / 2 for r in requests) / len(requests))


def under(view: Viewport, box: Viewport) -> bool:
    """Whether a burst covering only `box` is the level under the screen `view`, which a
    blending viewer (OpenSeadragon) asks with every screen to fade the screen's own in over:
    one level coarser, about the screen's size and on it. A worker that got none of the
    burst's finer requests sees only these; a zoom out asks for a screen twice as wide."""
    if not same_scale(box.scale, view.scale * 2):
        return False
    return box.width <= view.width * 1.5 and box.height <= view.height * 1.5 and \
        box.x < view.x + view.width * 1.25 and box.x + box.width > view.x - view.width / 4 \
        and box.y < view.y + view.height * 1.25 and box.y + box.height > view.y - view.height / 4


def drag_strip(shown: Viewport, request: Request, strides: tuple[float, float] = (0.0, 0.0)
               ) -> tuple[str, Viewport] | None:
    """A request at the screen's scale centred beyond one of its edges, by less than half a
    screen, is a drag's first frame (a pan asks for the strip it uncovers): the pan it makes
    and the strip beyond that edge where the drag and its glide go on, as deep as the last pan
    along that axis went (`strides`, as `next_viewport` steps; a sweep's step down to its next
    row is most of a screen), at most a screen, and half a screen before any pan along it.
    None for a request on the screen, at another scale, or farther off (a jump)."""
    if not same_scale(request.scale, shown.scale):
        return None
    cx, cy = request.x + request.width / 2, request.y + request.height / 2
    left, top = shown.x, shown.y
    right, bottom = left + shown.width, top + shown.height
    if left <= cx <= right and top <= cy <= bottom:  # every request of a screen but a pan's
        return None
    half_w, half_h = shown.width / 2, shown.height / 2
    beyond = {PAN_E: cx - right, PAN_W: left - cx, PAN_S: cy - bottom, PAN_N: top - cy}
    op, depth = max(beyond.items(), key=lambda item: item[1] / (
        half_w if item[0] in (PAN_E, PAN_W) else half_h))
    if depth <= 0 or not _near(shown, cx, cy):
        return None
    deep_x = min(strides[0] or half_w, shown.width)
    deep_y = min(strides[1] or half_h, shown.height)
    return op, {
        PAN_E: Viewport(right, top, deep_x, shown.height, shown.scale),
        PAN_W: Viewport(left - deep_x, top, deep_x, shown.height, shown.scale),
        PAN_S: Viewport(left, bottom, shown.width, deep_y, shown.scale),
        PAN_N: Viewport(left, top - deep_y, shown.width, deep_y, shown.scale),
    }[op]


def moved_to(shown: Viewport, request: Request) -> Viewport | None:
    """Where a move within a burst has taken the screen so far: a request at the screen's scale
    centred farther off it than a drag reaches (a jump, or a pan of more than a screen) shows
    the screen moved at least far enough to show that tile, so it is `shown` moved just that
    far, as `follow` moves it at the burst's end. A coarser request more than a screen off
    shows the viewer zoomed out since and moved: the screen as many screen pixels at the
    request's scale, moved as far. (A zoom out over levels the viewer had loaded asks for few
    tiles or none, so the screen shown may be one it left.) None for any other request: a
    finer one, the level under the screen, a pan's coarser tiles. A zoom or drag later in the
    same burst starts from there, not from the screen the burst began on."""
    cx, cy = request.x + request.width / 2, request.y + request.height / 2
    if same_scale(request.scale, shown.scale):
        if _near(shown, cx, cy):
            return None
    elif request.scale < shown.scale or _near(shown, cx, cy, reach=1.0):
        return None
    else:
        shown = shown.zoomed(request.scale / shown.scale)
    return shown.shifted(_shift(shown.x, shown.x + shown.width, request.x,
                                request.x + request.width),
                         _shift(shown.y, shown.y + shown.height, request.y,
                                request.y + request.height))


def _near(shown: Viewport, cx: float, cy: float, reach: float = 0.5) -> bool:
    """Whether (cx, cy) is on the screen or within `reach` screens of it (half a screen: as far
    as a drag's strip reaches)."""
    reach_w, reach_h = shown.width * reach, shown.height * reach
    return shown.x - reach_w < cx < shown.x + shown.width + reach_w and \
        shown.y - reach_h < cy < shown.y + shown.height + reach_h


# A burst reaching more than this many screens across (or down) went somewhere: a jump's or a
# glide's animation asks for tiles all along its way.
TRAVELLED = 2.0


def follow(before: Viewport | None, box: Viewport,
           last: tuple[float, float] | None = None) -> Viewport:
    """The viewport after a burst whose requests cover `box`, the last of them centred at
    `last`. At another scale the burst is the new screen itself. At the same scale a pan asks
    only for the strip it uncovers (less where the viewer has tiles already), so the screen
    keeps its size and moves just enough to contain the strip; only a side along which the
    burst reaches farther than the screen did grows to it. (Taking such a burst whole as the
    screen made a strip one tile row taller than the screen, the tiles beside it already
    loaded, into a narrow screen.) Along an axis the burst travelled, more than `TRAVELLED`
    screens, the screen keeps its size at the end of the box where the burst ended: taken
    whole, a jump's way made a screen five screens wide, and every frame foreseen from it as
    wide."""
    if before is None or not same_scale(before.scale, box.scale):
        return box
    x, width = _follow_axis(before.x, before.width, box.x, box.width, last and last[0])
    y, height = _follow_axis(before.y, before.height, box.y, box.height, last and last[1])
    return Viewport(x, y, width, height, before.scale)


def _follow_axis(lo: float, size: float, box_lo: float, box_size: float,
                 last: float | None) -> tuple[float, float]:
    """`follow` along one axis: where the screen at `lo`, `size` wide, begins and how wide it
    is after a burst spanning `box_lo` over `box_size`, its last request centred at `last`."""
    if box_size > size * TRAVELLED:
        if last is not None and last < box_lo + box_size / 2:
            return box_lo, size
        return box_lo + box_size - size, size
    if box_size > size * 1.05:
        size = box_size
    return lo + _shift(lo, lo + size, box_lo, box_lo + box_size), size


def _shift(lo: float, hi: float, box_lo: float, box_hi: float) -> float:
    """How far the span lo-hi moves, along one axis, to take in box_lo-box_hi (one no wider)."""
    if box_hi > hi:
        return box_hi - hi
    if box_lo < lo:
        return box_lo - lo
    return 0.0


def operation(before: Viewport, after: Viewport) -> str | None:
    """The operation that took the viewer from `before` to `after`; None if it stayed."""
    if not same_scale(before.scale, after.scale):
        return ZOOM_IN if after.scale < before.scale else ZOOM_OUT
    (bx, by), (ax, ay) = before.centre, after.centre
    dx, dy = ax - bx, ay - by
    if abs(dx) > 1.5 * max(before.width, after.width) or \
            abs(dy) > 1.5 * max(before.height, after.height):
        return JUMP
    if max(abs(dx), abs(dy)) < 0.1 * min(before.width, before.height):
        return None
    if abs(dx) >= abs(dy):
        return PAN_E if dx > 0 else PAN_W
    return PAN_S if dy > 0 else PAN_N


def next_viewport(view: Viewport, op: str, step: tuple[float, float] | None = None,
                  last_op: str | None = None,
                  strides: tuple[float, float] = (0.0, 0.0)) -> Viewport | None:
    """Where `op` would take the viewer from `view`. A pan repeating the last operation moves
    by the whole last displacement `step` (a drag's heading drifts slowly, and diagonal drags
    are common); another pan moves along its axis by that axis's part of `step`, else by the
    last pan's along that axis (`strides`: a serpentine sweep turning back along its rows
    steps as it did along the last row), else half a screen. None for a jump, which cannot be
    foreseen."""
    if op == last_op and op in PANS and step and any(step):
        return view.shifted(*step)
    step_x = abs(step[0]) if step and step[0] else (strides[0] or view.width / 2)
    step_y = abs(step[1]) if step and step[1] else (strides[1] or view.height / 2)
    return {
        PAN_E: view.shifted(step_x, 0), PAN_W: view.shifted(-step_x, 0),
        PAN_S: view.shifted(0, step_y), PAN_N: view.shifted(0, -step_y),
        ZOOM_IN: view.zoomed(0.5), ZOOM_OUT: view.zoomed(2.0),
    }.get(op)


def strides_after(strides: tuple[float, float], op: str, step: tuple[float, float]
                  ) -> tuple[float, float]:
    """The last pan displacement along each axis, once `op` moved the viewer by `step` (in
    level-0 pixels, so a zoom forgets them)."""
    if op in (PAN_E, PAN_W):
        return abs(step[0]), strides[1]
    if op in (PAN_N, PAN_S):
        return strides[0], abs(step[1])
    if op in (ZOOM_IN, ZOOM_OUT):
        return 0.0, 0.0
    return strides
